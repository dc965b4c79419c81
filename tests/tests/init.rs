//! `--init`: a tiny init as PID 1 that reaps orphans, forwards signals and exits like the command.

use std::time::{Duration, Instant};

use conti_tests::cli::stdout;
use conti_tests::{ContainerSpec, Daemon, cli, sh, spec, wait_until};

fn with_init(mut spec: ContainerSpec) -> ContainerSpec {
    spec.init = true;
    spec
}

/// Leaves 100 orphans behind: each `(sleep 0 &)` subshell exits at once and its `sleep` is
/// reparented to the container's PID 1.
const MAKE_ORPHANS: &str = "for i in $(seq 100); do (sleep 0 &); done; sleep 0.5";

/// Processes in the zombie state inside the container.
fn zombies(d: &Daemon, id: &str) -> usize {
    // `cat` complains about processes that end while it reads: only the stat lines matter.
    let r = d.exec(id, &["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"]);
    r.stdout
        .lines()
        .filter(|line| {
            // The state follows the command name, which is in parentheses.
            line.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .count()
}

#[test]
fn the_init_reaps_orphaned_zombies_that_would_otherwise_pile_up() {
    let d = Daemon::start_with_busybox();
    // Without the init, `sleep` is PID 1 and never waits: the orphans stay zombies.
    let bare = d.run_detached(&spec(&["sleep", "1000"]));
    assert_eq!(d.exec(&bare, &["sh", "-c", MAKE_ORPHANS]).exit_code, 0);
    wait_until(
        Duration::from_secs(10),
        "100 zombies without --init",
        || zombies(&d, &bare) >= 100,
    );

    let init = d.run_detached(&with_init(spec(&["sleep", "1000"])));
    assert_eq!(d.exec(&init, &["sh", "-c", MAKE_ORPHANS]).exit_code, 0);
    wait_until(Duration::from_secs(10), "no zombie with --init", || {
        zombies(&d, &init) == 0
    });
    // The command is PID 2, under PID 1.
    let r = d.exec(&init, &["sh", "-c", "cat /proc/1/stat /proc/2/cmdline"]);
    assert!(r.stdout.contains("sleep\u{0}1000"), "{r:?}");
    d.remove(&bare);
    d.remove(&init);
}

#[test]
fn stop_ends_an_init_container_with_the_commands_sigterm_exit() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&with_init(spec(&["sleep", "1000"])));
    let started = Instant::now();
    d.stop(&id, 10);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}: SIGTERM was not forwarded",
        started.elapsed()
    );
    assert_eq!(d.wait(&id), 143);
    assert_eq!(d.inspect(&id).exit_code, Some(143));
}

#[test]
fn signals_are_forwarded_to_the_command() {
    let d = Daemon::start_with_busybox();
    let script = "trap 'echo got usr1; exit 7' USR1; trap 'echo hup' HUP; echo ready; \
                  while :; do sleep 0.1; done";
    let id = d.run_detached(&with_init(sh(script)));
    wait_until(Duration::from_secs(10), "the trap to be set", || {
        d.logs(&id).contains("ready")
    });
    for signal in ["HUP", "USR1"] {
        d.post(&format!("/v1/containers/{id}/kill?signal={signal}"), b"")
            .expect_status(204);
        if signal == "HUP" {
            wait_until(Duration::from_secs(10), "the HUP trap", || {
                d.logs(&id).contains("hup")
            });
        }
    }
    assert_eq!(d.wait(&id), 7);
    assert_eq!(d.logs(&id), "ready\nhup\ngot usr1\n");
}

#[test]
fn the_init_exits_like_the_command() {
    let d = Daemon::start_with_busybox();
    let cases = [
        ("exit 3", 3),
        ("kill -9 $$", 137),
        ("kill -TERM $$", 143),
        ("true", 0),
    ];
    for (script, code) in cases {
        let (_, exit_code, _) = d.run(&with_init(sh(script)));
        assert_eq!(exit_code, code, "{script}");
    }
    // Output goes where it goes without the init; the command is PID 2.
    let (_, code, logs) = d.run(&with_init(sh("echo out; echo $$")));
    assert_eq!((code, logs.as_str()), (0, "out\n2\n"));
    let (_, code, logs) = d.run(&with_init(sh("echo err >&2")));
    assert_eq!((code, logs.as_str()), (0, "err\n"));
}

#[test]
fn a_command_that_cannot_run_fails_the_start_as_without_init() {
    let d = Daemon::start_with_busybox();
    let id = d.create(&with_init(spec(&["no-such-command"])));
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_found");
    let info = d.inspect(&id);
    assert_eq!(info.exit_code, Some(127));
    assert!(info.init);

    let id = d.create(&with_init(spec(&["/etc/passwd"])));
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_executable");
    assert_eq!(d.inspect(&id).exit_code, Some(126));
}

#[test]
fn pid_1_holds_only_stdio() {
    // (Its non-dumpable flag cannot be seen from here: every process involved is root with
    // CAP_SYS_PTRACE, which the flag does not stop.)
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&with_init(spec(&["sleep", "1000"])));
    let r = d.exec(&id, &["ls", "/proc/1/fd"]);
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "0\n1\n2\n"), "{r:?}");
    let r = d.exec(&id, &["cat", "/proc/1/comm"]);
    assert_eq!(r.stdout, "conti-init\n");
    d.remove(&id);
}

#[test]
fn cli_run_init_runs_the_command_as_pid_2_with_its_exit_code() {
    let d = Daemon::start_with_busybox();
    let out = cli(
        &d,
        &[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "echo $$; exit 5",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(stdout(&out), "2\n");
}
