//! `/v1/version`, `/v1/info`, `/v1/system/df` and `/metrics`.

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use conti_proto::{DaemonInfo, DiskUsage, VersionInfo};

use super::ApiError;

use crate::engine::Engine;

#[utoipa::path(get, path = "/v1/version", tag = "system", responses((status = 200, body = VersionInfo)))]
pub async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        api_version: conti_proto::API_PREFIX.trim_start_matches('/').to_string(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
    })
}

#[utoipa::path(get, path = "/v1/info", tag = "system", responses((status = 200, body = DaemonInfo)))]
pub async fn info(State(engine): State<Engine>) -> Json<DaemonInfo> {
    Json(engine.info())
}

/// What images, containers and volumes take on disk, and what a prune of the unused would free
/// (`docker system df`).
#[utoipa::path(get, path = "/v1/system/df", tag = "system", responses((status = 200, body = DiskUsage)))]
pub async fn disk_usage(State(engine): State<Engine>) -> Result<Json<DiskUsage>, ApiError> {
    Ok(Json(engine.disk_usage().await?))
}

/// Prometheus metrics, in its text format: containers by state, lifecycle operations (count
/// and latency by verb), API requests by route and status, events, execs and OOM kills, and
/// each running container's CPU, memory, pids and network bytes.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "The Prometheus text format", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn metrics(State(engine): State<Engine>) -> Result<Response, ApiError> {
    let text = engine.metrics().await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Counts each answer under its route (the matched pattern, so ids do not make new series),
/// method and status.
pub async fn count_requests(
    State(engine): State<Engine>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let response = next.run(request).await;
    engine.count_request(&route, method.as_str(), response.status().as_u16());
    response
}
