//! The helper's wire protocol, on a `sys::channel` (one JSON message per SOCK_SEQPACKET
//! datagram, fds alongside it with SCM_RIGHTS). The daemon sends a [`HelperRequest`]; the helper
//! answers with one [`HelperReply`] carrying the fds the request asked for (a report pipe, or
//! three exec pipes).

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use crate::runtime::network::firewall::Rewrite;
use crate::runtime::{ContainerLaunch, ExecLaunch};

#[derive(Debug, Serialize, Deserialize)]
pub(super) enum HelperRequest {
    /// Start a container; the reply carries the read end of its report pipe.
    Launch(Box<ContainerLaunch>),
    /// Run a command in a container; the reply carries the read ends of stdout, stderr, status.
    Exec(Box<ExecLaunch>),
    /// Make sure a network's bridge exists with its gateway address and is up (idempotent).
    EnsureBridge {
        name: String,
        gateway: std::net::Ipv4Addr,
        prefix_len: u8,
    },
    /// Remove a network's bridge (a missing one is fine).
    RemoveBridge { name: String },
    /// Replace Conti's nftables tables as this says (delete them when its plan has no network).
    ApplyFirewall(Rewrite),
    /// End what a start of the container left: its monitor, its processes, its cgroup.
    EndStart {
        id: String,
        state_dir: std::path::PathBuf,
    },
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) enum HelperReply {
    Ok,
    /// The helper could not do it (a pipe or a fork failed); nothing was started.
    Err {
        context: String,
        errno: i32,
    },
}

/// Why the helper could not carry out a request.
#[derive(Debug)]
pub(super) struct HelperFailure {
    pub context: String,
    pub errno: Errno,
}

impl HelperFailure {
    pub fn new(context: impl Into<String>, errno: Errno) -> Self {
        HelperFailure {
            context: context.into(),
            errno,
        }
    }
}

impl HelperFailure {
    pub fn from_io(context: String, error: &std::io::Error) -> Self {
        HelperFailure::new(context, crate::runtime::child_failure::io_errno(error))
    }
}

impl From<HelperFailure> for HelperReply {
    fn from(failure: HelperFailure) -> Self {
        HelperReply::Err {
            context: failure.context,
            errno: failure.errno as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::NetworkSetup;
    use crate::runtime::sys::channel::{
        ChannelError, MAX_MESSAGE_BYTES, recv_message, send_message,
    };
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    fn launch() -> ContainerLaunch {
        ContainerLaunch {
            env: vec!["PATH=/bin".into()],
            ..ContainerLaunch::for_tests(
                "abc",
                std::path::Path::new("/var/lib/conti/containers/abc"),
                &["sh", "-c", "echo hi"],
            )
        }
    }

    #[test]
    fn a_request_and_its_fds_round_trip() {
        let (a, b) = pair();
        let (pipe_r, pipe_w) = nix::unistd::pipe().unwrap();
        send_message(
            a.as_fd(),
            &HelperRequest::Launch(Box::new(launch())),
            &[pipe_r.as_raw_fd()],
        )
        .unwrap();
        drop(pipe_r);
        let (request, fds) = recv_message::<HelperRequest>(b.as_fd()).unwrap();
        let HelperRequest::Launch(got) = request else {
            panic!("wrong request")
        };
        assert_eq!(got.argv, launch().argv);
        assert_eq!(got.network, NetworkSetup::Isolated);
        assert_eq!(fds.len(), 1);
        // The received fd is the same pipe.
        nix::unistd::write(&pipe_w, b"x").unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(nix::unistd::read(&fds[0], &mut byte).unwrap(), 1);
        let flags = nix::fcntl::fcntl(&fds[0], nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(
            flags & nix::libc::FD_CLOEXEC,
            0,
            "received fds are close-on-exec"
        );
    }

    #[test]
    fn replies_round_trip_and_eof_is_closed() {
        let (a, b) = pair();
        let reply = HelperReply::Err {
            context: "fork".into(),
            errno: Errno::EAGAIN as i32,
        };
        send_message(a.as_fd(), &reply, &[]).unwrap();
        let (got, fds) = recv_message::<HelperReply>(b.as_fd()).unwrap();
        assert_eq!(got, reply);
        assert!(fds.is_empty());
        drop(a);
        assert!(matches!(
            recv_message::<HelperReply>(b.as_fd()),
            Err(ChannelError::Closed)
        ));
        assert!(matches!(
            send_message(b.as_fd(), &HelperReply::Ok, &[]),
            Err(ChannelError::Closed)
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        let (a, b) = pair();
        nix::unistd::write(&a, b"{not json").unwrap();
        assert!(matches!(
            recv_message::<HelperReply>(b.as_fd()),
            Err(ChannelError::Malformed(_))
        ));
    }

    #[test]
    fn a_large_message_arrives_whole_and_an_oversized_one_is_malformed() {
        let (a, b) = pair();
        // As the helper's channel: room for the largest message (root may force it).
        nix::sys::socket::setsockopt(
            &a,
            nix::sys::socket::sockopt::SndBufForce,
            &(2 * MAX_MESSAGE_BYTES + 65536),
        )
        .unwrap();
        let big = ContainerLaunch {
            env: vec![format!("BIG={}", "x".repeat(200_000))],
            ..launch()
        };
        send_message(a.as_fd(), &HelperRequest::Launch(Box::new(big)), &[]).unwrap();
        let (request, _) = recv_message::<HelperRequest>(b.as_fd()).unwrap();
        let HelperRequest::Launch(got) = request else {
            panic!("wrong request")
        };
        assert_eq!(got.env[0].len(), 200_004);

        // Bigger than any sender may send (send_message refuses it): cut, so malformed.
        nix::unistd::write(&a, &vec![b' '; MAX_MESSAGE_BYTES + 1]).unwrap();
        assert!(matches!(
            recv_message::<HelperReply>(b.as_fd()),
            Err(ChannelError::Malformed(_))
        ));
    }
}
