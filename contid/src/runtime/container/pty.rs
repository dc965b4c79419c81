//! Pseudo-terminals for containers and exec'd commands.
//!
//! A terminal is always made inside the container's own devpts instance (`/dev/pts/ptmx` as the
//! container sees it, opened after `pivot_root` or `setns`), so that `tty` inside prints
//! `/dev/pts/N` of the container and nothing of the host's devpts is involved. The process that
//! makes it keeps the slave as its controlling terminal and stdio, and sends the master over a
//! socket (SCM_RIGHTS) to whoever copies the terminal's I/O: the monitor for a container, the
//! daemon for an exec.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::Mode;

use crate::runtime::WindowSize;
use crate::runtime::child_failure::{ChildFailure, StepResult};
use crate::runtime::sys::channel::{ChannelError, recv_message, send_message};

/// The only message on a terminal channel; the master travels with it.
const MASTER_MESSAGE: &str = "pty-master";

/// Both ends of a new terminal.
pub(super) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a new terminal in the devpts mounted at `/dev/pts` of the current root.
pub(super) fn open_in_devpts() -> Result<Pty, ChildFailure> {
    const STEP: &str = "open_pty";
    let master = nix::fcntl::open(
        "/dev/pts/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(STEP, || "open /dev/pts/ptmx".into())?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which lives for the call.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })
        .step(STEP, || "unlock the terminal".into())?;
    // TIOCGPTPEER opens the slave from the master itself: no path lookup that could be
    // redirected between the two.
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    let slave = Errno::result(slave).step(STEP, || "open the terminal's slave".into())?;
    // SAFETY: the ioctl just returned this fd; nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok(Pty { master, slave })
}

/// Sets the terminal's size (on either end); the kernel sends SIGWINCH to its foreground group.
pub(crate) fn set_window_size(fd: BorrowedFd<'_>, size: WindowSize) -> nix::Result<()> {
    let winsize = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which lives for the call.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &winsize) }).map(drop)
}

/// In the process that will exec: a new session whose controlling terminal is `slave`, which
/// becomes fds 0, 1 and 2.
pub(super) fn become_terminal_owner(slave: OwnedFd) -> Result<(), ChildFailure> {
    const STEP: &str = "controlling_terminal";
    nix::unistd::setsid().step(STEP, || "setsid".into())?;
    // SAFETY: TIOCSCTTY takes an int by value (0: do not steal it from another session).
    Errno::result(unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) })
        .step(STEP, || "make the terminal the controlling one".into())?;
    nix::unistd::dup2_stdin(&slave).step(STEP, || "dup2 stdin".into())?;
    nix::unistd::dup2_stdout(&slave).step(STEP, || "dup2 stdout".into())?;
    nix::unistd::dup2_stderr(&slave).step(STEP, || "dup2 stderr".into())?;
    Ok(())
}

/// Makes a terminal, sends its master on `channel`, and takes the slave as controlling terminal
/// and stdio (sized `size` first, so the command never sees a 0x0 terminal).
pub(crate) fn attach_new_terminal(
    channel: BorrowedFd<'_>,
    size: Option<WindowSize>,
) -> Result<(), ChildFailure> {
    let Pty { master, slave } = open_in_devpts()?;
    if let Some(size) = size {
        set_window_size(slave.as_fd(), size)
            .step("open_pty", || "set the terminal's size".into())?;
    }
    send_message(channel, &MASTER_MESSAGE, &[master.as_raw_fd()]).map_err(|e| {
        let errno = match e {
            ChannelError::Sys(errno) => errno,
            _ => Errno::EPIPE,
        };
        ChildFailure::new("open_pty", errno, "send the terminal's master")
    })?;
    drop(master);
    become_terminal_owner(slave)
}

/// Receives the master that [`attach_new_terminal`] sent; `None` if the sender died first.
pub(crate) fn receive_master(channel: BorrowedFd<'_>) -> Option<OwnedFd> {
    match recv_message::<String>(channel) {
        Ok((message, fds)) if message == MASTER_MESSAGE => fds.into_iter().next(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

    #[test]
    fn a_master_travels_over_a_channel() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        send_message(a.as_fd(), &MASTER_MESSAGE, &[r.as_raw_fd()]).unwrap();
        let got = receive_master(b.as_fd()).unwrap();
        nix::unistd::write(&w, b"x").unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(nix::unistd::read(&got, &mut byte).unwrap(), 1);
        drop(a);
        assert!(receive_master(b.as_fd()).is_none());
    }
}
