//! Bind mounts and named volumes, and the known ways out of a container through paths: a
//! symlinked volume target, `/proc` as a target, the host's `/`, `-w /proc/self/fd/N`, and the
//! contid binary through `/proc/<pid>/exe` (CVE-2019-5736).

use std::fs;
use std::os::unix::fs::symlink;

use conti_tests::{ContainerSpec, Daemon, ExecSpec, VolumeSpec, bin_path, cli, host, sh, spec};

fn volume(source: &str, target: &str, read_only: bool) -> VolumeSpec {
    VolumeSpec {
        source: source.into(),
        target: target.into(),
        read_only,
    }
}

fn with_volumes(mut spec: ContainerSpec, volumes: Vec<VolumeSpec>) -> ContainerSpec {
    spec.volumes = volumes;
    spec
}

#[test]
fn a_host_folder_is_shared_and_a_read_only_one_refuses_writes() {
    let d = Daemon::start_with_busybox();
    let shared = d.dir().join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("from-host"), "hello\n").unwrap();
    let s = with_volumes(
        sh("cat /data/from-host; echo back > /data/from-container; \
            touch /ro/x 2>&1 || echo ro-refused"),
        vec![
            volume(shared.to_str().unwrap(), "/data", false),
            volume(shared.to_str().unwrap(), "/ro", true),
        ],
    );
    let (id, code, logs) = d.run(&s);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.starts_with("hello\n"), "{logs}");
    assert!(logs.contains("Read-only file system"), "{logs}");
    assert_eq!(
        fs::read_to_string(shared.join("from-container")).unwrap(),
        "back\n"
    );
    assert!(!shared.join("x").exists());
    assert_eq!(d.inspect(&id).volumes.len(), 2);
    // Nothing of the mounts is left on the host.
    assert!(host::mount_points_under(d.dir()).is_empty());
}

#[test]
fn a_named_volume_outlives_its_container() {
    let d = Daemon::start_with_busybox();
    let first = with_volumes(sh("echo kept > /v/file"), vec![volume("data", "/v", false)]);
    assert_eq!(d.run(&first).1, 0);
    let out = cli(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "data:/w:ro",
            "busybox",
            "cat",
            "/w/file",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n", "{out:?}");
    assert!(d.root().join("volumes/data/file").exists());
}

#[test]
fn a_symlinked_target_resolves_inside_the_container_not_on_the_host() {
    let d = Daemon::start_with_busybox();
    let source = d.dir().join("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("payload"), "payload\n").unwrap();
    // A host folder the symlink points at, as an absolute host path.
    let victim = d.dir().join("victim");
    fs::create_dir_all(&victim).unwrap();
    let s = with_volumes(
        sh("cat /evil/payload; ls -d \"$(readlink /evil)\""),
        vec![volume(source.to_str().unwrap(), "/evil", false)],
    );
    let id = d.create(&s);
    // The container's own layer holds `/evil -> <host victim path>` before it starts, as an
    // image or an earlier run could have left it.
    // The same path exists inside the container, so the mount has somewhere to go there.
    let upper = d.container_dir(&id).join("upper");
    fs::create_dir_all(upper.join(victim.strip_prefix("/").unwrap())).unwrap();
    symlink(&victim, upper.join("evil")).unwrap();
    d.start_container(&id);
    assert_eq!(d.wait(&id), 0, "{}", d.logs(&id));
    assert_eq!(
        d.logs(&id),
        format!("payload\n{}\n", victim.display()),
        "the mount did not land inside the container"
    );
    // The host folder got nothing: no mount, no file.
    assert!(
        fs::read_dir(&victim).unwrap().next().is_none(),
        "the volume landed on the host"
    );
    assert!(host::mount_points_under(d.dir()).is_empty());
}

#[test]
fn proc_sys_and_the_hosts_root_are_refused() {
    let d = Daemon::start_with_busybox();
    for (source, target) in [
        ("data", "/proc"),
        ("data", "/proc/sys/kernel"),
        ("data", "/sys"),
        ("/", "/host"),
        ("data", "/"),
        ("data", "/a/../proc"),
        ("/nonexistent-conti-source", "/x"),
    ] {
        let s = with_volumes(spec(&["true"]), vec![volume(source, target, false)]);
        d.post_json("/v1/containers", &s)
            .expect_error(400, "invalid_spec");
    }
    assert!(d.list_all().is_empty());
    // With the daemon's permission, / may be bound (read-only here).
    let d = Daemon::start_with_busybox_and_args(&["--allow-root-bind"]);
    let s = with_volumes(
        sh("test -d /host/proc && echo bound"),
        vec![volume("/", "/host", true)],
    );
    let (_, code, logs) = d.run(&s);
    assert_eq!((code, logs.as_str()), (0, "bound\n"));
}

#[test]
fn a_workdir_in_proc_self_fd_cannot_escape() {
    let d = Daemon::start_with_busybox();
    for n in 3..8 {
        let cwd = format!("/proc/self/fd/{n}");
        let mut s = spec(&["true"]);
        s.cwd = Some(cwd.clone());
        d.post_json("/v1/containers", &s)
            .expect_error(400, "invalid_spec");
        let id = d.run_detached(&spec(&["sleep", "1000"]));
        let exec = ExecSpec {
            cmd: vec!["pwd".into()],
            cwd: Some(cwd),
            ..ExecSpec::default()
        };
        d.post_json(&format!("/v1/containers/{id}/exec"), &exec)
            .expect_error(400, "invalid_spec");
        d.remove(&id);
    }
    // A symlink that leads there is followed inside the container, where the init checks where
    // it landed.
    let mut s = sh("true");
    s.cwd = Some("/tmp".into());
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let r = d.exec(&id, &["ln", "-s", "/proc/self/fd/3", "/tmp/fd3"]);
    assert_eq!(r.exit_code, 0, "{r:?}");
    let resp = d.post_json(
        &format!("/v1/containers/{id}/exec"),
        &ExecSpec {
            cmd: vec!["pwd".into()],
            cwd: Some("/tmp/fd3".into()),
            ..ExecSpec::default()
        },
    );
    resp.expect_error(400, "invalid_cwd");
    d.remove(&id);
}

#[test]
fn the_contid_binary_cannot_be_opened_for_writing_from_inside() {
    let d = Daemon::start_with_busybox();
    let binary = bin_path("contid");
    let before = fs::read(&binary).unwrap();
    // With --init, PID 1 runs the contid binary.
    let mut s = spec(&["sleep", "1000"]);
    s.init = true;
    let id = d.run_detached(&s);
    let r = d.exec(
        &id,
        &[
            "sh",
            "-c",
            "readlink /proc/1/exe; echo x >> /proc/1/exe && echo WROTE; \
             for p in /proc/[0-9]*; do echo x 2>/dev/null >> $p/exe && echo WROTE $p; done; true",
        ],
    );
    assert!(!r.stdout.contains("WROTE"), "{r:?}");
    assert!(
        r.stderr.contains("Permission denied") || r.stderr.contains("can't create"),
        "{r:?}"
    );
    assert_eq!(
        fs::read(&binary).unwrap(),
        before,
        "the contid binary changed"
    );
    d.remove(&id);
}

#[test]
fn a_target_that_leads_nowhere_or_into_proc_fails_the_start_with_400() {
    let d = Daemon::start_with_busybox();
    let source = d.dir().join("source");
    fs::create_dir_all(&source).unwrap();
    // `/dangling` leads to a host path the container does not have; `/kernel` to /proc.
    for (link, points_to) in [
        ("dangling", d.dir().join("nowhere")),
        ("kernel", "/proc/sys".into()),
    ] {
        let s = with_volumes(
            spec(&["true"]),
            vec![volume(source.to_str().unwrap(), &format!("/{link}"), false)],
        );
        let id = d.create(&s);
        let upper = d.container_dir(&id).join("upper");
        fs::create_dir_all(&upper).unwrap();
        symlink(&points_to, upper.join(link)).unwrap();
        let err = d
            .post(&format!("/v1/containers/{id}/start"), b"")
            .expect_error(400, "invalid_volume");
        assert!(err.message.contains(link), "{}", err.message);
        assert!(!d.inspect(&id).pid.is_some_and(host::is_alive));
    }
    assert!(fs::read_dir(d.dir().join("nowhere")).is_err());
    assert!(host::mount_points_under(d.dir()).is_empty());
}
