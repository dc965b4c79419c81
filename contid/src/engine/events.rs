//! Container events: what happened to which container, when. The engine emits them from its
//! operations; `GET /v1/events` streams them.
//!
//! The bus keeps the last [`EVENT_HISTORY`] events in a ring for `since` replays and broadcasts
//! each new one. Both happen under one lock, with the event's time taken there too, so that a
//! subscriber gets the replay and then the live events with no gap, no duplicate, and in the
//! order of their times.
//!
//! Emitting never waits for subscribers: a subscriber that falls more than
//! [`EVENT_HISTORY`] events behind (a client that does not read) loses its place, and its
//! stream ends with [`EventsLost`]; it can reconnect with `since` to catch up from the ring.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use conti_proto::{Event, EventType, HealthStatus};
use nix::sys::signal::Signal;
use tokio::sync::{broadcast, watch};

use super::Engine;
use super::time_window::TimeWindow;

/// How many past events `since` can replay, and how far behind a subscriber may fall.
pub const EVENT_HISTORY: usize = 1024;

/// The optional parts of an event.
#[derive(Debug, Clone, Default)]
pub struct EventDetails {
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub exec_id: Option<String>,
    pub old_name: Option<String>,
    pub restart_count: Option<u32>,
    pub health_status: Option<HealthStatus>,
}

impl EventDetails {
    pub fn exit(exit_code: i32, signal: Option<i32>) -> Self {
        EventDetails {
            exit_code: Some(exit_code),
            signal: signal.and_then(signal_name),
            ..Default::default()
        }
    }

    pub fn signal(signal: Signal) -> Self {
        EventDetails {
            signal: Some(signal.as_str().to_string()),
            ..Default::default()
        }
    }

    pub fn exec(exec_id: Option<&str>) -> Self {
        EventDetails {
            exec_id: exec_id.map(str::to_string),
            ..Default::default()
        }
    }

    pub fn exec_exit(exec_id: Option<&str>, exit_code: i32) -> Self {
        EventDetails {
            exit_code: Some(exit_code),
            ..EventDetails::exec(exec_id)
        }
    }

    /// A restart by the restart policy, the `count`th.
    pub fn restart(count: u32) -> Self {
        EventDetails {
            restart_count: Some(count),
            ..Default::default()
        }
    }

    pub fn health(status: HealthStatus) -> Self {
        EventDetails {
            health_status: Some(status),
            ..Default::default()
        }
    }
}

fn signal_name(number: i32) -> Option<String> {
    Signal::try_from(number)
        .ok()
        .map(|signal| signal.as_str().to_string())
}

/// An event with its time as a value, to compare against a window without parsing.
#[derive(Debug, Clone)]
struct Stamped {
    at: SystemTime,
    event: Event,
}

pub struct EventBus {
    history: Mutex<VecDeque<Stamped>>,
    live: broadcast::Sender<Stamped>,
    /// Set when the daemon shuts down: every stream ends.
    closed: watch::Sender<bool>,
    /// How many events of each type were emitted since the daemon started (the metrics).
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        EventBus {
            history: Mutex::new(VecDeque::with_capacity(EVENT_HISTORY)),
            live: broadcast::channel(EVENT_HISTORY).0,
            closed: watch::channel(false).0,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Events emitted since the daemon started, by type (`die`, `oom`, `exec_start`…).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn history(&self) -> MutexGuard<'_, VecDeque<Stamped>> {
        // Every critical section pushes or copies whole events: a panic leaves it consistent.
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stamps the event with the current time and publishes it to the ring and the live
    /// subscribers.
    pub fn emit(
        &self,
        kind: EventType,
        container_id: &str,
        container_name: &str,
        details: EventDetails,
    ) {
        let mut history = self.history();
        // Never before the previous event, even if the clock steps back.
        let now = SystemTime::now();
        let at = history.back().map_or(now, |last| now.max(last.at));
        let stamped = Stamped {
            at,
            event: Event {
                time: humantime::format_rfc3339_nanos(at).to_string(),
                kind,
                container_id: container_id.to_string(),
                container_name: container_name.to_string(),
                exit_code: details.exit_code,
                signal: details.signal,
                exec_id: details.exec_id,
                old_name: details.old_name,
                restart_count: details.restart_count,
                health_status: details.health_status,
            },
        };
        tracing::debug!(event = kind.as_str(), container = %container_id, "event");
        *self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(kind.as_str())
            .or_default() += 1;
        if history.len() == EVENT_HISTORY {
            history.pop_front();
        }
        history.push_back(stamped.clone());
        // An error only means that nobody listens.
        let _ = self.live.send(stamped);
    }

    /// Events in `window`: the remembered ones from `since` on (when `since` is given), then new
    /// ones as they happen, until `until` has passed or the daemon shuts down.
    pub fn subscribe(&self, window: TimeWindow) -> EventStream {
        let history = self.history();
        let live = self.live.subscribe();
        let replay = match window.since {
            Some(_) => history
                .iter()
                .filter(|stamped| window.contains(stamped.at))
                .cloned()
                .collect(),
            None => VecDeque::new(),
        };
        drop(history);
        EventStream {
            replay,
            live,
            window,
            closed: self.closed.subscribe(),
            done: false,
        }
    }

    /// Ends every stream (the daemon is shutting down).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// A subscriber fell too far behind and missed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{missed} events were missed because the client did not read fast enough; reconnect with since= to catch up"
)]
pub struct EventsLost {
    pub missed: u64,
}

pub struct EventStream {
    replay: VecDeque<Stamped>,
    live: broadcast::Receiver<Stamped>,
    window: TimeWindow,
    closed: watch::Receiver<bool>,
    done: bool,
}

impl EventStream {
    /// The next event; `None` at the end of the window or when the daemon shuts down. After an
    /// `Err`, the stream has ended.
    pub async fn next(&mut self) -> Option<Result<Event, EventsLost>> {
        if self.done {
            return None;
        }
        if let Some(stamped) = self.replay.pop_front() {
            return Some(Ok(stamped.event));
        }
        let result = self.next_live().await;
        self.done = !matches!(result, Some(Ok(_)));
        result
    }

    async fn next_live(&mut self) -> Option<Result<Event, EventsLost>> {
        let until = self.window.until;
        let until_passed = async {
            match until {
                Some(until) => {
                    let left = until.duration_since(SystemTime::now()).unwrap_or_default();
                    tokio::time::sleep(left).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until_passed);
        loop {
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(stamped) if self.window.is_past_until(stamped.at) => return None,
                    Ok(stamped) if self.window.contains(stamped.at) => return Some(Ok(stamped.event)),
                    // Before a `since` in the future.
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        return Some(Err(EventsLost { missed }));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = &mut until_passed => return None,
                _ = self.closed.wait_for(|closed| *closed) => return None,
            }
        }
    }
}

impl Engine {
    /// The engine's event bus (for the events route, and for emitting with a known name).
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// Emits an event about container `id`, named as the table knows it. Must not be called
    /// with the table locked.
    pub fn emit(&self, kind: EventType, id: &str, details: EventDetails) {
        let name = self
            .table()
            .entries
            .get(id)
            .map(|entry| entry.container.config.name.clone())
            .unwrap_or_default();
        self.events().emit(kind, id, &name, details);
    }

    /// Emits an event about container `id` whose name the caller knows (it may hold the table).
    pub fn emit_named(&self, kind: EventType, id: &str, name: &str, details: EventDetails) {
        self.events().emit(kind, id, name, details);
    }

    /// A client attached to container `id` (or to its exec `exec_id`).
    pub fn emit_attach(&self, id: &str, exec_id: Option<&str>) {
        self.emit(EventType::Attach, id, EventDetails::exec(exec_id));
    }

    /// An attached client of container `id` (or of its exec `exec_id`) went away.
    pub fn emit_detach(&self, id: &str, exec_id: Option<&str>) {
        self.emit(EventType::Detach, id, EventDetails::exec(exec_id));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn kinds(events: &[Event]) -> Vec<EventType> {
        events.iter().map(|e| e.kind).collect()
    }

    async fn collect(stream: &mut EventStream, n: usize) -> Vec<Event> {
        let mut events = Vec::new();
        for _ in 0..n {
            let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .expect("an event in time");
            events.push(next.expect("an event").expect("no loss"));
        }
        events
    }

    #[tokio::test]
    async fn since_replays_then_streams_live_events_in_order() {
        let bus = EventBus::new();
        bus.emit(EventType::Create, "a", "web", EventDetails::default());
        bus.emit(EventType::Start, "a", "web", EventDetails::default());
        let everything = TimeWindow {
            since: Some(SystemTime::UNIX_EPOCH),
            until: None,
        };
        let mut replaying = bus.subscribe(everything);
        let mut live_only = bus.subscribe(TimeWindow::default());
        bus.emit(
            EventType::Die,
            "a",
            "web",
            EventDetails::exit(143, Some(15)),
        );
        let events = collect(&mut replaying, 3).await;
        assert_eq!(
            kinds(&events),
            [EventType::Create, EventType::Start, EventType::Die]
        );
        assert!(events.windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(events[2].exit_code, Some(143));
        assert_eq!(events[2].signal.as_deref(), Some("SIGTERM"));
        assert_eq!(events[2].container_name, "web");
        assert_eq!(kinds(&collect(&mut live_only, 1).await), [EventType::Die]);
    }

    #[tokio::test]
    async fn until_in_the_past_ends_after_the_replay() {
        let bus = EventBus::new();
        bus.emit(EventType::Create, "a", "web", EventDetails::default());
        let now = SystemTime::now();
        let mut stream = bus.subscribe(TimeWindow {
            since: Some(SystemTime::UNIX_EPOCH),
            until: Some(now),
        });
        bus.emit(EventType::Start, "a", "web", EventDetails::default());
        assert_eq!(kinds(&collect(&mut stream, 1).await), [EventType::Create]);
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    }

    #[tokio::test]
    async fn until_in_the_future_ends_the_stream_when_it_passes() {
        let bus = EventBus::new();
        let mut stream = bus.subscribe(TimeWindow {
            since: None,
            until: Some(SystemTime::now() + Duration::from_millis(100)),
        });
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_and_ended() {
        let bus = EventBus::new();
        let mut stream = bus.subscribe(TimeWindow::default());
        for _ in 0..EVENT_HISTORY + 10 {
            bus.emit(
                EventType::Kill,
                "a",
                "web",
                EventDetails::signal(Signal::SIGHUP),
            );
        }
        assert_eq!(stream.next().await, Some(Err(EventsLost { missed: 10 })));
        assert_eq!(stream.next().await, None);
        // The ring keeps the last EVENT_HISTORY for a replay.
        let mut replay = bus.subscribe(TimeWindow {
            since: Some(SystemTime::UNIX_EPOCH),
            until: Some(SystemTime::now()),
        });
        assert_eq!(
            collect(&mut replay, EVENT_HISTORY).await.len(),
            EVENT_HISTORY
        );
        assert_eq!(replay.next().await, None);
    }

    #[tokio::test]
    async fn closing_the_bus_ends_the_streams() {
        let bus = EventBus::new();
        let mut stream = bus.subscribe(TimeWindow::default());
        bus.close();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "{end:?}");
    }
}
