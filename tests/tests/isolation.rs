//! The seed's experiments: what a process in a container sees of the host (nothing it should).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use conti_tests::network::interfaces;
use conti_tests::{Daemon, NetworkMode, host, run_command, sh, spec, unique_name};

#[test]
fn network_none_has_only_lo_up_and_an_empty_routing_table() {
    let d = Daemon::start_with_busybox();
    let mut only_lo = sh("ip link && echo ---routes--- && ip route");
    only_lo.network = NetworkMode::None;
    let (id, code, logs) = d.run(&only_lo);
    assert_eq!(d.inspect(&id).networks, []);
    assert_eq!(code, 0, "output: {logs}");
    let (links, routes) = logs
        .split_once("---routes---\n")
        .unwrap_or_else(|| panic!("unexpected output: {logs}"));
    let links = interfaces(links);
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["lo"], "interfaces in the container: {logs}");
    assert!(links[0].1.contains(",UP"), "lo is not up: {}", links[0].1);
    assert_eq!(
        routes.trim(),
        "",
        "routing table in the container is not empty"
    );

    // The host has a different view, so the test above tells namespaces apart.
    let host_routes = run_command(Command::new("ip").arg("route"), Duration::from_secs(10));
    let host_links = run_command(Command::new("ip").arg("link"), Duration::from_secs(10));
    let host_links = interfaces(&String::from_utf8_lossy(&host_links.stdout));
    assert!(
        host_links.len() > 1 || !host_routes.stdout.is_empty(),
        "the host itself has only lo and no routes: this test cannot tell the namespaces apart"
    );
}

#[test]
fn network_host_shares_the_hosts_interfaces() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["ip", "link"]);
    s.network = NetworkMode::Host;
    let host = || -> BTreeSet<String> {
        let out = run_command(Command::new("ip").arg("link"), Duration::from_secs(10));
        interfaces(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    let before = host();
    let (id, code, logs) = d.run(&s);
    let after = host();
    assert_eq!(code, 0, "output: {logs}");
    assert_eq!(d.inspect(&id).network, NetworkMode::Host);
    let inside: BTreeSet<String> = interfaces(&logs).into_iter().map(|(n, _)| n).collect();
    // Other tests' containers add and remove veths (`vc*`) meanwhile: what stayed must be
    // seen, and nothing that was never there but such a veth.
    let stayed: BTreeSet<String> = before.intersection(&after).cloned().collect();
    let ever: BTreeSet<String> = before.union(&after).cloned().collect();
    assert!(
        stayed.is_subset(&inside) && inside.difference(&ever).all(|n| n.starts_with("vc")),
        "inside: {inside:?}; the host had {before:?}, then {after:?}"
    );
}

#[test]
fn hostname_is_the_one_asked_for_and_the_hosts_is_unchanged() {
    let d = Daemon::start_with_busybox();
    let host_before = nix::unistd::gethostname().expect("gethostname");
    let wanted = unique_name("host");
    let mut s =
        sh("hostname; cat /etc/hostname; echo $HOSTNAME; grep -c \"$(hostname)\" /etc/hosts");
    s.hostname = Some(wanted.clone());
    let (id, code, logs) = d.run(&s);
    assert_eq!(code, 0, "output: {logs}");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines[..3],
        [wanted.as_str(), wanted.as_str(), wanted.as_str()],
        "output: {logs}"
    );
    assert_ne!(
        lines.get(3),
        Some(&"0"),
        "/etc/hosts does not name the container's hostname"
    );
    assert_eq!(d.inspect(&id).hostname, wanted);
    assert_eq!(
        nix::unistd::gethostname().expect("gethostname"),
        host_before,
        "the host's hostname changed"
    );
    assert_ne!(host_before.to_string_lossy(), wanted);
}

#[test]
fn default_hostname_is_the_short_id() {
    let d = Daemon::start_with_busybox();
    let (id, code, logs) = d.run(&spec(&["hostname"]));
    assert_eq!(code, 0, "output: {logs}");
    let short: String = id.chars().filter(|c| *c != '-').take(12).collect();
    assert_eq!(logs.trim(), short);
    assert_eq!(d.inspect(&id).hostname, short);
}

/// `(key, msqid)` of every queue listed in a `/proc/sysvipc/msg` text.
fn queues(sysvipc_msg: &str) -> BTreeSet<(String, String)> {
    sysvipc_msg
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

fn host_queues() -> BTreeSet<(String, String)> {
    queues(&std::fs::read_to_string("/proc/sysvipc/msg").expect("reading /proc/sysvipc/msg"))
}

/// Removes a host message queue when the test ends, however it ends.
struct HostQueue(String);

impl Drop for HostQueue {
    fn drop(&mut self) {
        let _ = run_command(
            Command::new("ipcrm").arg("-q").arg(&self.0),
            Duration::from_secs(10),
        );
    }
}

fn ipcmk_queue(command: &mut Command) -> String {
    let out = run_command(command, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.trim()
        .rsplit(' ')
        .next()
        .expect("ipcmk prints the queue id")
        .to_string()
}

#[test]
fn sysv_message_queues_are_private_to_each_container() {
    let d = Daemon::start_with_busybox();
    let host_queue = HostQueue(ipcmk_queue(Command::new("ipcmk").arg("-Q")));
    assert!(
        host_queues().iter().any(|(_, id)| *id == host_queue.0),
        "the host's new queue is not in /proc/sysvipc/msg"
    );

    let a = d.run_detached(&spec(&["sleep", "1000"]));
    let b = d.run_detached(&spec(&["sleep", "1000"]));
    let pid_a = d.inspect(&a).pid.expect("running container has a pid");
    let pid_b = d.inspect(&b).pid.expect("running container has a pid");
    let host_ipc = host::namespace("self", "ipc").expect("own ipc namespace");
    let ipc_a = host::namespace(&pid_a.to_string(), "ipc").expect("ipc namespace of a");
    let ipc_b = host::namespace(&pid_b.to_string(), "ipc").expect("ipc namespace of b");
    assert_ne!(ipc_a, host_ipc);
    assert_ne!(ipc_a, ipc_b);

    let in_a = d.exec(&a, &["cat", "/proc/sysvipc/msg"]);
    assert_eq!(in_a.exit_code, 0, "{in_a:?}");
    assert!(
        in_a.stdout.contains("msqid"),
        "not a /proc/sysvipc/msg listing: {in_a:?}"
    );
    assert_eq!(
        queues(&in_a.stdout),
        BTreeSet::new(),
        "container a sees queues it did not make"
    );

    // busybox has no ipcmk: util-linux's runs in a's IPC namespace (and only that one).
    let host_before = host_queues();
    let _ = ipcmk_queue(
        Command::new("nsenter")
            .arg("--target")
            .arg(pid_a.to_string())
            .args(["--ipc", "--", "ipcmk", "-Q"]),
    );
    let in_a = d.exec(&a, &["cat", "/proc/sysvipc/msg"]);
    assert_eq!(
        queues(&in_a.stdout).len(),
        1,
        "container a does not see the queue made in it: {}",
        in_a.stdout
    );
    assert_eq!(
        host_queues(),
        host_before,
        "the queue made in container a appeared on the host"
    );
    let in_b = d.exec(&b, &["cat", "/proc/sysvipc/msg"]);
    assert_eq!(in_b.exit_code, 0, "{in_b:?}");
    assert_eq!(
        queues(&in_b.stdout),
        BTreeSet::new(),
        "container b sees another container's or the host's queues"
    );
}

#[test]
fn the_command_is_pid_1_and_host_processes_are_invisible() {
    let d = Daemon::start_with_busybox();
    let (_, code, logs) = d.run(&sh("echo $$; cat /proc/1/comm; ls /proc"));
    assert_eq!(code, 0, "output: {logs}");
    let mut lines = logs.lines();
    assert_eq!(lines.next(), Some("1"), "the command is not PID 1: {logs}");
    assert_eq!(lines.next(), Some("sh"), "PID 1 is not the command: {logs}");
    let pids: Vec<u32> = lines.filter_map(|l| l.trim().parse().ok()).collect();
    assert!(
        pids.contains(&1) && pids.len() <= 4,
        "processes visible in the container: {pids:?}"
    );
    assert!(
        host::all_pids().len() > pids.len() + 5,
        "the host has too few processes for this test to mean anything"
    );

    // From the host: the container's init is PID 1 of a namespace of its own, and exec'd
    // processes share that namespace, not the host's.
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let pid = d.inspect(&id).pid.expect("running container has a pid");
    let nspid = host::status_field(pid, "NSpid").expect("NSpid in /proc/<pid>/status");
    assert_eq!(
        nspid.split_whitespace().collect::<Vec<_>>(),
        [pid.to_string().as_str(), "1"]
    );
    let ls = d.exec(&id, &["ls", "/proc"]);
    let pids: Vec<u32> = ls
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        pids.contains(&1) && pids.len() <= 3,
        "processes an exec sees: {pids:?}"
    );
}

#[test]
fn a_mount_made_inside_is_not_seen_on_the_host() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let source = unique_name("conti-tmpfs");
    let script = format!(
        "mkdir -p /mnt/t && mount -t tmpfs {source} /mnt/t && grep -c {source} /proc/1/mountinfo"
    );
    let r = d.exec(&id, &["sh", "-c", &script]);
    assert_eq!(
        (r.exit_code, r.stdout.trim()),
        (0, "1"),
        "mounting inside failed: {r:?}"
    );

    let pid = d.inspect(&id).pid.expect("pid");
    for (who, mountinfo) in [
        ("the test", host::mountinfo("self")),
        ("pid 1", host::mountinfo("1")),
        ("contid", host::mountinfo(&d.pid().to_string())),
    ] {
        assert!(!mountinfo.is_empty(), "cannot read the mountinfo of {who}");
        assert!(
            !mountinfo.iter().any(|l| l.contains(&source)),
            "the container's tmpfs is visible to {who}"
        );
        let container_dir = d.container_dir(&id).display().to_string();
        assert!(
            !mountinfo.iter().any(|l| l.contains(&container_dir)),
            "the container's root filesystem mount is visible to {who}"
        );
    }
    // The container's own mount namespace is another one.
    assert_ne!(
        host::namespace(&pid.to_string(), "mnt"),
        host::namespace("self", "mnt")
    );
}

#[test]
fn each_container_has_its_own_cgroup_and_cgroup_namespace() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let pid = d.inspect(&id).pid.expect("pid");
    let suffix = format!("/{}/{}", d.cgroup_parent(), id);
    let lines = host::cgroup_lines(pid);
    assert!(!lines.is_empty());
    // Every hierarchy the host mounts, named ones and a hybrid host's cgroup2 tree included.
    for line in &lines {
        let path = line.splitn(3, ':').nth(2).unwrap_or_default();
        assert!(
            path.ends_with(&suffix),
            "not in the container's cgroup in hierarchy {line:?} (want …{suffix})"
        );
    }

    // Inside, the cgroup namespace makes the container's cgroup the root; an exec'd process
    // joins the same cgroup.
    for (what, output) in [
        ("the init", d.exec(&id, &["cat", "/proc/1/cgroup"]).stdout),
        ("an exec", d.exec(&id, &["cat", "/proc/self/cgroup"]).stdout),
    ] {
        for line in output.lines() {
            let path = line.splitn(3, ':').nth(2).unwrap_or_default();
            assert_eq!(path, "/", "{what} sees cgroup {line:?}");
        }
    }
}
