//! `/images/…`: pull (`create`), list, inspect, history, tag, delete, load, save (`get`) and
//! prune, on the image store. Names hold slashes, so the routes under `/images/{name}` take the
//! rest of the path and tell the verb by its last segment.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{
    CreateImageInfo, ErrorDetail, HistoryResponseItem, ImageSummary, ProgressDetail,
};
use conti_proto::PullEvent;
use serde_json::json;

use super::error::{DockerError, DockerResult};
use super::query::DockerQuery;
use super::shapes::{image_inspect, image_summary};
use crate::api::images::registry_auth;
use crate::api::json_line;
use crate::engine::Engine;

/// `POST /images/create?fromImage=NAME&tag=TAG`: a pull, its progress in Docker's JSON messages.
pub async fn create(
    State(engine): State<Engine>,
    query: DockerQuery,
    headers: HeaderMap,
) -> DockerResult<Response> {
    if query.text("fromSrc").is_some() {
        return Err(DockerError::bad_request(
            "docker import (fromSrc) is not supported on this route: use conti-cli image import",
        ));
    }
    let image = query
        .text("fromImage")
        .ok_or_else(|| DockerError::bad_request("fromImage is required"))?;
    let reference = match query.text("tag") {
        Some(tag) if tag.starts_with("sha256:") => format!("{image}@{tag}"),
        Some(tag) if !image.contains('@') => format!("{image}:{tag}"),
        _ => image.to_string(),
    };
    let credentials = registry_auth(&headers)?;
    let events = engine
        .pull_image(&reference, query.text("platform"), credentials)
        .await?;
    let progress = PullProgress {
        tag: query.text("tag").unwrap_or("latest").to_string(),
        downloaded: false,
    };
    let stream = futures_util::stream::unfold(
        (events, progress, false),
        |(mut events, mut progress, ended)| async move {
            if ended {
                return None;
            }
            let (messages, ended) = match events.recv().await? {
                Ok(event) => {
                    let end = matches!(event, PullEvent::Done { .. } | PullEvent::Error { .. });
                    (progress.messages(event), end)
                }
                Err(err) => (vec![error_message(&DockerError::from(err).message)], true),
            };
            let bytes: Vec<u8> = messages
                .iter()
                .flat_map(|m| json_line(m).to_vec())
                .collect();
            Some((
                Ok::<Bytes, Infallible>(Bytes::from(bytes)),
                (events, progress, ended),
            ))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn message(status: impl Into<String>, id: Option<&str>) -> CreateImageInfo {
    CreateImageInfo {
        status: Some(status.into()),
        id: id.map(str::to_string),
        progress_detail: id.map(|_| ProgressDetail::default()),
        ..Default::default()
    }
}

fn error_message(text: &str) -> CreateImageInfo {
    CreateImageInfo {
        error: Some(text.to_string()),
        error_detail: Some(ErrorDetail {
            message: Some(text.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Turns Conti's pull events into the messages `docker pull` draws its bars from.
struct PullProgress {
    tag: String,
    downloaded: bool,
}

impl PullProgress {
    fn messages(&mut self, event: PullEvent) -> Vec<CreateImageInfo> {
        let short = |digest: &str| {
            let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
            hex[..hex.len().min(12)].to_string()
        };
        match event {
            PullEvent::Resolved { reference, .. } => {
                let repo = reference
                    .split_once('@')
                    .map_or(reference.as_str(), |(r, _)| r);
                let repo = repo.rsplit_once(':').filter(|(_, t)| !t.contains('/'));
                let repo = repo.map_or(reference.as_str(), |(r, _)| r);
                // Docker names the repository's path, without its registry.
                let path = match repo.split_once('/') {
                    Some((domain, path))
                        if domain.contains(['.', ':']) || domain == "localhost" =>
                    {
                        path
                    }
                    _ => repo,
                };
                vec![message(format!("Pulling from {path}"), Some(&self.tag))]
            }
            PullEvent::Waiting { layer } => vec![message("Pulling fs layer", Some(&short(&layer)))],
            PullEvent::Exists { layer } => vec![message("Already exists", Some(&short(&layer)))],
            PullEvent::Downloading {
                layer,
                current,
                total,
            } => {
                self.downloaded = true;
                vec![CreateImageInfo {
                    status: Some("Downloading".to_string()),
                    id: Some(short(&layer)),
                    progress_detail: Some(ProgressDetail {
                        current: Some(current as i64),
                        total: Some(total as i64),
                    }),
                    ..Default::default()
                }]
            }
            PullEvent::Verifying { layer } => {
                vec![message("Verifying Checksum", Some(&short(&layer)))]
            }
            PullEvent::Extracting { layer } => vec![
                message("Download complete", Some(&short(&layer))),
                message("Extracting", Some(&short(&layer))),
            ],
            PullEvent::LayerDone { layer } => vec![message("Pull complete", Some(&short(&layer)))],
            PullEvent::Done {
                reference, digest, ..
            } => {
                let status = if self.downloaded {
                    format!("Status: Downloaded newer image for {reference}")
                } else {
                    format!("Status: Image is up to date for {reference}")
                };
                vec![
                    message(format!("Digest: {digest}"), None),
                    message(status, None),
                ]
            }
            PullEvent::Error { message, .. } => vec![error_message(&message)],
        }
    }
}

pub async fn list(
    State(engine): State<Engine>,
    query: DockerQuery,
) -> DockerResult<Json<Vec<ImageSummary>>> {
    let filters = query.filters()?;
    filters.only(&["dangling", "reference", "label"])?;
    let images = engine.images();
    Ok(Json(
        images
            .iter()
            .filter(|image| {
                let dangling = image.repo_tags.is_empty();
                filters.any("dangling", |d| (d == "true" || d == "1") == dangling)
                    && filters.any("reference", |r| {
                        image
                            .repo_tags
                            .iter()
                            .any(|t| t == r || t.split_once(':').is_some_and(|(repo, _)| repo == r))
                    })
                    && filters.any("label", |l| {
                        let (key, value) = l.split_once('=').unwrap_or((l, ""));
                        image
                            .config
                            .labels
                            .get(key)
                            .is_some_and(|v| value.is_empty() || v == value)
                    })
            })
            .map(|image| image_summary(image, -1))
            .collect(),
    ))
}

/// `GET /images/{name}/json`, `/history`, `/get`.
pub async fn get_by_name(
    State(engine): State<Engine>,
    Path(rest): Path<String>,
) -> DockerResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        return Ok(Json(image_inspect(&engine.image(name)?)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let history: Vec<HistoryResponseItem> = engine
            .image_history(name)?
            .into_iter()
            .map(|h| HistoryResponseItem {
                id: "<missing>".to_string(),
                created: h
                    .created
                    .as_deref()
                    .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs() as i64),
                created_by: h.created_by,
                tags: Vec::new(),
                size: h.size as i64,
                comment: h.comment,
            })
            .collect();
        return Ok(Json(history).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(&engine, name);
    }
    Err(DockerError::not_found("page not found"))
}

fn save(engine: &Engine, name: &str) -> DockerResult<Response> {
    let stream = engine.save_image(name)?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /images/get?names=NAME`: one image (Conti's archives hold one).
pub async fn get_many(State(engine): State<Engine>, query: DockerQuery) -> DockerResult<Response> {
    let name = query
        .text("names")
        .ok_or_else(|| DockerError::bad_request("names is required"))?;
    save(&engine, name)
}

/// `POST /images/{name}/tag?repo=&tag=` (and `/push`, refused).
pub async fn post_by_name(
    State(engine): State<Engine>,
    Path(rest): Path<String>,
    query: DockerQuery,
) -> DockerResult<Response> {
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = query
            .text("repo")
            .ok_or_else(|| DockerError::bad_request("repo is required"))?;
        let target = match query.text("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        };
        engine.tag_image(name, &target).await?;
        return Ok(axum::http::StatusCode::CREATED.into_response());
    }
    if rest.ends_with("/push") {
        return Err(DockerError::bad_request("push is not supported by Conti"));
    }
    Err(DockerError::not_found("page not found"))
}

/// `DELETE /images/{name}`: the tag, and the image with its last one.
pub async fn delete(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> DockerResult<Json<serde_json::Value>> {
    let before = engine.image(&name)?;
    engine.delete_image(&name).await?;
    let mut items = Vec::new();
    let by_id = before.id == name || before.id.trim_start_matches("sha256:").starts_with(&name);
    if by_id {
        items.extend(before.repo_tags.iter().map(|t| json!({ "Untagged": t })));
    } else {
        items.push(json!({ "Untagged": name }));
    }
    if engine.image(&before.id).is_err() {
        items.push(json!({ "Deleted": before.id }));
    }
    Ok(Json(serde_json::Value::Array(items)))
}

/// `POST /images/load`: the loaded images, as `docker load` prints them.
pub async fn load(State(engine): State<Engine>, body: Body) -> DockerResult<Response> {
    let images = engine.load_images(body.into_data_stream()).await?;
    let lines: Vec<u8> = images
        .iter()
        .flat_map(|image| {
            let names = if image.repo_tags.is_empty() {
                vec![format!("Loaded image ID: {}", image.id)]
            } else {
                image
                    .repo_tags
                    .iter()
                    .map(|t| format!("Loaded image: {t}"))
                    .collect()
            };
            names
                .into_iter()
                .flat_map(|line| json_line(&json!({ "stream": line + "\n" })).to_vec())
                .collect::<Vec<u8>>()
        })
        .collect();
    Ok(([(header::CONTENT_TYPE, "application/json")], lines).into_response())
}

pub async fn prune(
    State(engine): State<Engine>,
    query: DockerQuery,
) -> DockerResult<Json<serde_json::Value>> {
    let filters = query.filters()?;
    filters.only(&["dangling"])?;
    // `dangling=false` is `docker image prune -a`.
    let all = !filters.any("dangling", |d| d == "true" || d == "1");
    let report = engine.prune_images(all).await?;
    Ok(Json(json!({
        "ImagesDeleted": report.deleted.iter().map(|id| json!({ "Deleted": id })).collect::<Vec<_>>(),
        "SpaceReclaimed": report.space_reclaimed,
    })))
}
