//! Many clients at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use conti_tests::{Daemon, ErrorBody, spec, unique_name};

#[test]
fn concurrent_creates_with_one_name_have_exactly_one_winner() {
    let d = Daemon::start_with_busybox();
    for round in 0..5 {
        let name = unique_name(&format!("race{round}"));
        let barrier = Arc::new(Barrier::new(8));
        let answers: Vec<(u16, Vec<u8>)> = thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (client, barrier, name) =
                        (d.client().clone(), barrier.clone(), name.clone());
                    scope.spawn(move || {
                        let mut s = spec(&["sleep", "1000"]);
                        s.name = Some(name);
                        barrier.wait();
                        let resp = client.post_json("/v1/containers", &s);
                        (resp.status, resp.body)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        let winners = answers.iter().filter(|(status, _)| *status == 201).count();
        assert_eq!(winners, 1, "round {round}: {} answers were 201", winners);
        for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*status, 409, "{}", String::from_utf8_lossy(body));
            let err: ErrorBody = serde_json::from_slice(body).expect("error body");
            assert_eq!(err.code, "name_in_use");
        }
        let listed = d.list_all().into_iter().filter(|c| c.name == name).count();
        assert_eq!(listed, 1);
    }
    assert_eq!(
        std::fs::read_dir(d.root().join("containers"))
            .expect("containers dir")
            .count(),
        5,
        "losers left folders"
    );
}

#[test]
fn concurrent_lifecycles_do_not_disturb_each_other() {
    let d = Daemon::start_with_busybox();
    let results: Vec<(String, i32, String)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let d = &d;
                scope.spawn(move || {
                    let mut ids = Vec::new();
                    for j in 0..5 {
                        let code = (i * 10 + j) % 100;
                        let (id, exit, logs) =
                            d.run(&conti_tests::sh(&format!("echo {i}-{j}; exit {code}")));
                        assert_eq!((exit, logs.as_str()), (code, format!("{i}-{j}\n").as_str()));
                        d.remove(&id);
                        ids.push((id, exit, logs));
                    }
                    ids
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let ids: BTreeSet<&str> = results.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 40, "ids are not unique");
    assert!(d.list_all().is_empty());
}

/// Stops that have to SIGKILL (sleep as PID 1 ignores SIGTERM), several at once: each must be a
/// clean 204 and an exit code of 137, however the kill races with the container's exit.
#[test]
fn concurrent_stops_after_the_timeout_all_succeed() {
    let d = Daemon::start_with_busybox();
    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let d = &d;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for i in 0..5 {
                        let id = d.run_detached(&conti_tests::sh("echo started; exec sleep 1000"));
                        assert_eq!(d.exec(&id, &["true"]).exit_code, 0);
                        let resp = d.post(&format!("/v1/containers/{id}/stop?timeout=1"), b"");
                        if resp.status != 204 {
                            failures.push(format!(
                                "thread {t} stop {i}: {} {}",
                                resp.status,
                                resp.text()
                            ));
                        } else if d.inspect(&id).exit_code != Some(137) {
                            failures.push(format!(
                                "thread {t} stop {i}: exit code {:?}",
                                d.inspect(&id).exit_code
                            ));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "failed stops:\n{}",
        failures.join("\n")
    );
}

/// Execs raced against the container's exit: each one either runs (200) or finds the container
/// not running (409 `container_not_running`), never a 500 from a namespace that vanished under
/// it (21 of 40 were, when the init was gone between the engine's check and the `setns`).
#[test]
fn an_exec_racing_the_exit_is_run_or_refused_with_409() {
    let d = Daemon::start_with_busybox();
    let mut refused = 0;
    let mut ran = 0;
    for round in 0..40 {
        let id = d.run_detached(&spec(&["sleep", "0.2"]));
        // Exec after exec until the container is gone: the last ones meet it exiting.
        loop {
            let resp = d.post_json(
                &format!("/v1/containers/{id}/exec"),
                &conti_tests::ExecSpec {
                    cmd: vec!["true".into()],
                    ..Default::default()
                },
            );
            match resp.status {
                200 => ran += 1,
                409 => {
                    let err: ErrorBody = resp.json();
                    assert_eq!(err.code, "container_not_running", "round {round}");
                    refused += 1;
                    break;
                }
                status => panic!("round {round}: exec answered {status}: {}", resp.text()),
            }
        }
        d.remove(&id);
    }
    assert!(ran > 0 && refused == 40, "{ran} ran, {refused} refused");
}
