//! Restart policies, from the outside: on-failure's limit, always and its growing pauses, a
//! person's stop or kill never undone, restarts that go on while contid is down, a simulated
//! reboot, the restart verb, changing the policy with update, and bad input.

use std::time::{Duration, Instant, SystemTime};

use conti_proto::{ContainerUpdate, Event, EventType, RestartPolicy};
use conti_tests::{
    ContainerInfo, ContainerSpec, ContainerState, Daemon, NetworkMode, host, sh, spec, wait_until,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn policy(text: &str) -> RestartPolicy {
    RestartPolicy::parse(text).unwrap()
}

/// `script` under `policy`, with no network (quicker to start again).
fn restarting(policy_text: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        restart_policy: policy(policy_text),
        network: NetworkMode::None,
        ..sh(script)
    }
}

fn count(events: &[Event], kind: EventType) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

#[track_caller]
fn wait_for(
    d: &Daemon,
    id: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&ContainerInfo) -> bool,
) -> ContainerInfo {
    wait_until(timeout, what, || check(&d.inspect(id)));
    d.inspect(id)
}

/// Once it waits between two runs.
#[track_caller]
fn wait_restarting(d: &Daemon, id: &str) -> ContainerInfo {
    wait_for(d, id, "it to be restarting", Duration::from_secs(5), |i| {
        i.restarting
    })
}

#[test]
fn on_failure_restarts_up_to_its_limit_and_not_after_a_success() {
    let d = Daemon::start_with_busybox();
    let failing = d.run_detached(&restarting("on-failure:2", "echo run; exit 3"));
    // A wait ends at the last exit, not at each.
    assert_eq!(d.wait(&failing), 3);
    let info = d.inspect(&failing);
    assert_eq!(
        (info.state, info.restart_count),
        (ContainerState::Exited, 2)
    );
    assert_eq!(info.restart_policy.to_string(), "on-failure:2");
    assert!(!info.restarting);
    assert_eq!(d.logs(&failing), "run\nrun\nrun\n", "three runs, one log");
    let events = d.events_of(&failing);
    assert_eq!(
        (
            count(&events, EventType::Die),
            count(&events, EventType::Restart)
        ),
        (3, 2)
    );
    let counts: Vec<u32> = events
        .iter()
        .filter(|e| e.kind == EventType::Restart)
        .filter_map(|e| e.restart_count)
        .collect();
    assert_eq!(counts, [1, 2]);

    let succeeding = d.run_detached(&restarting("on-failure", "exit 0"));
    assert_eq!(d.wait(&succeeding), 0);
    assert_eq!(d.inspect(&succeeding).restart_count, 0);

    // A person's start counts from 0 again.
    d.start_container(&failing);
    assert_eq!(d.wait(&failing), 3);
    assert_eq!(d.inspect(&failing).restart_count, 2);
}

#[test]
fn always_backs_off_and_a_persons_stop_or_kill_is_not_undone() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&restarting("always", "echo run; exit 1"));
    // Pauses of 100, 200, 400, 800 ms…: a handful of restarts in three seconds, not hundreds.
    std::thread::sleep(Duration::from_secs(3));
    let restarts = d.inspect(&id).restart_count;
    assert!((2..=6).contains(&restarts), "{restarts} restarts in 3 s");
    // When each run wrote its line, as its monitor stamped it: the time between two runs is at
    // least the pause, which doubles.
    let logs = d.get(&format!("/v1/containers/{id}/logs?timestamps=true"));
    let runs: Vec<SystemTime> = logs
        .text()
        .lines()
        .map(|line| humantime::parse_rfc3339(line.split(' ').next().unwrap()).unwrap())
        .collect();
    let gaps: Vec<Duration> = runs
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]).unwrap_or_default())
        .collect();
    assert!(gaps.len() >= 2, "{gaps:?}");
    for (n, gap) in gaps.iter().enumerate() {
        let pause = Duration::from_millis(100 << n);
        assert!(
            *gap >= pause,
            "run {n}: {gap:?} after the last, under the pause {pause:?}"
        );
    }
    // Between two runs it is restarting: running, with no pid and the last exit.
    let info = wait_restarting(&d, &id);
    assert_eq!(
        (info.state, info.pid, info.exit_code),
        (ContainerState::Running, None, Some(1))
    );
    assert!(d.list_all().iter().any(|c| c.id == id && c.restarting));
    // A stop while it waits ends it at once.
    let stopping = Instant::now();
    d.stop(&id, 10);
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let stopped = d.inspect(&id);
    assert_eq!(
        (stopped.state, stopped.exit_code),
        (ContainerState::Exited, Some(1))
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        d.inspect(&id).restart_count,
        stopped.restart_count,
        "restarted after a stop"
    );
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);

    // A kill with SIGKILL is a person's stop too.
    let sleeper = d.run_detached(&restarting("unless-stopped", "sleep 1000"));
    d.post(&format!("/v1/containers/{sleeper}/kill"), b"")
        .expect_status(204);
    assert_eq!(d.wait(&sleeper), 137);
    std::thread::sleep(Duration::from_millis(500));
    let info = d.inspect(&sleeper);
    assert_eq!(
        (info.state, info.restart_count),
        (ContainerState::Exited, 0)
    );

    // A process that dies of its own (killed from outside, not by a person through contid) is
    // restarted.
    let crasher = d.run_detached(&restarting("always", "sleep 1000"));
    let pid = d.inspect(&crasher).pid.unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let info = wait_for(&d, &crasher, "a new run", Duration::from_secs(10), |i| {
        i.restart_count == 1 && i.pid.is_some_and(|p| p != pid)
    });
    assert_eq!(info.state, ContainerState::Running);
    let events = d.events_of(&crasher);
    let die = events.iter().find(|e| e.kind == EventType::Die).unwrap();
    assert_eq!(die.exit_code, Some(137));
    d.remove(&crasher);
}

#[test]
fn a_restarted_container_keeps_its_address_and_output() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&ContainerSpec {
        restart_policy: policy("always"),
        // The first run leaves a file in the container's own layer and exits; the next finds
        // it and stays.
        ..sh("echo up; [ -f /ran ] && exec sleep 1000; touch /ran; sleep 0.5; exit 2")
    });
    let address = d.inspect(&id).networks[0].ip_address.clone();
    let info = wait_for(&d, &id, "a second run", Duration::from_secs(10), |i| {
        i.restart_count == 1 && i.pid.is_some()
    });
    let pid = info.pid.unwrap();
    let out = d.exec(&id, &["ip", "-4", "addr", "show", "eth0"]);
    assert!(
        out.stdout.contains(&format!("inet {address}/")),
        "{}",
        out.stdout
    );
    let route = d.exec(&id, &["ip", "route"]);
    assert!(route.stdout.contains("default via"), "{}", route.stdout);
    assert_eq!(d.logs(&id), "up\nup\n");
    // exec and kill reach the current run.
    assert_eq!(d.exec(&id, &["cat", "/proc/1/cmdline"]).exit_code, 0);
    assert!(host::is_alive(pid));
    d.stop(&id, 1);
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

#[test]
fn restarts_go_on_while_contid_is_down_and_it_learns_the_count() {
    let mut d = Daemon::start_with_busybox();
    let id = d.run_detached(&restarting("always", "sleep 0.3; exit 1"));
    let first = d.inspect(&id).pid.unwrap();
    let monitor = host::parent_pid(first).unwrap();
    wait_for(&d, &id, "a first restart", Duration::from_secs(10), |i| {
        i.restart_count >= 1
    });
    // The monitor goes on while nobody watches: its child (the run's init) changes.
    let new_run_while_down = || {
        let children = || {
            host::all_pids()
                .into_iter()
                .filter(|&pid| host::parent_pid(pid) == Some(monitor))
                .collect::<Vec<_>>()
        };
        let seen = children();
        wait_until(
            Duration::from_secs(20),
            "a run started while contid is down",
            || children().iter().any(|pid| !seen.contains(pid)),
        );
    };

    let before = d.inspect(&id).restart_count;
    d.kill9();
    new_run_while_down();
    d.launch();
    let after = d.inspect(&id).restart_count;
    assert!(after > before, "{before} restarts before, {after} after");
    // Watched again: the count goes on.
    wait_for(
        &d,
        &id,
        "a restart seen by the new contid",
        Duration::from_secs(20),
        |i| i.restart_count > after,
    );

    // Stopped cleanly, the same.
    let before = d.inspect(&id).restart_count;
    d.terminate();
    new_run_while_down();
    d.launch();
    assert!(d.inspect(&id).restart_count > before);
    d.stop(&id, 1);
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

#[test]
fn after_a_reboot_always_and_unless_stopped_containers_come_back() {
    let mut d = Daemon::start_with_busybox();
    let run = |policy_text: &str| d.run_detached(&restarting(policy_text, "sleep 1000"));
    let always = run("always");
    let unless = run("unless-stopped");
    let stopped_unless = run("unless-stopped");
    let stopped_always = run("always");
    let on_failure = run("on-failure:1");
    let plain = run("no");
    for id in [&stopped_unless, &stopped_always] {
        d.stop(id, 0);
    }
    let running = [&always, &unless, &on_failure, &plain];
    let pids: Vec<i32> = running
        .iter()
        .map(|id| d.inspect(id).pid.unwrap())
        .collect();
    // The reboot: contid, every monitor and every container gone at once.
    d.kill9();
    let monitors: Vec<i32> = pids
        .iter()
        .filter_map(|&pid| host::parent_pid(pid))
        .collect();
    for pid in monitors.iter().chain(&pids) {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    wait_until(Duration::from_secs(10), "everything to be gone", || {
        !monitors.iter().chain(&pids).any(|&pid| host::is_alive(pid))
    });
    d.launch();
    for id in [&always, &unless, &on_failure, &stopped_always] {
        let info = wait_for(&d, id, "it to run again", Duration::from_secs(20), |i| {
            i.state == ContainerState::Running && i.pid.is_some()
        });
        assert!(!pids.contains(&info.pid.unwrap()));
        assert_eq!(info.restart_count, 1, "{}", info.restart_policy);
    }
    for id in [&stopped_unless, &plain] {
        assert_eq!(d.inspect(id).state, ContainerState::Exited);
    }
    assert_eq!(d.inspect(&plain).exit_code, Some(255));
    let events = d.events_of(&always);
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventType::Restart && e.restart_count == Some(1))
    );
}

#[test]
fn the_restart_verb_stops_and_starts_again() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&ContainerSpec {
        network: NetworkMode::None,
        ..spec(&["sleep", "1000"])
    });
    let pid = d.inspect(&id).pid.unwrap();
    let started = Instant::now();
    d.post(&format!("/v1/containers/{id}/restart?timeout=0"), b"")
        .expect_status(204);
    assert!(started.elapsed() < Duration::from_secs(8));
    let info = d.inspect(&id);
    assert_eq!(info.state, ContainerState::Running);
    assert_ne!(info.pid, Some(pid));
    let kinds: Vec<EventType> = d.events_of(&id).iter().map(|e| e.kind).collect();
    assert!(
        kinds.ends_with(&[EventType::Stop, EventType::Start, EventType::Restart]),
        "{kinds:?}"
    );
    // A created container is started; a bad timeout is refused.
    let created = d.create(&spec(&["true"]));
    d.post(&format!("/v1/containers/{created}/restart"), b"")
        .expect_status(204);
    assert_eq!(d.wait(&created), 0);
    d.post(
        &format!("/v1/containers/{id}/restart?timeout=99999999"),
        b"",
    )
    .expect_error(400, "invalid_argument");
    d.post("/v1/containers/nothing-here/restart", b"")
        .expect_error(404, "container_not_found");
    d.remove(&id);
}

#[test]
fn update_changes_the_policy_of_a_running_container() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&restarting("no", "sleep 1; exit 4"));
    let update = |text: &str| ContainerUpdate {
        restart_policy: Some(policy(text)),
        ..ContainerUpdate::default()
    };
    let resp = d.client().request(
        "PATCH",
        &format!("/v1/containers/{id}"),
        Some((
            "application/json",
            &serde_json::to_vec(&update("always")).unwrap(),
        )),
    );
    resp.expect_status(200);
    assert_eq!(
        resp.json::<ContainerInfo>().restart_policy,
        policy("always")
    );
    wait_for(&d, &id, "a restart", Duration::from_secs(10), |i| {
        i.restart_count >= 1
    });
    // Back to no: the next exit is the last.
    d.client()
        .request(
            "PATCH",
            &format!("/v1/containers/{id}"),
            Some((
                "application/json",
                &serde_json::to_vec(&update("no")).unwrap(),
            )),
        )
        .expect_status(200);
    assert_eq!(d.wait(&id), 4);
    let info = d.inspect(&id);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(d.inspect(&id).restart_count, info.restart_count);
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

#[test]
fn a_container_that_cannot_start_again_backs_off_instead_of_spinning() {
    let d = Daemon::start_with_busybox();
    // Its first run deletes the shell its command needs: every later start fails (127).
    let id = d.run_detached(&restarting("always", "rm /bin/sh; exit 1"));
    std::thread::sleep(Duration::from_secs(3));
    let info = d.inspect(&id);
    assert!(
        (2..=6).contains(&info.restart_count),
        "{} restarts",
        info.restart_count
    );
    let info = wait_restarting(&d, &id);
    assert_eq!(info.exit_code, Some(127));
    d.stop(&id, 1);
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
}

#[test]
fn bad_policies_are_refused_with_the_forms_allowed() {
    let d = Daemon::start_with_busybox();
    for bad in ["sometimes", "on-failure:0", "on-failure:x", "always:2", ""] {
        let body = serde_json::json!({"image": "busybox", "cmd": ["true"], "restart_policy": bad});
        let error = d
            .post("/v1/containers", body.to_string().as_bytes())
            .expect_error(400, "invalid_json");
        assert!(
            error.message.contains("on-failure[:MAX]"),
            "{bad}: {}",
            error.message
        );
    }
    let body = serde_json::json!({"image": "busybox", "cmd": ["true"], "restart_policy": "always", "auto_remove": true});
    d.post("/v1/containers", body.to_string().as_bytes())
        .expect_error(400, "invalid_spec");
    let id = d.create(&ContainerSpec {
        auto_remove: true,
        ..spec(&["true"])
    });
    let patch = |body: &str| {
        d.client().request(
            "PATCH",
            &format!("/v1/containers/{id}"),
            Some(("application/json", body.as_bytes())),
        )
    };
    patch(r#"{"restart_policy": "on-failure:-1"}"#).expect_error(400, "invalid_json");
    patch(r#"{"restart_policy": "always"}"#).expect_error(400, "invalid_spec");
    patch(r#"{"restart_policy": "no"}"#).expect_status(200);
}
