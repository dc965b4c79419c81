//! `/containers/…`: Docker's container verbs on the engine.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{ContainerCreateResponse, ContainerInspectResponse, ContainerSummary};
use serde_json::json;

use super::create::container_spec;
use super::error::{DockerError, DockerResult};
use super::query::{DockerQuery, Filters};
use super::shapes::{container_inspect, container_summary, docker_id};
use crate::api::attach::{detach_keys, require_upgrade, upgrade};
use crate::api::log_output::{LogFormat, LogStreams, log_body};
use crate::engine::{
    AttachOptions, ClientSocket, ContainerFilter, Engine, EngineError, LabelFilter,
    MAX_STOP_TIMEOUT_SECS, TimeWindow, WaitCondition,
};
use conti_proto::ContainerState;

pub async fn create(
    State(engine): State<Engine>,
    query: DockerQuery,
    body: Bytes,
) -> DockerResult<(StatusCode, Json<ContainerCreateResponse>)> {
    if let Some(platform) = query.text("platform")
        && !platform.starts_with("linux")
    {
        return Err(DockerError::bad_request(format!(
            "platform {platform} is not supported: Conti runs linux containers"
        )));
    }
    let spec = container_spec(&body, query.text("name"))?;
    let created = engine.create(spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(ContainerCreateResponse {
            id: docker_id(&created.id),
            warnings: Vec::new(),
        }),
    ))
}

pub async fn list(
    State(engine): State<Engine>,
    query: DockerQuery,
) -> DockerResult<Json<Vec<ContainerSummary>>> {
    let filter = container_filter(&query.filters()?)?;
    // A positive `limit` lists the newest containers whatever their state (-1: no limit).
    let limit = query
        .number::<i64>("limit")?
        .and_then(|l| usize::try_from(l).ok())
        .filter(|l| *l > 0);
    let all = query.flag("all") || limit.is_some();
    let Some(filter) = filter else {
        return Ok(Json(Vec::new()));
    };
    let mut infos = engine.list_filtered(all, &filter)?;
    // Newest first, as Docker lists them.
    infos.reverse();
    if let Some(limit) = limit {
        infos.truncate(limit);
    }
    Ok(Json(infos.iter().map(container_summary).collect()))
}

/// Docker's `ps` filters as the engine's; `None` when the statuses asked for are all Docker's
/// that no Conti container has (`paused`, `restarting`, `removing`, `dead`).
fn container_filter(filters: &Filters) -> DockerResult<Option<ContainerFilter>> {
    filters.only(&[
        "status", "name", "id", "label", "ancestor", "network", "volume", "exited", "before",
        "since",
    ])?;
    let mut states = Vec::new();
    for status in filters.values("status") {
        // Serde's names are the states' (`created`, `running`, `exited`, …).
        match serde_json::from_value::<ContainerState>(json!(status)).ok() {
            Some(state) => states.push(state),
            None if ["paused", "restarting", "removing", "dead"].contains(&status.as_str()) => {}
            None => {
                return Err(DockerError::bad_request(format!(
                    "invalid filter 'status={status}'"
                )));
            }
        }
    }
    if states.is_empty() && !filters.values("status").is_empty() {
        return Ok(None);
    }
    let exit_codes = filters
        .values("exited")
        .iter()
        .map(|code| {
            code.parse::<i32>()
                .map_err(|_| DockerError::bad_request(format!("invalid filter 'exited={code}'")))
        })
        .collect::<Result<_, _>>()?;
    let one = |name: &str| match filters.values(name) {
        [] => Ok(None),
        [value] => Ok(Some(value.clone())),
        _ => Err(DockerError::bad_request(format!(
            "more than one {name} filter"
        ))),
    };
    Ok(Some(ContainerFilter {
        labels: filters
            .values("label")
            .iter()
            .map(|l| LabelFilter::parse(l))
            .collect(),
        names: filters
            .values("name")
            .iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect(),
        ids: filters.values("id").to_vec(),
        states,
        ancestors: filters.values("ancestor").to_vec(),
        networks: filters.values("network").to_vec(),
        volumes: filters.values("volume").to_vec(),
        exit_codes,
        before: one("before")?,
        since: one("since")?,
    }))
}

pub async fn inspect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> DockerResult<Json<ContainerInspectResponse>> {
    Ok(Json(container_inspect(&engine.get(&id)?)))
}

/// 204, or 304 when it runs already.
pub async fn start(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> DockerResult<StatusCode> {
    match engine.start(&id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::ContainerRunning(_)) => Ok(StatusCode::NOT_MODIFIED),
        Err(err) => Err(err.into()),
    }
}

/// `t`: seconds before SIGKILL (-1: as long as Conti allows, a day); absent: the container's
/// stop timeout.
fn grace(query: &DockerQuery) -> DockerResult<Option<Duration>> {
    Ok(query.number::<i64>("t")?.map(|secs| {
        let secs = u64::try_from(secs).unwrap_or(MAX_STOP_TIMEOUT_SECS);
        Duration::from_secs(secs.min(MAX_STOP_TIMEOUT_SECS))
    }))
}

/// 204, or 304 when it does not run.
pub async fn stop(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    let timeout = grace(&query)?;
    if !engine
        .get(&id)?
        .state
        .eq(&conti_proto::ContainerState::Running)
    {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    engine.stop(&id, timeout).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restart(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    let timeout = grace(&query)?;
    engine.stop(&id, timeout).await?;
    engine.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    let signal = query.text("signal").unwrap_or("SIGKILL");
    match engine.kill(&id, signal) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::ContainerNotRunning(_)) => Err(DockerError::new(
            StatusCode::CONFLICT,
            format!("Cannot kill container: {id}: Container {id} is not running"),
        )),
        Err(err) => Err(err.into()),
    }
}

/// The wait is in place when the headers go out (the CLI starts the container after them); the
/// body, `{"StatusCode": N}`, follows at the exit.
pub async fn wait(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<Response> {
    let condition = match query.text("condition").unwrap_or("not-running") {
        "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(DockerError::bad_request(format!(
                "invalid condition: {other:?} (not-running, next-exit, removed)"
            )));
        }
    };
    let waiter = engine.waiter(&id, condition)?;
    let body = futures_util::stream::once(async move {
        let answer = match waiter.wait().await {
            Ok(code) => json!({ "StatusCode": code, "Error": null }),
            Err(err) => json!({ "StatusCode": -1, "Error": { "Message": err.to_string() } }),
        };
        Ok::<_, Infallible>(Bytes::from(answer.to_string() + "\n"))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

pub async fn remove(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    if query.flag("link") {
        return Err(DockerError::bad_request("links are not supported"));
    }
    match engine
        .delete(&id, query.flag("force"), query.flag("v"))
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::ContainerRunning(_)) => Err(DockerError::new(
            StatusCode::CONFLICT,
            format!(
                "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
            ),
        )),
        Err(err) => Err(err.into()),
    }
}

pub async fn logs(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<Response> {
    let streams = LogStreams {
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
    };
    if !streams.stdout && !streams.stderr {
        return Err(DockerError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match query.text("tail") {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| DockerError::bad_request(format!("invalid value for tail: {n:?}")))?,
        ),
    };
    // Docker: a negative tail is all of it.
    let tail = tail.and_then(|n| usize::try_from(n).ok());
    // Docker sends 0 for "no bound".
    let bound = |name| query.text(name).filter(|v| *v != "0");
    let window = TimeWindow::parse(bound("since"), bound("until"))?;
    let tty = engine.get(&id)?.tty;
    let follower = engine.logs(&id, query.flag("follow"), tail, window)?;
    let (format, content_type) = if tty {
        (LogFormat::Text, "application/vnd.docker.raw-stream")
    } else {
        (
            LogFormat::Multiplexed,
            "application/vnd.docker.multiplexed-stream",
        )
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        log_body(follower, format, query.flag("timestamps"), streams),
    )
        .into_response())
}

/// The hijacked stream of `docker run` and `docker attach`: stdin in, output out (raw with a
/// tty, else in 8-byte-header frames).
pub async fn attach(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
    request: Request,
) -> DockerResult<Response> {
    require_upgrade(&request)?;
    if query.flag("logs") {
        return Err(DockerError::bad_request(
            "attach with logs=1 is not supported: read the logs route first",
        ));
    }
    let options = AttachOptions {
        stdin: query.flag("stdin"),
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
        detach_keys: detach_keys(query.text("detachKeys"))?,
    };
    let session = engine.attach(&id, options).await?;
    let tty = session.tty;
    let socket = request
        .extensions()
        .get::<ConnectInfo<ClientSocket>>()
        .map(|info| info.0);
    Ok(upgrade(request, tty, move |io| async move {
        session.pump(io, socket).await
    })?)
}

pub async fn resize(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    engine.resize(&id, query.window_size()?).await?;
    Ok(StatusCode::OK)
}

/// Deletes every container that does not run (Docker's `until` and `label` filters).
pub async fn prune(
    State(engine): State<Engine>,
    query: DockerQuery,
) -> DockerResult<Json<serde_json::Value>> {
    let report = engine
        .prune_containers(&query.filters()?.prune_filter()?)
        .await?;
    let deleted: Vec<String> = report.deleted.iter().map(|id| docker_id(id)).collect();
    Ok(Json(
        json!({ "ContainersDeleted": deleted, "SpaceReclaimed": report.space_reclaimed }),
    ))
}

pub async fn rename(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<StatusCode> {
    let name = query
        .text("name")
        .ok_or_else(|| DockerError::bad_request("name is required"))?;
    match engine.rename(&id, name.trim_start_matches('/')).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::NameInUse(name)) => Err(DockerError::new(
            StatusCode::CONFLICT,
            format!("Conflict. The container name \"/{name}\" is already in use"),
        )),
        Err(err) => Err(err.into()),
    }
}
