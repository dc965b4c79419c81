//! A small blocking HTTP/1.1 client over a Unix socket that keeps its connection alive between
//! requests, as a real API client would. Request bodies carry `Content-Length`; response bodies
//! may use `Content-Length`, chunked transfer encoding, or end at EOF.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// How long a read may block: `wait` blocks while the container runs, so be generous.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    socket: PathBuf,
    conn: Option<Connection>,
}

struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "response {} is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// `Ok(self)` when the status is `expected`, else an error naming the request and the body.
    pub fn expect(self, expected: u16, what: &str) -> Result<Response, String> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(format!(
                "{what}: HTTP {} (expected {expected}): {}",
                self.status,
                self.text().trim()
            ))
        }
    }
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
            conn: None,
        }
    }

    /// Opens the connection now, so that the first timed request does not pay for it.
    pub fn connect(&mut self) -> io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(Connection::open(&self.socket)?);
        }
        Ok(())
    }

    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, None, &[])
    }

    pub fn delete(&mut self, path: &str) -> io::Result<Response> {
        self.request("DELETE", path, None, &[])
    }

    /// POST with a JSON body, or an empty body for `None`.
    pub fn post_json(&mut self, path: &str, body: Option<&Value>) -> io::Result<Response> {
        match body {
            Some(value) => {
                let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
                self.request("POST", path, Some("application/json"), &bytes)
            }
            None => self.request("POST", path, None, &[]),
        }
    }

    pub fn post_bytes(
        &mut self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> io::Result<Response> {
        self.request("POST", path, Some(content_type), body)
    }

    /// Sends one request on the kept-alive connection. When a reused connection turns out to
    /// have been closed by the server before it answered, the request is sent once more on a
    /// fresh connection.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> io::Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut message = head.into_bytes();
        message.extend_from_slice(body);

        let reused = self.conn.is_some();
        match self.send(&message) {
            Err(e) if reused && is_stale_connection(&e) => {
                self.conn = None;
                self.send(&message)
            }
            other => other,
        }
    }

    fn send(&mut self, message: &[u8]) -> io::Result<Response> {
        self.connect()?;
        let conn = self.conn.as_mut().expect("connected above");
        let result = conn.exchange(message);
        match &result {
            Ok((_, keep_alive)) if *keep_alive => {}
            _ => self.conn = None,
        }
        result.map(|(response, _)| response)
    }
}

impl Connection {
    fn open(socket: &Path) -> io::Result<Connection> {
        let stream = UnixStream::connect(socket).map_err(|e| {
            io::Error::new(e.kind(), format!("connecting to {}: {e}", socket.display()))
        })?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        let writer = stream.try_clone()?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Writes the request and reads the whole response; the flag says whether the connection
    /// may carry another request.
    fn exchange(&mut self, message: &[u8]) -> io::Result<(Response, bool)> {
        self.writer.write_all(message)?;
        let status_line = read_line(&mut self.reader)?;
        if status_line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        // From here on the server has answered: no error may look like a stale connection,
        // or the request would be sent twice.
        self.read_rest(&status_line)
            .map_err(|e| io::Error::other(format!("reading the response: {e}")))
    }

    fn read_rest(&mut self, status_line: &str) -> io::Result<(Response, bool)> {
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;

        let mut content_length = None;
        let mut chunked = false;
        let mut close = version == "HTTP/1.0";
        loop {
            let line = read_line(&mut self.reader)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid(format!("bad header line {line:?}")));
            };
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    content_length = Some(
                        value
                            .parse::<usize>()
                            .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?,
                    )
                }
                "transfer-encoding" => chunked = value.split(',').any(|v| v.trim() == "chunked"),
                "connection" => {
                    if value.split(',').any(|v| v.trim() == "close") {
                        close = true;
                    } else if value.split(',').any(|v| v.trim() == "keep-alive") {
                        close = false;
                    }
                }
                _ => {}
            }
        }

        let body = if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else if chunked {
            read_chunked(&mut self.reader)?
        } else if let Some(length) = content_length {
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            body
        } else {
            close = true;
            let mut body = Vec::new();
            self.reader.read_to_end(&mut body)?;
            body
        };
        Ok((Response { status, body }, !close))
    }
}

/// One line without its CRLF; empty at EOF or for an empty line (the caller tells them apart
/// where it matters: only the status line can be at EOF legitimately).
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("a header line is not UTF-8".to_string()))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF".to_string()));
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Errors a kept-alive connection gives when the server closed it while it was idle.
fn is_stale_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
    )
}
