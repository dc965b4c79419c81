//! Who may use the socket (root and one group, checked on every connection), and request
//! hardening: slow and idle clients are disconnected, oversized heads refused, connections
//! capped.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use conti_tests::{Daemon, run_command, spec};

/// The user the tests connect as: not root, in no group the daemon trusts.
const NOBODY: u32 = 65534;

/// `curl` as `NOBODY`, with `groups` as supplementary groups: (curl's exit code, HTTP status
/// (`000` when it could not connect), body).
fn curl_as_nobody(
    socket: &Path,
    groups: Option<u32>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (i32, String, String) {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"));
    match groups {
        Some(gid) => command.arg(format!("--groups={gid}")),
        None => command.arg("--clear-groups"),
    };
    command
        .args(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg("--unix-socket")
        .arg(socket)
        .args(["-X", method]);
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    command.arg(format!("http://localhost{path}"));
    let out = run_command(&mut command, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        status.to_string(),
        body.to_string(),
    )
}

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
fn connections_beyond_the_cap_are_closed_at_once() {
    let d = Daemon::start_with_busybox_and_args(&["--max-connections", "2"]);
    // The harness's own probe connections have been closed: wait until the slots are free.
    std::thread::sleep(Duration::from_millis(300));
    let first = UnixStream::connect(d.socket()).unwrap();
    let second = UnixStream::connect(d.socket()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = UnixStream::connect(d.socket()).unwrap();
    let closed = time_until_closed(&mut third, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(2)),
        "a third connection was kept ({closed:?})"
    );
    drop((first, second));
    conti_tests::wait_until(Duration::from_secs(5), "a free slot", || {
        d.client()
            .with_timeout(Duration::from_secs(1))
            .try_request("GET", "/v1/version", None)
            .is_ok_and(|r| r.status == 200)
    });
}
