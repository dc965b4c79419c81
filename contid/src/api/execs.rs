//! `/v1/execs/{id}`: streaming execs, created by `POST /v1/containers/{ref}/exec` with `attach`.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use conti_proto::{ErrorBody, ExecCreated, ExecInfo, ExecSpec};
use serde::Deserialize;
use utoipa::IntoParams;

use super::attach::{ResizeParams, detach_keys, require_upgrade, upgrade};
use super::error::{ApiError, ApiQuery};
use crate::engine::{Engine, window_size};

/// The `attach` form of `POST /v1/containers/{ref}/exec`.
pub(super) fn create_exec(
    engine: &Engine,
    reference: &str,
    spec: ExecSpec,
) -> Result<Response, ApiError> {
    let created: ExecCreated = engine.create_exec(reference, spec)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The `detach` form of `POST /v1/containers/{ref}/exec`: started at once, nobody attached.
pub(super) async fn run_detached(
    engine: &Engine,
    reference: &str,
    spec: ExecSpec,
) -> Result<Response, ApiError> {
    if spec.attach || spec.tty || spec.stdin {
        return Err(ApiError::bad_request(
            "invalid_spec",
            "detach runs the command with nobody attached: not with attach, tty or stdin",
        ));
    }
    let created: ExecCreated = engine.create_exec(reference, spec)?;
    engine.start_exec_detached(&created.id).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartParams {
    /// Key sequence that ends the stream and leaves the command running (default
    /// `ctrl-p,ctrl-q`; empty: none).
    detach_keys: Option<String>,
}

/// Runs a created exec over the upgraded connection (`Connection: Upgrade`, `Upgrade: tcp`); the
/// stream follows the attach rules. The connection closes once the command has exited and its
/// output was sent; its exit code is then in `GET /v1/execs/{id}`.
#[utoipa::path(post, path = "/v1/execs/{id}/start", tag = "execs", params(("id" = String, Path), StartParams),
    responses((status = 101, description = "the connection is now the command's stdio"),
        (status = 400, description = "`upgrade_required`", body = ErrorBody),
        (status = 404, description = "`exec_not_found`", body = ErrorBody),
        (status = 409, description = "`container_not_running`, `exec_already_started`", body = ErrorBody)))]
pub async fn start_exec(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<StartParams>,
    request: Request,
) -> Result<Response, ApiError> {
    require_upgrade(&request)?;
    let keys = detach_keys(params.detach_keys.as_deref())?;
    let stream = engine.start_exec(&id, keys).await?;
    let tty = stream.tty;
    upgrade(request, tty, move |io| async move { stream.pump(io).await })
}

#[utoipa::path(get, path = "/v1/execs/{id}", tag = "execs", params(("id" = String, Path)),
    responses((status = 200, body = ExecInfo), (status = 404, description = "`exec_not_found`", body = ErrorBody)))]
pub async fn inspect_exec(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<ExecInfo>, ApiError> {
    Ok(Json(engine.exec_info(&id)?))
}

/// Resizes the exec's terminal; before the start, the size is applied at the start.
#[utoipa::path(post, path = "/v1/execs/{id}/resize", tag = "execs", params(("id" = String, Path), ResizeParams),
    responses((status = 204), (status = 404, description = "`exec_not_found`", body = ErrorBody),
        (status = 409, description = "`exec_not_running`", body = ErrorBody)))]
pub async fn resize_exec(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<ResizeParams>,
) -> Result<StatusCode, ApiError> {
    engine.resize_exec(&id, window_size(params.h, params.w)?)?;
    Ok(StatusCode::NO_CONTENT)
}
