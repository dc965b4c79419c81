//! `/v1/images`: import, list, delete.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use conti_proto::{ErrorBody, ImageInfo};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiQuery};
use crate::engine::Engine;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Name of the new image: `[a-zA-Z0-9][a-zA-Z0-9_.:-]*`, at most 128 characters.
    #[param(pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$", max_length = 128)]
    name: String,
}

/// Imports a root filesystem from a tar or tar.gz archive streamed as the body.
#[utoipa::path(post, path = "/v1/images/import", tag = "images", params(ImportParams),
    request_body(content(("application/x-tar")), description = "tar or tar.gz of a root filesystem"),
    responses((status = 201, body = ImageInfo), (status = 400, description = "`invalid_archive`, `invalid_name`", body = ErrorBody),
        (status = 409, description = "`image_exists`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn import_image(
    State(engine): State<Engine>,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: Body,
) -> Result<(StatusCode, Json<ImageInfo>), ApiError> {
    let image = engine
        .import_image(&params.name, body.into_data_stream())
        .await?;
    Ok((StatusCode::CREATED, Json(image)))
}

#[utoipa::path(get, path = "/v1/images", tag = "images", responses((status = 200, body = Vec<ImageInfo>)))]
pub async fn list_images(State(engine): State<Engine>) -> Json<Vec<ImageInfo>> {
    Json(engine.images())
}

/// Deletes an image no container uses.
#[utoipa::path(delete, path = "/v1/images/{name}", tag = "images", params(("name" = String, Path)),
    responses((status = 204), (status = 404, description = "`image_not_found`", body = ErrorBody),
        (status = 409, description = "`image_in_use`", body = ErrorBody)))]
pub async fn delete_image(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_image(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
