//! `/v1/volumes`: create, list, inspect, delete, prune.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use conti_proto::{ErrorBody, VolumeCreateSpec, VolumeInfo, VolumePruneReport};
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson};
use super::repeated_query::QueryPairs;
use crate::engine::{Engine, LabelFilter};

/// The `label` filter of the volume routes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LabelParams {
    /// `KEY` or `KEY=VALUE`: volumes with that label (with that value). Repeatable: all must
    /// hold.
    #[param(required = false, value_type = Vec<String>)]
    label: Vec<LabelFilter>,
}

impl LabelParams {
    fn from_query(query: &QueryPairs) -> LabelParams {
        LabelParams {
            label: query.labels(),
        }
    }
}

/// Creates a volume (201), or answers the one of that name (200) when it has the same labels or
/// none are asked for.
#[utoipa::path(post, path = "/v1/volumes", tag = "volumes", request_body = VolumeCreateSpec,
    responses((status = 201, body = VolumeInfo), (status = 200, description = "the volume existed", body = VolumeInfo),
        (status = 400, description = "`invalid_spec`", body = ErrorBody),
        (status = 409, description = "`volume_exists`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn create_volume(
    State(engine): State<Engine>,
    ApiJson(spec): ApiJson<VolumeCreateSpec>,
) -> Result<(StatusCode, Json<VolumeInfo>), ApiError> {
    let (volume, created) = engine.create_volume(spec).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(volume)))
}

/// Every volume (with the labels asked for), by name, with the containers that use it.
#[utoipa::path(get, path = "/v1/volumes", tag = "volumes", params(LabelParams),
    responses((status = 200, body = Vec<VolumeInfo>)))]
pub async fn list_volumes(
    State(engine): State<Engine>,
    query: QueryPairs,
) -> Json<Vec<VolumeInfo>> {
    Json(engine.list_volumes(&LabelParams::from_query(&query).label))
}

#[utoipa::path(get, path = "/v1/volumes/{name}", tag = "volumes", params(("name" = String, Path)),
    responses((status = 200, body = VolumeInfo), (status = 404, description = "`volume_not_found`", body = ErrorBody)))]
pub async fn inspect_volume(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<Json<VolumeInfo>, ApiError> {
    Ok(Json(engine.inspect_volume(&name)?))
}

/// Deletes a volume and its files; 409 while any container, whatever its state, refers to it.
#[utoipa::path(delete, path = "/v1/volumes/{name}", tag = "volumes", params(("name" = String, Path)),
    responses((status = 204), (status = 404, description = "`volume_not_found`", body = ErrorBody),
        (status = 409, description = "`volume_in_use`", body = ErrorBody)))]
pub async fn delete_volume(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_volume(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every volume (with the labels asked for) no container refers to.
#[utoipa::path(post, path = "/v1/volumes/prune", tag = "volumes", params(LabelParams),
    responses((status = 200, body = VolumePruneReport)))]
pub async fn prune_volumes(
    State(engine): State<Engine>,
    query: QueryPairs,
) -> Result<Json<VolumePruneReport>, ApiError> {
    let params = LabelParams::from_query(&query);
    Ok(Json(engine.prune_volumes(&params.label).await?))
}
