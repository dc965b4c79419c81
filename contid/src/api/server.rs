//! Serving the API on its Unix socket, and shutting down gracefully.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use nix::sys::stat::{Mode, umask};
use tokio::net::UnixListener;

use crate::engine::{ClientSocket, Engine};

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
    #[error("serving the API failed: {0}")]
    Serve(std::io::Error),
}

/// Binds `socket` (mode 0660; a stale file is replaced, a live one refused) and serves until
/// `shutdown` resolves, then lets in-flight requests finish for a short grace period.
/// Containers are not touched: they keep running.
pub async fn serve(
    engine: Engine,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind(socket)?;
    tracing::info!(socket = %socket.display(), "listening");
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let app = super::router(engine.clone());
    let app = app.into_make_service_with_connect_info::<ClientSocket>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; containers keep running");
        // Event streams never end by themselves: end them so they do not hold up the exit.
        engine.events().close();
        let _ = stopping_tx.send(());
    });
    let result = tokio::select! {
        result = server => result.map_err(ServeError::Serve),
        _ = async { if stopping_rx.await.is_ok() { tokio::time::sleep(SHUTDOWN_GRACE).await } else { std::future::pending().await } } => {
            tracing::warn!("in-flight requests still open after the grace period; closing them");
            Ok(())
        }
    };
    let _ = std::fs::remove_file(socket);
    result
}

/// Each request knows its connection's socket (an attach looks at it to tell a client that went
/// away from one that ended its input).
impl Connected<IncomingStream<'_, UnixListener>> for ClientSocket {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        ClientSocket(stream.io().as_raw_fd())
    }
}

fn bind(socket: &Path) -> Result<UnixListener, ServeError> {
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
    // Bind under a umask that already yields 0660, so the socket is never more open than that.
    let previous = umask(Mode::from_bits_truncate(0o117));
    let listener = UnixListener::bind(socket);
    umask(previous);
    let listener = listener.map_err(bind_err)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660)).map_err(bind_err)?;
    Ok(listener)
}
