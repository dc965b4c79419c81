//! Attaching to a container's stdio, and resizing its terminal.
//!
//! The container's monitor serves its stdio on `attach.sock` (see `runtime::process::attach` for the
//! frames), before and after a daemon restart alike. A client that attaches to a container that
//! has not started yet gets a socketpair instead: its monitor end waits here, with the hello
//! already written, and goes to the monitor with the launch, which registers it before the
//! container's first process runs. So no output is lost for a client that attached before the
//! start, and stdin it sent early waits in the socket.
//!
//! [`pump`] copies between a client's byte stream and a monitor connection: output frames go out
//! unchanged without a tty (Docker's multiplexed stream) or as raw bytes with one; input is
//! scanned for the detach keys and sent as stdin frames; the end of the client's input (a
//! half-close) becomes a stdin EOF. A client of a container that closes its connection entirely
//! has gone away, as with a detach: the container's stdin stays open for the others attached.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::runtime::WindowSize;
use crate::runtime::process::attach::{
    ATTACH_SOCKET, AttachHello, HEADER_LEN, MAX_FRAME, STDIN, STDIN_EOF, frame, hello_frame,
    parse_header, peer_hung_up, resize_frame,
};

use super::{ContainerStatus, Engine, EngineError, EngineResult};

/// Most clients that may wait for a container's start.
const MAX_EARLY_ATTACHES: usize = 8;
/// Docker's default: Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// What a client asks for.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The sequence that ends the attach and leaves the container running (empty: none).
    pub detach_keys: Vec<u8>,
}

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The output ended: the container (or exec) has exited, or the client went away.
    Ended,
    /// The client typed the detach keys.
    Detached,
}

/// An attach the engine accepted; [`AttachSession::pump`] runs it.
pub struct AttachSession {
    monitor: UnixStream,
    pub tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
    engine: Engine,
    container_id: String,
}

/// The socket of an API connection, as a number: it tells a client that went away from one
/// that ended its input. Only looked at while the connection is being pumped, which keeps the
/// socket open.
#[derive(Debug, Clone, Copy)]
pub struct ClientSocket(pub RawFd);

impl ClientSocket {
    fn hung_up(self) -> bool {
        // SAFETY: the fd is the socket of the connection `pump` is copying, which owns it and
        // keeps it open until `pump` returns; this runs inside `pump`.
        peer_hung_up(unsafe { BorrowedFd::borrow_raw(self.0) })
    }
}

impl AttachSession {
    /// Runs the session to its end, then records the detach. `socket` is the client's connection
    /// when known (without it, its closing ends the container's stdin).
    pub async fn pump<C>(self, client: C, socket: Option<ClientSocket>) -> AttachEnd
    where
        C: AsyncRead + AsyncWrite + Send + Unpin,
    {
        let end = pump(
            client,
            self.monitor,
            self.tty,
            self.stdin,
            &self.detach_keys,
            socket,
        )
        .await;
        self.engine.emit_detach(&self.container_id, None);
        end
    }
}

/// What waits for a container's start: monitor ends of early attaches, and a terminal size.
#[derive(Default)]
pub(super) struct EarlyAttaches {
    by_container: Mutex<HashMap<String, Early>>,
}

#[derive(Default)]
struct Early {
    connections: Vec<OwnedFd>,
    size: Option<WindowSize>,
}

impl EarlyAttaches {
    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Early) -> T) -> T {
        let mut map = self
            .by_container
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(map.entry(id.to_string()).or_default())
    }

    /// For the launch: the connections to hand over and the size to start with.
    pub(super) fn take(&self, id: &str) -> (Vec<OwnedFd>, Option<WindowSize>) {
        let mut map = self
            .by_container
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match map.remove(id) {
            // Clients that went away meanwhile are dropped by the monitor at once.
            Some(early) => (early.connections, early.size),
            None => (Vec::new(), None),
        }
    }
}

/// `ctrl-p,ctrl-q` (Docker's syntax): `ctrl-<a-z@[\\]^_>` or a single character, comma-separated.
pub fn parse_detach_keys(text: &str) -> EngineResult<Vec<u8>> {
    let invalid = || {
        EngineError::InvalidArgument(format!(
            "invalid detach keys {text:?}: expected e.g. \"ctrl-p,ctrl-q\""
        ))
    };
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|key| {
            let key = key.trim();
            if let Some(c) = key.strip_prefix("ctrl-") {
                let [c] = c.as_bytes() else {
                    return Err(invalid());
                };
                match c.to_ascii_lowercase() {
                    c @ b'a'..=b'z' => Ok(c - b'a' + 1),
                    c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_') => Ok(c - b'@'),
                    _ => Err(invalid()),
                }
            } else if key.len() == 1 {
                Ok(key.as_bytes()[0])
            } else {
                Err(invalid())
            }
        })
        .collect()
}

/// A terminal size from the API: 1..=65535 each.
pub fn window_size(rows: u32, cols: u32) -> EngineResult<WindowSize> {
    let valid = |n: u32| u16::try_from(n).ok().filter(|&n| n > 0);
    match (valid(rows), valid(cols)) {
        (Some(rows), Some(cols)) => Ok(WindowSize { rows, cols }),
        _ => Err(EngineError::InvalidArgument(format!(
            "invalid terminal size {rows}x{cols}: height and width must be 1 to 65535"
        ))),
    }
}

impl Engine {
    /// Attaches to a created or running container. An exited one is a 409: there is nothing
    /// left to attach to (its output is in the logs).
    pub async fn attach(
        &self,
        reference: &str,
        options: AttachOptions,
    ) -> EngineResult<AttachSession> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        // A start in progress finishes first: the client then joins the running container.
        let _guard = lifecycle.lock().await;
        let (status, tty, open_stdin) = {
            let table = self.table();
            let container = &table.entry(&id)?.container;
            (
                container.status.clone(),
                container.config.tty,
                container.config.open_stdin,
            )
        };
        let hello = AttachHello {
            stdin: options.stdin && open_stdin,
            stdout: options.stdout,
            stderr: options.stderr,
        };
        let monitor = match status {
            ContainerStatus::Starting => {
                return Err(EngineError::ContainerNotRunning(format!(
                    "{id} (its last start was cut short; start it again)"
                )));
            }
            ContainerStatus::Exited { .. } => {
                return Err(EngineError::ContainerNotRunning(format!(
                    "{id} (it has exited; start it first, or read its logs)"
                )));
            }
            ContainerStatus::Restarting { .. } => {
                return Err(EngineError::ContainerNotRunning(format!(
                    "{id} (it is restarting: attach once it runs)"
                )));
            }
            ContainerStatus::Created => {
                let (daemon_end, monitor_end) = std::os::unix::net::UnixStream::pair()
                    .map_err(|e| EngineError::internal("attach socketpair", e))?;
                (&daemon_end)
                    .write_all(&hello_frame(hello))
                    .map_err(|e| EngineError::internal("attach hello", e))?;
                let registered = self.inner.early_attaches.with(&id, |early| {
                    if early.connections.len() >= MAX_EARLY_ATTACHES {
                        return false;
                    }
                    early.connections.push(OwnedFd::from(monitor_end));
                    true
                });
                if !registered {
                    return Err(EngineError::InvalidArgument(format!(
                        "at most {MAX_EARLY_ATTACHES} clients may attach before the start"
                    )));
                }
                daemon_end
                    .set_nonblocking(true)
                    .and_then(|()| UnixStream::from_std(daemon_end))
                    .map_err(|e| EngineError::internal("attach socket", e))?
            }
            ContainerStatus::Running { .. } => {
                let mut monitor = self.connect_monitor(&id).await?;
                monitor
                    .write_all(&hello_frame(hello))
                    .await
                    .map_err(|e| EngineError::internal("attach hello", e))?;
                monitor
            }
        };
        tracing::info!(container = %id, ?hello, "attached");
        self.emit_attach(&id, None);
        Ok(AttachSession {
            monitor,
            tty,
            stdin: hello.stdin,
            detach_keys: options.detach_keys,
            engine: self.clone(),
            container_id: id,
        })
    }

    /// Resizes a container's terminal; before the start, the size is applied at the start.
    pub async fn resize(&self, reference: &str, size: WindowSize) -> EngineResult<()> {
        let (id, status, tty) = {
            let table = self.table();
            let id = table.resolve(reference)?;
            let container = &table.entry(&id)?.container;
            (id, container.status.clone(), container.config.tty)
        };
        if !tty {
            return Err(EngineError::InvalidArgument(format!(
                "container {id} has no terminal (create it with tty)"
            )));
        }
        match status {
            ContainerStatus::Created => {
                self.inner
                    .early_attaches
                    .with(&id, |early| early.size = Some(size));
                Ok(())
            }
            ContainerStatus::Running { .. } => {
                let mut monitor = self.connect_monitor(&id).await?;
                let mut bytes = hello_frame(AttachHello::default());
                bytes.extend(resize_frame(size));
                monitor
                    .write_all(&bytes)
                    .await
                    .map_err(|e| EngineError::internal("resize", e))?;
                // The monitor acts on the frame, then sees our EOF and drops the connection.
                let _ = monitor.shutdown().await;
                let mut rest = Vec::new();
                let _ = monitor.read_to_end(&mut rest).await;
                Ok(())
            }
            ContainerStatus::Starting
            | ContainerStatus::Restarting { .. }
            | ContainerStatus::Exited { .. } => Err(EngineError::ContainerNotRunning(id)),
        }
    }

    async fn connect_monitor(&self, id: &str) -> EngineResult<UnixStream> {
        let path = self.container_dir(id).join(ATTACH_SOCKET);
        match UnixStream::connect(&path).await {
            Ok(stream) => Ok(stream),
            Err(e) => {
                let running = self
                    .table()
                    .entry(id)
                    .is_ok_and(|entry| entry.container.status.is_running());
                if running {
                    Err(EngineError::Internal(format!(
                        "cannot reach the monitor of container {id} at {}: {e} (the container \
                         keeps running; its output is in the logs)",
                        path.display()
                    )))
                } else {
                    Err(EngineError::ContainerNotRunning(id.to_string()))
                }
            }
        }
    }
}

/// Copies between `client` (raw bytes) and `monitor` (attach frames) until the output ends or
/// the client detaches. With `socket`, a client that closes its connection entirely leaves the
/// stdin open for other clients.
pub async fn pump<C, M>(
    client: C,
    monitor: M,
    tty: bool,
    stdin: bool,
    keys: &[u8],
    socket: Option<ClientSocket>,
) -> AttachEnd
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
    M: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (mut client_in, mut client_out) = tokio::io::split(client);
    let (mut monitor_in, mut monitor_out) = tokio::io::split(monitor);
    let output = async {
        let mut head = [0u8; HEADER_LEN];
        let mut payload = Vec::new();
        loop {
            if monitor_in.read_exact(&mut head).await.is_err() {
                break;
            }
            let (_, len) = parse_header(&head);
            if len > MAX_FRAME {
                break;
            }
            payload.resize(len, 0);
            if monitor_in.read_exact(&mut payload).await.is_err() {
                break;
            }
            let written = if tty {
                client_out.write_all(&payload).await
            } else {
                match client_out.write_all(&head).await {
                    Ok(()) => client_out.write_all(&payload).await,
                    Err(e) => Err(e),
                }
            };
            if written.is_err() || client_out.flush().await.is_err() {
                return;
            }
        }
        let _ = client_out.shutdown().await;
    };
    let input = async {
        // Without a tty the input is data (a file piped in may hold any bytes): no detach keys.
        let mut detector = DetachDetector::new(if tty { keys } else { &[] });
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            let n = match client_in.read(&mut buffer).await {
                Ok(0) | Err(_) => {
                    let went_away = socket.is_some_and(ClientSocket::hung_up);
                    if stdin && !went_away {
                        let _ = monitor_out.write_all(&frame(STDIN_EOF, &[])).await;
                    }
                    // The output goes on until the container is done.
                    return std::future::pending::<AttachEnd>().await;
                }
                Ok(n) => n,
            };
            let (pass, detached) = detector.feed(&buffer[..n]);
            if stdin
                && !pass.is_empty()
                && monitor_out.write_all(&frame(STDIN, &pass)).await.is_err()
            {
                return std::future::pending::<AttachEnd>().await;
            }
            if detached {
                return AttachEnd::Detached;
            }
        }
    };
    tokio::select! {
        () = output => AttachEnd::Ended,
        end = input => end,
    }
}

/// Finds the detach sequence in a byte stream; bytes that may start it are held back until the
/// next byte tells.
struct DetachDetector<'a> {
    keys: &'a [u8],
    matched: usize,
}

impl<'a> DetachDetector<'a> {
    fn new(keys: &'a [u8]) -> Self {
        DetachDetector { keys, matched: 0 }
    }

    /// The bytes to pass on, and whether the sequence is complete (what follows it is dropped).
    fn feed(&mut self, bytes: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (bytes.to_vec(), false);
        }
        let mut pass = Vec::with_capacity(bytes.len());
        for &byte in bytes {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (pass, true);
                }
            } else {
                pass.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if byte == self.keys[0] {
                    self.matched = 1;
                } else {
                    pass.push(byte);
                }
            }
        }
        (pass, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            DEFAULT_DETACH_KEYS
        );
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("").unwrap().is_empty());
    }

    #[test]
    fn the_detach_sequence_is_held_back_and_found_across_reads() {
        let mut detector = DetachDetector::new(DEFAULT_DETACH_KEYS);
        assert_eq!(detector.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(detector.feed(b"x"), (b"\x10x".to_vec(), false));
        assert_eq!(detector.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(detector.feed(b"\x11rest"), (Vec::new(), true));
        let mut none = DetachDetector::new(&[]);
        assert_eq!(none.feed(b"\x10\x11"), (b"\x10\x11".to_vec(), false));
    }

    #[test]
    fn sizes_are_1_to_65535() {
        assert!(window_size(0, 80).is_err());
        assert!(window_size(24, 65536).is_err());
        assert_eq!(
            window_size(24, 80).unwrap(),
            WindowSize { rows: 24, cols: 80 }
        );
    }
}
