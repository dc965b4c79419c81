//! The Docker Engine API on contid's socket, next to `/v1`: the `docker` CLI, Compose and the
//! Docker SDKs drive Conti through it. Docker's shapes come in and go out here; the engine is
//! called as `/v1` calls it and learns nothing of Docker. Paths come unversioned or as
//! `/v1.NN/…` (1.24 to 1.47): [`strip_version`] takes the version off before routing, and the
//! routes below refuse one outside that range. What is served and what is not:
//! `proto-docs/docker.md`.

mod containers;
mod create;
mod error;
mod events;
mod exec;
mod images;
mod networks;
mod query;
mod shapes;
mod stats;
mod system;
mod volumes;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

pub use error::DockerError;

use crate::engine::Engine;

/// The newest API version served, the one `/_ping` announces.
pub const API_VERSION: &str = "1.47";
/// The oldest.
pub const MIN_API_VERSION: &str = "1.24";
const MIN_MINOR: u32 = 24;
const MAX_MINOR: u32 = 47;

/// The version a request's path asked for (`/v1.41/…`), taken off its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedVersion(pub u32, pub u32);

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/_ping", get(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(containers::prune))
        .route("/system/df", get(system::disk_usage))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/containers/{id}/top", get(stats::top))
        .route("/events", get(events::stream))
        .route("/containers/{id}", delete(containers::remove))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/images/create", post(images::create))
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::get_many))
        .route("/images/prune", post(images::prune))
        .route(
            "/images/{*name}",
            get(images::get_by_name)
                .post(images::post_by_name)
                .delete(images::delete),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::connect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route_layer(middleware::from_fn(check_version))
}

/// Takes `/v1.NN` off a Docker path and keeps the version as a [`RequestedVersion`].
/// Conti's own `/v1/…` has no dot and is left alone.
pub fn strip_version(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/v1.") else {
        return request;
    };
    let (minor, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(minor) = minor.parse::<u32>() else {
        return request;
    };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{tail}?{query}"),
        None => tail.to_string(),
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
        request.extensions_mut().insert(RequestedVersion(1, minor));
    }
    request
}

async fn check_version(request: Request, next: Next) -> Response {
    if let Some(RequestedVersion(major, minor)) = request.extensions().get().copied() {
        if minor > MAX_MINOR {
            return DockerError::bad_request(format!(
                "client version {major}.{minor} is too new. Maximum supported API version is {API_VERSION}"
            ))
            .into_response();
        }
        if minor < MIN_MINOR {
            return DockerError::bad_request(format!(
                "client version {major}.{minor} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// An unknown route of a versioned Docker path answers in Docker's shape.
pub fn is_docker_request(request: &Request) -> bool {
    request.extensions().get::<RequestedVersion>().is_some()
}

pub fn page_not_found() -> Response {
    DockerError::new(StatusCode::NOT_FOUND, "page not found").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(uri: &str) -> (String, Option<RequestedVersion>) {
        let request = strip_version(
            Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        );
        (
            request.uri().to_string(),
            request.extensions().get::<RequestedVersion>().copied(),
        )
    }

    #[test]
    fn the_version_comes_off_dockers_paths_only() {
        assert_eq!(
            stripped("/v1.41/containers/json?all=1"),
            (
                "/containers/json?all=1".into(),
                Some(RequestedVersion(1, 41))
            )
        );
        assert_eq!(stripped("/v1/containers"), ("/v1/containers".into(), None));
        assert_eq!(
            stripped("/v1.x/containers"),
            ("/v1.x/containers".into(), None)
        );
        assert_eq!(stripped("/_ping"), ("/_ping".into(), None));
    }
}
