//! Who may use the socket (root and one group, checked on every connection), and request
//! hardening: slow and idle clients are disconnected, oversized heads refused, connections
//! capped without locking anyone out.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conti_tests::as_nobody::{NOBODY, curl_as_nobody};
use conti_tests::{Daemon, run_command, spec};

fn create_body() -> String {
    serde_json::to_string(&spec(&["true"])).unwrap()
}

#[test]
fn a_user_outside_root_and_the_group_gets_403_and_changes_nothing() {
    let d = Daemon::start_with_busybox();
    // As if an administrator had opened the socket to everyone: the daemon still says no.
    std::fs::set_permissions(d.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let (_, status, body) = curl_as_nobody(d.socket(), None, "GET", "/v1/containers", None);
    assert_eq!(status, "403", "{body}");
    assert!(body.contains(r#""code":"forbidden""#), "{body}");
    assert!(body.contains(&format!("uid {NOBODY}")), "{body}");
    let (_, status, _) = curl_as_nobody(
        d.socket(),
        None,
        "POST",
        "/v1/containers",
        Some(&create_body()),
    );
    assert_eq!(status, "403");
    let (_, status, _) = curl_as_nobody(d.socket(), None, "DELETE", "/v1/images/busybox", None);
    assert_eq!(status, "403");
    // Nothing changed.
    assert!(d.list_all().is_empty());
    assert_eq!(
        d.get("/v1/images")
            .json::<Vec<conti_tests::ImageInfo>>()
            .len(),
        1
    );
}

#[test]
fn the_socket_file_keeps_other_users_out_by_itself() {
    let d = Daemon::start();
    let meta = std::fs::metadata(d.socket()).unwrap();
    assert_eq!(meta.uid(), 0);
    assert_eq!(meta.mode() & 0o006, 0, "the socket is open to others");
    let (curl_code, status, _) = curl_as_nobody(d.socket(), None, "GET", "/v1/version", None);
    // 7: could not connect (EACCES on the socket file).
    assert_eq!((curl_code, status.as_str()), (7, "000"));
}

/// A group made for one test, deleted when dropped.
struct TestGroup {
    name: String,
    gid: u32,
}

impl TestGroup {
    fn create() -> TestGroup {
        let name = format!("ct{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let out = run_command(Command::new("groupadd").arg(&name), Duration::from_secs(20));
        assert!(out.status.success(), "groupadd: {out:?}");
        let gid = nix::unistd::Group::from_name(&name)
            .unwrap()
            .expect("the new group")
            .gid
            .as_raw();
        TestGroup { name, gid }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = run_command(
            Command::new("groupdel").arg(&self.name),
            Duration::from_secs(20),
        );
    }
}

#[test]
fn members_of_the_group_may_use_the_socket() {
    let group = TestGroup::create();
    let d = Daemon::start_with_busybox_and_args(&["--group", &group.name]);
    let meta = std::fs::metadata(d.socket()).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (0, group.gid, 0o660)
    );
    let (_, status, body) =
        curl_as_nobody(d.socket(), Some(group.gid), "GET", "/v1/containers", None);
    assert_eq!(status, "200", "{body}");
    let (_, status, body) = curl_as_nobody(
        d.socket(),
        Some(group.gid),
        "POST",
        "/v1/containers",
        Some(&create_body()),
    );
    assert_eq!(status, "201", "{body}");
    assert_eq!(d.list_all().len(), 1);
    // Without the group, the socket file already says no.
    let (curl_code, _, _) = curl_as_nobody(d.socket(), None, "GET", "/v1/version", None);
    assert_eq!(curl_code, 7);
}

#[test]
fn a_daemon_refuses_to_start_with_a_group_that_does_not_exist() {
    let mut d = Daemon::unstarted_with(conti_tests::DaemonOptions {
        extra_args: vec!["--group".into(), "no-such-group-conti".into()],
        ..conti_tests::DaemonOptions::for_tests()
    });
    let error = d.try_launch().unwrap_err();
    assert!(error.contains("no-such-group-conti"), "{error}");
}

/// Reads until the peer closes; how long that took (`None`: still open after `limit`).
fn time_until_closed(stream: &mut UnixStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn slow_and_idle_clients_are_disconnected_while_others_are_served() {
    let d = Daemon::start();
    let limit = Duration::from_secs(25);
    // Slowloris: a header line every second, never the end of the head.
    let socket = d.socket().to_path_buf();
    let slow = std::thread::spawn(move || {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(b"GET /v1/version HTTP/1.1\r\n").unwrap();
        let started = Instant::now();
        while started.elapsed() < limit {
            if stream.write_all(b"X-Slow: 1\r\n").is_err() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_secs(1));
            stream
                .set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
            if let Ok(0) = stream.read(&mut [0u8; 64]) {
                return Some(started.elapsed());
            }
        }
        None
    });
    let mut idle = UnixStream::connect(d.socket()).unwrap();
    // Meanwhile the daemon answers everyone else.
    d.get("/v1/version").expect_status(200);
    let idle_closed = time_until_closed(&mut idle, limit).expect("an idle connection stays open");
    let slow_closed = slow
        .join()
        .unwrap()
        .expect("a slowloris connection stays open");
    for closed in [idle_closed, slow_closed] {
        assert!(
            closed >= Duration::from_secs(8) && closed <= Duration::from_secs(15),
            "closed after {closed:?}, expected about 10 s"
        );
    }
}

#[test]
fn an_oversized_request_head_gets_431() {
    let d = Daemon::start();
    let mut stream = UnixStream::connect(d.socket()).unwrap();
    let big = "x".repeat(100 * 1024);
    let request = format!("GET /v1/version HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    // The daemon may answer and close before reading it all.
    let _ = stream.write_all(request.as_bytes());
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    d.get("/v1/version").expect_status(200);
}

#[test]
fn idle_connections_give_their_slot_to_a_newcomer() {
    let d = Daemon::start_with_busybox_and_args(&["--max-connections", "2"]);
    // The harness's own probe connections have been closed: wait until the slots are free.
    std::thread::sleep(Duration::from_millis(300));
    let mut first = UnixStream::connect(d.socket()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut second = UnixStream::connect(d.socket()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Both slots hold connections that wait for a request: the longest waiting gives way.
    d.get("/v1/version").expect_status(200);
    let first_closed = time_until_closed(&mut first, Duration::from_secs(2));
    assert!(
        first_closed.is_some(),
        "the longest idle connection was kept"
    );
    assert_eq!(
        time_until_closed(&mut second, Duration::from_secs(1)),
        None,
        "the other idle connection was closed too"
    );
}

/// Reads everything until the daemon closes the connection.
fn read_until_closed(stream: &mut UnixStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(read.is_ok(), "{read:?} after {answer:?}");
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_connection_over_the_cap_is_answered_503_when_all_are_serving() {
    let d = Daemon::start_with_busybox_and_args(&["--max-connections", "2"]);
    std::thread::sleep(Duration::from_millis(300));
    // Two streams serve as long as they last: they keep their slots.
    let mut kept = d.client().stream("/v1/events");
    let dropped = d.client().stream("/v1/events");
    // The answer comes without the request being read: a client that sends nothing gets it.
    let mut silent = UnixStream::connect(d.socket()).unwrap();
    let answer = read_until_closed(&mut silent);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    // And a client that sends a request reads it, not a reset.
    let refused = d
        .client()
        .try_request("GET", "/v1/version", None)
        .expect("an answer over the cap");
    assert_eq!(refused.header("retry-after"), Some("1"));
    let error = refused.expect_error(503, "too_many_connections");
    assert!(
        error.message.contains("all 2 connections"),
        "{}",
        error.message
    );
    // Neither stream was cut; once one ends, its slot serves again.
    drop(dropped);
    conti_tests::wait_until(Duration::from_secs(5), "a free slot", || {
        d.client()
            .try_request("GET", "/v1/version", None)
            .is_ok_and(|r| r.status == 200)
    });
    let id = d.create(&spec(&["true"]));
    let line = kept.next_line().unwrap().expect("an event");
    assert!(
        line.contains(r#""type":"create""#) && line.contains(&id),
        "{line}"
    );
}

/// Clients that each hold a connection by sending a request head one byte every half second and
/// never ending it (slowloris); each connection the daemon closes is opened again at once.
struct Slowloris {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Slowloris {
    fn start(socket: &Path, clients: usize) -> Slowloris {
        let stop = Arc::new(AtomicBool::new(false));
        let socket = socket.to_path_buf();
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let open = || {
                let mut stream = UnixStream::connect(&socket).ok()?;
                stream
                    .write_all(b"GET /v1/version HTTP/1.1\r\nX-Slow: ")
                    .ok()?;
                Some(stream)
            };
            let mut streams: Vec<Option<UnixStream>> = (0..clients).map(|_| open()).collect();
            let mut opened = clients;
            while !stopped.load(Ordering::Relaxed) {
                for slot in &mut streams {
                    let alive = slot.as_mut().is_some_and(|s| s.write_all(b"z").is_ok());
                    if !alive {
                        *slot = open();
                        opened += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            opened
        });
        Slowloris {
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the attack; how many connections it opened.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap())
    }
}

impl Drop for Slowloris {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_client_is_answered_at_once_while_slow_clients_hold_every_slot() {
    // More than the default cap (512).
    const SLOW_CLIENTS: usize = 600;
    let d = Daemon::start_with_busybox();
    // A stream opened before the attack serves all along: it keeps its connection.
    let mut events = d.client().stream("/v1/events");
    let attack = Slowloris::start(d.socket(), SLOW_CLIENTS);
    std::thread::sleep(Duration::from_secs(2));
    let client = d.client().with_timeout(Duration::from_secs(10));
    let mut times = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let answer = client.try_request("GET", "/v1/version", None);
        let took = started.elapsed();
        assert!(
            answer.as_ref().is_ok_and(|r| r.status == 200),
            "under {SLOW_CLIENTS} slow clients, after {took:?}: {answer:?}"
        );
        times.push(took);
        std::thread::sleep(Duration::from_millis(200));
    }
    let opened = attack.stop();
    times.sort();
    eprintln!(
        "{SLOW_CLIENTS} slow clients ({opened} connections opened): answered in {:?} (median), {:?} (slowest)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert!(
        times[times.len() - 1] < Duration::from_secs(2),
        "a client waited {:?}",
        times[times.len() - 1]
    );
    assert!(
        opened > SLOW_CLIENTS,
        "the slow clients never filled the slots"
    );
    let id = d.create(&spec(&["true"]));
    let line = events.next_line().unwrap().expect("an event");
    assert!(
        line.contains(r#""type":"create""#) && line.contains(&id),
        "{line}"
    );
}
