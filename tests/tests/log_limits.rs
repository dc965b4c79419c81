//! Per-container log limits (`ContainerSpec.log_limits`, `--log-opt max-size=…,max-file=…`) and
//! the daemon's default number of files (`--log-max-files`).

use std::fs;
use std::path::Path;

use conti_tests::cli::{stderr, stdout};
use conti_tests::{ContainerSpec, Daemon, LogLimits, cli, sh};

/// 1000 numbered lines of about 95 bytes of record each: about 95 kB of log, in bursts of 25
/// lines (2 kB) with pauses, so that a follower keeps up with the rotations (one that falls
/// more than the kept files behind loses what it missed, by design).
const WRITER: &str = "pad=01234567890123456789012345678901234567890123; \
                      i=1; while [ $i -le 1000 ]; do echo \"line $i $pad\"; \
                      if [ $((i % 25)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done";

/// The log files of a container's folder, sorted, with their sizes.
fn log_files(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("container.log"))
        .map(|e| {
            let name = e.file_name().into_string().unwrap();
            (name, e.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

/// The line numbers of a log, which must be the last ones written, with no gap.
fn kept_numbers(text: &str) -> Vec<usize> {
    let numbers: Vec<usize> = text
        .lines()
        .map(|line| line.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..=1000).collect::<Vec<_>>(),
        "the latest lines, in order"
    );
    numbers
}

#[test]
fn a_container_keeps_the_files_of_the_size_it_asked_for() {
    let d = Daemon::start_with_busybox();
    let out = cli(
        &d,
        &[
            "create",
            "--log-opt",
            "max-size=4k",
            "--log-opt",
            "max-file=4",
            "busybox",
            "sh",
            "-c",
            WRITER,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    let info = d.inspect(&id);
    assert_eq!(
        info.log_limits,
        LogLimits {
            max_size: Some(4096),
            max_files: Some(4)
        }
    );
    // A follower from before the start sees every line, across the rotations.
    let mut follow = d
        .client()
        .stream(&format!("/v1/containers/{id}/logs?follow=true"));
    assert_eq!(follow.status, 200);
    d.start_container(&id);
    let followed = follow.read_rest().unwrap();
    assert_eq!(kept_numbers(&followed), (1..=1000).collect::<Vec<_>>());
    assert_eq!(d.wait(&id), 0);

    let files = log_files(&d.container_dir(&id));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "container.log",
            "container.log.1",
            "container.log.2",
            "container.log.3"
        ]
    );
    for (name, size) in &files {
        assert!(*size <= 4096, "{name} has {size} bytes");
    }
    let kept = kept_numbers(&d.logs(&id));
    let stored: u64 = files.iter().map(|(_, size)| size).sum();
    // Three full files and the live one: more than two files of 4 KiB could hold.
    assert!(stored > 3 * 3900, "four files are kept: {stored} bytes");
    assert!(kept.len() as u64 * 100 > stored, "{} lines", kept.len());
    assert!(kept.len() < 1000, "older lines were dropped");
    let tail = d.get(&format!("/v1/containers/{id}/logs?tail=3")).text();
    assert!(tail.starts_with("line 998 "), "{tail}");
    d.remove(&id);
}

#[test]
fn the_daemon_default_applies_to_containers_without_their_own_and_one_file_starts_over() {
    let d =
        Daemon::start_with_busybox_and_args(&["--log-max-bytes", "4096", "--log-max-files", "3"]);
    let info: conti_tests::DaemonInfo = d.get("/v1/info").json();
    assert_eq!((info.log_max_bytes, info.log_max_files), (4096, 3));

    let (id, code, logs) = d.run(&sh(WRITER));
    assert_eq!(code, 0);
    let names: Vec<String> = log_files(&d.container_dir(&id))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["container.log", "container.log.1", "container.log.2"]
    );
    kept_numbers(&logs);

    // Its own size over the daemon's; one file: a full file starts over.
    let (one, code, logs) = d.run(&ContainerSpec {
        log_limits: LogLimits {
            max_size: Some(2048),
            max_files: Some(1),
        },
        ..sh(WRITER)
    });
    assert_eq!(code, 0);
    let files = log_files(&d.container_dir(&one));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].1 <= 2048, "{files:?}");
    let kept = kept_numbers(&logs);
    assert!(kept.len() < 2048 / 60, "{} lines", kept.len());
}

#[test]
fn bad_limits_are_refused_and_nothing_is_created() {
    let d = Daemon::start_with_busybox();
    for (limits, what) in [
        (
            LogLimits {
                max_size: Some(0),
                max_files: None,
            },
            "max_size",
        ),
        (
            LogLimits {
                max_size: None,
                max_files: Some(0),
            },
            "max_files",
        ),
        (
            LogLimits {
                max_size: None,
                max_files: Some(101),
            },
            "max_files",
        ),
    ] {
        let spec = ContainerSpec {
            log_limits: limits,
            ..sh("true")
        };
        let body = d
            .post_json("/v1/containers", &spec)
            .expect_error(400, "invalid_spec");
        assert!(body.message.contains(what), "{}", body.message);
    }
    for (option, why) in [
        ("max-size=0", "at least 1 byte"),
        ("max-file=0", "1 to 100"),
        ("compress=true", "not supported"),
        ("max-size=12x", "unknown unit"),
    ] {
        let out = cli(&d, &["create", "--log-opt", option, "busybox", "true"]);
        assert!(!out.status.success(), "{option}");
        assert!(stderr(&out).contains(why), "{option}: {}", stderr(&out));
    }
    let out = cli(&d, &["create", "--log-driver", "syslog", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(d.list_all().is_empty(), "a refused create leaves nothing");
    // A daemon given a number of files out of range does not start.
    let mut bad = Daemon::unstarted();
    bad.set_args(&["--log-max-files", "0"]);
    let error = bad.try_launch().unwrap_err();
    assert!(error.contains("1 to 100"), "{error}");
}
