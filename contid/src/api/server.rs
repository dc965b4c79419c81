//! Serving the API on its Unix socket, and shutting down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use nix::sys::stat::{Mode, umask};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::access::SocketAccess;
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
}

/// Longest a client may take to send a request's headers; also how long an idle keep-alive
/// connection stays open. A slow client (slowloris) or an idle one cannot hold a connection slot
/// longer than this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers): 431 beyond.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields in a request: 431 beyond.
const MAX_HEADERS: usize = 64;
/// Connections served at once when `--max-connections` is not given.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;

/// How the socket is served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub access: SocketAccess,
    /// Connections served at once; one more is closed as soon as it is accepted. HTTP/1.1
    /// serves one request at a time per connection, so this also bounds concurrent requests.
    pub max_connections: usize,
}

/// Binds `socket` (owner root, group and mode from `options.access`; a stale file is replaced,
/// a live one refused) and serves until `shutdown` resolves, then lets in-flight requests finish
/// for a short grace period. Containers are not touched: they keep running.
pub async fn serve(
    engine: Engine,
    socket: &Path,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind(socket, &options.access)?;
    tracing::info!(
        socket = %socket.display(),
        group = options.access.group_name().unwrap_or("(root only)"),
        "listening"
    );
    let app = super::router(engine.clone());
    let slots = Arc::new(Semaphore::new(options.max_connections));
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                max = options.max_connections,
                "too many connections: closing a new one"
            );
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
            _slot: slot,
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
    let _ = std::fs::remove_file(socket);
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
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Serves HTTP/1.1 (with upgrades, for attach) until the client closes, a timeout or the
    /// shutdown: then in-flight requests may finish, no new one starts.
    async fn serve(mut self, stream: UnixStream) {
        // Each request knows its connection's socket (an attach looks at it to tell a client
        // that went away from one that ended its input).
        let socket = ClientSocket(stream.as_raw_fd());
        let (app, peer, allowed) = (self.app, self.peer, self.allowed);
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let app = app.clone();
            let refusal = (!allowed).then(|| forbidden(peer.as_ref()));
            async move {
                if let Some(refusal) = refusal {
                    return Ok::<_, Infallible>(refusal);
                }
                request.extensions_mut().insert(ConnectInfo(socket));
                app.oneshot(request).await
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
        };
        if let Err(error) = result {
            tracing::debug!(%error, "connection ended");
        }
    }
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
