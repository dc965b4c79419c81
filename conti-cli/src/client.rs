//! Typed client of contid's API: one method per endpoint, over HTTP/1.1 on the Unix socket.
//!
//! Each request opens its own connection: calls that block (`wait`, `logs?follow=true`) can then
//! run side by side, and the CLI makes too few requests for connection reuse to matter.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use conti_proto::{
    API_PREFIX, ContainerInfo, ContainerSpec, ContainerStats, ContainerTop, ContainerUpdate,
    CreatedContainer, DaemonInfo, ErrorBody, Event, ExecCreated, ExecInfo, ExecResult, ExecSpec,
    ImageInfo, LogLine, NetworkInfo, NetworkSpec, VersionInfo, WaitResult,
};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached: contid is not running, or we may not talk to it.
    #[error("cannot connect to contid at {}: {source} (is contid running?)", socket.display())]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    /// contid answered with an error body.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// The exchange broke down, or the answer is not what the contract promises.
    #[error("bad answer from contid: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The API's error code (`container_not_found`, ...), when contid gave one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Keeps the whole chain: hyper's own messages ("error from user's Body stream") say little
    /// without their cause.
    fn protocol(error: impl StdError) -> ClientError {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        ClientError::Protocol(message)
    }
}

/// Options of `GET /v1/containers/{ref}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep the answer open until the container has exited.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u64>,
    /// Only lines written from / until this time (RFC 3339, Unix seconds, or a duration ago),
    /// passed to contid as typed.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Each line after its time (the output's form only: records carry their time anyway).
    pub timestamps: bool,
}

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
        }
    }

    /// `GET /v1/version`
    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        read_json(self.send_empty(Method::GET, "/version").await?).await
    }

    /// `GET /v1/info`
    pub async fn info(&self) -> Result<DaemonInfo, ClientError> {
        read_json(self.send_empty(Method::GET, "/info").await?).await
    }

    /// `POST /v1/images/import?name=NAME`, with `archive` (tar or tar.gz) streamed as the body.
    pub async fn import_image(
        &self,
        name: &str,
        archive: impl AsyncRead + Send + Unpin + 'static,
    ) -> Result<ImageInfo, ClientError> {
        let path = format!("/images/import?name={}", encode(name));
        let body = stream_body(archive);
        let response = self
            .send(Method::POST, &path, Some("application/octet-stream"), body)
            .await?;
        read_json(response).await
    }

    /// `GET /v1/images`
    pub async fn list_images(&self) -> Result<Vec<ImageInfo>, ClientError> {
        read_json(self.send_empty(Method::GET, "/images").await?).await
    }

    /// `DELETE /v1/images/{name}`
    pub async fn remove_image(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/images/{}", encode(name));
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    /// `POST /v1/networks`
    pub async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo, ClientError> {
        read_json(self.send_json(Method::POST, "/networks", spec).await?).await
    }

    /// `GET /v1/networks`
    pub async fn list_networks(&self) -> Result<Vec<NetworkInfo>, ClientError> {
        read_json(self.send_empty(Method::GET, "/networks").await?).await
    }

    /// `GET /v1/networks/{name}`
    pub async fn inspect_network(&self, name: &str) -> Result<NetworkInfo, ClientError> {
        let path = format!("/networks/{}", encode(name));
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `DELETE /v1/networks/{name}`
    pub async fn remove_network(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/networks/{}", encode(name));
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    /// `POST /v1/containers`
    pub async fn create_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<CreatedContainer, ClientError> {
        read_json(self.send_json(Method::POST, "/containers", spec).await?).await
    }

    /// `GET /v1/containers`: running containers, or all of them.
    pub async fn list_containers(&self, all: bool) -> Result<Vec<ContainerInfo>, ClientError> {
        let path = if all {
            "/containers?all=true"
        } else {
            "/containers"
        };
        read_json(self.send_empty(Method::GET, path).await?).await
    }

    /// `GET /v1/containers/{ref}`
    pub async fn inspect_container(&self, container: &str) -> Result<ContainerInfo, ClientError> {
        let path = container_path(container, "");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `PATCH /v1/containers/{ref}`: new limits; the container as it now is.
    pub async fn update_container(
        &self,
        container: &str,
        update: &ContainerUpdate,
    ) -> Result<ContainerInfo, ClientError> {
        let path = container_path(container, "");
        read_json(self.send_json(Method::PATCH, &path, update).await?).await
    }

    /// `GET /v1/containers/{ref}/stats`: one sample.
    pub async fn container_stats(&self, container: &str) -> Result<ContainerStats, ClientError> {
        let path = container_path(container, "/stats");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `GET /v1/containers/{ref}/top`
    pub async fn container_top(&self, container: &str) -> Result<ContainerTop, ClientError> {
        let path = container_path(container, "/top");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `POST /v1/containers/{ref}/start`
    pub async fn start_container(&self, container: &str) -> Result<(), ClientError> {
        let path = container_path(container, "/start");
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/stop`; `timeout` in seconds, contid's default when `None`.
    pub async fn stop_container(
        &self,
        container: &str,
        timeout: Option<u64>,
    ) -> Result<(), ClientError> {
        let mut path = container_path(container, "/stop");
        if let Some(seconds) = timeout {
            let _ = write!(path, "?timeout={seconds}");
        }
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/kill`; `signal` by name or number, SIGKILL when `None`.
    pub async fn kill_container(
        &self,
        container: &str,
        signal: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut path = container_path(container, "/kill");
        if let Some(signal) = signal {
            let _ = write!(path, "?signal={}", encode(signal));
        }
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/wait`: blocks until the container has exited.
    pub async fn wait_container(&self, container: &str) -> Result<WaitResult, ClientError> {
        let path = container_path(container, "/wait");
        read_json(self.send_empty(Method::POST, &path).await?).await
    }

    /// `GET /v1/containers/{ref}/logs?format=json`: the records, read as they arrive.
    pub async fn container_logs(
        &self,
        container: &str,
        options: LogOptions,
    ) -> Result<LogStream, ClientError> {
        let path = logs_path(container, "json", &options);
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(LogStream {
            lines: JsonLines::new(response.into_body()),
        })
    }

    /// `GET /v1/containers/{ref}/logs?format=multiplexed`: the output as it was written, in
    /// pieces that say their stream, read as they arrive.
    pub async fn container_output(
        &self,
        container: &str,
        options: LogOptions,
    ) -> Result<OutputStream, ClientError> {
        let mut path = logs_path(container, "multiplexed", &options);
        if options.timestamps {
            path.push_str("&timestamps=true");
        }
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(OutputStream {
            body: response.into_body(),
            pending: BytesMut::new(),
        })
    }

    /// `GET /v1/events`: events as they happen, after those since `since` when given, until
    /// `until` when given.
    pub async fn events(
        &self,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<EventStream, ClientError> {
        let mut path = "/events".to_string();
        push_time_window(&mut path, '?', &since, &until);
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(EventStream {
            lines: JsonLines::new(response.into_body()),
        })
    }

    /// `POST /v1/containers/{ref}/exec`: runs the command to its end.
    pub async fn exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecResult, ClientError> {
        let path = container_path(container, "/exec");
        read_json(self.send_json(Method::POST, &path, spec).await?).await
    }

    /// `POST /v1/containers/{ref}/attach`: the connection, upgraded, is the container's stdio.
    pub async fn attach_container(
        &self,
        container: &str,
        stdin: bool,
        detach_keys: Option<&str>,
    ) -> Result<Stream, ClientError> {
        let mut path = container_path(container, "/attach?stdout=true&stderr=true");
        if stdin {
            path.push_str("&stdin=true");
        }
        if let Some(keys) = detach_keys {
            let _ = write!(path, "&detach_keys={}", encode(keys));
        }
        self.upgrade(&path).await
    }

    /// `POST /v1/containers/{ref}/resize`
    pub async fn resize_container(
        &self,
        container: &str,
        rows: u16,
        cols: u16,
    ) -> Result<(), ClientError> {
        let path = container_path(container, &format!("/resize?h={rows}&w={cols}"));
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/exec` with `attach`: a streaming exec, not started yet.
    pub async fn create_exec(
        &self,
        container: &str,
        spec: &ExecSpec,
    ) -> Result<ExecCreated, ClientError> {
        let path = container_path(container, "/exec");
        read_json(self.send_json(Method::POST, &path, spec).await?).await
    }

    /// `POST /v1/execs/{id}/start`: the connection, upgraded, is the command's stdio.
    pub async fn start_exec(
        &self,
        id: &str,
        detach_keys: Option<&str>,
    ) -> Result<Stream, ClientError> {
        let mut path = format!("/execs/{}/start", encode(id));
        if let Some(keys) = detach_keys {
            let _ = write!(path, "?detach_keys={}", encode(keys));
        }
        self.upgrade(&path).await
    }

    /// `GET /v1/execs/{id}`
    pub async fn inspect_exec(&self, id: &str) -> Result<ExecInfo, ClientError> {
        let path = format!("/execs/{}", encode(id));
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `POST /v1/execs/{id}/resize`
    pub async fn resize_exec(&self, id: &str, rows: u16, cols: u16) -> Result<(), ClientError> {
        let path = format!("/execs/{}/resize?h={rows}&w={cols}", encode(id));
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// A new HTTP/1.1 connection to contid; the caller drives (spawns) the connection half.
    async fn handshake<B>(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<B>,
            hyper::client::conn::http1::Connection<TokioIo<UnixStream>, B>,
        ),
        ClientError,
    >
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::protocol)
    }

    /// A POST that contid answers with 101: the connection becomes a byte stream.
    async fn upgrade(&self, path: &str) -> Result<Stream, ClientError> {
        let (mut sender, connection) = self.handshake().await?;
        tokio::spawn(connection.with_upgrades());
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{API_PREFIX}{path}"))
            .header(HOST, "localhost")
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "tcp")
            .body(Empty::<Bytes>::new())
            .map_err(ClientError::protocol)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(ClientError::protocol)?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(if response.status().is_success() {
                ClientError::Protocol(format!("{} instead of 101", response.status()))
            } else {
                api_error(response).await
            });
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(ClientError::protocol)?;
        Ok(TokioIo::new(upgraded))
    }

    /// `DELETE /v1/containers/{ref}`; `force` stops it first when it runs.
    pub async fn remove_container(&self, container: &str, force: bool) -> Result<(), ClientError> {
        let mut path = container_path(container, "");
        if force {
            path.push_str("?force=true");
        }
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    async fn send_empty(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Response<Incoming>, ClientError> {
        self.send(method, path, None, Empty::<Bytes>::new()).await
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        value: &impl Serialize,
    ) -> Result<Response<Incoming>, ClientError> {
        let json = serde_json::to_vec(value).map_err(ClientError::protocol)?;
        let body = Full::new(Bytes::from(json));
        self.send(method, path, Some("application/json"), body)
            .await
    }

    /// Sends one request on a new connection; a non-2xx answer becomes `ClientError::Api`.
    async fn send<B>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: B,
    ) -> Result<Response<Incoming>, ClientError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (mut sender, connection) = self.handshake().await?;
        // A broken connection also fails the request or the body, which is where it is reported.
        tokio::spawn(connection);

        let mut request = Request::builder()
            .method(method)
            .uri(format!("{API_PREFIX}{path}"))
            .header(HOST, "localhost");
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let request = request.body(body).map_err(ClientError::protocol)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(ClientError::protocol)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(api_error(response).await)
        }
    }
}

/// `?since=…&until=…` (or `&since=…`), for the parameters given.
fn logs_path(container: &str, format: &str, options: &LogOptions) -> String {
    let mut path = container_path(container, &format!("/logs?format={format}"));
    if options.follow {
        path.push_str("&follow=true");
    }
    if let Some(lines) = options.tail {
        let _ = write!(path, "&tail={lines}");
    }
    push_time_window(&mut path, '&', &options.since, &options.until);
    path
}

fn push_time_window(
    path: &mut String,
    first: char,
    since: &Option<String>,
    until: &Option<String>,
) {
    let mut separator = first;
    for (name, value) in [("since", since), ("until", until)] {
        if let Some(value) = value {
            let _ = write!(path, "{separator}{name}={}", encode(value));
            separator = '&';
        }
    }
}

/// A body of newline-delimited JSON, read line by line as it arrives.
struct JsonLines {
    body: Incoming,
    /// Bytes received after the last complete line.
    pending: BytesMut,
}

impl JsonLines {
    fn new(body: Incoming) -> JsonLines {
        JsonLines {
            body,
            pending: BytesMut::new(),
        }
    }

    /// The next non-blank line; `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
                let line = self.pending.split_to(end + 1).freeze();
                if line.trim_ascii().is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            // A last line without its newline still counts.
            if !receive(&mut self.body, &mut self.pending).await? {
                let rest = self.pending.split().freeze();
                return Ok((!rest.trim_ascii().is_empty()).then_some(rest));
            }
        }
    }
}

/// Appends the next piece of `body` to `pending`; `false` at the end of the body.
async fn receive(body: &mut Incoming, pending: &mut BytesMut) -> Result<bool, ClientError> {
    let Some(frame) = body.frame().await else {
        return Ok(false);
    };
    if let Ok(data) = frame.map_err(ClientError::protocol)?.into_data() {
        pending.extend_from_slice(&data);
    }
    Ok(true)
}

/// An upgraded connection: the stdio of a container or an exec.
pub type Stream = TokioIo<hyper::upgrade::Upgraded>;

/// The records of a container's log, as contid sends them.
pub struct LogStream {
    lines: JsonLines,
}

impl LogStream {
    /// The next record; `None` once contid has sent everything (with `follow`: once the container
    /// has exited).
    pub async fn next_line(&mut self) -> Result<Option<LogLine>, ClientError> {
        let Some(line) = self.lines.next().await? else {
            return Ok(None);
        };
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| ClientError::Protocol(format!("invalid log record: {e}")))
    }
}

/// Which of the container's streams a piece of output was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Stdout,
    Stderr,
}

/// A container's output as contid sends it in the multiplexed format: frames of an 8-byte
/// header (the stream, 1 or 2; three zero bytes; the length, big-endian) and the bytes.
pub struct OutputStream {
    body: Incoming,
    /// Bytes received after the last complete frame.
    pending: BytesMut,
}

impl OutputStream {
    const HEADER_LEN: usize = 8;

    /// The next piece of output; `None` once contid has sent everything (with `follow`: once
    /// the container has exited).
    pub async fn next(&mut self) -> Result<Option<(OutputKind, Bytes)>, ClientError> {
        loop {
            if let Some(piece) = self.take_frame()? {
                return Ok(Some(piece));
            }
            if !receive(&mut self.body, &mut self.pending).await? {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Err(ClientError::Protocol(
                    "the output ends in the middle of a frame".into(),
                ));
            }
        }
    }

    fn take_frame(&mut self) -> Result<Option<(OutputKind, Bytes)>, ClientError> {
        let Some(head) = self.pending.get(..Self::HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let kind = match head[0] {
            1 => OutputKind::Stdout,
            2 => OutputKind::Stderr,
            other => {
                return Err(ClientError::Protocol(format!(
                    "a frame of output stream {other}"
                )));
            }
        };
        if self.pending.len() < Self::HEADER_LEN + len {
            return Ok(None);
        }
        let _ = self.pending.split_to(Self::HEADER_LEN);
        Ok(Some((kind, self.pending.split_to(len).freeze())))
    }
}

/// Container events, as contid sends them.
pub struct EventStream {
    lines: JsonLines,
}

impl EventStream {
    /// The next event; `None` at the end of the stream (`until` passed, or contid stopped). A
    /// client that fell too far behind gets the `events_lost` error.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        let Some(line) = self.lines.next().await? else {
            return Ok(None);
        };
        if let Ok(event) = serde_json::from_slice::<Event>(&line) {
            return Ok(Some(event));
        }
        match serde_json::from_slice::<ErrorBody>(&line) {
            Ok(ErrorBody { code, message }) => Err(ClientError::Api {
                status: StatusCode::OK,
                code,
                message,
            }),
            Err(e) => Err(ClientError::Protocol(format!("invalid event: {e}"))),
        }
    }
}

async fn read_json<T: DeserializeOwned>(response: Response<Incoming>) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = read_body(response).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Protocol(format!("invalid JSON in a {status} answer: {e}")))
}

async fn read_body(response: Response<Incoming>) -> Result<Bytes, ClientError> {
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(ClientError::protocol)?;
    Ok(collected.to_bytes())
}

async fn api_error(response: Response<Incoming>) -> ClientError {
    let status = response.status();
    let bytes = match read_body(response).await {
        Ok(bytes) => bytes,
        Err(error) => return error,
    };
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(ErrorBody { code, message }) => ClientError::Api {
            status,
            code,
            message,
        },
        Err(_) => ClientError::Protocol(format!(
            "{status} without an error body: {:?}",
            String::from_utf8_lossy(&bytes)
        )),
    }
}

/// A request body fed from `reader` as it is read, so an archive of any size is never held
/// whole in memory.
fn stream_body(
    mut reader: impl AsyncRead + Send + Unpin + 'static,
) -> Channel<Bytes, std::io::Error> {
    let (mut sender, body) = Channel::new(4);
    tokio::spawn(async move {
        loop {
            let mut chunk = BytesMut::with_capacity(64 * 1024);
            match reader.read_buf(&mut chunk).await {
                Ok(0) => return,
                Ok(_) => {
                    // The request is gone (contid answered or hung up): nothing left to feed.
                    if sender.send_data(chunk.freeze()).await.is_err() {
                        return;
                    }
                }
                Err(error) => return sender.abort(error),
            }
        }
    });
    body
}

/// `/containers/{ref}` followed by `rest`.
fn container_path(container: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", encode(container))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that a name or reference
/// typed by the user stays one path segment or one query value.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use conti_proto::EventType;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixListener;
    use tokio::task::JoinHandle;

    use super::*;

    /// A socket path no other test uses.
    fn socket_path() -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("conti-cli-test-{}-{n}.sock", std::process::id()))
    }

    /// Serves one connection: reads the request head, answers with `chunks` written one by one
    /// with a pause between them, and returns the request head it got.
    fn fake_contid<C: AsRef<[u8]> + Send + 'static>(
        chunks: Vec<C>,
    ) -> (Client, JoinHandle<String>) {
        let path = socket_path();
        let listener = UnixListener::bind(&path).unwrap();
        let client = Client::new(&path);
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            // The connection is made: the path is not needed any more (a test may end before
            // this task does, so it is removed now rather than at the end).
            let _ = std::fs::remove_file(&path);
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(stream.read_u8().await.unwrap());
            }
            for chunk in chunks {
                stream.write_all(chunk.as_ref()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            String::from_utf8(head).unwrap()
        });
        (client, server)
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_connect_error() {
        let client = Client::new("/nonexistent/conti.sock");
        let error = client.version().await.unwrap_err();
        assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "cannot connect to contid at /nonexistent/conti.sock: \
             No such file or directory (os error 2) (is contid running?)"
        );
    }

    #[tokio::test]
    async fn an_error_body_becomes_an_api_error() {
        let body = r#"{"code":"container_not_found","message":"no such container: web"}"#;
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (client, server) = fake_contid(vec![answer]);
        let error = client.inspect_container("web").await.unwrap_err();
        match &error {
            ClientError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!(*status, StatusCode::NOT_FOUND);
                assert_eq!(code, "container_not_found");
                assert_eq!(message, "no such container: web");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(error.api_code(), Some("container_not_found"));
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /v1/containers/web HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase().contains("host: localhost\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn an_error_without_error_body_is_a_protocol_error() {
        let answer = "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 4\r\n\r\noops";
        let (client, _server) = fake_contid(vec![answer.to_string()]);
        let error = client.remove_container("web", true).await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
        assert!(error.to_string().contains("502 Bad Gateway"), "{error}");
    }

    #[tokio::test]
    async fn a_success_with_bad_json_is_a_protocol_error() {
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"id\":1";
        let (client, _server) = fake_contid(vec![answer.to_string()]);
        let error = client.wait_container("web").await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_hang_up_is_a_protocol_error() {
        let (client, _server) = fake_contid(Vec::<String>::new());
        let error = client.info().await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    }

    #[tokio::test]
    async fn log_records_arrive_as_they_are_sent() {
        // Chunked answer whose records are cut across chunks, the last one without newline.
        let chunked = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
        let (client, server) = fake_contid(vec![
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
            chunked("{\"stream\":\"stdout\",\"time\":\"t1\",\"log\":\"hi\\n\"}\n"),
            chunked("{\"stream\":\"stder"),
            chunked("r\",\"time\":\"t2\",\"log\":\"oops\\n\"}\n\n"),
            chunked("{\"stream\":\"stdout\",\"time\":\"t3\",\"log\":\"end\"}"),
            "0\r\n\r\n".to_string(),
        ]);
        let options = LogOptions {
            follow: true,
            tail: Some(5),
            since: Some("2026-05-01T12:00:00+02:00".to_string()),
            until: None,
            timestamps: false,
        };
        let mut logs = client.container_logs("web", options).await.unwrap();
        let mut records = Vec::new();
        while let Some(record) = logs.next_line().await.unwrap() {
            records.push((record.stream, record.log));
        }
        let expected = [("stdout", "hi\n"), ("stderr", "oops\n"), ("stdout", "end")];
        let expected: Vec<_> = expected
            .iter()
            .map(|(stream, log)| (stream.to_string(), log.to_string()))
            .collect();
        assert_eq!(records, expected);
        let head = server.await.unwrap();
        assert!(
            head.starts_with(
                "GET /v1/containers/web/logs?format=json&follow=true&tail=5\
                 &since=2026-05-01T12%3A00%3A00%2B02%3A00 HTTP/1.1\r\n"
            ),
            "{head}"
        );
    }

    #[tokio::test]
    async fn output_frames_arrive_whole_with_their_bytes() {
        // Frames cut across chunks; bytes that are not UTF-8.
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 4, 0xff, 0xfe, b'A', b'\n'];
        body.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3, b'e', 0, b'\n']);
        body.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        let mut parts = vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()];
        for piece in [&body[..5], &body[5..13], &body[13..]] {
            let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
            chunk.extend_from_slice(piece);
            chunk.extend_from_slice(b"\r\n");
            parts.push(chunk);
        }
        parts.push(b"0\r\n\r\n".to_vec());
        let (client, server) = fake_contid(parts);
        let options = LogOptions {
            timestamps: true,
            ..LogOptions::default()
        };
        let mut output = client.container_output("web", options).await.unwrap();
        let mut pieces = Vec::new();
        while let Some((kind, bytes)) = output.next().await.unwrap() {
            pieces.push((kind, bytes.to_vec()));
        }
        assert_eq!(
            pieces,
            [
                (OutputKind::Stdout, b"\xff\xfeA\n".to_vec()),
                (OutputKind::Stderr, b"e\0\n".to_vec()),
                (OutputKind::Stdout, Vec::new()),
            ]
        );
        let head = server.await.unwrap();
        assert!(
            head.starts_with(
                "GET /v1/containers/web/logs?format=multiplexed&timestamps=true HTTP/1.1\r\n"
            ),
            "{head}"
        );
    }

    #[tokio::test]
    async fn events_arrive_until_a_lost_events_line() {
        let chunked = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
        let (client, server) = fake_contid(vec![
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
            chunked(
                "{\"time\":\"t1\",\"type\":\"die\",\"container_id\":\"c\",\
                 \"container_name\":\"web\",\"exit_code\":3}\n",
            ),
            chunked("{\"code\":\"events_lost\",\"message\":\"2 events were missed\"}\n"),
            "0\r\n\r\n".to_string(),
        ]);
        let mut events = client.events(Some("10m".to_string()), None).await.unwrap();
        let event = events.next_event().await.unwrap().unwrap();
        assert_eq!(
            (event.kind, event.container_name.as_str(), event.exit_code),
            (EventType::Die, "web", Some(3))
        );
        let error = events.next_event().await.unwrap_err();
        assert_eq!(error.api_code(), Some("events_lost"));
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /v1/events?since=10m HTTP/1.1\r\n"),
            "{head}"
        );
    }

    #[test]
    fn encode_keeps_unreserved_characters_only() {
        assert_eq!(encode("web-1_a.b~"), "web-1_a.b~");
        assert_eq!(encode("a/b c+d"), "a%2Fb%20c%2Bd");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
