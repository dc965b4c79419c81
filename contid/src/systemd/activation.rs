//! Socket activation (`sd_listen_fds(3)`): systemd (`contid.socket`) listens on the API socket
//! and hands it to contid as fd 3, with `LISTEN_PID` (the process they are for), `LISTEN_FDS`
//! (how many) and `LISTEN_FDNAMES` (their names, `FileDescriptorName=`).

use std::os::fd::RawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use super::names_this_process;
use crate::runtime::sys::inherited_socket::{InheritedSocketError, take_unix_listener};

/// `SD_LISTEN_FDS_START`: the first socket's fd.
const FIRST_FD: RawFd = 3;

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("LISTEN_FDS={0:?}: a number expected")]
    BadCount(String),
    #[error(
        "systemd passed {0} sockets; contid serves exactly one (a single ListenStream= in contid.socket)"
    )]
    NotOne(usize),
    #[error("the socket systemd passed: {0}")]
    Socket(#[from] InheritedSocketError),
}

/// The API socket systemd listens on.
#[derive(Debug)]
pub struct ListenSocket {
    pub listener: UnixListener,
    /// The socket file's path (`ListenStream=`).
    pub path: PathBuf,
}

impl ListenSocket {
    /// Whether the socket's file is `path` (`/var/run/conti.sock` is `/run/conti.sock`).
    pub fn is_at(&self, path: &Path) -> bool {
        let (passed, asked) = (
            std::fs::canonicalize(&self.path),
            std::fs::canonicalize(path),
        );
        self.path == path || matches!((passed, asked), (Ok(passed), Ok(asked)) if passed == asked)
    }
}

/// The socket of `LISTEN_FDS`, when there is one for this process.
pub(super) fn take_socket(
    pid: Option<String>,
    fds: Option<String>,
    names: Option<String>,
) -> Result<Option<ListenSocket>, ActivationError> {
    // Variables meant for another process (a parent that did not clear them) hand nothing.
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if !names_this_process(&pid) {
        tracing::debug!(listen_pid = %pid, "LISTEN_FDS is for another process");
        return Ok(None);
    }
    match fds.parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(1) => {
            let (listener, path) = take_unix_listener(FIRST_FD)?;
            // `FileDescriptorName=`, by default the socket unit's name.
            tracing::info!(path = %path.display(), name = names.as_deref().unwrap_or(""), "socket activation: serving the socket systemd passed");
            Ok(Some(ListenSocket { listener, path }))
        }
        Ok(count) => Err(ActivationError::NotOne(count)),
        Err(_) => Err(ActivationError::BadCount(fds)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What does not hand this process a socket (fd 3 is left alone: the test harness may use it).
    #[test]
    fn variables_for_another_process_or_for_no_socket_hand_nothing() {
        let us = || Some(std::process::id().to_string());
        let some = |s: &str| Some(s.to_string());
        assert!(take_socket(None, None, None).unwrap().is_none());
        assert!(take_socket(some("1"), some("1"), None).unwrap().is_none());
        assert!(take_socket(None, some("1"), None).unwrap().is_none());
        assert!(take_socket(us(), some("0"), None).unwrap().is_none());
        assert!(matches!(
            take_socket(us(), some("two"), None),
            Err(ActivationError::BadCount(_))
        ));
        assert!(matches!(
            take_socket(us(), some("2"), some("a:b")),
            Err(ActivationError::NotOne(2))
        ));
    }
}
