//! Errors in Docker's shape, `{"message": "…"}`, with the statuses its clients act on: a 404 on
//! create makes the CLI pull, 409 is a conflict, 304 says "already started/stopped".

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::ApiError;
use crate::engine::EngineError;

#[derive(Debug)]
pub struct DockerError {
    pub status: StatusCode,
    pub message: String,
}

pub type DockerResult<T> = Result<T, DockerError>;

impl DockerError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> DockerError {
        DockerError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> DockerError {
        DockerError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> DockerError {
        DockerError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for DockerError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, message = %self.message, "docker API request failed");
        }
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

/// The engine's errors keep the statuses `/v1` gives them; Docker's clients read the message.
impl From<ApiError> for DockerError {
    fn from(err: ApiError) -> DockerError {
        DockerError::new(err.status, err.message)
    }
}

impl From<EngineError> for DockerError {
    fn from(err: EngineError) -> DockerError {
        match err {
            // Docker's words, which its CLI and SDKs look for ("No such container: x").
            EngineError::ContainerNotFound(name) => {
                DockerError::not_found(format!("No such container: {name}"))
            }
            EngineError::ImageNotFound(name) => {
                DockerError::not_found(format!("No such image: {name}"))
            }
            // The CLI tells "not found" (exit 127) and "not executable" (126) by these words.
            EngineError::CommandNotFound(message) => {
                DockerError::bad_request(format!("{message}: executable file not found"))
            }
            EngineError::CommandNotExecutable(message) => {
                DockerError::bad_request(format!("{message}: permission denied"))
            }
            other => ApiError::from(other).into(),
        }
    }
}
