//! Logs by time (`since`, `until`, `timestamps`), a follow across rotations, and the output of
//! containers that exit at once.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conti_tests::cli::{stderr, stdout};
use conti_tests::{Daemon, LogLine, cli, sh, wait_until};

fn json_logs(d: &Daemon, id: &str) -> Vec<LogLine> {
    let resp = d.get(&format!("/v1/containers/{id}/logs?format=json"));
    resp.expect_status(200);
    resp.text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn text_logs(d: &Daemon, id: &str, query: &str) -> String {
    let resp = d.get(&format!("/v1/containers/{id}/logs?{query}"));
    resp.expect_status(200);
    resp.text()
}

#[test]
fn since_until_and_timestamps_select_and_stamp_lines_by_time() {
    let d = Daemon::start_with_busybox();
    let (id, code, _) = d.run(&sh(
        "echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three",
    ));
    assert_eq!(code, 0);
    let records = json_logs(&d, &id);
    let lines: Vec<&str> = records.iter().map(|r| r.log.as_str()).collect();
    assert_eq!(lines, ["one\n", "two\n", "three\n"]);
    let t: Vec<&str> = records.iter().map(|r| r.time.as_str()).collect();

    // Both ends are inclusive, to the nanosecond.
    assert_eq!(
        text_logs(&d, &id, &format!("since={}", t[1])),
        "two\nthree\n"
    );
    assert_eq!(text_logs(&d, &id, &format!("until={}", t[1])), "one\ntwo\n");
    assert_eq!(
        text_logs(&d, &id, &format!("since={}&until={}", t[1], t[1])),
        "two\n"
    );
    // `tail` counts the lines in the window.
    assert_eq!(
        text_logs(&d, &id, &format!("until={}&tail=1", t[1])),
        "two\n"
    );
    // Unix seconds, and durations ago.
    assert_eq!(text_logs(&d, &id, "since=0"), "one\ntwo\nthree\n");
    assert_eq!(text_logs(&d, &id, "since=1h"), "one\ntwo\nthree\n");
    let future = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    assert_eq!(text_logs(&d, &id, &format!("since={future}")), "");

    // Each text line after its own time; JSON records carry it anyway.
    let stamped = text_logs(&d, &id, "timestamps=true");
    let expected: String = records
        .iter()
        .map(|r| format!("{} {}", r.time, r.log))
        .collect();
    assert_eq!(stamped, expected);
    assert_eq!(
        text_logs(&d, &id, &format!("timestamps=true&since={}", t[2])),
        format!("{} three\n", t[2])
    );

    // The CLI: stderr lines stay on stderr, each after its time.
    let out = cli(&d, &["logs", "-t", "--since", t[1], &id]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), format!("{} three\n", t[2]));
    assert_eq!(stderr(&out), format!("{} two\n", t[1]));
    let out = cli(&d, &["logs", "--until", t[0], &id]);
    assert_eq!(stdout(&out), "one\n");
}

#[test]
fn bad_times_are_invalid_arguments() {
    let d = Daemon::start_with_busybox();
    let (id, _, _) = d.run(&sh("echo hi"));
    for query in [
        "since=garbage",
        "until=tomorrow",
        "since=1.2.3",
        "since=-5",
        "since=2000000000&until=1000000000",
    ] {
        d.get(&format!("/v1/containers/{id}/logs?{query}"))
            .expect_error(400, "invalid_argument");
    }
    d.get(&format!("/v1/containers/{id}/logs?timestamps=maybe"))
        .expect_error(400, "invalid_argument");
    let out = cli(&d, &["logs", "--since", "garbage", &id]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("invalid since"), "{out:?}");
    assert_eq!(d.logs(&id), "hi\n");
}

#[test]
fn a_follow_ends_at_until_while_the_container_runs() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&sh("while :; do echo tick; sleep 0.1; done"));
    let until = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(1);
    let started = Instant::now();
    let text = text_logs(
        &d,
        &id,
        &format!("follow=true&until={}", until.as_secs_f64()),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        text.starts_with("tick\n") && text.ends_with("tick\n"),
        "{text:?}"
    );
    d.remove(&id);
}

#[test]
fn a_follow_sees_every_line_across_rotations() {
    // 16 KiB files: the 1000 lines below (about 170 kB of records) rotate about ten times.
    let d = Daemon::start_with_busybox_and_args(&["--log-max-bytes", "16384"]);
    let info: conti_tests::DaemonInfo = d.get("/v1/info").json();
    assert_eq!(info.log_max_bytes, 16384);
    // Bursts of 50 lines with pauses: a follower must keep up with rotations, and only more
    // than two rotations between two of its reads could lose lines.
    let script = "pad=0123456789012345678901234567890123456789012345678901234567890123456789; \
                  i=1; while [ $i -le 1000 ]; do echo \"line $i $pad\"; \
                  if [ $((i % 50)) -eq 0 ]; then sleep 0.2; fi; i=$((i+1)); done";
    let id = d.create(&sh(script));
    // Follow from before the start, as `conti-cli run` does.
    let mut follow = d
        .client()
        .stream(&format!("/v1/containers/{id}/logs?follow=true"));
    assert_eq!(follow.status, 200);
    d.start_container(&id);
    let text = follow.read_rest().expect("reading the follow");
    let numbers: Vec<usize> = text
        .lines()
        .map(|line| {
            line.split(' ')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        })
        .collect();
    assert_eq!(numbers, (1..=1000).collect::<Vec<_>>());
    assert_eq!(d.wait(&id), 0);

    // The files were rotated: only the last two are left.
    let dir = d.container_dir(&id);
    assert!(dir.join("container.log.1").exists());
    let size = |name: &str| std::fs::metadata(dir.join(name)).unwrap().len();
    assert!(size("container.log") <= 16384 && size("container.log.1") <= 16384);
    let kept = d.logs(&id);
    assert!(kept.ends_with(
        "\nline 1000 0123456789012345678901234567890123456789012345678901234567890123456789\n"
    ));
    assert!(kept.lines().count() < 1000, "nothing was rotated away");
}

#[test]
fn the_output_of_containers_that_exit_at_once_is_never_lost() {
    let d = Daemon::start_with_busybox();
    for n in 0..50 {
        let n = n.to_string();
        let mut args = vec!["run"];
        if n.ends_with(['0', '2', '4', '6', '8']) {
            args.push("--rm");
        }
        args.extend(["busybox", "echo", n.as_str()]);
        let out = cli(&d, &args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(stdout(&out), format!("{n}\n"), "{args:?}: {out:?}");
    }
    // And through the API: a log read right after the exit has everything.
    for n in 0..10 {
        let (id, code, logs) = d.run(&sh(&format!("seq {n} 1000 | tail -3; echo end >&2")));
        assert_eq!(code, 0);
        assert_eq!(logs, "998\n999\n1000\nend\n", "{id}");
    }
    wait_until(
        Duration::from_secs(10),
        "auto-removed containers gone",
        || d.list_all().len() == 25 + 10,
    );
}
