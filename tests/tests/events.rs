//! `GET /v1/events` and `conti-cli events`: what happens to containers, in order, live or replayed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conti_proto::{Event, EventType};
use conti_tests::cli::stdout;
use conti_tests::{Daemon, LogStream, cli, sh, spec};

/// Now as Unix seconds with nanoseconds, one of the forms `since` and `until` take.
fn unix_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

fn parse_events(text: &str) -> Vec<Event> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// The next `n` events of a live stream.
#[track_caller]
fn next_events(stream: &mut LogStream, n: usize) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let line = stream
                .next_line()
                .expect("reading the event stream")
                .expect("the event stream ended early");
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
        })
        .collect()
}

fn kinds(events: &[Event]) -> Vec<EventType> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn a_lifecycle_streams_create_start_die_destroy_in_order_and_since_replays_it() {
    let d = Daemon::start_with_busybox();
    let before = unix_now();
    let mut stream = d.client().stream("/v1/events");
    assert_eq!(stream.status, 200);
    let mut s = sh("exit 3");
    s.name = Some("lifecycle".to_string());
    let id = d.create(&s);
    d.start_container(&id);
    assert_eq!(d.wait(&id), 3);
    d.remove(&id);

    let live = next_events(&mut stream, 4);
    assert_eq!(
        kinds(&live),
        [
            EventType::Create,
            EventType::Start,
            EventType::Die,
            EventType::Destroy
        ]
    );
    for event in &live {
        assert_eq!(
            (event.container_id.as_str(), event.container_name.as_str()),
            (id.as_str(), "lifecycle"),
            "{event:?}"
        );
    }
    assert_eq!(live[2].exit_code, Some(3));
    assert_eq!(live[2].signal, None);
    assert!(live.windows(2).all(|w| w[0].time < w[1].time), "{live:?}");
    assert!(live[0].time.ends_with('Z') && live[0].time.contains('T'));

    // Replayed from the daemon's memory, `until` ending the answer.
    let resp = d.get(&format!("/v1/events?since={before}&until={}", unix_now()));
    resp.expect_status(200);
    assert_eq!(resp.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(parse_events(&resp.text()), live);
    // `since` by RFC 3339, as the events print their times: the last two.
    let resp = d.get(&format!(
        "/v1/events?since={}&until={}",
        live[2].time,
        unix_now()
    ));
    assert_eq!(parse_events(&resp.text()), live[2..]);
    // A window with nothing in it.
    let later = unix_now();
    let resp = d.get(&format!("/v1/events?since={later}&until={later}"));
    assert_eq!(resp.text(), "");
}

#[test]
fn kill_and_stop_tell_their_signals() {
    let d = Daemon::start_with_busybox();
    let mut stream = d.client().stream("/v1/events");
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    // sleep as PID 1 has no handler: SIGHUP and SIGTERM are ignored, SIGKILL ends it.
    d.post(&format!("/v1/containers/{id}/kill?signal=HUP"), b"")
        .expect_status(204);
    d.stop(&id, 1);
    let events = next_events(&mut stream, 7);
    assert_eq!(
        kinds(&events),
        [
            EventType::Create,
            EventType::Start,
            EventType::Kill,
            EventType::Kill,
            EventType::Kill,
            EventType::Die,
            EventType::Stop
        ]
    );
    let signals: Vec<_> = events[2..5]
        .iter()
        .map(|e| e.signal.as_deref().unwrap())
        .collect();
    assert_eq!(signals, ["SIGHUP", "SIGTERM", "SIGKILL"]);
    assert_eq!(events[5].exit_code, Some(137));
    assert_eq!(events[5].signal.as_deref(), Some("SIGKILL"));
}

#[test]
fn a_buffered_exec_has_start_and_die_events() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let mut stream = d.client().stream("/v1/events");
    assert_eq!(d.exec(&id, &["sh", "-c", "exit 5"]).exit_code, 5);
    let events = next_events(&mut stream, 2);
    assert_eq!(kinds(&events), [EventType::ExecStart, EventType::ExecDie]);
    assert_eq!(events[1].exit_code, Some(5));
    assert!(events.iter().all(|e| e.container_id == id));
    d.remove(&id);
}

#[test]
fn attach_and_a_streaming_exec_have_their_events() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let mut stream = d.client().stream("/v1/events");
    // `exec -i` with stdin closed takes the streaming path.
    let out = cli(&d, &["exec", "-i", &id, "sh", "-c", "exit 6"]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let events = next_events(&mut stream, 2);
    assert_eq!(kinds(&events), [EventType::ExecStart, EventType::ExecDie]);
    assert_eq!(events[1].exit_code, Some(6));
    assert!(events[0].exec_id.is_some() && events[0].exec_id == events[1].exec_id);

    // An attach ends when the container does: attach, then detach, then die.
    let short = d.run_detached(&sh("sleep 1"));
    next_events(&mut stream, 2); // its create and start
    let out = cli(&d, &["attach", &short]);
    assert!(out.status.success(), "{out:?}");
    let events = next_events(&mut stream, 3);
    let mut seen = kinds(&events);
    seen.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(seen, [EventType::Attach, EventType::Detach, EventType::Die]);
    assert_eq!(events[0].kind, EventType::Attach);
    assert!(events.iter().all(|e| e.container_id == short));
    d.remove(&id);
}

#[test]
fn until_in_the_future_ends_the_stream_when_it_comes() {
    let d = Daemon::start_with_busybox();
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(1);
    let started = Instant::now();
    let resp = d.get(&format!("/v1/events?until={}", until.as_secs_f64()));
    resp.expect_status(200);
    assert_eq!(resp.text(), "");
    assert!(started.elapsed() < Duration::from_secs(5), "{started:?}");
}

#[test]
fn bad_times_are_invalid_arguments() {
    let d = Daemon::start();
    for query in [
        "since=garbage",
        "until=garbage",
        "since=1.2.3",
        "since=",
        "since=2000000000&until=1000000000",
    ] {
        let error = d
            .get(&format!("/v1/events?{query}"))
            .expect_error(400, "invalid_argument");
        assert!(
            error.message.contains("since") || error.message.contains("until"),
            "{query}: {}",
            error.message
        );
    }
    // The daemon still streams.
    d.get(&format!("/v1/events?since=0&until={}", unix_now()))
        .expect_status(200);
}

#[test]
fn a_daemon_stop_ends_event_streams_at_once() {
    let mut d = Daemon::start_with_busybox();
    let mut stream = d.client().stream("/v1/events");
    let started = Instant::now();
    d.restart();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "restart took {:?}: the event stream held up the shutdown",
        started.elapsed()
    );
    assert_eq!(stream.read_rest().unwrap(), "");
}

#[test]
fn cli_events_prints_one_line_per_event() {
    let d = Daemon::start_with_busybox();
    let before = unix_now();
    let mut s = sh("exit 2");
    s.name = Some("evcli".to_string());
    let (id, code, _) = d.run(&s);
    assert_eq!(code, 2);
    let until = unix_now();

    let out = cli(&d, &["events", "--since", &before, "--until", &until]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let expected = [
        format!(" container create evcli (id={id})"),
        format!(" container start evcli (id={id})"),
        format!(" container die evcli (id={id}, exit_code=2)"),
    ];
    for (line, end) in lines.iter().zip(&expected) {
        assert!(
            line.ends_with(end.as_str()),
            "{line:?} does not end with {end:?}"
        );
        assert!(
            line.starts_with("20"),
            "{line:?} does not start with the time"
        );
    }

    let out = cli(
        &d,
        &["--json", "events", "--since", &before, "--until", &until],
    );
    assert!(out.status.success(), "{out:?}");
    let events = parse_events(&stdout(&out));
    assert_eq!(
        kinds(&events),
        [EventType::Create, EventType::Start, EventType::Die]
    );

    let out = cli(&d, &["events", "--since", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        conti_tests::cli::stderr(&out).contains("invalid since"),
        "{out:?}"
    );
}
