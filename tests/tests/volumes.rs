//! Bind mounts and named volumes, and the known ways out of a container through paths: a
//! symlinked volume target (also one swapped in while containers start, CVE-2021-30465 class),
//! `/proc` as a target, the host's `/` (also through a symlinked source), `-w /proc/self/fd/N`,
//! and the contid binary through `/proc/<pid>/exe` (CVE-2019-5736).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};

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

/// A host folder `source` holding the file `name`, and an empty host folder `victim` where
/// nothing of a container may ever land.
fn source_and_victim(d: &Daemon, name: &str, contents: &str) -> (PathBuf, PathBuf) {
    let (source, victim) = (d.dir().join("source"), d.dir().join("victim"));
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join(name), contents).unwrap();
    fs::create_dir_all(&victim).unwrap();
    (source, victim)
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
    // The victim: a host folder the symlink points at, as an absolute host path.
    let (source, victim) = source_and_victim(&d, "payload", "payload\n");
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

/// Exchanges two paths of one folder (`renameat2(RENAME_EXCHANGE)`) in a tight loop, so that
/// whoever resolves `a` meets now the one, now the other; stops when dropped.
struct Swapper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Swapper {
    fn start(a: PathBuf, b: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                renameat2(AT_FDCWD, &a, AT_FDCWD, &b, RenameFlags::RENAME_EXCHANGE).unwrap_or_else(
                    |e| panic!("exchange {} and {}: {e}", a.display(), b.display()),
                );
                swaps += 1;
            }
            // Back where it started (an even count), so a failure leaves the folder as it was.
            if swaps % 2 == 1 {
                let _ = renameat2(AT_FDCWD, &a, AT_FDCWD, &b, RenameFlags::RENAME_EXCHANGE);
            }
            swaps
        });
        Swapper {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the loop; how many exchanges it made.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("the swapper panicked")
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Containers each race round starts.
const RACE_STARTS: usize = 25;

/// How one container of a race came out.
#[derive(Debug, Default)]
struct RaceOutcome {
    started: usize,
    refused: usize,
}

/// Creates and starts [`RACE_STARTS`] containers running `spec` while something swaps their
/// volume's paths. Each one either runs and prints `inside` (the volume's marker, found inside
/// its root) and never `HOST ROOT`, or is refused with a clear 400 and leaves nothing. The host
/// never shows a mount under the test's folder, nor anything in `victim`, and no container's
/// cgroup is left at the end.
fn race_starts(d: &Daemon, spec: &ContainerSpec, victim: &Path) -> RaceOutcome {
    let mut outcome = RaceOutcome::default();
    for _ in 0..RACE_STARTS {
        let created = d.post_json("/v1/containers", spec);
        if created.status == 400 {
            let err = created.expect_error(400, "invalid_spec");
            assert!(err.message.contains("/"), "{}", err.message);
            outcome.refused += 1;
            continue;
        }
        created.expect_status(201);
        let id = created.json::<conti_tests::CreatedContainer>().id;
        let started = d.post(&format!("/v1/containers/{id}/start"), b"");
        if started.status == 204 {
            assert_eq!(d.wait(&id), 0, "{}", d.logs(&id));
            let logs = d.logs(&id);
            assert!(
                logs.contains("inside"),
                "the volume is not inside: {logs:?}"
            );
            assert!(
                !logs.contains("HOST ROOT"),
                "the host's / was bound: {logs:?}"
            );
            outcome.started += 1;
        } else {
            let err = started.expect_error(400, "invalid_volume");
            assert!(!err.message.is_empty());
            assert!(!d.inspect(&id).pid.is_some_and(host::is_alive));
            outcome.refused += 1;
        }
        d.remove(&id);
        assert!(
            host::mount_points_under(d.dir()).is_empty(),
            "mounts on the host: {:?}",
            host::mount_points_under(d.dir())
        );
        let victim_mounts: Vec<String> = host::mountinfo("self")
            .into_iter()
            .filter(|line| line.contains(victim.to_str().unwrap()))
            .collect();
        assert!(victim_mounts.is_empty(), "{victim_mounts:?}");
    }
    assert!(
        fs::read_dir(victim).unwrap().next().is_none(),
        "something landed in the host's {}",
        victim.display()
    );
    for parent in d.cgroup_parent_dirs() {
        let left = host::cgroup_children(&parent);
        assert!(left.is_empty(), "cgroups left: {left:?}");
    }
    outcome
}

/// The script of a race's containers: `inside` when the volume's marker is where the volume
/// was asked for (or where a swap moved that very folder, still inside the root), `HOST ROOT`
/// when the host's `/` shows there.
fn race_script(d: &Daemon) -> String {
    let host_dir = d.dir().display();
    format!(
        "cat /mnt/data/marker /mnt/data-swap/marker 2>/dev/null; \
         test -d /mnt/data{host_dir} -o -d /mnt/data-swap{host_dir} && echo HOST ROOT; true"
    )
}

#[test]
fn a_volume_target_swapped_for_a_symlink_while_containers_start_never_mounts_outside_the_root() {
    let d = Daemon::start_with_busybox();
    let (source, victim) = source_and_victim(&d, "marker", "inside\n");
    // The image's /mnt/data (this daemon's copy of the image, the overlay's lower layer) swaps
    // with a symlink to the host's victim folder (enough `..` to leave any root), then to `/`.
    let mnt = d.image_layer_dir("busybox").join("fs/mnt");
    fs::create_dir(mnt.join("data")).unwrap();
    let s = with_volumes(
        sh(&race_script(&d)),
        vec![volume(source.to_str().unwrap(), "/mnt/data", false)],
    );
    let escape = format!("{}{}", "../".repeat(16), victim.display());
    let mut total = RaceOutcome::default();
    for link in [escape.as_str(), "/"] {
        symlink(link, mnt.join("data-swap")).unwrap();
        let swapper = Swapper::start(mnt.join("data"), mnt.join("data-swap"));
        let outcome = race_starts(&d, &s, &victim);
        let swaps = swapper.finish();
        assert!(swaps > 100, "only {swaps} swaps: no race");
        fs::remove_file(mnt.join("data-swap")).unwrap();
        eprintln!("symlink to {link}: {outcome:?} over {swaps} swaps");
        total.started += outcome.started;
        total.refused += outcome.refused;
    }
    assert_eq!(total.started + total.refused, 2 * RACE_STARTS);
}

#[test]
fn a_volume_source_swapped_for_a_symlink_to_the_hosts_root_is_never_bound() {
    let d = Daemon::start_with_busybox();
    let (source, victim) = source_and_victim(&d, "marker", "inside\n");
    // Without a race first: a source that is a symlink to `/`, or whose path leads there
    // through `..`, is the host's `/` all the same.
    symlink("/", d.dir().join("to-root")).unwrap();
    for sneaky in [
        d.dir().join("to-root").display().to_string(),
        format!("{}/../..", d.dir().display()),
    ] {
        let s = with_volumes(
            sh(&race_script(&d)),
            vec![volume(&sneaky, "/mnt/data", true)],
        );
        let err = d
            .post_json("/v1/containers", &s)
            .expect_error(400, "invalid_spec");
        assert!(err.message.contains("--allow-root-bind"), "{}", err.message);
    }
    let s = with_volumes(
        sh(&race_script(&d)),
        vec![volume(source.to_str().unwrap(), "/mnt/data", true)],
    );
    // A source that becomes such a symlink after the create: the init refuses what it opened.
    let id = d.create(&s);
    fs::rename(&source, d.dir().join("source-aside")).unwrap();
    symlink("/", &source).unwrap();
    let err = d
        .post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "invalid_volume");
    assert!(err.message.contains("--allow-root-bind"), "{}", err.message);
    assert!(host::mount_points_under(d.dir()).is_empty());
    d.remove(&id);
    fs::remove_file(&source).unwrap();
    fs::rename(d.dir().join("source-aside"), &source).unwrap();
    // Then the source path swapping with that symlink while containers are created and started.
    let swapper = Swapper::start(source.clone(), d.dir().join("to-root"));
    let outcome = race_starts(&d, &s, &victim);
    let swaps = swapper.finish();
    assert!(swaps > 100, "only {swaps} swaps: no race");
    eprintln!("source swapped with a symlink to /: {outcome:?} over {swaps} swaps");
    assert_eq!(outcome.started + outcome.refused, RACE_STARTS);
    assert!(source.join("marker").exists());
}
