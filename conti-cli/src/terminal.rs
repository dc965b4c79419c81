//! The local terminal during an attached session: raw mode while it lasts, restored always (on
//! return, on error, on panic, and when a signal ends the session), and its size.

use std::io::IsTerminal;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

/// Puts stdin's terminal in raw mode; dropping it restores the settings it found.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// `None` when stdin is not a terminal (nothing to do).
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Rows and columns of the terminal on stdout (or stdin), if there is one.
pub fn size() -> Option<(u16, u16)> {
    for fd in [
        std::io::stdout().as_fd().as_raw_fd(),
        std::io::stdin().as_fd().as_raw_fd(),
    ] {
        let mut winsize = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which lives for the call.
        let res = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut winsize) };
        if Errno::result(res).is_ok() && winsize.ws_row > 0 && winsize.ws_col > 0 {
            return Some((winsize.ws_row, winsize.ws_col));
        }
    }
    None
}

/// Whether stdin is a terminal (`-t` needs one).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Reads a line from stdin's terminal after `prompt` (on stderr), without echoing it: a
/// password. The echo comes back however the read ends.
pub fn read_hidden_line(prompt: &str) -> std::io::Result<String> {
    use nix::sys::termios::LocalFlags;
    use std::io::{BufRead, Write};

    let stdin = std::io::stdin();
    let saved = tcgetattr(stdin.as_fd())?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    // The newline still shows, so the next output starts on a line of its own.
    quiet.local_flags.insert(LocalFlags::ECHONL);
    let mut stderr = std::io::stderr();
    write!(stderr, "{prompt}")?;
    stderr.flush()?;
    tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &saved);
    read?;
    Ok(trim_newline(&line).to_string())
}

/// Reads a line from stdin after `prompt` (on stderr).
pub fn read_line(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, Write};

    let mut stderr = std::io::stderr();
    write!(stderr, "{prompt}")?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(trim_newline(&line).to_string())
}

/// `line` without its end of line (`\n` or `\r\n`).
pub fn trim_newline(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}
