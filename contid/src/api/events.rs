//! `/v1/events`: what happens to containers, as newline-delimited JSON.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use conti_proto::{ErrorBody, Event};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiQuery};
use super::json_line;
use crate::engine::{Engine, EventStream, TimeWindow};

/// Error code of the last line of a stream whose client fell too far behind.
pub const EVENTS_LOST: &str = "events_lost";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// First replay the remembered events (the last 1024) from this time on: RFC 3339, Unix
    /// seconds, or a duration ago (`10m`). Without it, only new events are sent.
    #[param(min_length = 1)]
    since: Option<String>,
    /// End the stream at this time (same forms); one in the past ends it after the replay.
    #[param(min_length = 1)]
    until: Option<String>,
}

/// Streams events as they happen, one `Event` per line, until `until` or until the daemon
/// stops. A client that does not read falls behind: once 1024 events behind, its stream ends
/// with one `ErrorBody` line, code `events_lost` (reconnect with `since` to catch up).
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsParams),
    responses((status = 200, description = "One Event per line; the last line may be an ErrorBody (`events_lost`)",
            body = Event, content_type = "application/x-ndjson")))]
pub async fn stream_events(
    State(engine): State<Engine>,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> Result<Response, ApiError> {
    let window = TimeWindow::parse(params.since.as_deref(), params.until.as_deref())?;
    let events = engine.events().subscribe(window);
    let stream = futures_util::stream::unfold(events, |mut events: EventStream| async move {
        let line = match events.next().await? {
            Ok(event) => json_line(&event),
            Err(lost) => json_line(&ErrorBody {
                code: EVENTS_LOST.to_string(),
                message: lost.to_string(),
            }),
        };
        Some((Ok::<Bytes, Infallible>(line), events))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
