//! Running commands in a running container.

use conti_tests::{ContainerState, Daemon, ExecSpec, sh, spec};

fn exec_spec(cmd: &[&str]) -> ExecSpec {
    ExecSpec {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..ExecSpec::default()
    }
}

#[test]
fn exec_returns_exit_code_and_separate_stdout_and_stderr() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let r = d.exec(&id, &["sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!(
        (r.exit_code, r.stdout.as_str(), r.stderr.as_str()),
        (4, "out\n", "err\n")
    );
    let r = d.exec(&id, &["true"]);
    assert_eq!(
        (r.exit_code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", "")
    );
    // Killed by a signal: 128+N (an exec'd process is not the namespace's init).
    let r = d.exec(&id, &["sh", "-c", "kill -9 $$"]);
    assert_eq!(r.exit_code, 137);
    // Large output arrives whole.
    let r = d.exec(&id, &["seq", "1", "100000"]);
    assert_eq!(r.stdout.lines().count(), 100000);
    assert!(r.stdout.ends_with("99999\n100000\n"));
    // Exec output is not the container's log.
    assert_eq!(d.logs(&id), "");
}

#[test]
fn exec_runs_with_the_containers_environment_and_cwd_unless_given() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["sleep", "1000"]);
    s.env = vec!["FROM_SPEC=spec".to_string()];
    s.cwd = Some("/etc".to_string());
    s.hostname = Some("exechost".to_string());
    let id = d.run_detached(&s);
    let r = d.exec(
        &id,
        &["sh", "-c", "pwd; echo $FROM_SPEC $HOSTNAME $HOME; hostname"],
    );
    assert_eq!(
        (r.exit_code, r.stdout.as_str()),
        (0, "/etc\nspec exechost /root\nexechost\n"),
        "{r:?}"
    );

    let mut e = exec_spec(&["sh", "-c", "pwd; echo $FROM_SPEC $EXTRA"]);
    e.env = vec![
        "EXTRA=extra".to_string(),
        "FROM_SPEC=overridden".to_string(),
    ];
    e.cwd = Some("/tmp".to_string());
    let r = d.exec_spec(&id, &e);
    assert_eq!(
        (r.exit_code, r.stdout.as_str()),
        (0, "/tmp\noverridden extra\n"),
        "{r:?}"
    );
}

#[test]
fn exec_sees_the_containers_filesystem_and_processes() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&sh("echo marker > /tmp/marker; exec sleep 1000"));
    conti_tests::wait_until(
        std::time::Duration::from_secs(5),
        "the container to write its marker",
        || d.exec(&id, &["cat", "/tmp/marker"]).stdout == "marker\n",
    );
    let r = d.exec(&id, &["cat", "/proc/1/cmdline"]);
    assert_eq!(r.stdout, "sleep\u{0}1000\u{0}");
}

#[test]
fn exec_of_a_missing_or_non_executable_command() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let r = d.exec(&id, &["no-such-command"]);
    assert_eq!(r.exit_code, 127, "{r:?}");
    assert!(!r.stderr.is_empty(), "no reason given for 127");
    let r = d.exec(&id, &["/etc/passwd"]);
    assert_eq!(r.exit_code, 126, "{r:?}");
    // The container is unharmed.
    assert_eq!(d.inspect(&id).state, ContainerState::Running);
    assert_eq!(d.exec(&id, &["true"]).exit_code, 0);
}

#[test]
fn exec_into_a_container_that_is_not_running_is_a_conflict() {
    let d = Daemon::start_with_busybox();
    let created = d.create(&spec(&["sleep", "1000"]));
    d.post_json(
        &format!("/v1/containers/{created}/exec"),
        &exec_spec(&["true"]),
    )
    .expect_error(409, "container_not_running");
    let (exited, _, _) = d.run(&spec(&["true"]));
    d.post_json(
        &format!("/v1/containers/{exited}/exec"),
        &exec_spec(&["true"]),
    )
    .expect_error(409, "container_not_running");
    let running = d.run_detached(&spec(&["sleep", "1000"]));
    d.post(&format!("/v1/containers/{running}/exec"), br#"{"cmd": []}"#)
        .expect_error(400, "invalid_spec");
    d.post(
        &format!("/v1/containers/{running}/exec"),
        br#"{"cmd": ["true"], "cwd": "tmp"}"#,
    )
    .expect_error(400, "invalid_spec");
    d.post(
        &format!("/v1/containers/{running}/exec"),
        br#"{"cmd": ["true"], "tty": true}"#,
    )
    .expect_error(400, "invalid_spec");
    d.post(&format!("/v1/containers/{running}/exec"), b"{")
        .expect_error(400, "invalid_json");
    d.post_json(
        "/v1/containers/no-such-container/exec",
        &exec_spec(&["true"]),
    )
    .expect_error(404, "container_not_found");
}
