//! Serving the API on its Unix socket, and shutting down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use conti_proto::ErrorBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use nix::sys::stat::{Mode, umask};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::access::SocketAccess;
use super::connection_slots::{ConnectionSlots, Reclaimed, Serving, Slot};
use super::error::ApiError;
use crate::engine::{ClientSocket, Engine};
use crate::runtime::sys::peer_credentials::{PeerCredentials, peer_credentials};

/// How long in-flight requests may run after a shutdown signal (waits and log follows never end
/// by themselves).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("another daemon answers on {0}; stop it or choose another --socket")]
    SocketInUse(PathBuf),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serve the socket systemd passed ({path}): {source}")]
    Inherited {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Longest a client may take to send a request's headers; also how long an idle keep-alive
/// connection stays open. A slow client (slowloris) or an idle one cannot hold a connection slot
/// longer than this, and gives it up sooner when the slots run out (see `connection_slots`).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers): 431 beyond.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields in a request: 431 beyond.
const MAX_HEADERS: usize = 64;
/// Connections served at once when `--max-connections` is not given.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;
/// `Retry-After` of the 503 answered when every connection is serving a request.
const RETRY_AFTER_SECS: u32 = 1;
/// Connections over the cap being answered at once; more are closed without an answer.
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is kept to read what its client still sends.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// How the socket is served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub access: SocketAccess,
    /// Connections served at once. HTTP/1.1 serves one request at a time per connection, so
    /// this also bounds concurrent requests. A connection over it takes the slot of one waiting
    /// for a request, or is answered 503 when all are serving one.
    pub max_connections: usize,
}

/// The listening socket the API is served on.
pub struct ApiSocket {
    listener: UnixListener,
    path: PathBuf,
    /// contid made the file, and removes it when it stops; a socket systemd passed stays.
    made_here: bool,
}

impl ApiSocket {
    /// Binds `path` (owner root, group and mode from `access`; a stale file is replaced, a live
    /// one refused). Must be called inside the tokio runtime.
    pub fn bind(path: &Path, access: &SocketAccess) -> Result<ApiSocket, ServeError> {
        Ok(ApiSocket {
            listener: bind(path, access)?,
            path: path.to_path_buf(),
            made_here: true,
        })
    }

    /// A socket systemd listens on (`contid.socket`) and passed to contid, at `path`: served as
    /// it is, its file's owner, group and mode are systemd's (`SocketUser=`, `SocketGroup=`,
    /// `SocketMode=`). Who may use it is still checked on every connection. Must be called
    /// inside the tokio runtime.
    pub fn inherited(
        listener: std::os::unix::net::UnixListener,
        path: PathBuf,
    ) -> Result<ApiSocket, ServeError> {
        let inherit_err = |source| ServeError::Inherited {
            path: path.clone(),
            source,
        };
        listener.set_nonblocking(true).map_err(inherit_err)?;
        let listener = UnixListener::from_std(listener).map_err(inherit_err)?;
        if let Ok(file) = std::fs::metadata(&path)
            && file.mode() & 0o002 != 0
        {
            tracing::warn!(
                socket = %path.display(),
                mode = format!("{:o}", file.mode() & 0o777),
                "anyone may connect to the socket systemd made (SocketMode=); they are answered 403"
            );
        }
        Ok(ApiSocket {
            listener,
            path,
            made_here: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Serves `socket` until `shutdown` resolves, then lets in-flight requests finish for a short
/// grace period. Containers are not touched: they keep running.
pub async fn serve(
    engine: Engine,
    socket: ApiSocket,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let ApiSocket {
        listener,
        path,
        made_here,
    } = socket;
    tracing::info!(
        socket = %path.display(),
        from_systemd = !made_here,
        group = options.access.group_name().unwrap_or("(root only)"),
        "listening"
    );
    let app = super::router(engine.clone());
    let slots = ConnectionSlots::new(options.max_connections);
    let refusal = Refusal::new(options.max_connections).await;
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of fds, most likely: wait for some to be closed rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let Some((slot, reclaimed)) = slots.admit() else {
            tracing::warn!(
                max = options.max_connections,
                "too many connections, all serving a request: answering 503 to a new one"
            );
            if let Some(lingering) = refusal.answer(stream) {
                connections.spawn(lingering);
            }
            continue;
        };
        let peer = peer_credentials(stream.as_fd()).ok();
        let allowed = peer.as_ref().is_some_and(|p| options.access.allows(p));
        if !allowed {
            tracing::warn!(?peer, "connection from a user who may not use the API");
        }
        let connection = Connection {
            app: app.clone(),
            peer,
            allowed,
            stopping: stopping_rx.clone(),
            slot: Arc::new(slot),
            reclaimed,
        };
        connections.spawn(connection.serve(stream));
    }
    tracing::info!("shutting down: no new connections; containers keep running");
    // Event streams never end by themselves: end them so they do not hold up the exit.
    engine.events().close();
    let _ = stopping_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("in-flight requests still open after the grace period; closing them");
        connections.abort_all();
    }
    if made_here {
        let _ = std::fs::remove_file(&path);
    }
    Ok(())
}

/// Pause after a failed `accept`.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// One client connection.
struct Connection {
    app: Router,
    peer: Option<PeerCredentials>,
    /// Decided once, from the credentials the kernel recorded at `connect()`.
    allowed: bool,
    stopping: watch::Receiver<bool>,
    /// Held while the connection is served.
    slot: Arc<Slot>,
    /// The slot was given to a newcomer while this connection waited for a request.
    reclaimed: Reclaimed,
}

impl Connection {
    /// Serves HTTP/1.1 (with upgrades, for attach) until the client closes, a timeout or the
    /// shutdown: then in-flight requests may finish, no new one starts.
    async fn serve(mut self, stream: UnixStream) {
        // Each request knows its connection's socket (an attach looks at it to tell a client
        // that went away from one that ended its input).
        let socket = ClientSocket(stream.as_raw_fd());
        let (app, peer, allowed, slot) = (self.app, self.peer, self.allowed, self.slot);
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let app = app.clone();
            let refusal = (!allowed).then(|| forbidden(peer.as_ref()));
            let serving = slot.serve_request();
            let max_connections = slot.max_connections();
            async move {
                if let Some(refusal) = refusal {
                    return Ok::<_, Infallible>(refusal);
                }
                let Some(serving) = serving else {
                    return Ok(too_many_connections(max_connections));
                };
                request.extensions_mut().insert(ConnectInfo(socket));
                let response = app.oneshot(request).await?;
                Ok(serve_until_sent(response, serving))
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_header_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADERS)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        let stopping = async {
            let _ = self.stopping.wait_for(|stopping| *stopping).await;
        };
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stopping => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
            _ = self.reclaimed => {
                tracing::debug!("closing a connection waiting for a request: its slot was reclaimed");
                return;
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "connection ended");
        }
    }
}

/// Keeps the connection serving until the response has been sent (hyper drops the body then): a
/// stream keeps its slot as long as it lasts. An upgraded connection (attach, exec start) leaves
/// hyper once its 101 is sent, and keeps serving until then.
fn serve_until_sent(response: Response, serving: Serving) -> Response {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        serving.until_closed();
        return response;
    }
    response.map(|body| {
        Body::new(ServedBody {
            body,
            _serving: serving,
        })
    })
}

/// A response body that holds its connection's `Serving` guard.
struct ServedBody {
    body: Body,
    _serving: Serving,
}

impl hyper::body::Body for ServedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// 503 `too_many_connections`, with `Retry-After` (not an `ApiError`: the daemon is fine, and an
/// attack must not fill its log with errors).
fn too_many_connections(max_connections: usize) -> Response {
    let body = ErrorBody {
        code: "too_many_connections".to_string(),
        message: format!(
            "all {max_connections} connections the daemon serves at once are busy with requests; \
             try again later"
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())],
        axum::Json(body),
    )
        .into_response()
}

/// The answer to connections over the cap when every connection serves a request: a 503
/// `too_many_connections` written as soon as they are accepted, without reading their request
/// (a client slow to send it holds nothing up).
struct Refusal {
    /// The whole HTTP/1.1 response.
    answer: Bytes,
    lingering: Arc<Semaphore>,
}

impl Refusal {
    async fn new(max_connections: usize) -> Refusal {
        let (parts, body) = too_many_connections(max_connections).into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let mut answer = format!("HTTP/1.1 {}\r\n", parts.status);
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                answer.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        answer.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        let mut answer = answer.into_bytes();
        answer.extend_from_slice(&body);
        Refusal {
            answer: Bytes::from(answer),
            lingering: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
        }
    }

    /// Answers `stream`; returns what must run to finish it, or `None` when it is done (too many
    /// refusals at once: the answer is written if the socket takes it, and the socket closed).
    fn answer(&self, stream: UnixStream) -> Option<impl Future<Output = ()> + Send + 'static> {
        let Ok(permit) = self.lingering.clone().try_acquire_owned() else {
            let _ = stream.try_write(&self.answer);
            return None;
        };
        let answer = self.answer.clone();
        Some(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(REFUSAL_LINGER, write_then_drain(stream, &answer)).await;
        })
    }
}

/// Writes `answer`, then reads and drops what the client sends until it closes: a Unix socket
/// closed with unread data fails the client's next write, so a client still sending its request
/// would see an error instead of the answer.
async fn write_then_drain(mut stream: UnixStream, answer: &[u8]) -> std::io::Result<()> {
    stream.write_all(answer).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// 403 `forbidden` for every request of a connection from someone who may not use the API.
fn forbidden(peer: Option<&PeerCredentials>) -> Response {
    let who = peer.map_or("an unknown peer".to_string(), |p| {
        format!("uid {} (pid {})", p.uid, p.pid)
    });
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{who} may not use this socket: only root and members of its group may"),
    )
    .into_response()
}

fn bind(socket: &Path, access: &SocketAccess) -> Result<UnixListener, ServeError> {
    let bind_err = |source| ServeError::Bind {
        path: socket.to_path_buf(),
        source,
    };
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Err(ServeError::SocketInUse(socket.to_path_buf()));
        }
        std::fs::remove_file(socket).map_err(bind_err)?;
    }
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(bind_err)?;
    }
    // Bind under a umask that yields 0600, so the socket is never more open than asked.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(socket);
    umask(previous);
    let listener = listener.map_err(bind_err)?;
    std::os::unix::fs::chown(socket, Some(0), Some(access.socket_gid())).map_err(bind_err)?;
    std::fs::set_permissions(
        socket,
        std::fs::Permissions::from_mode(access.socket_mode()),
    )
    .map_err(bind_err)?;
    Ok(listener)
}
