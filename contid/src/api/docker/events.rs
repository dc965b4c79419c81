//! `GET /events`: the engine's events in Docker's message shape, with Docker's filters.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use conti_proto::Event;
use serde_json::json;

use super::error::DockerResult;
use super::query::{DockerQuery, Filters};
use super::shapes::docker_id;
use crate::api::json_line;
use crate::engine::{Engine, EventStream, TimeWindow};

pub async fn stream(State(engine): State<Engine>, query: DockerQuery) -> DockerResult<Response> {
    let filters = query.filters()?;
    filters.only(&["type", "event", "container", "image"])?;
    let window = TimeWindow::parse(query.text("since"), query.text("until"))?;
    let events = engine.events().subscribe(window);
    let stream = futures_util::stream::unfold(
        (events, filters, engine),
        |(mut events, filters, engine): (EventStream, Filters, Engine)| async move {
            let mut out = Vec::new();
            // Skips what the filters leave out; the stream ends with the engine's.
            while out.is_empty() {
                match events.next().await? {
                    Ok(event) => {
                        if wanted(&filters, &event, &engine) {
                            out = json_line(&message(&event, &engine)).to_vec();
                        }
                    }
                    Err(lost) => {
                        out = json_line(&json!({ "message": lost.to_string() })).to_vec();
                    }
                }
            }
            Some((
                Ok::<Bytes, Infallible>(Bytes::from(out)),
                (events, filters, engine),
            ))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn image_of(engine: &Engine, event: &Event) -> Option<String> {
    engine.get(&event.container_id).ok().map(|info| info.image)
}

fn wanted(filters: &Filters, event: &Event, engine: &Engine) -> bool {
    let id = docker_id(&event.container_id);
    filters.any("type", |t| t == "container")
        && filters.any("event", |e| e == event.kind.as_str())
        && filters.any("container", |c| {
            c == event.container_name || id.starts_with(c) || event.container_id == c
        })
        && filters.any("image", |i| image_of(engine, event).as_deref() == Some(i))
}

/// Docker's message: `Type`, `Action`, `Actor` (its id and attributes), times in seconds and
/// nanoseconds, and the older `status`/`id`/`from`.
fn message(event: &Event, engine: &Engine) -> serde_json::Value {
    let id = docker_id(&event.container_id);
    let mut attributes = HashMap::from([("name".to_string(), event.container_name.clone())]);
    let image = image_of(engine, event);
    if let Some(image) = &image {
        attributes.insert("image".to_string(), image.clone());
    }
    if let Some(code) = event.exit_code {
        attributes.insert("exitCode".to_string(), code.to_string());
    }
    if let Some(signal) = &event.signal {
        attributes.insert("signal".to_string(), signal.clone());
    }
    if let Some(exec) = &event.exec_id {
        attributes.insert("execID".to_string(), exec.clone());
    }
    let nanos = humantime::parse_rfc3339_weak(&event.time)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    json!({
        "status": event.kind.as_str(),
        "id": id,
        "from": image.unwrap_or_default(),
        "Type": "container",
        "Action": event.kind.as_str(),
        "Actor": { "ID": id, "Attributes": attributes },
        "scope": "local",
        "time": nanos / 1_000_000_000,
        "timeNano": nanos,
    })
}
