//! contid's configuration file (`--config FILE`) and `--validate`, from the outside: exit codes,
//! messages, and which setting wins in a running daemon.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use conti_tests::{Daemon, DaemonInfo, TempDir, bin_path, run_command};

/// `contid ARGS` run to its end (it must end by itself within 10 s).
fn contid(args: &[&str]) -> Output {
    run_command(
        Command::new(bin_path("contid")).args(args),
        Duration::from_secs(10),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(path: &Path, text: &str) -> String {
    fs::write(path, text).expect("writing the configuration file");
    path.display().to_string()
}

#[test]
fn a_bad_configuration_file_is_refused_with_its_line_and_nothing_starts() {
    let dir = TempDir::new("conti-test-config");
    let root = dir.path().join("root");
    let socket = dir.path().join("contid.sock");
    let (root_arg, socket_arg) = (root.display().to_string(), socket.display().to_string());
    let cases = [
        (
            "# contid\nlog-level = \"debug\"\n\nsockt = \"/run/x.sock\"\n",
            4,
            "unknown field `sockt`",
        ),
        (
            "max-connections = 20\nbridge = \"a-name-far-too-long\"\n",
            2,
            "1-15 characters",
        ),
        ("log-max-bytes = \"lots\"\n", 1, "u64"),
    ];
    for (text, line, reason) in cases {
        let file = write(&dir.path().join("contid.toml"), text);
        for validate in [false, true] {
            let mut args = vec![
                "--config",
                &file,
                "--root",
                &root_arg,
                "--socket",
                &socket_arg,
            ];
            if validate {
                args.push("--validate");
            }
            let out = contid(&args);
            let message = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {message}");
            assert!(
                message.contains(&format!("{file}:{line}:")) && message.contains(reason),
                "{args:?}: the message does not name line {line} and why ({reason}): {message}"
            );
            assert!(stdout(&out).is_empty());
        }
    }
    assert!(
        !root.exists() && !socket.exists(),
        "a refused start made files"
    );

    let missing = dir.path().join("absent.toml").display().to_string();
    let out = contid(&["--config", &missing, "--validate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&missing), "{}", stderr(&out));
}

#[test]
fn validate_prints_the_settings_flags_over_the_file_and_starts_nothing() {
    let dir = TempDir::new("conti-test-config");
    let root = dir.path().join("root").display().to_string();
    let file = write(
        &dir.path().join("contid.toml"),
        "log-max-bytes = 4096\nbridge = \"ctv0\"\nallow-root-bind = true\n\
         insecure-registries = [\"registry.test:5000\"]\n",
    );
    let out = contid(&[
        "--config",
        &file,
        "--validate",
        "--log-max-bytes",
        "8192",
        "--allow-root-bind=false",
        "--root",
        &root,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    for line in [
        "log-max-bytes = 8192",
        "bridge = \"ctv0\"",
        "allow-root-bind = false",
        "insecure-registries = [\"registry.test:5000\"]",
        &format!("root = \"{root}\""),
        "socket = \"/var/run/conti.sock\"",
        "exe-seal = \"auto\"",
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "{line:?} is not printed:\n{printed}"
        );
    }
    assert!(
        printed.contains(&file),
        "the file read is not named:\n{printed}"
    );
    assert!(!Path::new(&root).exists(), "--validate made the root");

    // What it prints is a configuration file that gives the same settings.
    let again = write(&dir.path().join("printed.toml"), &printed);
    let out = contid(&["--config", &again, "--validate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let settings = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(settings(&stdout(&out)), settings(&printed));

    // What a start would find missing on the host fails it as the start would (exit code 1).
    let out = contid(&["--validate", "--group", "no-such-group-conti-config"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-group-conti-config"));
}

#[test]
fn a_running_daemon_takes_the_file_and_its_flags_win() {
    let mut d = Daemon::unstarted();
    // The harness's flags (root, socket, cgroup parent, networking) win over these.
    let file = write(
        &d.dir().join("contid.toml"),
        "log-max-bytes = 4096\nroot = \"/nonexistent/conti\"\ncgroup-parent = \"not-the-test-one\"\n",
    );
    d.set_args(&["--config", &file]);
    d.launch();
    let info: DaemonInfo = d.get("/v1/info").json();
    assert_eq!(info.log_max_bytes, 4096, "the file's setting");
    assert_eq!(info.cgroup_parent, d.cgroup_parent(), "the flag wins");
    assert_eq!(info.root, d.root().display().to_string(), "the flag wins");

    assert!(d.terminate().success());
    d.set_args(&["--config", &file, "--log-max-bytes", "8192"]);
    d.launch();
    let info: DaemonInfo = d.get("/v1/info").json();
    assert_eq!(info.log_max_bytes, 8192, "the flag wins over the file");
}
