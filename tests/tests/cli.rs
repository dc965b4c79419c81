//! The real `conti-cli` against a real daemon.

use std::time::Duration;

use conti_tests::cli::{cli_with_env, stderr, stdout};
use conti_tests::{
    ContainerInfo, ContainerState, Daemon, ImageInfo, cli, cli_with_socket, unique_name, wait_until,
};

fn code(output: &std::process::Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn run_prints_the_output_and_exits_with_the_containers_code() {
    let d = Daemon::start_with_busybox();
    let out = cli(&d, &["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, "hello\n"),
        "stderr: {}",
        stderr(&out)
    );
    wait_until(Duration::from_secs(5), "the --rm container to go", || {
        d.list_all().is_empty()
    });

    let out = cli(&d, &["run", "busybox", "sh", "-c", "echo partial; exit 5"]);
    assert_eq!(code(&out), 5, "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("partial"));
    let all = d.list_all();
    assert_eq!(all.len(), 1, "run without --rm keeps the container");
    assert_eq!(
        (all[0].state, all[0].exit_code),
        (ContainerState::Exited, Some(5))
    );

    // Could not run the command: docker's codes.
    let out = cli(&d, &["run", "--rm", "busybox", "/no/such/command"]);
    assert_eq!(code(&out), 127, "stderr: {}", stderr(&out));
    assert_eq!(
        stderr(&out).trim().lines().count(),
        1,
        "stderr: {}",
        stderr(&out)
    );
    // `--pull never`: the default would ask docker.io, which tests never contact.
    let out = cli(
        &d,
        &["run", "--rm", "--pull", "never", "no-such-image", "true"],
    );
    assert_eq!(code(&out), 125, "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("no-such-image"),
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn detached_containers_through_ps_inspect_logs_exec_stop_rm() {
    let d = Daemon::start_with_busybox();
    let name = unique_name("cli");
    let out = cli(
        &d,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--hostname",
            "clihost",
            "busybox",
            "sh",
            "-c",
            "echo started; exec sleep 1000",
        ],
    );
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(d.inspect(&id).name, name, "run -d does not print the id");
    wait_until(
        Duration::from_secs(5),
        "the container's first output",
        || d.logs(&id) == "started\n",
    );

    let ps = cli(&d, &["ps"]);
    assert_eq!(code(&ps), 0);
    let row = stdout(&ps)
        .lines()
        .find(|l| l.contains(&name))
        .map(str::to_string);
    let row = row.unwrap_or_else(|| panic!("ps does not list {name}:\n{}", stdout(&ps)));
    assert!(
        row.contains("busybox") && row.contains("Up"),
        "ps row: {row}"
    );
    let ps: Vec<ContainerInfo> =
        serde_json::from_slice(&cli(&d, &["ps", "--json"]).stdout).expect("ps --json");
    assert!(ps.iter().any(|c| c.id == id));

    let inspect = cli(&d, &["inspect", &name]);
    let found: Vec<ContainerInfo> =
        serde_json::from_slice(&inspect.stdout).expect("inspect prints JSON");
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].id.as_str(),
            found[0].state,
            found[0].hostname.as_str()
        ),
        (id.as_str(), ContainerState::Running, "clihost")
    );

    let logs = cli(&d, &["logs", &name]);
    assert_eq!((code(&logs), stdout(&logs).as_str()), (0, "started\n"));

    let exec = cli(
        &d,
        &["exec", &name, "sh", "-c", "hostname; echo oops >&2; exit 3"],
    );
    assert_eq!(
        (code(&exec), stdout(&exec).as_str(), stderr(&exec).as_str()),
        (3, "clihost\n", "oops\n")
    );

    let stop = cli(&d, &["stop", "-t", "1", &name]);
    assert_eq!(code(&stop), 0, "stderr: {}", stderr(&stop));
    assert!(
        !stdout(&cli(&d, &["ps"])).contains(&name),
        "ps lists a stopped container"
    );
    let ps_all = stdout(&cli(&d, &["ps", "-a"]));
    assert!(
        ps_all
            .lines()
            .any(|l| l.contains(&name) && l.contains("Exited (137)")),
        "ps -a:\n{ps_all}"
    );
    let exec = cli(&d, &["exec", &name, "true"]);
    assert_ne!(code(&exec), 0);
    assert_eq!(
        stderr(&exec).trim().lines().count(),
        1,
        "stderr: {}",
        stderr(&exec)
    );

    // rm -f of a running container.
    d.start_container(&id);
    let rm = cli(&d, &["rm", "-f", &name]);
    assert_eq!(code(&rm), 0, "stderr: {}", stderr(&rm));
    d.get(&format!("/v1/containers/{id}"))
        .expect_error(404, "container_not_found");
    let inspect = cli(&d, &["inspect", &name]);
    assert_ne!(code(&inspect), 0);
    assert!(
        stderr(&inspect).contains(&name),
        "stderr: {}",
        stderr(&inspect)
    );
}

/// `conti-cli run --rm IMAGE ...; conti-cli image rm IMAGE` is a common script: when `run`
/// returns, the container must be gone already, not about to go.
#[test]
fn run_rm_returns_once_the_container_is_removed() {
    let d = Daemon::start_with_busybox();
    for i in 0..10 {
        let out = cli(&d, &["run", "--rm", "busybox", "true"]);
        assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
        let left = d.list_all();
        assert!(
            left.is_empty(),
            "run {i}: `run --rm` returned before the container was removed: {left:?}"
        );
    }
}

#[test]
fn images_through_the_cli() {
    let d = Daemon::start();
    let name = unique_name("cliimg");
    let tar = conti_tests::busybox_tar().display().to_string();
    let out = cli(&d, &["image", "import", &tar, &name]);
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert!(stdout(&cli(&d, &["image", "ls"])).contains(&name));
    let images: Vec<ImageInfo> =
        serde_json::from_slice(&cli(&d, &["image", "ls", "--json"]).stdout)
            .expect("image ls --json");
    assert_eq!(images.len(), 1);
    let out = cli(&d, &["run", "--rm", &name, "echo", "from", "cli image"]);
    assert_eq!(stdout(&out), "from cli image\n");
    // (Whether `run --rm` waits for the removal is the next test's business.)
    wait_until(Duration::from_secs(5), "the --rm container to go", || {
        d.list_all().is_empty()
    });
    let out = cli(&d, &["image", "rm", &name]);
    assert_eq!(code(&out), 0, "stderr: {}", stderr(&out));
    assert!(d.get("/v1/images").json::<Vec<ImageInfo>>().is_empty());
}

#[test]
fn a_daemon_that_is_not_running_gives_one_clear_line() {
    let socket = std::path::PathBuf::from("/tmp")
        .join(unique_name("conti-test-absent"))
        .join("contid.sock");
    for args in [
        &["ps"][..],
        &["version"],
        &["run", "busybox", "true"],
        &["logs", "x"],
    ] {
        let out = cli_with_socket(&socket, args);
        let err = stderr(&out);
        assert_ne!(code(&out), 0, "{args:?} succeeded without a daemon");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: stderr is not one line:\n{err}"
        );
        assert!(
            err.contains(&socket.display().to_string()),
            "{args:?}: does not name the socket: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(stdout(&out), "");
    }
}

/// `-t` gives `TERM=xterm` unless the user sets `TERM` (without it bash falls back to `dumb`
/// and `top` refuses to run): the engine's default, so the API does it too; an exec gets it
/// from its own `-t`, as with Docker.
#[test]
fn a_terminal_gets_term_xterm_unless_the_user_sets_one() {
    let d = Daemon::start_with_busybox();
    let term = |args: &[&str]| {
        let out = cli(&d, args);
        assert_eq!(code(&out), 0, "{args:?}: {out:?}");
        stdout(&out)
    };
    let show = ["sh", "-c", "echo \"TERM=$TERM\""];
    // A terminal writes \r\n.
    for (flags, expected) in [
        (&["-t"][..], "TERM=xterm\r\n"),
        (&["-t", "-e", "TERM=vt100"], "TERM=vt100\r\n"),
        (&[], "TERM=\n"),
    ] {
        let args = [&["run", "--rm"], flags, &["busybox"], &show].concat();
        assert_eq!(term(&args), expected, "{args:?}");
    }
    // busybox top runs only with a terminal it knows.
    let top = cli(
        &d,
        &["run", "--rm", "-t", "busybox", "top", "-b", "-n", "1"],
    );
    assert_eq!(code(&top), 0, "{top:?}");

    let name = unique_name("term");
    let out = cli(
        &d,
        &["run", "-d", "--name", &name, "busybox", "sleep", "600"],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    for (flags, expected) in [
        (&["-t"][..], "TERM=xterm\r\n"),
        (&["-t", "-e", "TERM=screen"], "TERM=screen\r\n"),
        (&[], "TERM=\n"),
    ] {
        let args = [&["exec"], flags, &[name.as_str()], &show].concat();
        assert_eq!(term(&args), expected, "{args:?}");
    }

    // Through the API: a container with a tty, and an exec without one in it.
    let mut spec = conti_tests::sh("echo \"TERM=$TERM\"");
    spec.tty = true;
    let (id, code, logs) = d.run(&spec);
    assert_eq!((code, logs.as_str()), (0, "TERM=xterm\r\n"));
    // What inspect shows is what was asked for: the default is not stored.
    assert!(!d.inspect(&id).env.iter().any(|e| e.starts_with("TERM=")));
    spec.cmd = vec!["sleep".into(), "600".into()];
    let id = d.run_detached(&spec);
    let r = d.exec(&id, &["sh", "-c", "echo \"TERM=$TERM\""]);
    assert_eq!(r.stdout, "TERM=\n", "{r:?}");
}

/// `-w DIR` that the image lacks is made (mode 0755, owned by the container's user), resolved
/// inside the container's root: a symlink on the way that points out of it, followed on the
/// host, leads to the same path inside the root. An exec's missing working directory stays an
/// error, as with Docker.
#[test]
fn a_missing_workdir_is_made_inside_the_root_for_the_user() {
    let d = Daemon::start_with_busybox();
    let owners = "pwd -P; stat -c '%n %u:%g %a' /made /made/here /made/here/now /tmp";
    let run = |flags: &[&str], script: &str| {
        let args = [&["run", "--rm"], flags, &["busybox", "sh", "-c", script]].concat();
        let out = cli(&d, &args);
        assert_eq!(code(&out), 0, "{args:?}: {out:?}");
        stdout(&out)
    };
    assert_eq!(
        run(&["-w", "/made/here/now"], owners),
        "/made/here/now\n/made 0:0 755\n/made/here 0:0 755\n/made/here/now 0:0 755\n\
         /tmp 0:0 1777\n"
    );
    assert_eq!(
        run(&["-u", "1000:1000", "-w", "/made/here/now"], owners),
        "/made/here/now\n/made 1000:1000 755\n/made/here 1000:1000 755\n\
         /made/here/now 1000:1000 755\n/tmp 0:0 1777\n"
    );
    // A user from the image's /etc/passwd; an existing folder keeps its owner and mode.
    assert_eq!(
        run(
            &["-u", "nobody", "-w", "/home/nobody"],
            "stat -c '%U:%G %a' ."
        ),
        "nobody:nogroup 755\n"
    );
    assert_eq!(
        run(&["-u", "nobody", "-w", "/tmp"], "stat -c '%u %a' ."),
        "0 1777\n"
    );
    // --read-only: made before the root turns read-only.
    assert_eq!(run(&["--read-only", "-w", "/ro/made"], "pwd"), "/ro/made\n");

    // Symlinks in a volume, to absolute and relative paths out of the container.
    let volume = d.dir().join("links");
    std::fs::create_dir_all(&volume).unwrap();
    let outside = std::path::PathBuf::from("/tmp").join(unique_name("conti-test-outside"));
    std::os::unix::fs::symlink("/etc", volume.join("etc")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../tmp", volume.join("up")).unwrap();
    std::os::unix::fs::symlink(&outside, volume.join("gone")).unwrap();
    let bind = format!("{}:/links", volume.display());
    let made = unique_name("made");
    assert_eq!(
        run(
            &["-v", &bind, "-w", &format!("/links/etc/{made}")],
            "pwd -P"
        ),
        format!("/etc/{made}\n")
    );
    assert_eq!(
        run(&["-v", &bind, "-w", &format!("/links/up/{made}")], "pwd -P"),
        format!("/tmp/{made}\n")
    );
    assert!(!std::path::Path::new("/etc").join(&made).exists());
    assert!(!std::path::Path::new("/tmp").join(&made).exists());
    // A symlink that leads nowhere inside the root is refused, and nothing is made outside.
    let out = cli(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &bind,
            "-w",
            "/links/gone/x",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code(&out), 125, "{out:?}");
    assert!(stderr(&out).contains("/links/gone"), "{out:?}");
    assert!(!outside.exists());

    // exec: not made.
    let name = unique_name("wd");
    let out = cli(
        &d,
        &["run", "-d", "--name", &name, "busybox", "sleep", "600"],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    let out = cli(&d, &["exec", "-w", "/nowhere", &name, "pwd"]);
    assert_ne!(code(&out), 0, "{out:?}");
    assert!(stderr(&out).contains("/nowhere"), "{out:?}");
    let exec = conti_tests::ExecSpec {
        cmd: vec!["pwd".into()],
        cwd: Some("/nowhere".into()),
        ..Default::default()
    };
    d.post_json(&format!("/v1/containers/{name}/exec"), &exec)
        .expect_error(400, "invalid_cwd");
    assert_eq!(d.exec(&name, &["ls", "/nowhere"]).exit_code, 1);
}

/// `-e NAME` takes NAME's value from the client's environment, and is left out when the client
/// has none; `-e NAME=VALUE` is sent as it is.
#[test]
fn env_names_alone_take_the_clients_values() {
    let d = Daemon::start_with_busybox();
    let ours = [
        ("CONTI_T_SET", Some("from the client")),
        ("CONTI_T_EMPTY", Some("")),
        ("CONTI_T_UNSET", None),
    ];
    let flags = [
        "-e",
        "CONTI_T_SET",
        "-e",
        "CONTI_T_EMPTY",
        "-e",
        "CONTI_T_UNSET",
        "-e",
        "CONTI_T_GIVEN=given",
    ];
    let show = "env | grep CONTI_T_ | sort";
    let expected = "CONTI_T_EMPTY=\nCONTI_T_GIVEN=given\nCONTI_T_SET=from the client\n";
    let args = [&["run", "--rm"][..], &flags, &["busybox", "sh", "-c", show]].concat();
    let out = cli_with_env(&d, &ours, &args);
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, expected),
        "{out:?}"
    );

    let name = unique_name("env");
    let args = [
        &["create", "--name", name.as_str()][..],
        &flags,
        &["busybox", "sleep", "600"],
    ]
    .concat();
    let out = cli_with_env(&d, &ours, &args);
    assert_eq!(code(&out), 0, "{out:?}");
    assert_eq!(
        d.inspect(&name).env,
        [
            "CONTI_T_SET=from the client",
            "CONTI_T_EMPTY=",
            "CONTI_T_GIVEN=given"
        ]
    );
    d.start_container(&name);
    let args = [&["exec"][..], &flags, &[name.as_str(), "sh", "-c", show]].concat();
    let theirs = [
        ("CONTI_T_SET", Some("from the exec's client")),
        ("CONTI_T_EMPTY", None),
        ("CONTI_T_UNSET", None),
    ];
    let out = cli_with_env(&d, &theirs, &args);
    // The exec's own entries on top of the container's, which keeps what it had.
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (
            0,
            "CONTI_T_EMPTY=\nCONTI_T_GIVEN=given\nCONTI_T_SET=from the exec's client\n"
        ),
        "{out:?}"
    );
}

/// `inspect` of names that find nothing prints only the errors (exit 1); with some that do, it
/// prints those and an error for each of the others, as Docker does.
#[test]
fn inspect_prints_what_it_finds_and_an_error_for_each_other_name() {
    let d = Daemon::start_with_busybox();
    let out = cli(&d, &["inspect", "nosuch"]);
    assert_eq!(code(&out), 1, "{out:?}");
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out).lines().count(), 1, "{out:?}");
    assert!(stderr(&out).contains("nosuch"), "{out:?}");

    let name = unique_name("found");
    d.create(&conti_tests::ContainerSpec {
        name: Some(name.clone()),
        ..conti_tests::spec(&["true"])
    });
    let out = cli(&d, &["inspect", "nosuch", &name, "nothere"]);
    assert_eq!(code(&out), 1, "{out:?}");
    let found: Vec<ContainerInfo> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, name);
    let errors = stderr(&out);
    assert_eq!(errors.lines().count(), 2, "{errors}");
    assert!(
        errors.contains("nosuch") && errors.contains("nothere"),
        "{errors}"
    );
    let out = cli(&d, &["inspect", &name]);
    assert_eq!((code(&out), stderr(&out).as_str()), (0, ""));
}

/// `ps` shows a container's published ports only while it runs, as Docker's does; inspect
/// keeps them as what the container publishes when it runs.
#[test]
fn ps_shows_ports_only_while_the_container_runs() {
    let d = Daemon::start_with_busybox();
    let port = conti_tests::network::free_loopback_port();
    let published = format!("127.0.0.1:{port}->80/tcp");
    let name = unique_name("ports");
    let out = cli(
        &d,
        &[
            "create",
            "--name",
            &name,
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sleep",
            "600",
        ],
    );
    assert_eq!(code(&out), 0, "{out:?}");
    let row = |state: &str| {
        let ps = stdout(&cli(&d, &["ps", "-a"]));
        let row = ps
            .lines()
            .find(|l| l.contains(&name))
            .unwrap_or_default()
            .to_string();
        assert!(row.contains(state), "{ps}");
        row
    };
    assert!(!row("Created").contains("->"));
    d.start_container(&name);
    assert!(row("Up").contains(&published));
    d.stop(&name, 0);
    assert!(!row("Exited").contains("->"));
    let ports = &d.inspect(&name).ports;
    assert_eq!((ports.len(), ports[0].host_port), (1, port));
}
