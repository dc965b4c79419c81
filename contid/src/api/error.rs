//! `ApiError`: every error the API answers with, mapped to HTTP in this one place, and the
//! extractors whose rejections take the same JSON shape.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use conti_proto::ErrorBody;
use serde::de::DeserializeOwned;

use super::whole_numbers;
use crate::engine::EngineError;
use crate::registry::RegistryError;

/// Largest JSON body accepted (image imports stream and are not limited).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            code: self.code.to_string(),
            message: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        use EngineError::*;
        let (status, code) = match &err {
            InvalidSpec(_) => (StatusCode::BAD_REQUEST, "invalid_spec"),
            InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            InvalidSignal(_) => (StatusCode::BAD_REQUEST, "invalid_signal"),
            AmbiguousReference { .. } => (StatusCode::BAD_REQUEST, "ambiguous_reference"),
            CommandNotFound(_) => (StatusCode::BAD_REQUEST, "command_not_found"),
            CommandNotExecutable(_) => (StatusCode::BAD_REQUEST, "command_not_executable"),
            InvalidCwd(_) => (StatusCode::BAD_REQUEST, "invalid_cwd"),
            UnknownUser(_) => (StatusCode::BAD_REQUEST, "unknown_user"),
            InvalidVolume(_) => (StatusCode::BAD_REQUEST, "invalid_volume"),
            InvalidArchive(_) => (StatusCode::BAD_REQUEST, "invalid_archive"),
            InvalidReference(_) => (StatusCode::BAD_REQUEST, "invalid_reference"),
            DigestMismatch(_) => (StatusCode::BAD_REQUEST, "digest_mismatch"),
            Registry(registry) => registry_status(registry),
            ContainerNotFound(_) => (StatusCode::NOT_FOUND, "container_not_found"),
            ImageNotFound(_) => (StatusCode::NOT_FOUND, "image_not_found"),
            NameInUse(_) => (StatusCode::CONFLICT, "name_in_use"),
            ImageExists(_) => (StatusCode::CONFLICT, "image_exists"),
            ImageInUse { .. } => (StatusCode::CONFLICT, "image_in_use"),
            ContainerRunning(_) => (StatusCode::CONFLICT, "container_running"),
            ContainerNotRunning(_) => (StatusCode::CONFLICT, "container_not_running"),
            BrokenRootfs(_) => (StatusCode::CONFLICT, "broken_rootfs"),
            ExecNotFound(_) => (StatusCode::NOT_FOUND, "exec_not_found"),
            ExecAlreadyStarted(_) => (StatusCode::CONFLICT, "exec_already_started"),
            ExecNotRunning(_) => (StatusCode::CONFLICT, "exec_not_running"),
            UnsupportedLimit(_) => (StatusCode::BAD_REQUEST, "unsupported_limit"),
            LimitRejected(_) => (StatusCode::CONFLICT, "limit_rejected"),
            NetworkNotFound(_) => (StatusCode::NOT_FOUND, "network_not_found"),
            NetworkExists(_) => (StatusCode::CONFLICT, "network_exists"),
            NetworkInUse(_) => (StatusCode::CONFLICT, "network_in_use"),
            SubnetInUse(_) => (StatusCode::CONFLICT, "subnet_in_use"),
            NetworkFull(_) => (StatusCode::CONFLICT, "network_full"),
            VolumeNotFound(_) => (StatusCode::NOT_FOUND, "volume_not_found"),
            VolumeExists(_) => (StatusCode::CONFLICT, "volume_exists"),
            VolumeInUse(_) => (StatusCode::CONFLICT, "volume_in_use"),
            PortInUse(_) => (StatusCode::CONFLICT, "port_in_use"),
            NoSpace(_) => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

/// A registry's refusal, as the client can act on it: 404 when the image is not there, 401 for
/// credentials, 502 when the registry cannot be reached or misbehaves.
fn registry_status(err: &RegistryError) -> (StatusCode, &'static str) {
    match err {
        RegistryError::NotFound { .. } => (StatusCode::NOT_FOUND, "image_not_found"),
        RegistryError::NoMatchingPlatform { .. } => (StatusCode::NOT_FOUND, "no_matching_platform"),
        RegistryError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "registry_unauthorized"),
        RegistryError::Unsupported { .. } => (StatusCode::BAD_REQUEST, "unsupported_image"),
        RegistryError::Unreachable { .. } | RegistryError::Certificates { .. } => {
            (StatusCode::BAD_GATEWAY, "registry_unreachable")
        }
        RegistryError::InsecureRefused { .. } => (StatusCode::BAD_GATEWAY, "registry_insecure"),
        RegistryError::RateLimited { .. } => (StatusCode::BAD_GATEWAY, "registry_rate_limited"),
        RegistryError::Invalid { .. } => (StatusCode::BAD_GATEWAY, "registry_error"),
        RegistryError::Credentials { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {JSON_BODY_LIMIT} bytes"),
        )
    } else {
        ApiError::bad_request("invalid_body", rejection.body_text())
    }
}

/// A JSON body, whatever its `Content-Type` (so `curl -d` works), parsed strictly.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body must be a JSON object",
            ));
        }
        serde_json::from_slice(&bytes)
            .or_else(|error| {
                // `1.0` where an integer is expected is an integer to the contract; whatever
                // else is wrong is then said without it.
                match whole_numbers::json_with_whole_floats_as_integers(&bytes) {
                    Some(value) => serde_json::from_value(value),
                    None => Err(error),
                }
            })
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}")))
    }
}

/// Query parameters whose rejection is an `ApiError`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_argument", e.body_text()))
    }
}

/// Docker's clients get Docker's shape for a versioned path (`/v1.41/…`).
pub async fn route_not_found(request: Request) -> Response {
    if super::docker::is_docker_request(&request) {
        return super::docker::page_not_found();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route; see proto-docs/openapi.json",
    )
    .into_response()
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::DefaultBodyLimit;
    use axum::routing::post;
    use conti_proto::ContainerSpec;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn post_create(body: impl Into<axum::body::Body>) -> (StatusCode, ErrorBody) {
        let app = Router::new()
            .route(
                "/",
                post(|ApiJson(_spec): ApiJson<ContainerSpec>| async { StatusCode::NO_CONTENT }),
            )
            .fallback(route_not_found)
            .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
        let request = axum::http::Request::post("/").body(body.into()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let error = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
            code: String::new(),
            message: String::new(),
        });
        (status, error)
    }

    #[tokio::test]
    async fn malformed_bodies_get_json_errors_with_stable_codes() {
        let (status, error) = post_create("{not json").await;
        assert_eq!(
            (status, error.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        let (status, error) =
            post_create(r#"{"image":"busybox","cmd":["true"],"colour":"red"}"#).await;
        assert_eq!(
            (status, error.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        assert!(error.message.contains("colour"), "{}", error.message);
        let (status, error) = post_create("").await;
        assert_eq!(
            (status, error.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        let (status, _) = post_create(r#"{"image":"busybox","cmd":["true"]}"#).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn a_whole_float_is_an_integer_and_other_errors_are_still_named() {
        let (status, _) = post_create(
            r#"{"image":"busybox","cmd":["true"],"ports":[{"host_port":8080.0,"container_port":80}]}"#,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, error) = post_create(
            r#"{"image":"busybox","cmd":["true"],"ports":[{"host_port":80.5,"container_port":80}]}"#,
        )
        .await;
        assert_eq!(
            (status, error.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        assert!(error.message.contains("80.5"), "{}", error.message);
        let (_, error) = post_create(
            r#"{"image":"busybox","cmd":["true"],"ports":[{"host_port":8080.0,"container_port":70000}]}"#,
        )
        .await;
        assert!(error.message.contains("70000"), "{}", error.message);
    }

    #[tokio::test]
    async fn oversized_bodies_are_413() {
        let big = format!(
            r#"{{"image":"busybox","cmd":["{}"]}}"#,
            "x".repeat(JSON_BODY_LIMIT + 1)
        );
        let (status, error) = post_create(big).await;
        assert_eq!(
            (status, error.code.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
    }

    #[test]
    fn engine_errors_map_to_their_status() {
        let cases = [
            (
                EngineError::ContainerNotFound("x".into()),
                StatusCode::NOT_FOUND,
            ),
            (EngineError::NameInUse("x".into()), StatusCode::CONFLICT),
            (
                EngineError::InvalidSpec("x".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                EngineError::CommandNotFound("x".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                EngineError::NoSpace("x".into()),
                StatusCode::INSUFFICIENT_STORAGE,
            ),
            (
                EngineError::Internal("x".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(ApiError::from(err).status, status);
        }
    }
}
