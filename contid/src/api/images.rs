//! `/v1/images` and `/v1/auth`: the image store (import, load, save, pull, inspect, history, tag,
//! delete, prune) and the registry credentials kept for pulls. `{name}` is one path segment: a
//! reference's `/` is sent as `%2F`.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use conti_proto::{
    ErrorBody, ImageHistoryEntry, ImageInfo, ImagePruneReport, LoginSpec, PullEvent,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery};
use super::json_line;
use super::repeated_query::QueryPairs;
use crate::engine::Engine;
use crate::registry::Credentials;

/// The header a pull's credentials come in, as Docker's: base64url of `{"username", "password"}`.
const REGISTRY_AUTH_HEADER: &str = "x-registry-auth";

/// What `POST /v1/images/import` takes (read from the query's pairs: `change` repeats).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ImportParams {
    /// The new image's tag: a reference, `name[:tag]` (`busybox`, `127.0.0.1:5000/team/app:1`).
    #[param(min_length = 1, max_length = 255)]
    name: String,
    /// A `docker import --change` instruction (`CMD …`, `ENTRYPOINT …`, `ENV K=V`, `WORKDIR /p`,
    /// `USER u`, `EXPOSE 80`, `HEALTHCHECK --interval=5s CMD …`, `LABEL k=v`, `STOPSIGNAL SIG`,
    /// `VOLUME /p`); repeatable, applied in order.
    #[param(required = false)]
    change: Vec<String>,
}

/// Imports a root filesystem from a tar (plain, gzip or zstd) streamed as the body: a one-layer
/// image with an empty config, the `change` instructions applied.
#[utoipa::path(post, path = "/v1/images/import", tag = "images", params(ImportParams),
    request_body(content(("application/x-tar")), description = "tar, tar.gz or tar.zst of a root filesystem"),
    responses((status = 201, body = ImageInfo), (status = 400, description = "`invalid_archive`, `invalid_reference`", body = ErrorBody),
        (status = 409, description = "`image_exists`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn import_image(
    State(engine): State<Engine>,
    query: QueryPairs,
    body: Body,
) -> Result<(StatusCode, Json<ImageInfo>), ApiError> {
    let name = query.once("name")?.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_argument",
            "missing field `name`: the new image's tag",
        )
    })?;
    let image = engine
        .import_image(&name, query.all("change"), body.into_data_stream())
        .await?;
    Ok((StatusCode::CREATED, Json(image)))
}

/// Loads the images of a `docker save` archive or an OCI image layout tarball.
#[utoipa::path(post, path = "/v1/images/load", tag = "images",
    request_body(content(("application/x-tar")), description = "a docker-save archive or an OCI layout, as tar"),
    responses((status = 200, body = Vec<ImageInfo>),
        (status = 400, description = "`invalid_archive`, `digest_mismatch`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn load_images(
    State(engine): State<Engine>,
    body: Body,
) -> Result<Json<Vec<ImageInfo>>, ApiError> {
    Ok(Json(engine.load_images(body.into_data_stream()).await?))
}

/// The image as a `docker save` archive (`docker load` and `skopeo … docker-archive:` read it).
#[utoipa::path(get, path = "/v1/images/{name}/save", tag = "images", params(("name" = String, Path)),
    responses((status = 200, content_type = "application/x-tar", body = String),
        (status = 400, description = "`invalid_reference`", body = ErrorBody),
        (status = 404, description = "`image_not_found`", body = ErrorBody)))]
pub async fn save_image(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let stream = engine.save_image(&name)?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullParams {
    /// What to pull: `name[:tag]` or `name@sha256:…` (`busybox` is
    /// `docker.io/library/busybox:latest`).
    #[serde(rename = "ref")]
    #[param(rename = "ref", min_length = 1, max_length = 255)]
    reference: String,
    /// `os/arch[/variant]` to pick from a multi-platform image (default `linux/amd64`).
    #[param(min_length = 1)]
    platform: Option<String>,
}

/// Pulls an image from its registry. The manifest is resolved first (404, 401 or 502 answer
/// then); the answer streams the pull's progress, one `PullEvent` per line, ending with `done`,
/// or `error` when it fails midway (nothing of a failed layer is kept). Credentials: the
/// `X-Registry-Auth` header (base64url of `{"username","password"}`), else those of `POST
/// /v1/auth`, else none.
#[utoipa::path(post, path = "/v1/images/pull", tag = "images", params(PullParams,
        ("X-Registry-Auth" = Option<String>, Header, description = "base64url of {\"username\": …, \"password\": …}")),
    responses((status = 200, description = "One PullEvent per line", body = PullEvent, content_type = "application/x-ndjson"),
        (status = 400, description = "`invalid_reference`, `invalid_argument`, `unsupported_image`", body = ErrorBody),
        (status = 401, description = "`registry_unauthorized`", body = ErrorBody),
        (status = 404, description = "`image_not_found`, `no_matching_platform`", body = ErrorBody),
        (status = 502, description = "`registry_unreachable`, `registry_insecure`, `registry_error`, `registry_rate_limited`", body = ErrorBody)))]
pub async fn pull_image(
    State(engine): State<Engine>,
    ApiQuery(params): ApiQuery<PullParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let credentials = registry_auth(&headers)?;
    let events = engine
        .pull_image(&params.reference, params.platform.as_deref(), credentials)
        .await?;
    let stream = futures_util::stream::unfold(events, |mut events| async move {
        let event = match events.recv().await? {
            Ok(event) => event,
            Err(err) => {
                let err = ApiError::from(err);
                PullEvent::Error {
                    code: err.code.to_string(),
                    message: err.message,
                }
            }
        };
        Some((Ok::<Bytes, Infallible>(json_line(&event)), events))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The credentials of `X-Registry-Auth`, if sent.
pub(super) fn registry_auth(headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
    #[derive(Deserialize)]
    struct Auth {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
    }
    let Some(value) = headers.get(REGISTRY_AUTH_HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_argument",
            "X-Registry-Auth must be base64url of {\"username\": …, \"password\": …}",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let json = base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, config)
        .decode(text)
        .or_else(|_| {
            base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config).decode(text)
        })
        .map_err(|_| invalid())?;
    let auth: Auth = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if auth.username.is_empty() && auth.password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: auth.username,
        password: auth.password,
    }))
}

/// Every image, newest first.
#[utoipa::path(get, path = "/v1/images", tag = "images", responses((status = 200, body = Vec<ImageInfo>)))]
pub async fn list_images(State(engine): State<Engine>) -> Json<Vec<ImageInfo>> {
    Json(engine.images())
}

/// One image: by reference, by id (`sha256:…`) or by a prefix of its id.
#[utoipa::path(get, path = "/v1/images/{name}", tag = "images", params(("name" = String, Path)),
    responses((status = 200, body = ImageInfo),
        (status = 400, description = "`invalid_reference`", body = ErrorBody),
        (status = 404, description = "`image_not_found`", body = ErrorBody)))]
pub async fn inspect_image(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<Json<ImageInfo>, ApiError> {
    Ok(Json(engine.image(&name)?))
}

/// The steps the image was made by, newest first.
#[utoipa::path(get, path = "/v1/images/{name}/history", tag = "images", params(("name" = String, Path)),
    responses((status = 200, body = Vec<ImageHistoryEntry>),
        (status = 400, description = "`invalid_reference`", body = ErrorBody),
        (status = 404, description = "`image_not_found`", body = ErrorBody)))]
pub async fn image_history(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<Json<Vec<ImageHistoryEntry>>, ApiError> {
    Ok(Json(engine.image_history(&name)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagParams {
    /// The new tag, `name[:tag]`.
    #[param(min_length = 1, max_length = 255)]
    tag: String,
}

/// Points a tag at the image (moved from the image it named before, if any).
#[utoipa::path(post, path = "/v1/images/{name}/tag", tag = "images", params(("name" = String, Path), TagParams),
    responses((status = 201, body = ImageInfo),
        (status = 400, description = "`invalid_reference`", body = ErrorBody),
        (status = 404, description = "`image_not_found`", body = ErrorBody)))]
pub async fn tag_image(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    ApiQuery(params): ApiQuery<TagParams>,
) -> Result<(StatusCode, Json<ImageInfo>), ApiError> {
    let image = engine.tag_image(&name, &params.tag).await?;
    Ok((StatusCode::CREATED, Json(image)))
}

/// Removes a tag, and the image once nothing names it; by id, the image and all its tags.
/// Layers no other image has go with it.
#[utoipa::path(delete, path = "/v1/images/{name}", tag = "images", params(("name" = String, Path)),
    responses((status = 204), (status = 400, description = "`invalid_reference`", body = ErrorBody),
        (status = 404, description = "`image_not_found`", body = ErrorBody),
        (status = 409, description = "`image_in_use`", body = ErrorBody)))]
pub async fn delete_image(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.delete_image(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PruneParams {
    /// Every image no container uses, not only untagged ones.
    #[serde(default)]
    all: bool,
}

/// Deletes untagged images (every unused one with `all=true`) that no container uses.
#[utoipa::path(post, path = "/v1/images/prune", tag = "images", params(PruneParams),
    responses((status = 200, body = ImagePruneReport)))]
pub async fn prune_images(
    State(engine): State<Engine>,
    ApiQuery(params): ApiQuery<PruneParams>,
) -> Result<Json<ImagePruneReport>, ApiError> {
    Ok(Json(engine.prune_images(params.all).await?))
}

/// Checks credentials against a registry and keeps them (root-only) for later pulls.
#[utoipa::path(post, path = "/v1/auth", tag = "images", request_body = LoginSpec,
    responses((status = 204),
        (status = 400, description = "`invalid_argument`", body = ErrorBody),
        (status = 401, description = "`registry_unauthorized`", body = ErrorBody),
        (status = 502, description = "`registry_unreachable`, `registry_insecure`", body = ErrorBody)))]
pub async fn login(
    State(engine): State<Engine>,
    ApiJson(spec): ApiJson<LoginSpec>,
) -> Result<StatusCode, ApiError> {
    if spec.username.is_empty() || !is_registry_name(&spec.registry) {
        return Err(ApiError::bad_request(
            "invalid_argument",
            "registry must be host[:port] and username must be given",
        ));
    }
    let credentials = Credentials {
        username: spec.username,
        password: spec.password,
    };
    engine.login(&spec.registry, credentials).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `host[:port]`: letters, digits, `.` and `-`, then an optional port.
fn is_registry_name(name: &str) -> bool {
    let (host, port) = name.split_once(':').unwrap_or((name, "1"));
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// Forgets the credentials kept for a registry.
#[utoipa::path(delete, path = "/v1/auth/{registry}", tag = "images", params(("registry" = String, Path)),
    responses((status = 204), (status = 404, description = "`not_logged_in`", body = ErrorBody)))]
pub async fn logout(
    State(engine): State<Engine>,
    Path(registry): Path<String>,
) -> Result<StatusCode, ApiError> {
    if engine.logout(&registry)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_logged_in",
            format!("no credentials are kept for {registry}"),
        ))
    }
}
