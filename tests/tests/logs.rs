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

#[test]
fn logs_written_by_an_earlier_version_are_read_with_the_new_ones() {
    // 4 KiB files: the second run rotates the old format away while a follower reads.
    let d = Daemon::start_with_busybox_and_args(&["--log-max-bytes", "4096"]);
    let script = "sleep 1; i=1; while [ $i -le 60 ]; do echo \"new $i\"; i=$((i+1)); done; \
                  echo done >&2";
    let (id, code, _) = d.run(&sh(script));
    assert_eq!(code, 0);
    // What a monitor of the previous version leaves (it keeps writing its format after the
    // daemon is upgraded): Docker's json-file records, in both files.
    let dir = d.container_dir(&id);
    let json = |range: std::ops::RangeInclusive<u32>, stream: &str| -> String {
        range
            .map(|i| {
                let time = format!("2026-01-01T00:00:{:02}.000000000Z", i % 60);
                serde_json::json!({"log": format!("old {i}\n"), "stream": stream, "time": time})
                    .to_string()
                    + "\n"
            })
            .collect()
    };
    std::fs::write(dir.join("container.log.1"), json(1..=20, "stdout")).unwrap();
    std::fs::write(dir.join("container.log"), json(21..=30, "stderr")).unwrap();
    let expected_old: String = (1..=30).map(|i| format!("old {i}\n")).collect();
    assert_eq!(text_logs(&d, &id, "format=text"), expected_old);
    let records = json_logs(&d, &id);
    assert_eq!(
        (records[0].stream.as_str(), records[29].stream.as_str()),
        ("stdout", "stderr")
    );

    // Started again: the new monitor appends CRI records to the json file, then rotates; a
    // follower that came first (the script waits for it) reads every file it found.
    d.start_container(&id);
    let mut follow = d
        .client()
        .stream(&format!("/v1/containers/{id}/logs?follow=true"));
    assert_eq!(d.wait(&id), 0);
    let new: String = (1..=60).map(|i| format!("new {i}\n")).collect::<String>() + "done\n";
    assert_eq!(
        follow.read_rest().unwrap(),
        expected_old.clone() + &new,
        "a follower holds the files it has to read"
    );
    let rotated = std::fs::read_to_string(dir.join("container.log.1")).unwrap();
    assert!(
        !rotated.contains("old 1\n"),
        "the first json file was rotated away"
    );
    let kept = text_logs(&d, &id, "format=text");
    assert!(kept.ends_with(&new[new.len() - 200..]), "{kept}");
    let stamped = text_logs(&d, &id, "timestamps=true&tail=1");
    assert!(stamped.ends_with("Z done\n"), "{stamped}");
}

/// A container writing lines as fast as it can, with the given log file limit.
fn spammer(limit: &str) -> (Daemon, String) {
    let d = Daemon::start_with_busybox_and_args(&["--log-max-bytes", limit]);
    let id = d.run_detached(&sh("yes 0123456789012345678901234567890123456789"));
    let rotated = d.container_dir(&id).join("container.log.1");
    wait_until(Duration::from_secs(30), "the log to rotate", || {
        rotated.exists()
    });
    (d, id)
}

#[test]
fn a_log_read_ends_at_the_end_it_saw_and_tail_is_exact_while_the_container_writes() {
    let (d, id) = spammer("1048576");
    let line = "0123456789012345678901234567890123456789\n";
    for _ in 0..3 {
        let started = Instant::now();
        let tail = text_logs(&d, &id, "tail=2");
        assert!(
            tail == line.repeat(2),
            "tail=2 gave {} lines ({} bytes)",
            tail.lines().count(),
            tail.len()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(json_logs_query(&d, &id, "tail=3").len(), 3);
    let started = Instant::now();
    let everything = d.get(&format!("/v1/containers/{id}/logs")).body;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // At most the two files there were when it started (their records hold the lines).
    assert!(
        everything.len() <= 2 * 1048576,
        "{} bytes",
        everything.len()
    );
    assert!(everything.len() > 100_000, "{} bytes", everything.len());
    let out = cli(&d, &["logs", "--tail", "2", &id]);
    assert_eq!(stdout(&out), line.repeat(2), "{out:?}");
    d.remove(&id);
}

fn json_logs_query(d: &Daemon, id: &str, query: &str) -> Vec<LogLine> {
    text_logs(d, id, &format!("format=json&{query}"))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

/// The sequence numbers at the start of each line, checked to follow each other from the first
/// to `last`.
#[track_caller]
fn assert_no_gap(who: &str, text: &[u8], last: u64) {
    let numbers: Vec<u64> = text
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            std::str::from_utf8(&line[..8])
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{who}: line {:?}", String::from_utf8_lossy(line)))
        })
        .collect();
    let gaps: Vec<(u64, u64)> = numbers
        .windows(2)
        .filter(|pair| pair[1] != pair[0] + 1)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    assert!(gaps.is_empty(), "{who}: gaps {gaps:?}");
    assert_eq!(numbers.last(), Some(&last), "{who}: the last line");
}

#[test]
fn followers_of_a_fast_writer_lose_no_line_and_the_daemon_stays_small() {
    // 4 MiB files. The writer puts a 6 MB backlog at once, then 3 MB more at about 1 MB/s,
    // each line numbered; followers come once the backlog is there, while the log rotates.
    let d = Daemon::start_with_busybox_and_args(&["--log-max-bytes", "4194304"]);
    let (backlog, total) = (60_000, 90_000);
    let script = format!(
        "awk 'BEGIN {{ pad = sprintf(\"%90s\", \"\"); gsub(/ /, \"x\", pad);
           for (i = 0; i < {total}; i++) {{
             printf \"%08d %s\\n\", i, pad;
             if (i == {backlog}) {{ getline t < \"/proc/uptime\"; close(\"/proc/uptime\"); t0 = t + 0 }}
             if (i > {backlog} && i % 1000 == 0) {{
               while (1) {{ getline t < \"/proc/uptime\"; close(\"/proc/uptime\");
                 if ((i - {backlog}) * 100 <= 1000000 * (t - t0)) break;
                 fflush(); system(\"sleep 0.05\") }} }} }} }}'"
    );
    let id = d.run_detached(&sh(&script));
    let rotated = d.container_dir(&id).join("container.log.1");
    wait_until(Duration::from_secs(30), "the backlog", || rotated.exists());
    let before = peak_rss_kib(d.pid());

    let api_followers: Vec<_> = (0..6)
        .map(|_| {
            let mut stream = d
                .client()
                .stream(&format!("/v1/containers/{id}/logs?follow=true"));
            std::thread::spawn(move || stream.read_rest_bytes().unwrap())
        })
        .collect();
    let cli_followers: Vec<_> = (0..2)
        .map(|_| {
            let (socket, id) = (d.socket().to_path_buf(), id.clone());
            std::thread::spawn(move || {
                conti_tests::cli_with_socket(&socket, &["logs", "-f", &id]).stdout
            })
        })
        .collect();
    for (i, follower) in api_followers.into_iter().enumerate() {
        assert_no_gap(
            &format!("API follower {i}"),
            &follower.join().unwrap(),
            total - 1,
        );
    }
    for (i, follower) in cli_followers.into_iter().enumerate() {
        assert_no_gap(
            &format!("CLI follower {i}"),
            &follower.join().unwrap(),
            total - 1,
        );
    }
    assert_eq!(d.wait(&id), 0);
    // What a follower holds is a batch of about 128 KiB, not what it has still to send.
    let grown = peak_rss_kib(d.pid()).saturating_sub(before);
    println!("contid's peak RSS grew by {grown} KiB with 8 followers");
    assert!(grown < 16 * 1024, "contid's peak RSS grew by {grown} KiB");
}

#[test]
fn run_rm_prints_all_the_output_of_a_container_removed_as_it_exits() {
    // 1 MiB files: `run` follows a log that rotates many times, and the container's folder is
    // gone the moment it exits; what the follower has not sent yet must still come.
    let d = Daemon::start_with_busybox_and_args(&["--log-max-bytes", "1048576"]);
    let lines = 100_000;
    let script = format!(
        "BEGIN {{ pad = sprintf(\"%90s\", \"\"); gsub(/ /, \"x\", pad);
           for (i = 0; i < {lines}; i++) printf \"%08d %s\\n\", i, pad }}"
    );
    for _ in 0..3 {
        let out = cli(&d, &["run", "--rm", "busybox", "awk", &script]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_no_gap("run --rm", &out.stdout, lines - 1);
        assert!(out.stdout.starts_with(b"00000000 "), "from the first line");
    }
}
