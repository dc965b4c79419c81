//! The token server of Docker's registry token flow, on `127.0.0.1` in a thread of the test: the
//! registry answers 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, the
//! client asks `GET /token?service=...&scope=...` here with basic credentials, and gets
//! `{"token": JWT, "access_token": JWT}`, an RS256 JWT whose `x5c` header carries the signing
//! certificate, which the registry verifies against its `rootcertbundle`. Signing shells out
//! to `openssl dgst -sha256 -sign`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use crate::registry::{Credentials, openssl};
use crate::util::{run_command, unique_name};

/// How long a token is valid.
const TOKEN_LIFETIME_SECS: u64 = 300;

/// One `GET /token` the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The basic credentials' user, if any were sent.
    pub user: Option<String>,
    /// The `service` parameter.
    pub service: Option<String>,
    /// The `scope` parameters, percent-decoded (`repository:NAME:pull,push`).
    pub scopes: Vec<String>,
    /// Whether a token was given (200) or not (401).
    pub granted: bool,
}

/// What the server needs to sign and whom it accepts.
struct Issuer {
    credentials: Credentials,
    service: String,
    issuer: String,
    /// The PEM key the tokens are signed with.
    key: PathBuf,
    /// The signing certificate, DER, base64 (standard): the `x5c` header.
    certificate_base64: String,
    /// Where the signing input is written for `openssl dgst`.
    scratch: PathBuf,
}

/// A token server on `127.0.0.1:<random port>` until dropped.
pub struct TokenServer {
    address: SocketAddr,
    /// The signing certificate (PEM): the registry's `auth.token.rootcertbundle`.
    certificate: PathBuf,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Makes the signing key and certificate in `dir` (`token-signer.{key,crt}`) and serves
    /// tokens for `service` from `issuer` to `credentials` only, granting every action asked.
    pub fn start(
        dir: &Path,
        credentials: Credentials,
        service: &str,
        issuer: &str,
    ) -> Result<TokenServer, String> {
        let key = dir.join("token-signer.key");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=conti-test-token-signer",
                "-keyout",
                "token-signer.key",
                "-out",
                "token-signer.crt",
            ],
        )?;
        openssl(
            dir,
            &[
                "x509",
                "-in",
                "token-signer.crt",
                "-outform",
                "DER",
                "-out",
                "token-signer.der",
            ],
        )?;
        let der = std::fs::read(dir.join("token-signer.der"))
            .map_err(|e| format!("reading {}: {e}", dir.join("token-signer.der").display()))?;
        let issuer = Issuer {
            credentials,
            service: service.to_string(),
            issuer: issuer.to_string(),
            key,
            certificate_base64: STANDARD.encode(der),
            scratch: dir.to_path_buf(),
        };

        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("binding the token server on 127.0.0.1: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("the token server's address: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("a non-blocking token listener: {e}"))?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            let issuer = Arc::new(issuer);
            thread::spawn(move || accept_loop(&listener, &issuer, &requests, &stop))
        };
        Ok(TokenServer {
            address,
            certificate: dir.join("token-signer.crt"),
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/token`, the registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.address)
    }

    /// The signing certificate (PEM), the registry's `auth.token.rootcertbundle`.
    pub fn certificate(&self) -> &Path {
        &self.certificate
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every token request so far, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    issuer: &Arc<Issuer>,
    requests: &Arc<Mutex<Vec<TokenRequest>>>,
    stop: &AtomicBool,
) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (issuer, requests) = (issuer.clone(), requests.clone());
                connections.push(thread::spawn(move || serve(stream, &issuer, &requests)));
                connections.retain(|c| !c.is_finished());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    // Each connection has read and write timeouts: these joins end.
    for connection in connections {
        let _ = connection.join();
    }
}

/// Answers one request on `stream` and closes it.
fn serve(stream: TcpStream, issuer: &Issuer, requests: &Mutex<Vec<TokenRequest>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.trim_end().is_empty() => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_string());
                }
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, body) = if method != "GET" || path != "/token" {
        (
            404,
            json!({"errors": [{"code": "NOT_FOUND", "message": "only GET /token"}]}),
        )
    } else {
        answer_token_request(issuer, query, authorization.as_deref(), requests)
    };
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status == 401 {
        response.push_str("WWW-Authenticate: Basic realm=\"conti-test-token\"\r\n");
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn answer_token_request(
    issuer: &Issuer,
    query: &str,
    authorization: Option<&str>,
    requests: &Mutex<Vec<TokenRequest>>,
) -> (u16, serde_json::Value) {
    let mut service = None;
    let mut scopes = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "service" => service = Some(percent_decode(value)),
            "scope" => scopes.push(percent_decode(value)),
            _ => {}
        }
    }
    let basic = authorization
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (user, password) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((user, password)) => (Some(user.to_string()), Some(password.to_string())),
        None => (None, None),
    };
    let granted = user.as_deref() == Some(issuer.credentials.user.as_str())
        && password.as_deref() == Some(issuer.credentials.password.as_str());
    requests.lock().unwrap().push(TokenRequest {
        user: user.clone(),
        service: service.clone(),
        scopes: scopes.clone(),
        granted,
    });
    if !granted {
        return (
            401,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}),
        );
    }
    match sign_token(issuer, user.as_deref().unwrap_or_default(), &scopes) {
        Ok(token) => (
            200,
            json!({
                "token": token,
                "access_token": token,
                "expires_in": TOKEN_LIFETIME_SECS,
            }),
        ),
        Err(e) => (500, json!({"errors": [{"code": "UNKNOWN", "message": e}]})),
    }
}

/// An RS256 JWT for `subject` granting every action of `scopes` (`type:name:actions`).
fn sign_token(issuer: &Issuer, subject: &str, scopes: &[String]) -> Result<String, String> {
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
            Some(json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [issuer.certificate_base64]});
    let claims = json!({
        "iss": issuer.issuer,
        "sub": subject,
        "aud": issuer.service,
        "exp": now + TOKEN_LIFETIME_SECS,
        "nbf": now.saturating_sub(30),
        "iat": now,
        "jti": unique_name("jti"),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let input = issuer
        .scratch
        .join(format!("{}.jwt", unique_name("signing")));
    std::fs::write(&input, &signing_input)
        .map_err(|e| format!("writing {}: {e}", input.display()))?;
    let out = run_command(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&issuer.key)
            .arg(&input),
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_file(&input);
    if !out.status.success() {
        return Err(format!(
            "openssl dgst -sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(&out.stdout)
    ))
}

/// `%XX` escapes and `+` (a space in a query) decoded; bad escapes are kept as they are.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
