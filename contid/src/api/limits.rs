//! `/v1/containers/{ref}`: `PATCH` (limits, restart policy), `/stats`, `/top`.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use conti_proto::{ContainerInfo, ContainerStats, ContainerTop, ContainerUpdate, ErrorBody};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery};
use crate::engine::Engine;

/// Changes the limits and the restart policy of a container, running or not: a running one gets
/// new limits at once, any other at its next start; a new restart policy applies from the next
/// exit on. Fields left out keep their value.
#[utoipa::path(patch, path = "/v1/containers/{ref}", tag = "containers", params(("ref" = String, Path)),
    request_body = ContainerUpdate,
    responses((status = 200, body = ContainerInfo),
        (status = 400, description = "`invalid_spec`, `unsupported_limit`", body = ErrorBody),
        (status = 409, description = "`limit_rejected`", body = ErrorBody)))]
pub async fn update_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiJson(update): ApiJson<ContainerUpdate>,
) -> Result<Json<ContainerInfo>, ApiError> {
    Ok(Json(engine.update(&reference, update).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Send a sample every second (newline-delimited) until the container stops running.
    #[serde(default)]
    stream: bool,
}

/// What a running container uses: one sample (its CPU percentage measured over half a second),
/// or with `stream=true` one a second as `application/x-ndjson`.
#[utoipa::path(get, path = "/v1/containers/{ref}/stats", tag = "containers", params(("ref" = String, Path), StatsParams),
    responses((status = 200, description = "one sample; with `stream=true`, one per line",
            content((ContainerStats = "application/json"), (ContainerStats = "application/x-ndjson"))),
        (status = 409, description = "`container_not_running`", body = ErrorBody)))]
pub async fn container_stats(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> Result<Response, ApiError> {
    if !params.stream {
        return Ok(Json(engine.stats(&reference).await?).into_response());
    }
    let samples = engine.stats_stream(&reference)?.map(|stats| {
        let mut line = serde_json::to_vec(&stats).unwrap_or_default();
        line.push(b'\n');
        Ok::<Bytes, Infallible>(Bytes::from(line))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(samples),
    )
        .into_response())
}

/// The processes of a running container: pid on the host and inside, parent, user, command.
#[utoipa::path(get, path = "/v1/containers/{ref}/top", tag = "containers", params(("ref" = String, Path)),
    responses((status = 200, body = ContainerTop), (status = 409, description = "`container_not_running`", body = ErrorBody)))]
pub async fn container_top(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
) -> Result<Json<ContainerTop>, ApiError> {
    Ok(Json(engine.top(&reference).await?))
}
