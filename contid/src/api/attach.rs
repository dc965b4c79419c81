//! Attach and resize for containers, and the connection upgrade they share with exec starts.
//!
//! An attach answers `101 Switching Protocols` (`Upgrade: tcp`, as Docker does) and the connection
//! becomes a raw byte stream in both directions: what the client sends is the container's stdin;
//! what it receives is its output, raw with a tty, else in frames with Docker's 8-byte header
//! (`[stream, 0, 0, 0, length as u32 big-endian]`, stream 1 = stdout, 2 = stderr).

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use conti_proto::ErrorBody;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiQuery};
use super::whole_numbers;
use crate::engine::{
    AttachEnd, AttachOptions, ClientSocket, DEFAULT_DETACH_KEYS, Engine, parse_detach_keys,
    window_size,
};

fn yes() -> bool {
    true
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachParams {
    /// Send what the client writes to the container's stdin (needs `open_stdin`).
    #[serde(default)]
    stdin: bool,
    /// Receive stdout (default true).
    #[serde(default = "yes")]
    stdout: bool,
    /// Receive stderr (default true).
    #[serde(default = "yes")]
    stderr: bool,
    /// Key sequence that ends the attach and leaves the container running, Docker's syntax
    /// (default `ctrl-p,ctrl-q`; empty: none).
    detach_keys: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResizeParams {
    /// Rows, 1 to 65535.
    #[serde(deserialize_with = "whole_numbers::integer")]
    #[param(minimum = 1, maximum = 65535)]
    pub(super) h: u32,
    /// Columns, 1 to 65535.
    #[serde(deserialize_with = "whole_numbers::integer")]
    #[param(minimum = 1, maximum = 65535)]
    pub(super) w: u32,
}

/// Attaches to a created or running container's stdio. The request must carry `Connection:
/// Upgrade` and `Upgrade: tcp`. A client that attaches before the start gets all the output.
#[utoipa::path(post, path = "/v1/containers/{ref}/attach", tag = "containers", params(("ref" = String, Path), AttachParams),
    responses((status = 101, description = "the connection is now the container's stdio"),
        (status = 400, description = "`upgrade_required`", body = ErrorBody),
        (status = 409, description = "`container_not_running`", body = ErrorBody)))]
pub async fn attach_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<AttachParams>,
    request: Request,
) -> Result<Response, ApiError> {
    require_upgrade(&request)?;
    let options = AttachOptions {
        stdin: params.stdin,
        stdout: params.stdout,
        stderr: params.stderr,
        detach_keys: detach_keys(params.detach_keys.as_deref())?,
    };
    let session = engine.attach(&reference, options).await?;
    let tty = session.tty;
    let socket = request
        .extensions()
        .get::<ConnectInfo<ClientSocket>>()
        .map(|info| info.0);
    upgrade(request, tty, move |io| async move {
        session.pump(io, socket).await
    })
}

/// Resizes the container's terminal; before the start, the size is applied at the start.
#[utoipa::path(post, path = "/v1/containers/{ref}/resize", tag = "containers", params(("ref" = String, Path), ResizeParams),
    responses((status = 204), (status = 409, description = "`container_not_running`", body = ErrorBody)))]
pub async fn resize_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<ResizeParams>,
) -> Result<StatusCode, ApiError> {
    let size = window_size(params.h, params.w)?;
    engine.resize(&reference, size).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn detach_keys(text: Option<&str>) -> Result<Vec<u8>, ApiError> {
    match text {
        Some(text) => Ok(parse_detach_keys(text)?),
        None => Ok(DEFAULT_DETACH_KEYS.to_vec()),
    }
}

pub(super) fn require_upgrade(request: &Request) -> Result<(), ApiError> {
    if request.headers().contains_key(header::UPGRADE) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "upgrade_required",
            "this route streams: send `Connection: Upgrade` and `Upgrade: tcp`",
        ))
    }
}

/// Answers 101 and runs `pump` on the upgraded connection once hyper hands it over.
pub(super) fn upgrade<F, Fut>(request: Request, tty: bool, pump: F) -> Result<Response, ApiError>
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = AttachEnd> + Send,
{
    let on_upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let end = pump(TokioIo::new(upgraded)).await;
                tracing::debug!(?end, "stream ended");
            }
            Err(err) => tracing::warn!(%err, "the connection upgrade failed"),
        }
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::empty())
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
        })
}
