//! `/v1/networks`: create, list, inspect, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use conti_proto::{ErrorBody, NetworkInfo, NetworkSpec};

use super::error::{ApiError, ApiJson};
use crate::engine::Engine;

/// Creates a bridge network; its bridge is made on the host when a container on it first starts.
#[utoipa::path(post, path = "/v1/networks", tag = "networks", request_body = NetworkSpec,
    responses((status = 201, body = NetworkInfo), (status = 400, description = "`invalid_spec`", body = ErrorBody),
        (status = 409, description = "`network_exists`, `subnet_in_use`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn create_network(
    State(engine): State<Engine>,
    ApiJson(spec): ApiJson<NetworkSpec>,
) -> Result<(StatusCode, Json<NetworkInfo>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(engine.create_network(spec).await?),
    ))
}

/// Every network, the default one (`bridge`) included, with its containers.
#[utoipa::path(get, path = "/v1/networks", tag = "networks", responses((status = 200, body = Vec<NetworkInfo>)))]
pub async fn list_networks(State(engine): State<Engine>) -> Json<Vec<NetworkInfo>> {
    Json(engine.list_networks())
}

#[utoipa::path(get, path = "/v1/networks/{name}", tag = "networks", params(("name" = String, Path)),
    responses((status = 200, body = NetworkInfo), (status = 404, description = "`network_not_found`", body = ErrorBody)))]
pub async fn inspect_network(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<Json<NetworkInfo>, ApiError> {
    Ok(Json(engine.inspect_network(&name)?))
}

/// Removes a network no container is on, with its bridge and its firewall rules.
#[utoipa::path(delete, path = "/v1/networks/{name}", tag = "networks", params(("name" = String, Path)),
    responses((status = 204), (status = 404, description = "`network_not_found`", body = ErrorBody),
        (status = 409, description = "`network_in_use`", body = ErrorBody)))]
pub async fn delete_network(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_network(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
