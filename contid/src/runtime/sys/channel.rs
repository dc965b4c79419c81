//! A channel between two processes of the layer: one JSON message per SOCK_SEQPACKET datagram,
//! fds alongside it with SCM_RIGHTS. The helper's protocol (`process::protocol`) and the
//! terminal's master (`container::pty`) travel on it.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr, recv, recvmsg, sendmsg,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest message either side accepts (a request carries argv and env).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most fds a message carries (an exec reply: up to four pipes; a launch: clients attached
/// before the start).
pub(super) const MAX_MESSAGE_FDS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ChannelError {
    #[error("the other end closed the socket")]
    Closed,
    #[error("{0}")]
    Sys(Errno),
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Sends `message` with `fds` in one datagram. Never raises SIGPIPE.
pub(crate) fn send_message<T: Serialize>(
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
pub(crate) fn recv_message<T: DeserializeOwned>(
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
