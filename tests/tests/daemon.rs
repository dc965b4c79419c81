//! The daemon's own life: restarts, crashes, the lock on the root, the socket.

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgid};

use conti_tests::{ContainerState, Daemon, DaemonInfo, host, sh, spec, unique_name, wait_until};

#[test]
fn containers_outlive_a_killed_daemon_and_are_adopted_again() {
    let mut d = Daemon::start_with_busybox();
    let mut s = spec(&["sleep", "1000"]);
    s.name = Some(unique_name("sleeper"));
    let sleeper = d.run_detached(&s);
    let short = d.run_detached(&sh("sleep 2; exit 7"));
    let later = d.run_detached(&sh("sleep 8; echo done; exit 5"));
    let before = d.run_detached(&sh("exit 3"));
    assert_eq!(d.wait(&before), 3, "an exit seen while contid runs");
    // contid stores the exits it sees (once the monitor is gone).
    wait_until(Duration::from_secs(10), "the exit to be stored", || {
        std::fs::read_to_string(d.container_dir(&before).join("container.json"))
            .is_ok_and(|stored| stored.contains("\"exited\""))
    });
    let sleeper_pid = d.inspect(&sleeper).pid.expect("pid");
    let short_pid = d.inspect(&short).pid.expect("pid");
    let short_monitor = host::parent_pid(short_pid).expect("parent of the short one's init");

    // The monitor is neither the daemon's child nor in its process group.
    let monitor = host::parent_pid(sleeper_pid).expect("parent of the container's init");
    let daemon_pid = d.pid();
    assert_ne!(
        monitor, daemon_pid,
        "the container's init is a child of contid"
    );
    assert_ne!(
        host::parent_pid(monitor),
        Some(daemon_pid),
        "the monitor is a child of contid"
    );
    let pgid = |pid: i32| getpgid(Some(Pid::from_raw(pid))).expect("getpgid");
    assert_ne!(
        pgid(monitor),
        pgid(daemon_pid),
        "the monitor is in contid's process group"
    );

    d.kill9();
    assert!(
        host::is_alive(sleeper_pid) && host::is_alive(short_pid),
        "containers died with contid"
    );
    assert!(host::is_alive(monitor), "the monitor died with contid");
    wait_until(
        Duration::from_secs(10),
        "the short container to exit (and its monitor to record it) while contid is down",
        || !host::is_alive(short_pid) && !host::is_alive(short_monitor),
    );
    d.launch();
    assert_ne!(d.pid(), daemon_pid);
    // The new daemon's log tells which exits it learned of, and only those.
    let log = d.log_text();
    let this_run = log
        .rsplit("---- contid started by the test harness ----")
        .next();
    let said_of = |id: &str| -> Vec<String> {
        this_run
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(id) && line.contains("while the daemon was down"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(said_of(&before), Vec::<String>::new());
    assert_eq!(said_of(&short).len(), 1, "{log}");
    assert_eq!(d.inspect(&before).exit_code, Some(3));

    let info = d.inspect(&sleeper);
    assert_eq!(
        (info.state, info.pid),
        (ContainerState::Running, Some(sleeper_pid))
    );
    let info = d.inspect(&short);
    assert_eq!(
        (info.state, info.exit_code),
        (ContainerState::Exited, Some(7)),
        "the exit while contid was down"
    );
    assert!(info.finished.is_some());
    assert_eq!(d.wait(&short), 7);

    // Re-adopted containers are fully manageable.
    let r = d.exec(&sleeper, &["cat", "/proc/1/comm"]);
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "sleep\n"));
    let info = d.inspect(&later);
    assert_eq!(
        info.state,
        ContainerState::Running,
        "a container exited early: {info:?}"
    );
    assert_eq!(d.wait(&later), 5, "the exit of a re-adopted container");
    assert_eq!(d.logs(&later), "done\n");
    d.stop(&sleeper, 1);
    assert_eq!(d.inspect(&sleeper).exit_code, Some(137));
    wait_until(
        Duration::from_secs(5),
        "the re-adopted sleeper to be gone",
        || !host::is_alive(sleeper_pid),
    );
    d.remove(&sleeper);
    // The name, known again after the restart, is free once its container is removed.
    d.create(&s);
}

#[test]
fn a_container_whose_processes_vanished_while_the_daemon_was_down_is_exited_255() {
    let mut d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let init = d.inspect(&id).pid.expect("pid");
    let monitor = host::parent_pid(init).expect("the init's parent, its monitor");
    d.kill9();
    // The monitor first: killed after the init, it would record the init's real exit.
    kill(Pid::from_raw(monitor), Signal::SIGKILL).expect("killing the monitor");
    wait_until(Duration::from_secs(5), "the monitor to die", || {
        !host::is_alive(monitor)
    });
    kill(Pid::from_raw(init), Signal::SIGKILL).expect("killing the container's init");
    wait_until(Duration::from_secs(5), "the init to die", || {
        !host::is_alive(init)
    });
    d.launch();

    let info = d.inspect(&id);
    assert_eq!(
        (info.state, info.exit_code, info.pid),
        (ContainerState::Exited, Some(255), None)
    );
    assert_eq!(d.wait(&id), 255);
    d.remove(&id);
    assert!(!d.container_dir(&id).exists());
    for parent in d.cgroup_parent_dirs() {
        assert!(
            !parent.join(&id).exists(),
            "cgroup {} left behind",
            parent.join(&id).display()
        );
    }
}

#[test]
fn sigterm_stops_the_daemon_but_not_the_containers() {
    let mut d = Daemon::start_with_busybox();
    let running = d.run_detached(&spec(&["sleep", "1000"]));
    let created = d.create(&spec(&["echo", "later"]));
    let (exited, _, _) = d.run(&sh("echo before; exit 3"));
    let pid = d.inspect(&running).pid.expect("pid");

    let status = d.terminate();
    assert!(
        status.success(),
        "contid exited with {status} on SIGTERM; log:\n{}",
        d.log_text()
    );
    assert!(
        UnixStream::connect(d.socket()).is_err(),
        "the socket still accepts connections"
    );
    assert!(host::is_alive(pid), "SIGTERM to contid killed a container");

    d.launch();
    let info = d.inspect(&running);
    assert_eq!((info.state, info.pid), (ContainerState::Running, Some(pid)));
    assert_eq!(d.inspect(&created).state, ContainerState::Created);
    // Its monitor may still be recording the exit when SIGTERM came: then the new daemon adopts
    // it as running and learns of the exit a moment later.
    wait_until(
        Duration::from_secs(10),
        "the exit to be known again",
        || d.inspect(&exited).state == ContainerState::Exited,
    );
    let info = d.inspect(&exited);
    assert_eq!(
        (info.state, info.exit_code),
        (ContainerState::Exited, Some(3))
    );
    assert_eq!(d.logs(&exited), "before\n");
    d.start_container(&created);
    assert_eq!(d.wait(&created), 0);
    assert_eq!(d.logs(&created), "later\n");
    assert_eq!(d.list_all().len(), 3);
}

#[test]
fn a_second_daemon_on_the_same_root_refuses_to_start() {
    let d = Daemon::start();
    for socket in [d.dir().join("second.sock"), d.socket().to_path_buf()] {
        let out = d.run_second_contid(&socket);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            !out.status.success(),
            "a second contid on the same root started:\n{text}"
        );
        assert!(
            text.contains(&d.root().display().to_string()),
            "the refusal does not name the root:\n{text}"
        );
        assert!(!text.contains("panicked"), "{text}");
        // The first daemon still owns its socket.
        d.get("/v1/version").expect_status(200);
    }
    assert!(
        !d.dir().join("second.sock").exists(),
        "the refused daemon left a socket"
    );
}

#[test]
fn a_stale_socket_is_replaced_and_the_socket_is_root_only_or_its_groups() {
    let mut d = Daemon::unstarted();
    // A socket file nobody listens on, as a crashed daemon leaves it.
    drop(UnixListener::bind(d.socket()).expect("binding a stale socket"));
    assert!(UnixStream::connect(d.socket()).is_err());
    d.launch();
    d.get("/v1/version").expect_status(200);
    let meta = std::fs::metadata(d.socket()).expect("socket metadata");
    assert!(meta.file_type().is_socket());
    // Without --group: root:conti 0660 when the host has a `conti` group, root:root 0600 else.
    let conti_gid = nix::unistd::Group::from_name("conti")
        .expect("reading the group database")
        .map(|group| group.gid.as_raw());
    let expected = conti_gid.map_or((0o600, 0), |gid| (0o660, gid));
    assert_eq!(
        (meta.permissions().mode() & 0o7777, meta.gid()),
        expected,
        "socket mode and group"
    );
    assert_eq!(meta.uid(), 0, "socket owner");

    // And after a crash, the socket left behind is replaced too.
    d.kill9();
    assert!(d.socket().exists());
    d.launch();
    d.get("/v1/version").expect_status(200);
}

/// Every process in the container's cgroups, in every hierarchy (`parents`: the daemon's cgroup
/// parent in each).
fn container_processes(parents: &[PathBuf], id: &str) -> BTreeSet<i32> {
    parents
        .iter()
        .flat_map(|parent| host::pids_in_cgroup_tree(&parent.join(id)))
        .collect()
}

/// A container that does not run has nothing left: no process, cgroup, interface or mount.
#[track_caller]
fn assert_nothing_left(d: &Daemon, parents: &[PathBuf], id: &str, context: &str) {
    assert_eq!(
        container_processes(parents, id),
        BTreeSet::new(),
        "{context}: {id} has processes"
    );
    for parent in parents {
        assert!(
            !parent.join(id).exists(),
            "{context}: {id} left its cgroup {}",
            parent.join(id).display()
        );
    }
    // The kernel tears a dead network namespace (and the veth in it) down in the background.
    wait_until(
        Duration::from_secs(10),
        &format!("{context}: {id}'s veth to go"),
        || !conti_tests::network::interface_exists(&conti_tests::network::host_interface(id)),
    );
    assert_eq!(
        host::mount_points_under(&d.container_dir(id)),
        Vec::<PathBuf>::new(),
        "{context}: {id} left mounts"
    );
}

/// A running container runs once: its init, under a live monitor, alone in its cgroups.
#[track_caller]
fn assert_runs_once(d: &Daemon, parents: &[PathBuf], id: &str, context: &str) {
    let pid = d.inspect(id).pid.expect("a running container's pid");
    assert!(host::is_alive(pid), "{context}: {id}'s init {pid} is gone");
    let monitor = host::parent_pid(pid).expect("the init's parent");
    let comm = std::fs::read_to_string(format!("/proc/{monitor}/comm")).unwrap_or_default();
    assert_eq!(
        comm.trim(),
        "conti-monitor",
        "{context}: {id}'s init has no monitor"
    );
    assert_eq!(
        container_processes(parents, id),
        BTreeSet::from([pid]),
        "{context}: {id} runs more than its init"
    );
}

/// contid SIGKILLed while 20 starts are under way, again and again until some were caught in
/// the middle (stored as `starting`, or `created` with a cgroup). After the restart each
/// container runs, adopted (its monitor watched again: `stop` works), or does not run and has
/// nothing left; a new start runs it once; its exit is seen; `rm -f` removes every one.
#[test]
fn a_daemon_killed_in_the_middle_of_starts_adopts_or_ends_each_of_them() {
    const STARTS: usize = 20;
    let mut d = Daemon::start_with_busybox();
    // It keeps the cgroup parents there, so that they are looked up once (that walks every
    // hierarchy).
    let keeper = d.run_detached(&spec(&["sleep", "1000"]));
    let parents = d.cgroup_parent_dirs();
    assert!(!parents.is_empty());
    let mut caught = 0;
    let mut rounds = 0;
    while caught < 3 && rounds < 15 {
        rounds += 1;
        let ids: Vec<String> = (0..STARTS)
            .map(|_| d.create(&spec(&["sleep", "1000"])))
            .collect();
        std::thread::scope(|scope| {
            for id in &ids {
                let client = d.client().clone();
                scope.spawn(move || {
                    // The daemon dies under most of them: any answer, or none, will do.
                    let _ = client.try_request("POST", &format!("/v1/containers/{id}/start"), None);
                });
            }
            std::thread::sleep(Duration::from_millis(30 * rounds as u64));
            d.kill9();
        });
        let mid_start = |id: &String| {
            let stored = std::fs::read_to_string(d.container_dir(id).join("container.json"))
                .unwrap_or_default();
            stored.contains("\"starting\"")
                || (stored.contains("\"created\"") && parents.iter().any(|p| p.join(id).exists()))
        };
        caught += ids.iter().filter(|id| mid_start(id)).count();
        d.launch();
        for id in &ids {
            let context = format!("round {rounds}");
            let info = d.inspect(id);
            match info.state {
                ContainerState::Running => {
                    assert_runs_once(&d, &parents, id, &context);
                    d.post(&format!("/v1/containers/{id}/start"), b"")
                        .expect_error(409, "container_running");
                }
                _ => {
                    assert_nothing_left(&d, &parents, id, &context);
                    d.start_container(id);
                    assert_runs_once(&d, &parents, id, &format!("{context}, started again"));
                }
            }
            d.post(&format!("/v1/containers/{id}/kill"), b"")
                .expect_status(204);
            assert_eq!(d.wait(id), 137, "{context}: the exit of {id}");
            assert_nothing_left(&d, &parents, id, &format!("{context}, killed"));
            d.remove(id);
        }
    }
    assert_runs_once(&d, &parents, &keeper, "the keeper");
    assert!(
        caught > 0,
        "no start was caught in the middle in {rounds} rounds"
    );
    eprintln!("{caught} starts caught in the middle in {rounds} rounds");
}

/// Processes that hold a file in the container's folder: its monitor (log, lock) above all.
fn processes_using(d: &Daemon, id: &str) -> Vec<i32> {
    let dir = d.container_dir(id);
    host::all_pids()
        .into_iter()
        .filter(|&pid| host::uses_path_under(pid, &dir))
        .collect()
}

#[test]
fn contid_raises_its_open_file_limit_and_gives_containers_the_one_it_was_started_with() {
    let mut d = Daemon::unstarted();
    d.set_open_files_limit(256, 8192);
    d.launch();
    d.import_busybox();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).expect("limits");
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("the open files line");
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["8192", "8192"],
        "contid's own: {open_files}"
    );
    let (_, code, logs) = d.run(&sh("ulimit -n; ulimit -Hn"));
    assert_eq!((code, logs.as_str()), (0, "256\n8192\n"), "a container's");
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let r = d.exec(&id, &["sh", "-c", "ulimit -n; ulimit -Hn"]);
    assert_eq!(
        (r.exit_code, r.stdout.as_str()),
        (0, "256\n8192\n"),
        "an exec's"
    );
}

/// A contid that cannot raise its limit (soft = hard) runs out of fds after a few dozen
/// containers: the start that fails then — before the launch (its status cannot be stored) or
/// after it (no fd for the report or the pidfds) — leaves no process behind, the container shows
/// what runs (created or exited, nothing running), and once fds are free again `rm -f` and a
/// new start work. Three limits put the exhaustion at different steps of the start.
#[test]
fn a_start_that_runs_out_of_fds_leaves_nothing_running() {
    let mut failed_after_launch = 0;
    for limit in 64..=66 {
        let mut d = Daemon::unstarted();
        d.set_open_files_limit(limit, limit);
        d.launch();
        d.import_busybox();
        let ids: Vec<String> = (0..40)
            .map(|_| {
                let mut s = spec(&["sleep", "1000"]);
                s.network = conti_tests::NetworkMode::None;
                d.create(&s)
            })
            .collect();
        let mut started = Vec::new();
        let failed = ids
            .iter()
            .find(|id| {
                let resp = d.post(&format!("/v1/containers/{id}/start"), b"");
                if resp.status == 204 {
                    // (contid took a monitor it could not open for one already gone.)
                    assert_eq!(
                        d.inspect(id).state,
                        ContainerState::Running,
                        "limit {limit}: a start answered 204"
                    );
                    started.push(id.to_string());
                    return false;
                }
                assert_eq!(resp.status, 500, "limit {limit}: {}", resp.text());
                true
            })
            .unwrap_or_else(|| panic!("limit {limit}: 40 containers started"))
            .clone();
        let info = d.inspect(&failed);
        match info.state {
            ContainerState::Created => {}
            ContainerState::Exited => failed_after_launch += 1,
            ContainerState::Running => panic!("limit {limit}: the failed start shows running"),
        }
        let context = format!("limit {limit}, after {} starts", started.len());
        assert_eq!(
            processes_using(&d, &failed),
            Vec::<i32>::new(),
            "{context}: the failed start left processes"
        );
        let parents = d.cgroup_parent_dirs();
        assert_nothing_left(&d, &parents, &failed, &context);
        // Room again: the failed one goes, and starts anew.
        for id in started.drain(..4) {
            d.remove(&id);
        }
        d.start_container(&failed);
        assert_runs_once(&d, &parents, &failed, &context);
        d.remove(&failed);
    }
    assert!(
        failed_after_launch > 0,
        "no start ran out of fds after its launch"
    );
}

/// A damaged `container.json` (empty, truncated) is not taken for a create cut short: the folder
/// stays, its running container keeps running, `/v1/info` and the log report it, and its address
/// is not handed to a new container. A folder holding only the temporary file of a create's
/// atomic write is removed.
#[test]
fn a_damaged_container_file_is_quarantined_and_its_address_stays_taken() {
    let mut d = Daemon::start_with_busybox();
    let running = d.run_detached(&spec(&["sleep", "1000"]));
    let info = d.inspect(&running);
    let (pid, address) = (info.pid.expect("pid"), info.networks[0].ip_address.clone());
    let stopped = d.run_detached(&sh("echo bye"));
    assert_eq!(d.wait(&stopped), 0);
    let half = d.container_dir("00000000-0000-4000-8000-000000000000");
    d.kill9();
    let file = |id: &str| d.container_dir(id).join("container.json");
    let stored = std::fs::read(file(&running)).expect("container.json");
    std::fs::write(file(&running), &stored[..stored.len() / 2]).expect("truncating");
    std::fs::write(file(&stopped), b"").expect("emptying");
    std::fs::create_dir(&half).expect("a create cut short");
    std::fs::write(half.join(".container.json.tmp"), b"{\"con").expect("its temporary file");
    d.launch();

    assert!(!half.exists(), "a create cut short is left");
    for id in [&running, &stopped] {
        assert!(
            d.container_dir(id).join("upper").is_dir(),
            "{id}'s folder was touched"
        );
        d.get(&format!("/v1/containers/{id}"))
            .expect_error(404, "container_not_found");
    }
    let log = std::fs::read_to_string(d.container_dir(&stopped).join("container.log"));
    assert!(log.is_ok_and(|log| log.contains("bye")), "its log is gone");
    assert!(host::is_alive(pid), "the quarantined container was stopped");
    let info: DaemonInfo = d.get("/v1/info").json();
    let mut quarantined = info.quarantined.clone();
    quarantined.sort_by_key(|q| q.id != running);
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    let (q_running, q_stopped) = (&quarantined[0], &quarantined[1]);
    assert_eq!(
        (q_running.id.as_str(), q_running.running),
        (running.as_str(), true)
    );
    assert_eq!(q_running.ip_address.as_deref(), Some(address.as_str()));
    assert_eq!(q_running.network.as_deref(), Some("bridge"));
    assert!(
        q_running.reason.contains("container.json"),
        "{}",
        q_running.reason
    );
    assert_eq!(
        (q_stopped.id.as_str(), q_stopped.running),
        (stopped.as_str(), false)
    );
    assert!(
        d.log_text()
            .lines()
            .any(|line| line.contains(&running) && line.contains("cannot be read")),
        "the log does not report it"
    );
    // The first free address was the quarantined container's: new ones get others.
    for _ in 0..3 {
        let id = d.run_detached(&spec(&["sleep", "1000"]));
        let theirs = d.inspect(&id).networks[0].ip_address.clone();
        assert_ne!(
            theirs, address,
            "a new container got the quarantined one's address"
        );
    }
    // Still reported by the next daemon.
    d.restart();
    let info: DaemonInfo = d.get("/v1/info").json();
    assert_eq!(info.quarantined.len(), 2);
}
