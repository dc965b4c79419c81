//! `/v1/version` and `/v1/info`.

use axum::Json;
use axum::extract::State;
use conti_proto::{DaemonInfo, VersionInfo};

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
