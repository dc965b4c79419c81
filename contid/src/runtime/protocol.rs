//! The helper's wire protocol: one JSON message per SOCK_SEQPACKET datagram, fds alongside it
//! with SCM_RIGHTS. The daemon sends a [`HelperRequest`]; the helper answers with one
//! [`HelperReply`] carrying the fds the request asked for (a report pipe, or three exec pipes).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recv, recvmsg, sendmsg,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::network::firewall::Rewrite;
use super::{ContainerLaunch, ExecLaunch};

/// Largest message either side accepts (a request carries argv and env).
pub(super) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most fds a message carries (an exec reply: up to four pipes; a launch: clients attached
/// before the start).
pub(super) const MAX_MESSAGE_FDS: usize = 16;

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
        HelperFailure::new(context, super::child::io_errno(error))
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

#[derive(Debug, thiserror::Error)]
pub(super) enum ChannelError {
    #[error("the other end closed the socket")]
    Closed,
    #[error("{0}")]
    Sys(Errno),
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Sends `message` with `fds` in one datagram. Never raises SIGPIPE.
pub(super) fn send_message<T: Serialize>(
    socket: BorrowedFd<'_>,
    message: &T,
    fds: &[RawFd],
) -> Result<(), ChannelError> {
    let bytes = serde_json::to_vec(message).map_err(|e| ChannelError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ChannelError::Malformed(format!(
            "message of {} bytes is too large",
            bytes.len()
        )));
    }
    let iov = [IoSlice::new(&bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<UnixAddr>(
            socket.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN) => {
                return Err(ChannelError::Closed);
            }
            Err(errno) => return Err(ChannelError::Sys(errno)),
        }
    }
}

/// Receives one message and the fds that came with it (opened close-on-exec).
/// `Err(Closed)` when the peer is gone.
pub(super) fn recv_message<T: DeserializeOwned>(
    socket: BorrowedFd<'_>,
) -> Result<(T, Vec<OwnedFd>), ChannelError> {
    // A buffer of the message's own size: a zeroed MAX_MESSAGE_BYTES one per message was half
    // of the helper's CPU time per container (a fresh 1 MiB mapping, faulted in and zeroed).
    let mut buffer = vec![0u8; pending_message_len(socket)?.clamp(1, MAX_MESSAGE_BYTES)];
    let mut cmsg_buffer = nix::cmsg_space!([RawFd; MAX_MESSAGE_FDS]);
    let (len, truncated, fds) = loop {
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let flags = MsgFlags::MSG_CMSG_CLOEXEC;
        match recvmsg::<UnixAddr>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg_buffer), flags) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for cmsg in msg.cmsgs().map_err(ChannelError::Sys)? {
                    if let ControlMessageOwned::ScmRights(raw) = cmsg {
                        // SAFETY: SCM_RIGHTS installed these fds in this process just now;
                        // nothing else owns them.
                        fds.extend(
                            raw.into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                let truncated = msg
                    .flags
                    .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
                break (msg.bytes, truncated, fds);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Sys(errno)),
        }
    };
    if len == 0 {
        // A SEQPACKET socket reads 0 bytes only at EOF: we never send empty messages.
        return Err(ChannelError::Closed);
    }
    if truncated {
        return Err(ChannelError::Malformed(
            "message or its fds were truncated".into(),
        ));
    }
    let message = serde_json::from_slice(&buffer[..len])
        .map_err(|e| ChannelError::Malformed(e.to_string()))?;
    Ok((message, fds))
}

/// The length of the next datagram, without taking it (0 at EOF): MSG_PEEK | MSG_TRUNC makes
/// a SEQPACKET socket report the whole length whatever the buffer.
fn pending_message_len(socket: BorrowedFd<'_>) -> Result<usize, ChannelError> {
    loop {
        match recv(
            socket.as_raw_fd(),
            &mut [],
            MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
        ) {
            Ok(len) => return Ok(len),
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Sys(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::NetworkSetup;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    use std::os::fd::AsFd;

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
