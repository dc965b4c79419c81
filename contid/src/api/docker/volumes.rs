//! `/volumes/…`: Conti's named volumes in Docker's shape (driver `local`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use conti_proto::{VolumeCreateSpec, VolumeInfo};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{DockerError, DockerResult};
use super::query::{DockerQuery, json_body, only_driver};
use crate::engine::{Engine, EngineError, LabelFilter};

pub(super) fn volume_json(volume: &VolumeInfo) -> Value {
    json!({
        "Name": volume.name,
        "Driver": "local",
        "Mountpoint": volume.mountpoint,
        "CreatedAt": volume.created,
        "Labels": volume.labels,
        "Scope": "local",
        "Options": {},
        "UsageData": { "Size": -1, "RefCount": volume.in_use_by.len() },
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    driver_opts: HashMap<String, String>,
    #[serde(default)]
    labels: HashMap<String, String>,
}

pub async fn create(
    State(engine): State<Engine>,
    body: Bytes,
) -> DockerResult<(StatusCode, Json<Value>)> {
    let body: CreateBody = json_body(&body)?;
    only_driver(body.driver.as_deref(), "local", "volume")?;
    if !body.driver_opts.is_empty() {
        return Err(DockerError::bad_request(
            "DriverOpts is not supported: Conti's volumes are folders under its root",
        ));
    }
    let spec = VolumeCreateSpec {
        name: body.name.filter(|n| !n.is_empty()),
        labels: body.labels.into_iter().collect(),
    };
    match engine.create_volume(spec).await {
        Ok((volume, _)) => Ok((StatusCode::CREATED, Json(volume_json(&volume)))),
        Err(EngineError::VolumeExists(message)) => {
            Err(DockerError::new(StatusCode::CONFLICT, message))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn list(State(engine): State<Engine>, query: DockerQuery) -> DockerResult<Json<Value>> {
    let filters = query.filters()?;
    filters.only(&["name", "label", "dangling", "driver"])?;
    let volumes: Vec<Value> = engine
        .list_volumes(&[])
        .iter()
        .filter(|v| {
            filters.any("name", |n| v.name.contains(n))
                && filters.labels(&v.labels)
                && filters.any("driver", |d| d == "local")
                && filters.any("dangling", |d| {
                    (d == "true" || d == "1") == v.in_use_by.is_empty()
                })
        })
        .map(volume_json)
        .collect();
    Ok(Json(json!({ "Volumes": volumes, "Warnings": [] })))
}

pub async fn inspect(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> DockerResult<Json<Value>> {
    Ok(Json(volume_json(&engine.inspect_volume(&name)?)))
}

pub async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> DockerResult<StatusCode> {
    match engine.delete_volume(&name).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::VolumeInUse(message)) => {
            Err(DockerError::new(StatusCode::CONFLICT, message))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn prune(State(engine): State<Engine>, query: DockerQuery) -> DockerResult<Json<Value>> {
    let filters = query.filters()?;
    filters.only(&["label", "all"])?;
    let labels: Vec<LabelFilter> = filters
        .values("label")
        .iter()
        .map(|l| LabelFilter::parse(l))
        .collect();
    let report = engine.prune_volumes(&labels).await?;
    Ok(Json(json!({
        "VolumesDeleted": report.deleted,
        "SpaceReclaimed": report.space_reclaimed,
    })))
}
