//! A listening Unix socket this process was given at a known fd number by whoever started it
//! (systemd's socket activation: fd 3 on). It is taken over as it is: its file, owner and mode
//! stay those its maker chose.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{SockType, getsockopt, sockopt};

#[derive(Debug, thiserror::Error)]
pub enum InheritedSocketError {
    #[error("fd {0} is not open")]
    NotOpen(RawFd),
    #[error("fd {fd} is {what}, not a listening Unix stream socket bound to a path")]
    NotAUnixListener { fd: RawFd, what: String },
    #[error("fd {fd}: {what}: {source}")]
    Sys {
        fd: RawFd,
        what: &'static str,
        source: nix::Error,
    },
}

/// Takes ownership of `fd`, which must be a listening Unix stream socket bound to a path, marks
/// it close-on-exec (nothing contid runs may inherit it) and returns it with its path.
///
/// The caller must have been handed `fd` to own (by the protocol that gave it, e.g. `LISTEN_FDS`
/// naming this process), and nothing else in the process may use that number.
pub fn take_unix_listener(fd: RawFd) -> Result<(UnixListener, PathBuf), InheritedSocketError> {
    // Looked at through /proc before it is owned: an `OwnedFd` of a number that is not open
    // would close a file opened later under it.
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|_| InheritedSocketError::NotOpen(fd))?;
    let not_a_listener = |what: &str| InheritedSocketError::NotAUnixListener {
        fd,
        what: what.to_string(),
    };
    if !link.to_string_lossy().starts_with("socket:") {
        return Err(not_a_listener(&link.display().to_string()));
    }
    // SAFETY: `fd` is open (checked just above) and was handed to this process to own (the
    // caller's contract); from here on only this `OwnedFd` uses it, and closes it once.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let sys = |what| move |source| InheritedSocketError::Sys { fd, what, source };
    fcntl(&socket, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(sys("set close-on-exec"))?;
    let kind = getsockopt(&socket, sockopt::SockType).map_err(sys("SO_TYPE"))?;
    let listening = getsockopt(&socket, sockopt::AcceptConn).map_err(sys("SO_ACCEPTCONN"))?;
    if kind != SockType::Stream || !listening {
        return Err(not_a_listener(&format!(
            "a {kind:?} socket (listening: {listening})"
        )));
    }
    let listener = UnixListener::from(socket);
    let path = listener
        .local_addr()
        .ok()
        .and_then(|address| address.as_pathname().map(Path::to_path_buf))
        .ok_or_else(|| not_a_listener("a socket without a path (abstract, or not Unix)"))?;
    Ok((listener, path))
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd, IntoRawFd};
    use std::os::unix::net::UnixDatagram;

    use super::*;

    #[test]
    fn a_listening_socket_is_taken_with_its_path_and_made_close_on_exec() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("api.sock");
        let fd = UnixListener::bind(&path).expect("bind").into_raw_fd();
        let (listener, taken_path) = take_unix_listener(fd).expect("taken");
        assert_eq!(taken_path, path);
        assert_eq!(listener.as_raw_fd(), fd, "the same fd, not a copy");
        let flags = fcntl(&listener, FcntlArg::F_GETFD).expect("F_GETFD");
        assert!(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
    }

    #[test]
    fn anything_else_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let datagram = UnixDatagram::bind(dir.path().join("d.sock")).expect("bind");
        let error = take_unix_listener(datagram.into_raw_fd()).unwrap_err();
        assert!(
            matches!(error, InheritedSocketError::NotAUnixListener { .. }),
            "{error}"
        );
        let file = std::fs::File::open("/proc/self/status").expect("a file");
        // Refused before it is owned: `file` still closes it.
        let error = take_unix_listener(file.as_raw_fd()).unwrap_err();
        assert!(
            matches!(error, InheritedSocketError::NotAUnixListener { .. }),
            "{error}"
        );
        let error = take_unix_listener(1_000_000).unwrap_err();
        assert!(matches!(error, InheritedSocketError::NotOpen(_)), "{error}");
    }
}
