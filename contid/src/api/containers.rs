//! `/v1/containers`: create, inspect, list, start, stop, restart, kill, wait, logs, exec,
//! delete.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use conti_proto::{
    ContainerInfo, ContainerSpec, ContainerState, CreatedContainer, ErrorBody, ExecResult,
    ExecSpec, LogLine, WaitResult,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery};
use super::log_output::{LogFormat, LogStreams, log_body};
use super::repeated_query::QueryPairs;
use super::whole_numbers;
use crate::engine::{ContainerFilter, Engine, LabelFilter, TimeWindow};

use crate::engine::MAX_STOP_TIMEOUT_SECS;

#[utoipa::path(post, path = "/v1/containers", tag = "containers", request_body = ContainerSpec,
    responses((status = 201, body = CreatedContainer),
        (status = 400, description = "`ambiguous_reference`, `invalid_spec`, `invalid_reference`", body = ErrorBody),
        (status = 404, description = "`container_not_found`, `image_not_found`, `network_not_found`", body = ErrorBody),
        (status = 409, description = "`name_in_use`, `network_full`, `port_in_use`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn create_container(
    State(engine): State<Engine>,
    ApiJson(spec): ApiJson<ContainerSpec>,
) -> Result<(StatusCode, Json<CreatedContainer>), ApiError> {
    Ok((StatusCode::CREATED, Json(engine.create(spec).await?)))
}

/// What `GET /v1/containers` takes: Docker's `ps --filter`s as repeatable parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Include containers that are not running.
    #[param(required = false)]
    all: bool,
    /// `KEY` or `KEY=VALUE`: containers with that label (with that value). Repeatable: all
    /// must hold.
    #[param(required = false, value_type = Vec<String>)]
    label: Vec<LabelFilter>,
    /// Containers whose name contains this. Repeatable: one must hold (so for `status`, `id`
    /// and `ancestor`).
    #[param(required = false)]
    name: Vec<String>,
    /// Containers in this state; given, containers that do not run are listed without `all`.
    #[param(required = false)]
    status: Vec<ContainerState>,
    /// Containers whose id starts with this (dashes optional).
    #[param(required = false)]
    id: Vec<String>,
    /// Containers made from this image: the name the create gave, or a reference or id of the
    /// image.
    #[param(required = false)]
    ancestor: Vec<String>,
    /// Containers on this network (name or id; `bridge`, `host`, `none` as well).
    #[param(required = false)]
    network: Vec<String>,
    /// Containers that mount this volume (name) or mount something at this path.
    #[param(required = false)]
    volume: Vec<String>,
    /// Containers that exited with this code; given, containers that do not run are listed
    /// without `all`.
    #[param(required = false)]
    exited: Vec<i32>,
    /// Containers created before this one (id, id prefix or name).
    #[param(required = false)]
    before: Option<String>,
    /// Containers created after this one (id, id prefix or name).
    #[param(required = false)]
    since: Option<String>,
}

const LIST_PARAMETERS: [&str; 11] = [
    "all", "label", "name", "status", "id", "ancestor", "network", "volume", "exited", "before",
    "since",
];

impl ListParams {
    fn from_query(query: &QueryPairs) -> Result<ListParams, ApiError> {
        let status = query
            .all("status")
            .iter()
            .map(|text| parse_state(text))
            .collect::<Result<_, _>>()?;
        let exited = query
            .all("exited")
            .iter()
            .map(|text| {
                text.parse::<i32>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_argument",
                        format!("exited must be an exit code (a whole number), not {text:?}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ListParams {
            all: query.flag("all")?,
            label: query.labels(),
            name: query.all("name"),
            status,
            id: query.all("id"),
            ancestor: query.all("ancestor"),
            network: query.all("network"),
            volume: query.all("volume"),
            exited,
            before: query.once("before")?,
            since: query.once("since")?,
        })
    }

    fn filter(self) -> ContainerFilter {
        ContainerFilter {
            labels: self.label,
            names: self.name,
            ids: self.id,
            states: self.status,
            ancestors: self.ancestor,
            networks: self.network,
            volumes: self.volume,
            exit_codes: self.exited,
            before: self.before,
            since: self.since,
        }
    }
}

fn parse_state(text: &str) -> Result<ContainerState, ApiError> {
    [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Exited,
    ]
    .into_iter()
    .find(|state| state.as_str() == text)
    .ok_or_else(|| {
        ApiError::bad_request(
            "invalid_argument",
            format!("status must be created, running or exited, not {text:?}"),
        )
    })
}

#[utoipa::path(get, path = "/v1/containers", tag = "containers", params(ListParams),
    responses((status = 200, body = Vec<ContainerInfo>),
        (status = 400, description = "`invalid_argument`", body = ErrorBody),
        (status = 404, description = "`container_not_found` (`before`, `since`)", body = ErrorBody)))]
pub async fn list_containers(
    State(engine): State<Engine>,
    query: QueryPairs,
) -> Result<Json<Vec<ContainerInfo>>, ApiError> {
    query.only(&LIST_PARAMETERS)?;
    let params = ListParams::from_query(&query)?;
    let all = params.all;
    Ok(Json(engine.list_filtered(all, &params.filter())?))
}

#[utoipa::path(get, path = "/v1/containers/{ref}", tag = "containers", params(("ref" = String, Path, description = "id, unique id prefix, or name")),
    responses((status = 200, body = ContainerInfo)))]
pub async fn inspect_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
) -> Result<Json<ContainerInfo>, ApiError> {
    Ok(Json(engine.get(&reference)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Kill the container first if it runs.
    #[serde(default)]
    force: bool,
    /// Also delete its anonymous volumes that no other container uses (named volumes stay).
    #[serde(default)]
    volumes: bool,
}

#[utoipa::path(delete, path = "/v1/containers/{ref}", tag = "containers", params(("ref" = String, Path), DeleteParams),
    responses((status = 204), (status = 409, description = "`container_running`, `network_in_use`", body = ErrorBody)))]
pub async fn delete_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    engine
        .delete(&reference, params.force, params.volumes)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a created or exited container. A command that cannot run is a 400, and the container
/// is then exited with 127 (not found) or 126 (not executable).
#[utoipa::path(post, path = "/v1/containers/{ref}/start", tag = "containers", params(("ref" = String, Path)),
    responses((status = 204),
        (status = 400, description = "`command_not_found`, `command_not_executable`, `invalid_cwd`, `invalid_spec`, `invalid_volume`, `unknown_user`, `unsupported_limit`",
            body = ErrorBody),
        (status = 409, description = "`broken_rootfs`, `container_not_running`, `container_running`, `port_in_use`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn start_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.start(&reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StopParams {
    /// Seconds between the stop signal and SIGKILL (default: the container's `stop_timeout`, 10
    /// unless its create said).
    #[serde(default, deserialize_with = "whole_numbers::optional_integer")]
    // MAX_STOP_TIMEOUT_SECS (utoipa takes only a literal; a test compares them).
    #[param(maximum = 86400)]
    timeout: Option<u64>,
}

impl StopParams {
    /// The timeout asked for, if any (`None`: the container's own).
    fn timeout(&self) -> Result<Option<Duration>, ApiError> {
        if self.timeout.is_some_and(|t| t > MAX_STOP_TIMEOUT_SECS) {
            return Err(ApiError::bad_request(
                "invalid_argument",
                format!("timeout must be at most {MAX_STOP_TIMEOUT_SECS} seconds"),
            ));
        }
        Ok(self.timeout.map(Duration::from_secs))
    }
}

/// The stop signal, then SIGKILL after the timeout. A person's stop: the restart policy does
/// not undo it (a restarting container stops restarting).
#[utoipa::path(post, path = "/v1/containers/{ref}/stop", tag = "containers", params(("ref" = String, Path), StopParams),
    responses((status = 204)))]
pub async fn stop_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<StopParams>,
) -> Result<StatusCode, ApiError> {
    engine.stop(&reference, params.timeout()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops the container if it runs (as `stop`), then starts it; the restart count starts over.
/// A start that fails answers as `start` does.
#[utoipa::path(post, path = "/v1/containers/{ref}/restart", tag = "containers", params(("ref" = String, Path), StopParams),
    responses((status = 204),
        (status = 400, description = "`command_not_found`, `command_not_executable`, `invalid_cwd`, `invalid_spec`, `invalid_volume`, `unknown_user`, `unsupported_limit`",
            body = ErrorBody),
        (status = 409, description = "`broken_rootfs`, `container_not_running`, `container_running`, `port_in_use`", body = ErrorBody),
        (status = 507, description = "`no_space`", body = ErrorBody)))]
pub async fn restart_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<StopParams>,
) -> Result<StatusCode, ApiError> {
    engine.restart(&reference, params.timeout()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RenameParams {
    /// The new name, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters.
    #[param(pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", max_length = 64)]
    name: String,
}

/// Gives the container a new name, in any state; its network answers the new one at once.
#[utoipa::path(post, path = "/v1/containers/{ref}/rename", tag = "containers", params(("ref" = String, Path), RenameParams),
    responses((status = 204), (status = 400, description = "`invalid_spec`", body = ErrorBody),
        (status = 409, description = "`name_in_use`", body = ErrorBody)))]
pub async fn rename_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<RenameParams>,
) -> Result<StatusCode, ApiError> {
    engine.rename(&reference, &params.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KillParams {
    /// Signal name (`SIGTERM`, `TERM`) or number; default `SIGKILL`.
    signal: Option<String>,
}

#[utoipa::path(post, path = "/v1/containers/{ref}/kill", tag = "containers", params(("ref" = String, Path), KillParams),
    responses((status = 204), (status = 400, description = "`invalid_signal`", body = ErrorBody),
        (status = 409, description = "`container_not_running`", body = ErrorBody)))]
pub async fn kill_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<KillParams>,
) -> Result<StatusCode, ApiError> {
    engine.kill(&reference, params.signal.as_deref().unwrap_or("SIGKILL"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Blocks until the container has exited.
#[utoipa::path(post, path = "/v1/containers/{ref}/wait", tag = "containers", params(("ref" = String, Path)),
    responses((status = 200, body = WaitResult)))]
pub async fn wait_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
) -> Result<Json<WaitResult>, ApiError> {
    Ok(Json(WaitResult {
        exit_code: engine.wait(&reference).await?,
    }))
}

/// Runs a command in a running container to its end and returns its output. With `attach`, creates
/// a streaming exec instead (201 `ExecCreated`; run it with `POST /v1/execs/{id}/start`); with
/// `detach`, starts it and answers at once (201 `ExecCreated`; `GET /v1/execs/{id}` follows it).
#[utoipa::path(post, path = "/v1/containers/{ref}/exec", tag = "containers", params(("ref" = String, Path)), request_body = ExecSpec,
    responses((status = 200, body = ExecResult), (status = 201, body = conti_proto::ExecCreated),
        (status = 400, description = "`invalid_cwd`, `invalid_spec`, `unknown_user`", body = ErrorBody),
        (status = 409, description = "`container_not_running`", body = ErrorBody)))]
pub async fn exec_in_container(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiJson(spec): ApiJson<ExecSpec>,
) -> Result<Response, ApiError> {
    if spec.detach {
        return super::execs::run_detached(&engine, &reference, spec).await;
    }
    if spec.attach {
        return super::execs::create_exec(&engine, &reference, spec);
    }
    if spec.tty || spec.stdin {
        return Err(ApiError::bad_request(
            "invalid_spec",
            "tty and stdin need a streaming exec (attach: true)",
        ));
    }
    Ok(Json(engine.exec(&reference, spec).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsParams {
    /// Keep the answer open and send new output until the container has exited.
    #[serde(default)]
    follow: bool,
    /// Only the last N lines of what is already there (of those in the time window).
    #[serde(default, deserialize_with = "whole_numbers::optional_integer")]
    tail: Option<usize>,
    #[serde(default)]
    #[param(inline)]
    format: LogFormat,
    /// Only lines written at or after this time: RFC 3339, Unix seconds, or a duration ago
    /// (`10m`).
    #[param(min_length = 1)]
    since: Option<String>,
    /// Only lines written at or before this time (same forms); a follow ends there.
    #[param(min_length = 1)]
    until: Option<String>,
    /// `text` and `multiplexed` formats: start each line with its RFC 3339 time and a space.
    #[serde(default)]
    timestamps: bool,
}

#[utoipa::path(get, path = "/v1/containers/{ref}/logs", tag = "containers", params(("ref" = String, Path), LogsParams),
    responses((status = 200, description = "`text` format: the bytes as written; `json`: one LogLine per line; `multiplexed`: attach's frames",
        content((String = "text/plain"), (LogLine = "application/x-ndjson"), (String = "application/vnd.docker.multiplexed-stream")))))]
pub async fn container_logs(
    State(engine): State<Engine>,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<LogsParams>,
) -> Result<Response, ApiError> {
    let window = TimeWindow::parse(params.since.as_deref(), params.until.as_deref())?;
    let follower = engine.logs(&reference, params.follow, params.tail, window)?;
    let content_type = match params.format {
        // Bytes as the container wrote them, in no particular charset.
        LogFormat::Text => "text/plain",
        LogFormat::Json => "application/x-ndjson",
        LogFormat::Multiplexed => "application/vnd.docker.multiplexed-stream",
    };
    let streams = LogStreams::BOTH;
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        log_body(follower, params.format, params.timestamps, streams),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    #[test]
    fn the_documented_stop_timeout_is_the_one_enforced() {
        let params = super::StopParams::into_params(|| None);
        let Some(RefOr::T(Schema::Object(timeout))) = &params[0].schema else {
            panic!("timeout has no schema");
        };
        let maximum = serde_json::to_value(&timeout.maximum).unwrap();
        assert_eq!(maximum, serde_json::json!(super::MAX_STOP_TIMEOUT_SECS));
    }
}
