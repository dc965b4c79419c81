//! A tiny blocking HTTP/1.1 client over a Unix socket: one connection per request
//! (`Connection: close`) with [`Client`], or many requests on one kept-alive [`Connection`];
//! `Content-Length` request bodies, `Content-Length`, chunked or read-to-EOF response bodies.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use conti_proto::ErrorBody;

/// How long a read may block before the request fails; generous, but CI never hangs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as `T`; panics with the body when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        self.try_json().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The body as `T`, or an error naming the status and the body.
    pub fn try_json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "response {} is not the JSON expected ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// Panics with the body unless the status is `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status, body: {}",
            self.text()
        );
        self
    }

    /// Checks that this is the error `status` with `code` in the contract's error shape, and
    /// returns its body.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> ErrorBody {
        assert_eq!(
            self.status,
            status,
            "unexpected status, body: {}",
            self.text()
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "error content-type is {content_type:?}"
        );
        let error: ErrorBody = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("error body is not {{code, message}} ({e}): {}", self.text())
        });
        assert_eq!(error.code, code, "error code, message: {}", error.message);
        assert!(
            !error.message.trim().is_empty(),
            "error {code} has an empty message"
        );
        error
    }
}

/// A response whose body is read as it arrives (`logs?follow=true`).
pub struct LogStream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: BufReader<BodyReader<BufReader<UnixStream>>>,
}

impl LogStream {
    /// The next line with its newline; `Ok(None)` at the end of the body.
    pub fn next_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        match self.body.read_until(b'\n', &mut line)? {
            0 => Ok(None),
            _ => Ok(Some(String::from_utf8_lossy(&line).into_owned())),
        }
    }

    /// Everything up to the end of the body.
    pub fn read_rest(&mut self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(&self.read_rest_bytes()?).into_owned())
    }

    /// The bytes up to the end of the body.
    pub fn read_rest_bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.body.read_to_end(&mut rest)?;
        Ok(rest)
    }
}

/// Splits a multiplexed stream (attach's frames, the logs' `multiplexed` format), read to its
/// end, into (stdout, stderr).
pub fn demux(mut stream: impl Read) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut head = [0u8; 8];
    while stream.read_exact(&mut head).is_ok() {
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).expect("a frame cut short");
        match head[0] {
            1 => out.extend(payload),
            2 => err.extend(payload),
            other => panic!("a frame of stream {other}"),
        }
    }
    (out, err)
}

impl Client {
    /// Sends a POST asking for an upgrade (attach, exec start); returns the answer's head and
    /// the socket, which carries the stream after it.
    pub fn upgrade(&self, path: &str) -> (String, UnixStream) {
        let mut socket = UnixStream::connect(&self.socket).expect("connecting to contid");
        socket
            .set_read_timeout(Some(self.timeout))
            .expect("setting a read timeout");
        write!(
            socket,
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        .expect("sending the request");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if socket.read(&mut byte).expect("reading the answer") == 0 {
                break;
            }
            head.push(byte[0]);
        }
        (String::from_utf8_lossy(&head).into_owned(), socket)
    }

    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A kept-alive connection to the same socket, opened now (so that the first request does
    /// not pay for it), with this client's timeout.
    pub fn connect(&self) -> io::Result<Connection> {
        let mut connection = Connection {
            socket: self.socket.clone(),
            timeout: self.timeout,
            stream: None,
        };
        connection.open()?;
        Ok(connection)
    }

    /// The same client with another read timeout (for requests that block, like `wait`).
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        Client {
            socket: self.socket.clone(),
            timeout,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, None)
    }

    /// POST with a raw body (sent as `application/json`, which is what the API takes; images
    /// go through [`Client::post_bytes`]).
    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.request("POST", path, Some(("application/json", body)))
    }

    pub fn post_json(&self, path: &str, body: &impl Serialize) -> Response {
        let body = serde_json::to_vec(body).expect("serializable request body");
        self.post(path, &body)
    }

    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> Response {
        self.request("POST", path, Some((content_type, body)))
    }

    /// Sends one request and reads the whole response; panics on transport errors (the daemon
    /// died, a timeout), naming the request.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Response {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} over {}: {e}", self.socket.display()))
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> io::Result<Response> {
        let mut stream = self.send(method, path, body)?;
        let mut body = Vec::new();
        stream.body.read_to_end(&mut body)?;
        Ok(Response {
            status: stream.status,
            headers: stream.headers,
            body,
        })
    }

    /// Sends a GET and returns as soon as the head has arrived.
    pub fn stream(&self, path: &str) -> LogStream {
        self.stream_with_headers("GET", path, &[])
    }

    /// Sends a request without a body but with more header lines (`("X-Registry-Auth", ...)`)
    /// and returns as soon as the head has arrived: the body (a pull's NDJSON events) is read
    /// as it comes.
    pub fn stream_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> LogStream {
        self.send_with_headers(method, path, None, headers)
            .unwrap_or_else(|e| panic!("{method} {path} over {}: {e}", self.socket.display()))
    }

    /// [`Client::request`] without a body, with more header lines.
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut stream = self.stream_with_headers(method, path, headers);
        let body = stream
            .read_rest_bytes()
            .unwrap_or_else(|e| panic!("{method} {path} over {}: {e}", self.socket.display()));
        Response {
            status: stream.status,
            headers: stream.headers,
            body,
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> io::Result<LogStream> {
        self.send_with_headers(method, path, body, &[])
    }

    fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> io::Result<LogStream> {
        let mut stream = connect(&self.socket, self.timeout)?;
        let mut extra = String::from("Connection: close\r\n");
        for (name, value) in headers {
            extra.push_str(&format!("{name}: {value}\r\n"));
        }
        let head = request_head(method, path, body, &extra);
        stream.write_all(head.as_bytes())?;
        if let Some((_, bytes)) = body {
            // A server may answer (413) and close before reading everything: the answer is what
            // matters, so a broken pipe here is not the end of the request.
            match stream.write_all(bytes) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) => {}
                other => other?,
            }
        }
        read_head(stream)
    }
}

/// Many requests, one after the other, on one connection, as a real API client sends them
/// (what a benchmark times: no connect per request). When the server has closed the idle
/// connection, a request is sent once more on a fresh one; once the server has begun to answer,
/// an error is final, so that no request is ever sent twice.
#[derive(Debug)]
pub struct Connection {
    socket: PathBuf,
    timeout: Duration,
    /// `None` until connected, and after the server said it closes the connection.
    stream: Option<BufReader<UnixStream>>,
}

impl Connection {
    fn open(&mut self) -> io::Result<&mut BufReader<UnixStream>> {
        if self.stream.is_none() {
            self.stream = Some(BufReader::new(connect(&self.socket, self.timeout)?));
        }
        Ok(self.stream.as_mut().expect("connected above"))
    }

    /// [`Connection::try_request`]; panics on transport errors, naming the request.
    pub fn request(&mut self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Response {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} over {}: {e}", self.socket.display()))
    }

    /// Sends one request and reads the whole response. A POST or DELETE without a body is sent
    /// with `Content-Length: 0` and no content type.
    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> io::Result<Response> {
        let mut message = request_head(method, path, body, "").into_bytes();
        if let Some((_, bytes)) = body {
            message.extend_from_slice(bytes);
        }
        let reused = self.stream.is_some();
        match self.exchange(&message) {
            Err(e) if reused && is_stale_connection(&e) => {
                self.stream = None;
                self.exchange(&message)
            }
            other => other,
        }
    }

    fn exchange(&mut self, message: &[u8]) -> io::Result<Response> {
        let result = self.exchange_on_stream(message);
        if !matches!(result, Ok((_, true))) {
            self.stream = None;
        }
        result.map(|(response, _)| response)
    }

    /// The response and whether the connection may carry another request.
    fn exchange_on_stream(&mut self, message: &[u8]) -> io::Result<(Response, bool)> {
        let reader = self.open()?;
        reader.get_mut().write_all(message)?;
        if reader.fill_buf()?.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        // The server has begun to answer: no error from here on may look like a stale
        // connection, or the request would be sent twice.
        let answered = |e: io::Error| io::Error::other(format!("reading the response: {e}"));
        let head = Head::read(reader).map_err(answered)?;
        let mut body_reader = head.body_reader(&mut *reader).map_err(answered)?;
        let mut body = Vec::new();
        body_reader.read_to_end(&mut body).map_err(answered)?;
        let keep_alive = head.keeps_connection(&body_reader);
        Ok((
            Response {
                status: head.status,
                headers: head.headers,
                body,
            },
            keep_alive,
        ))
    }
}

/// Errors a kept-alive connection gives when the server closed it while it was idle.
fn is_stale_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
    )
}

fn connect(socket: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// The request line and headers up to the empty line; `extra` holds more header lines.
fn request_head(method: &str, path: &str, body: Option<(&str, &[u8])>, extra: &str) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}");
    match body {
        Some((content_type, bytes)) => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        }
        None if method != "GET" => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    head
}

fn read_head(stream: UnixStream) -> io::Result<LogStream> {
    let mut reader = BufReader::new(stream);
    let head = Head::read(&mut reader)?;
    let body = head.body_reader(reader)?;
    Ok(LogStream {
        status: head.status,
        headers: head.headers,
        body: BufReader::new(body),
    })
}

/// The status line and headers of a response.
struct Head {
    version: String,
    status: u16,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
}

impl Head {
    fn read(reader: &mut impl BufRead) -> io::Result<Head> {
        let status_line = read_line(reader)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status = parts.next().and_then(|s| s.parse::<u16>().ok());
        let status = match (version.starts_with("HTTP/1."), status) {
            (true, Some(status)) => status,
            _ => return Err(invalid(format!("bad status line {status_line:?}"))),
        };
        let mut headers = Vec::new();
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        Ok(Head {
            version,
            status,
            headers,
        })
    }

    /// The body that follows this head on `reader`. 1xx, 204 and 304 answers have none.
    fn body_reader<R: BufRead>(&self, reader: R) -> io::Result<BodyReader<R>> {
        let chunked = header(&self.headers, "transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = header(&self.headers, "content-length").map(|v| v.parse::<u64>());
        Ok(
            if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
                BodyReader::Length(reader.take(0))
            } else if chunked {
                BodyReader::Chunked(ChunkedReader {
                    inner: reader,
                    remaining: 0,
                    done: false,
                })
            } else if let Some(length) = length {
                let length = length.map_err(|_| invalid("bad content-length".to_string()))?;
                BodyReader::Length(reader.take(length))
            } else {
                BodyReader::UntilEof(reader)
            },
        )
    }

    /// True when the connection may carry another request after `body` was read: HTTP/1.1, no
    /// `Connection: close`, and a body whose end was known before EOF.
    fn keeps_connection<R>(&self, body: &BodyReader<R>) -> bool {
        let close = header(&self.headers, "connection").is_some_and(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        });
        self.version != "HTTP/1.0" && !close && !matches!(body, BodyReader::UntilEof(_))
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// One CRLF-terminated line without its terminator; EOF before the line ends is an error.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of a line",
        ));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("non-UTF-8 header".to_string()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

enum BodyReader<R> {
    Chunked(ChunkedReader<R>),
    Length(io::Take<R>),
    UntilEof(R),
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BodyReader::Chunked(r) => r.read(buf),
            BodyReader::Length(r) => r.read(buf),
            BodyReader::UntilEof(r) => r.read(buf),
        }
    }
}

/// Decodes `Transfer-Encoding: chunked`; trailers are read and ignored.
struct ChunkedReader<R> {
    inner: R,
    /// Bytes left in the current chunk.
    remaining: u64,
    done: bool,
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let size_line = read_line(&mut self.inner)?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            self.remaining = u64::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if self.remaining == 0 {
                while !read_line(&mut self.inner)?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a chunk",
            ));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 && !read_line(&mut self.inner)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF".to_string()));
        }
        Ok(n)
    }
}
