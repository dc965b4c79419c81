//! `/containers/{id}/exec` and `/exec/{id}/…`: `docker exec`, as a streaming exec of the engine.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use conti_proto::{ExecSpec, ExecState};
use serde::Deserialize;
use serde_json::json;

use super::error::{DockerError, DockerResult};
use super::query::{DockerQuery, json_body};
use super::shapes::docker_id;
use crate::api::attach::{detach_keys, require_upgrade, upgrade};
use crate::engine::Engine;

pub async fn create(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> DockerResult<(StatusCode, Json<serde_json::Value>)> {
    let config: ExecConfig = json_body(&body)?;
    if config.privileged == Some(true) {
        return Err(DockerError::bad_request(
            "Privileged is not supported for an exec: it runs with the container's privileges",
        ));
    }
    let cmd = config.cmd.unwrap_or_default();
    if cmd.is_empty() {
        return Err(DockerError::bad_request("No exec command specified"));
    }
    let spec = ExecSpec {
        cmd,
        env: config.env.unwrap_or_default(),
        cwd: config.working_dir.filter(|w| !w.is_empty()),
        user: config.user.filter(|u| !u.is_empty()),
        attach: true,
        tty: config.tty.unwrap_or(false),
        stdin: config.attach_stdin.unwrap_or(false),
        detach: false,
    };
    let created = engine.create_exec(&id, spec)?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": created.id }))))
}

#[derive(Debug, Default, Deserialize)]
struct StartBody {
    #[serde(rename = "Detach", default)]
    detach: bool,
}

pub async fn start(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
    request: Request,
) -> DockerResult<Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|e| DockerError::bad_request(format!("cannot read the body: {e}")))?;
    let start: StartBody = json_body(&bytes)?;
    let request = Request::from_parts(parts, axum::body::Body::empty());
    if start.detach {
        engine.start_exec_detached(&id).await?;
        return Ok(StatusCode::OK.into_response());
    }
    require_upgrade(&request)?;
    let keys = detach_keys(query.text("detachKeys"))?;
    let stream = engine.start_exec(&id, keys).await?;
    let tty = stream.tty;
    Ok(upgrade(request, tty, move |io| async move {
        stream.pump(io).await
    })?)
}

pub async fn inspect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> DockerResult<Json<ExecInspectResponse>> {
    let info = engine.exec_info(&id)?;
    Ok(Json(ExecInspectResponse {
        id: Some(info.id.clone()),
        running: Some(info.state == ExecState::Running),
        exit_code: info.exit_code.map(i64::from),
        process_config: Some(ProcessConfig {
            tty: Some(info.tty),
            entrypoint: info.cmd.first().cloned(),
            arguments: Some(info.cmd.iter().skip(1).cloned().collect()),
            ..Default::default()
        }),
        open_stdin: Some(info.stdin),
        open_stdout: Some(true),
        open_stderr: Some(true),
        container_id: Some(docker_id(&info.container_id)),
        can_remove: Some(false),
        ..Default::default()
    }))
}

pub async fn resize(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    engine.resize_exec(&id, query.window_size()?)?;
    Ok(StatusCode::CREATED)
}
