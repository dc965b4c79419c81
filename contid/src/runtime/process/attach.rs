//! The attach protocol between the daemon and a container's monitor, on `attach.sock` in the
//! container's state folder (mode 0600) or on a socketpair handed over at start.
//!
//! Both directions are frames with Docker's 8-byte header: `[kind, 0, 0, 0, length as u32 BE]`
//! followed by `length` bytes.
//!
//! - daemon → monitor: first one [`HELLO`] (JSON [`AttachHello`]: which streams the client
//!   wants), then any of [`STDIN`] (bytes for the container's stdin), [`STDIN_EOF`] (close the
//!   stdin pipe; ignored with a tty), [`RESIZE`] (rows and columns, u16 BE each).
//! - monitor → daemon: [`STDOUT`] and [`STDERR`] frames of output (a tty's output is all
//!   [`STDOUT`]). The monitor closes the connection once the container has exited and its output
//!   has been sent; a client that closes its end has detached.
//!
//! Output frames are exactly what a non-tty attach client receives, so the daemon passes them
//! through unchanged; with a tty it strips the headers.

use std::os::fd::BorrowedFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::{Deserialize, Serialize};

use crate::runtime::WindowSize;

/// Name of the monitor's listening socket in the container's state folder.
pub const ATTACH_SOCKET: &str = "attach.sock";
pub const HEADER_LEN: usize = 8;
/// Largest frame payload either side sends or accepts.
pub const MAX_FRAME: usize = 1024 * 1024;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const HELLO: u8 = 16;
pub const STDIN_EOF: u8 = 17;
pub const RESIZE: u8 = 18;

/// What an attached client wants; the first frame of every connection.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachHello {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl AttachHello {
    pub fn wants(&self, kind: u8) -> bool {
        match kind {
            STDOUT => self.stdout,
            STDERR => self.stderr,
            _ => false,
        }
    }
}

pub fn header(kind: u8, len: usize) -> [u8; HEADER_LEN] {
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

/// A whole frame: header and payload.
pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(&header(kind, payload.len()));
    bytes.extend_from_slice(payload);
    bytes
}

pub fn hello_frame(hello: AttachHello) -> Vec<u8> {
    // Serialising three booleans cannot fail.
    frame(HELLO, &serde_json::to_vec(&hello).unwrap_or_default())
}

pub fn resize_frame(size: WindowSize) -> Vec<u8> {
    let mut payload = [0u8; 4];
    payload[..2].copy_from_slice(&size.rows.to_be_bytes());
    payload[2..].copy_from_slice(&size.cols.to_be_bytes());
    frame(RESIZE, &payload)
}

pub fn parse_resize(payload: &[u8]) -> Option<WindowSize> {
    let bytes: [u8; 4] = payload.try_into().ok()?;
    Some(WindowSize {
        rows: u16::from_be_bytes([bytes[0], bytes[1]]),
        cols: u16::from_be_bytes([bytes[2], bytes[3]]),
    })
}

/// `(kind, payload length)` of a header.
pub fn parse_header(header: &[u8; HEADER_LEN]) -> (u8, usize) {
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    (header[0], len as usize)
}

/// Splits complete frames off the front of `buffer`. `Err` when a frame is larger than
/// [`MAX_FRAME`] (the peer is not speaking this protocol).
pub fn take_frames(buffer: &mut Vec<u8>) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut frames = Vec::new();
    let mut start = 0;
    while buffer.len() - start >= HEADER_LEN {
        let mut head = [0u8; HEADER_LEN];
        head.copy_from_slice(&buffer[start..start + HEADER_LEN]);
        let (kind, len) = parse_header(&head);
        if len > MAX_FRAME {
            return Err(format!("frame of {len} bytes is too large"));
        }
        let end = start + HEADER_LEN + len;
        if buffer.len() < end {
            break;
        }
        frames.push((kind, buffer[start + HEADER_LEN..end].to_vec()));
        start = end;
    }
    buffer.drain(..start);
    Ok(frames)
}

/// Whether the peer of the connected stream socket `socket` has closed it entirely (`POLLHUP`)
/// rather than only shut down its writing side (`POLLRDHUP` alone): an attached client that went
/// away, not one that ended its input.
pub fn peer_hung_up(socket: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(socket, PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
        && fds[0]
            .revents()
            .is_some_and(|events| events.contains(PollFlags::POLLHUP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_partial_frames_wait() {
        let mut bytes = hello_frame(AttachHello {
            stdin: true,
            stdout: true,
            stderr: false,
        });
        bytes.extend(frame(STDIN, b"hello"));
        bytes.extend(resize_frame(WindowSize { rows: 24, cols: 80 }));
        let cut = frame(STDIN, b"later");
        bytes.extend(&cut[..10]);
        let frames = take_frames(&mut bytes).unwrap();
        assert_eq!(frames.len(), 3);
        let hello: AttachHello = serde_json::from_slice(&frames[0].1).unwrap();
        assert!(hello.stdin && hello.wants(STDOUT) && !hello.wants(STDERR));
        assert_eq!(frames[1], (STDIN, b"hello".to_vec()));
        assert_eq!(
            parse_resize(&frames[2].1),
            Some(WindowSize { rows: 24, cols: 80 })
        );
        assert_eq!(bytes.len(), 10);
        bytes.extend(&cut[10..]);
        assert_eq!(
            take_frames(&mut bytes).unwrap(),
            vec![(STDIN, b"later".to_vec())]
        );
        assert!(bytes.is_empty());
    }

    #[test]
    fn the_header_is_dockers() {
        assert_eq!(header(STDERR, 258), [2, 0, 0, 0, 0, 0, 1, 2]);
        let mut huge = header(STDIN, MAX_FRAME + 1).to_vec();
        assert!(take_frames(&mut huge).is_err());
    }
}
