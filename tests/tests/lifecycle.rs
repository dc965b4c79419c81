//! A container's life through the API: states, references, exit codes, stop, kill, wait, logs.

use std::fs;
use std::time::{Duration, Instant};

use conti_tests::{
    ContainerState, Daemon, LogLine, NetworkMode, host, sh, spec, unique_name, wait_until,
};

#[test]
fn create_start_stop_delete() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["sleep", "1000"]);
    let name = unique_name("life");
    s.name = Some(name.clone());
    let id = d.create(&s);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "id is not a UUID: {id}");

    let info = d.inspect(&id);
    assert_eq!(
        (info.state, info.pid, info.exit_code),
        (ContainerState::Created, None, None)
    );
    assert_eq!(
        (info.name.as_str(), info.image.as_str()),
        (name.as_str(), "busybox")
    );
    assert_eq!(info.cmd, ["sleep", "1000"]);
    assert_eq!(info.cwd, "/");
    assert!(info.started.is_none() && info.finished.is_none() && !info.created.is_empty());
    assert!(
        !d.get("/v1/containers")
            .json::<Vec<conti_tests::ContainerInfo>>()
            .iter()
            .any(|c| c.id == id),
        "a created container is listed without all=true"
    );
    assert!(d.list_all().iter().any(|c| c.id == id));

    d.start_container(&name);
    let info = d.inspect(&id);
    assert_eq!(info.state, ContainerState::Running);
    let pid = info.pid.expect("a running container has a pid");
    assert!(
        host::is_alive(pid),
        "pid {pid} of the running container does not exist"
    );
    assert!(info.started.is_some());
    assert!(
        d.get("/v1/containers")
            .json::<Vec<conti_tests::ContainerInfo>>()
            .iter()
            .any(|c| c.id == id)
    );

    // sleep as PID 1 has no SIGTERM handler, so the kernel ignores the TERM: KILL after 1 s.
    d.stop(&id, 1);
    let info = d.inspect(&id);
    assert_eq!(
        (info.state, info.exit_code, info.pid),
        (ContainerState::Exited, Some(137), None)
    );
    assert!(info.finished.is_some());
    wait_until(
        Duration::from_secs(5),
        "the container's process to go away",
        || !host::is_alive(pid),
    );
    // Stopping a container that is not running is fine.
    d.stop(&id, 1);

    d.delete(&format!("/v1/containers/{id}")).expect_status(204);
    d.get(&format!("/v1/containers/{id}"))
        .expect_error(404, "container_not_found");
    assert!(
        !d.container_dir(&id).exists(),
        "the container's folder is left behind"
    );
    for parent in d.cgroup_parent_dirs() {
        assert!(
            !parent.join(&id).exists(),
            "the container's cgroup {} is left behind",
            parent.join(&id).display()
        );
    }
}

#[test]
fn containers_are_found_by_id_prefix_and_name() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["true"]);
    let name = unique_name("ref");
    s.name = Some(name.clone());
    let id = d.create(&s);
    let short: String = id.chars().filter(|c| *c != '-').take(12).collect();
    for reference in [id.as_str(), name.as_str(), &id[..8], short.as_str()] {
        assert_eq!(d.inspect(reference).id, id, "reference {reference}");
    }
    // With 17 containers two ids share their first hex digit: that prefix is ambiguous.
    let mut ids = vec![id];
    for _ in 0..16 {
        ids.push(d.create(&spec(&["true"])));
    }
    let first = ids
        .iter()
        .map(|i| &i[..1])
        .find(|p| ids.iter().filter(|i| i.starts_with(*p)).count() > 1)
        .expect("pigeonhole");
    d.get(&format!("/v1/containers/{first}"))
        .expect_error(400, "ambiguous_reference");
    assert_eq!(d.list_all().len(), 17);
}

#[test]
fn exit_codes_are_what_users_expect() {
    let d = Daemon::start_with_busybox();
    let (_, code, _) = d.run(&sh("exit 3"));
    assert_eq!(code, 3);
    let (_, code, _) = d.run(&spec(&["true"]));
    assert_eq!(code, 0);
    let (_, code, _) = d.run(&spec(&["false"]));
    assert_eq!(code, 1);

    // Killed by a signal: 128+N. (`kill -9 $$` from inside cannot do it: the kernel protects a
    // PID namespace's init from signals sent inside the namespace.)
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    d.post(&format!("/v1/containers/{id}/kill?signal=SIGKILL"), b"")
        .expect_status(204);
    assert_eq!(d.wait(&id), 137);
    let id = d.run_detached(&sh("trap 'exit 9' TERM; sleep 1000 & wait"));
    // Give sh the time to set its trap.
    std::thread::sleep(Duration::from_millis(300));
    d.post(&format!("/v1/containers/{id}/kill?signal=15"), b"")
        .expect_status(204);
    assert_eq!(
        d.wait(&id),
        9,
        "SIGTERM given as a number did not reach the handler"
    );

    // A command that does not exist: an error on start, and exit code 127.
    let id = d.create(&spec(&["/no/such/command"]));
    let err = d
        .post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_found");
    assert!(
        err.message.contains("/no/such/command"),
        "message does not name the command: {}",
        err.message
    );
    let info = d.inspect(&id);
    assert_eq!(
        (info.state, info.exit_code),
        (ContainerState::Exited, Some(127))
    );
    assert!(
        info.error.is_some(),
        "inspect does not say why the container could not start"
    );
    assert_eq!(d.wait(&id), 127);
    let id = d.create(&spec(&["no-such-command-in-path"]));
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_found");
    assert_eq!(d.inspect(&id).exit_code, Some(127));

    // A file that is not executable: 126.
    let id = d.create(&spec(&["/etc/passwd"]));
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_executable");
    assert_eq!(d.inspect(&id).exit_code, Some(126));

    // A cwd that is no folder (one the image lacks is made: cli.rs).
    let mut s = spec(&["true"]);
    s.cwd = Some("/etc/passwd".to_string());
    let id = d.create(&s);
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "invalid_cwd");
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

#[test]
fn stop_kills_a_process_that_ignores_sigterm_after_the_timeout() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&sh("trap '' TERM; sleep 1000 & wait"));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    d.stop(&id, 1);
    let elapsed = started.elapsed();
    assert_eq!(d.inspect(&id).exit_code, Some(137));
    assert!(
        elapsed >= Duration::from_millis(900),
        "stop did not wait for the timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "stop took {elapsed:?} with timeout=1"
    );
}

#[test]
fn stop_lets_a_process_that_handles_sigterm_exit() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&sh("trap 'echo bye; exit 0' TERM; sleep 1000 & wait"));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    d.stop(&id, 10);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?} for a process that exits on TERM",
        started.elapsed()
    );
    assert_eq!(d.inspect(&id).exit_code, Some(0));
    assert_eq!(d.logs(&id), "bye\n");
}

#[test]
fn wait_blocks_until_the_container_exits() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&sh("sleep 1; exit 2"));
    let started = Instant::now();
    assert_eq!(d.wait(&id), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "wait returned after {:?}",
        started.elapsed()
    );
    // Again, on an exited container: at once.
    assert_eq!(d.wait(&id), 2);
}

#[test]
fn an_exited_container_can_be_started_again() {
    let d = Daemon::start_with_busybox();
    let (id, code, logs) = d.run(&sh("echo run; exit 4"));
    assert_eq!((code, logs.as_str()), (4, "run\n"));
    d.start_container(&id);
    assert_eq!(d.wait(&id), 4);
    assert!(d.logs(&id).ends_with("run\n"));
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

/// Back to back, each start right after the previous exit (whose monitor may still be
/// unmounting the root): the container's files carry over from run to run.
#[test]
fn quick_restarts_keep_the_container_filesystem() {
    let d = Daemon::start_with_busybox();
    let (id, code, _) = d.run(&sh("echo run >> /runs; exit $(wc -l < /runs)"));
    assert_eq!(code, 1);
    for run in 2..=12 {
        d.start_container(&id);
        assert_eq!(d.wait(&id), run, "run {run} counts the earlier ones");
    }
}

#[test]
fn environment_and_working_directory() {
    let d = Daemon::start_with_busybox();
    let mut s = sh("pwd; echo \"$PATH|$HOME|$HOSTNAME|$GREETING\"");
    s.env = vec!["GREETING=hello world".to_string(), "HOME=/tmp".to_string()];
    s.cwd = Some("/etc".to_string());
    s.hostname = Some("envhost".to_string());
    let (id, code, logs) = d.run(&s);
    assert_eq!(code, 0);
    assert_eq!(
        logs,
        "/etc\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/tmp|envhost|hello world\n"
    );
    let info = d.inspect(&id);
    assert_eq!(info.cwd, "/etc");
    assert!(info.env.contains(&"GREETING=hello world".to_string()));
}

#[test]
fn auto_remove_deletes_the_container_when_it_exits() {
    let d = Daemon::start_with_busybox();
    let mut s = sh("sleep 0.3; exit 6");
    s.auto_remove = true;
    let id = d.run_detached(&s);
    wait_until(
        Duration::from_secs(10),
        "the auto_remove container to disappear",
        || d.get(&format!("/v1/containers/{id}")).status == 404,
    );
    assert!(!d.container_dir(&id).exists());
}

/// `run --rm` many times over: each client learns its container's exit code however many
/// auto-removed containers came and went before. contid remembered the codes of at most 4,096
/// of them for five minutes and then answered "no such container"; here the memory is lowered to
/// 8 (`--removed-exits-memory`) so that 48 runs go well past it. Half the containers exit before
/// their wait arrives (its code comes from that memory, where the newest are kept), half after
/// (the code comes with the exit, whatever the memory holds).
#[test]
fn auto_removed_containers_always_leave_their_exit_code_to_their_waiter() {
    const CLIENTS: usize = 4;
    const RUNS: usize = 48;
    let d = Daemon::start_with_busybox_and_args(&["--removed-exits-memory", "8"]);
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let d = &d;
            scope.spawn(move || {
                for run in (client..RUNS).step_by(CLIENTS) {
                    let code = run as i32 + 1;
                    let pause = if run % 2 == 0 { "0" } else { "0.3" };
                    let mut s = sh(&format!("sleep {pause}; exit {code}"));
                    s.auto_remove = true;
                    s.network = NetworkMode::None;
                    let id = d.run_detached(&s);
                    let resp = d
                        .client()
                        .with_timeout(conti_tests::daemon::WAIT_TIMEOUT)
                        .post(&format!("/v1/containers/{id}/wait"), b"");
                    assert_eq!(
                        resp.status,
                        200,
                        "run {run}: the wait failed: {}",
                        resp.text()
                    );
                    let waited = resp.json::<conti_tests::WaitResult>().exit_code;
                    assert_eq!(waited, code, "run {run}: the exit code");
                }
            });
        }
    });
    assert!(d.list_all().is_empty(), "an auto-removed container is left");
}

#[test]
fn logs_after_exit_in_text_and_json_with_tail() {
    let d = Daemon::start_with_busybox();
    let (id, code, logs) = d.run(&sh("echo one; echo two >&2; sleep 0.1; echo three"));
    assert_eq!(code, 0);
    assert_eq!(logs, "one\ntwo\nthree\n", "merged output in order");
    let resp = d.get(&format!("/v1/containers/{id}/logs?format=json"));
    resp.expect_status(200);
    let lines: Vec<LogLine> = resp
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a LogLine"))
        .collect();
    let got: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.stream.as_str(), l.log.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("stdout", "one\n"),
            ("stderr", "two\n"),
            ("stdout", "three\n")
        ]
    );
    assert!(
        lines.iter().all(|l| l.time.len() >= 20),
        "times are not RFC 3339: {lines:?}"
    );
    assert_eq!(
        d.get(&format!("/v1/containers/{id}/logs?tail=1")).text(),
        "three\n"
    );
    assert_eq!(
        d.get(&format!("/v1/containers/{id}/logs?tail=2")).text(),
        "two\nthree\n"
    );
    // A container that never ran has empty logs.
    let created = d.create(&spec(&["true"]));
    assert_eq!(d.logs(&created), "");
}

#[test]
fn logs_follow_streams_until_the_container_exits() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&sh("echo first; sleep 1; echo second"));
    let mut stream = d
        .client()
        .stream(&format!("/v1/containers/{id}/logs?follow=true"));
    assert_eq!(stream.status, 200);
    let started = Instant::now();
    assert_eq!(
        stream.next_line().expect("reading the stream").as_deref(),
        Some("first\n")
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the first line came only after {:?}",
        started.elapsed()
    );
    assert_eq!(
        stream.next_line().expect("reading the stream").as_deref(),
        Some("second\n")
    );
    // The stream ends once the container has exited and everything was sent.
    assert_eq!(
        stream.read_rest().expect("reading the end of the stream"),
        ""
    );
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

#[test]
fn logs_are_rotated_at_10_mib_keeping_two_files() {
    let d = Daemon::start_with_busybox();
    let info: conti_tests::DaemonInfo = d.get("/v1/info").json();
    assert_eq!(info.log_max_bytes, 10 * 1024 * 1024);
    // 24 MiB of 1 KiB lines, then a marker.
    let (id, code, _) = d.run(&sh(
        "s=$(head -c 1023 /dev/zero | tr '\\0' a); yes \"$s\" | head -n 24576; echo END",
    ));
    assert_eq!(code, 0);
    let dir = d.container_dir(&id);
    let size = |name: &str| fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
    let limit = info.log_max_bytes + 64 * 1024;
    assert!(
        size("container.log") <= limit,
        "container.log is {} bytes",
        size("container.log")
    );
    assert!(
        size("container.log.1") > 0 && size("container.log.1") <= limit,
        "container.log.1 is {} bytes",
        size("container.log.1")
    );
    assert!(
        !dir.join("container.log.2").exists(),
        "more than two log files are kept"
    );
    let logs = d.logs(&id);
    assert!(
        logs.ends_with("\nEND\n"),
        "the last line is missing from the logs"
    );
    assert!(
        logs.len() < 2 * info.log_max_bytes as usize,
        "logs returned {} bytes",
        logs.len()
    );
}

/// A create's stop signal replaces the image's, and its stop timeout is what a stop without
/// one waits; both are shown by inspect, and bad ones are refused.
#[test]
fn a_containers_own_stop_signal_and_timeout_are_what_stop_uses() {
    let d = Daemon::start_with_busybox();
    let mut polite =
        sh("trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done");
    polite.stop_signal = Some("USR1".into());
    let id = d.run_detached(&polite);
    wait_for_log(&d, &id, "ready");
    let info = d.inspect(&id);
    assert_eq!((info.stop_signal.as_str(), info.stop_timeout), ("USR1", 10));
    d.post(&format!("/v1/containers/{id}/stop"), b"")
        .expect_status(204);
    assert_eq!(d.inspect(&id).exit_code, Some(0));
    assert!(d.logs(&id).contains("got-usr1"), "{}", d.logs(&id));

    // Deaf to SIGTERM: a stop without a timeout waits the container's 1 s, not 10.
    let mut deaf = sh("trap '' TERM; echo ready; while :; do sleep 0.1; done");
    deaf.stop_timeout = Some(1);
    let id = d.run_detached(&deaf);
    wait_for_log(&d, &id, "ready");
    let started = Instant::now();
    d.post(&format!("/v1/containers/{id}/stop"), b"")
        .expect_status(204);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(d.inspect(&id).exit_code, Some(137));

    for (field, value) in [("stop_signal", "\"SIGNOPE\""), ("stop_timeout", "86401")] {
        let body = format!(r#"{{"image":"busybox","cmd":["true"],"{field}":{value}}}"#);
        let resp = d.post("/v1/containers", body.as_bytes());
        let err = resp.expect_error(400, "invalid_spec");
        assert!(err.message.contains(field), "{}", err.message);
    }
}

fn wait_for_log(d: &Daemon, id: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.logs(id).contains(what) {
        assert!(Instant::now() < deadline, "{what:?} never logged");
        std::thread::sleep(Duration::from_millis(20));
    }
}
