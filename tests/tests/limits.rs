//! Resource limits on real cgroups: OOM kills reported, pids contained, CPU quota held, live
//! updates, stats (network counters too) and top, and every bad value refused.
//!
//! On a hybrid host (v1 controllers plus an empty cgroup2) these run against the v1 hierarchies;
//! `cgroup_v2_vm.rs` runs this executable again in a VM with a cgroup2-only layout, against v2.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use conti_proto::{
    ContainerInfo, ContainerSpec, ContainerStats, ContainerTop, Event, EventType, NetworkMode,
    Resources,
};
use conti_tests::cli::{stderr, stdout};
use conti_tests::kernel_features::{self, LimitFile, OptionalLimit};
use conti_tests::{Daemon, cli, host, unique_name};
use serde_json::json;

const MIB: i64 = 1024 * 1024;
/// Holds about 100 MB in a shell variable: it really allocates (and touches) the memory.
const HOG: &str = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived ${#x}";

/// Limits need no network, and these tests also run in the cgroup v2 VM, which has no bridge
/// or nftables: every container here has network `none`.
fn spec(cmd: &[&str]) -> ContainerSpec {
    ContainerSpec {
        network: NetworkMode::None,
        ..conti_tests::spec(cmd)
    }
}

fn sh(script: &str) -> ContainerSpec {
    spec(&["sh", "-c", script])
}

fn with_resources(mut spec: ContainerSpec, resources: Resources) -> ContainerSpec {
    spec.resources = resources;
    spec
}

/// A memory limit that makes the kernel kill a hog, as on a host without swap: where the host
/// swaps, memory plus swap gets the same limit (contid leaves swap unlimited without
/// `memory_swap`, and a hog would swap out what the limit does not hold). The swap accounting
/// that needs is always on in the kernels of the project's kind: Linux ignores `swapaccount=0`
/// from 6.3, and Debian's 6.1 does too (the VM boots it with `swapaccount=0`, see vm.rs).
fn memory(bytes: i64) -> Resources {
    Resources {
        memory: Some(bytes),
        memory_swap: kernel_features::host_swaps().then_some(bytes),
        ..Default::default()
    }
}

fn patch(d: &Daemon, reference: &str, body: serde_json::Value) -> conti_tests::Response {
    let body = serde_json::to_vec(&body).unwrap();
    d.client().request(
        "PATCH",
        &format!("/v1/containers/{reference}"),
        Some(("application/json", &body)),
    )
}

fn stats(d: &Daemon, reference: &str) -> ContainerStats {
    let resp = d.get(&format!("/v1/containers/{reference}/stats"));
    resp.expect_status(200);
    resp.json()
}

/// The container's own CPU usage counter in ns, read from its cgroup (v1 cpuacct, or v2
/// cpu.stat).
fn cgroup_cpu_usage_ns(d: &Daemon, id: &str) -> u64 {
    let v1 = PathBuf::from(format!(
        "/sys/fs/cgroup/cpuacct/{}/{id}/cpuacct.usage",
        d.cgroup_parent()
    ));
    if let Ok(text) = std::fs::read_to_string(&v1) {
        return text.trim().parse().unwrap();
    }
    let v2 = PathBuf::from(format!(
        "/sys/fs/cgroup/{}/{id}/cpu.stat",
        d.cgroup_parent()
    ));
    let text = std::fs::read_to_string(&v2)
        .unwrap_or_else(|e| panic!("neither {} nor {}: {e}", v1.display(), v2.display()));
    let usec: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    usec * 1000
}

#[track_caller]
fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon still answers quickly, and still runs containers.
#[track_caller]
fn assert_responsive(d: &Daemon) {
    let started = Instant::now();
    d.get("/v1/version").expect_status(200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "version took {:?}",
        started.elapsed()
    );
    let (_, code, logs) = d.run(&sh("echo still here"));
    assert_eq!((code, logs.as_str()), (0, "still here\n"));
}

#[test]
fn a_memory_hog_is_oom_killed_and_reported() {
    let d = Daemon::start_with_busybox();
    let mut events = d.client().stream("/v1/events");
    let mut s = with_resources(sh(HOG), memory(32 * MIB));
    s.name = Some("hog".into());
    let (id, code, logs) = d.run(&s);
    assert_eq!(code, 137, "logs: {logs}");
    assert!(!logs.contains("survived"), "{logs}");
    let info = d.inspect(&id);
    assert!(info.oom_killed, "{info:?}");
    assert_eq!(info.exit_code, Some(137));
    assert_eq!(info.resources.memory, Some(32 * MIB));

    let mut kinds = Vec::new();
    while !kinds.contains(&EventType::Die) {
        let line = events.next_line().unwrap().expect("events ended");
        let event: Event = serde_json::from_str(&line).unwrap();
        if event.container_id == id {
            kinds.push(event.kind);
        }
    }
    assert_eq!(
        kinds,
        [
            EventType::Create,
            EventType::Start,
            EventType::Oom,
            EventType::Die
        ]
    );
    // The same hog with room enough is not killed, and not reported.
    let (id, code, logs) = d.run(&with_resources(sh(HOG), memory(512 * MIB)));
    assert_eq!((code, logs.as_str()), (0, "survived 100000000\n"));
    assert!(!d.inspect(&id).oom_killed);
    assert_responsive(&d);
}

#[test]
fn a_pids_limit_contains_a_fork_loop() {
    let d = Daemon::start_with_busybox();
    // The subshell forks until it cannot (busybox sh then gives up), then PID 1 stays, without
    // forking again.
    let bomb = "(i=0; while [ $i -lt 500 ]; do sleep 600 & i=$((i+1)); done; echo loop-ended) 2>&1; \
                echo bomb-exit=$?; exec sleep 600";
    let id = d.run_detached(&with_resources(
        sh(bomb),
        Resources {
            pids_limit: Some(50),
            ..Default::default()
        },
    ));
    wait_for("the fork loop to end", Duration::from_secs(20), || {
        d.logs(&id).contains("bomb-exit=")
    });
    let logs = d.logs(&id);
    assert!(logs.contains("can't fork"), "{logs}");
    assert!(!logs.contains("loop-ended"), "{logs}");
    let sample = stats(&d, &id);
    assert_eq!(sample.pids.limit, Some(50));
    assert!(
        (40..=50).contains(&sample.pids.current),
        "{:?}",
        sample.pids
    );
    let top: ContainerTop = d.get(&format!("/v1/containers/{id}/top")).json();
    assert!(top.processes.len() <= 50, "{}", top.processes.len());
    assert_responsive(&d);
    d.delete(&format!("/v1/containers/{id}?force=true"))
        .expect_status(204);
}

#[test]
fn half_a_cpu_holds_a_busy_loop_near_fifty_percent() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&with_resources(
        sh("while :; do :; done"),
        Resources {
            cpus: Some(0.5),
            ..Default::default()
        },
    ));
    // Past the start, then ~3 s of the cgroup's own counter.
    thread::sleep(Duration::from_millis(300));
    let (start, used_before) = (Instant::now(), cgroup_cpu_usage_ns(&d, &id));
    thread::sleep(Duration::from_secs(3));
    let used = cgroup_cpu_usage_ns(&d, &id) - used_before;
    let percent = used as f64 / start.elapsed().as_nanos() as f64 * 100.0;
    // Printed also when it passes: the VM run (cgroup_v2_vm.rs) shows it on its console.
    eprintln!("--cpus 0.5: the busy loop used {percent:.1}% of one CPU");
    assert!(
        (35.0..=65.0).contains(&percent),
        "a busy loop under --cpus 0.5 used {percent:.1}% of one CPU"
    );
    // Lifted by an update (0 = no limit): the loop takes a whole CPU.
    patch(&d, &id, json!({"resources": {"cpus": 0.0}})).expect_status(200);
    let (start, used_before) = (Instant::now(), cgroup_cpu_usage_ns(&d, &id));
    thread::sleep(Duration::from_secs(2));
    let used = cgroup_cpu_usage_ns(&d, &id) - used_before;
    let percent = used as f64 / start.elapsed().as_nanos() as f64 * 100.0;
    // Well above the quota even when other work shares the host's CPUs.
    eprintln!("no CPU limit: the busy loop used {percent:.1}% of one CPU");
    assert!(percent > 60.0, "unlimited, the loop used {percent:.1}%");
    d.delete(&format!("/v1/containers/{id}?force=true"))
        .expect_status(204);
}

#[test]
fn a_live_update_raising_memory_lets_the_same_hog_survive() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&with_resources(spec(&["sleep", "600"]), memory(32 * MIB)));
    let first = d.exec(&id, &["sh", "-c", HOG]);
    assert_eq!(first.exit_code, 137, "{first:?}");

    let resp = patch(&d, &id, json!({ "resources": memory(256 * MIB) }));
    resp.expect_status(200);
    let info: ContainerInfo = resp.json();
    assert_eq!(info.resources.memory, Some(256 * MIB));
    let second = d.exec(&id, &["sh", "-c", HOG]);
    assert_eq!(
        (second.exit_code, second.stdout.as_str()),
        (0, "survived 100000000\n")
    );
    assert_eq!(stats(&d, &id).memory.limit, Some(256 << 20));
    // The new limit is stored: it survives a daemon restart and applies at the next start.
    d.stop(&id, 0);
    let mut d = d;
    d.restart();
    assert_eq!(d.inspect(&id).resources.memory, Some(256 * MIB));
    d.start_container(&id);
    assert_eq!(d.exec(&id, &["sh", "-c", HOG]).exit_code, 0);
    // A stopped container takes an update too, for its next start.
    d.stop(&id, 0);
    patch(&d, &id, json!({ "resources": memory(32 * MIB) })).expect_status(200);
    d.start_container(&id);
    let last = d.exec(&id, &["sh", "-c", HOG]);
    assert_eq!(last.exit_code, 137, "{last:?}");
    patch(&d, "nope", json!({"resources": {"memory": 64 * MIB}}))
        .expect_error(404, "container_not_found");
}

#[test]
fn a_memory_limit_below_the_usage_is_refused_on_v1_and_oom_kills_on_v2() {
    let d = Daemon::start_with_busybox();
    let layout: conti_tests::DaemonInfo = d.get("/v1/info").json();
    // Not `sleep` last: the shell would exec it and drop what it holds.
    let holder =
        "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo holding; sleep 600; echo ${#x}";
    let id = d.run_detached(&with_resources(sh(holder), memory(256 * MIB)));
    // Under qemu's emulation on a busy machine this took more than 20 s.
    wait_for("the memory to be held", Duration::from_secs(60), || {
        d.logs(&id).contains("holding")
    });
    let below = Resources {
        pids_limit: Some(20),
        ..memory(16 * MIB)
    };
    let resp = patch(&d, &id, json!({ "resources": below }));
    if layout.cgroup_layout == "v2" {
        // v2 takes the limit, reclaims what it can, then OOM-kills (the holder is PID 1).
        eprintln!("cgroup v2 host: a memory limit below the usage OOM-kills");
        resp.expect_status(200);
        assert_eq!(d.wait(&id), 137);
        let info = d.inspect(&id);
        assert!(info.oom_killed, "{info:?}");
        assert_eq!(info.resources.memory, Some(16 * MIB));
        return;
    }
    resp.expect_error(409, "limit_rejected");
    let info = d.inspect(&id);
    assert_eq!(info.resources.memory, Some(256 * MIB));
    assert_eq!(info.resources.pids_limit, None);
    let sample = stats(&d, &id);
    assert_eq!(sample.memory.limit, Some(256 << 20));
    assert_eq!(sample.pids.limit, None);
    assert!(d.inspect(&id).state == conti_tests::ContainerState::Running);
}

#[test]
fn stats_change_with_load_and_top_lists_the_processes() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&with_resources(
        spec(&["sleep", "600"]),
        Resources {
            memory: Some(64 * MIB),
            pids_limit: Some(100),
            ..Default::default()
        },
    ));
    let idle = stats(&d, &id);
    assert!(idle.cpu.percent < 10.0, "{:?}", idle.cpu);
    assert_eq!(idle.memory.limit, Some(64 << 20));
    assert!(idle.memory.usage > 0 && idle.memory.usage < 64 << 20);
    assert_eq!((idle.pids.current, idle.pids.limit), (1, Some(100)));
    assert!(idle.cpu.online_cpus >= 1);

    // A busy loop in the background, and a file written: CPU, pids and memory go up.
    let busy = d.exec(
        &id,
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/tmp/f bs=1M count=8 2>/dev/null; \
             while :; do :; done >/dev/null 2>&1 &",
        ],
    );
    assert_eq!(busy.exit_code, 0);
    let loaded = stats(&d, &id);
    // A whole CPU when the host is idle; far above idle when other work shares it.
    assert!(loaded.cpu.percent > 25.0, "{:?}", loaded.cpu);
    assert!(loaded.cpu.usage_ns > idle.cpu.usage_ns);
    assert_eq!(loaded.pids.current, 2);
    assert!(
        loaded.memory.usage >= idle.memory.usage + (4 << 20),
        "{:?} then {:?}",
        idle.memory,
        loaded.memory
    );

    let top: ContainerTop = d.get(&format!("/v1/containers/{id}/top")).json();
    let mut inside: Vec<i32> = top
        .processes
        .iter()
        .filter_map(|p| p.container_pid)
        .collect();
    inside.sort_unstable();
    assert_eq!(inside.len(), 2, "{top:?}");
    assert_eq!(inside[0], 1);
    let first = top
        .processes
        .iter()
        .find(|p| p.container_pid == Some(1))
        .unwrap();
    assert_eq!(first.command, "sleep 600");
    assert_eq!(first.uid, 0);
    assert_eq!(d.inspect(&id).pid, Some(first.pid));

    // The stream: one sample a second, NDJSON.
    let mut stream = d
        .client()
        .stream(&format!("/v1/containers/{id}/stats?stream=true"));
    assert_eq!(stream.status, 200);
    let mut samples = Vec::new();
    for _ in 0..2 {
        let line = stream.next_line().unwrap().expect("stats stream ended");
        samples.push(serde_json::from_str::<ContainerStats>(&line).unwrap());
    }
    assert!(samples[1].cpu.usage_ns > samples[0].cpu.usage_ns);
    assert!(samples.iter().all(|s| s.cpu.percent > 25.0), "{samples:?}");

    // Not running: 409.
    d.stop(&id, 0);
    d.get(&format!("/v1/containers/{id}/stats"))
        .expect_error(409, "container_not_running");
    d.get(&format!("/v1/containers/{id}/top"))
        .expect_error(409, "container_not_running");
}

#[test]
fn network_counters_are_those_of_the_containers_own_namespace() {
    let d = Daemon::start_with_busybox();
    let mut only_lo = spec(&["sleep", "600"]);
    only_lo.network = NetworkMode::None;
    let id = d.run_detached(&only_lo);
    let interfaces = |s: &ContainerStats| s.networks.keys().cloned().collect::<Vec<_>>();
    let before = stats(&d, &id);
    assert_eq!(interfaces(&before), ["lo"], "{before:?}");

    let ping = d.exec(&id, &["ping", "-c", "20", "-i", "0.05", "127.0.0.1"]);
    assert_eq!(ping.exit_code, 0, "{ping:?}");
    let after = stats(&d, &id);
    assert_eq!(interfaces(&after), ["lo"], "{after:?}");
    // 20 requests and 20 replies, each at least 84 bytes (IP, ICMP, 56 bytes of payload), each
    // sent and received on lo.
    let (lo_before, lo_after) = (&before.networks["lo"], &after.networks["lo"]);
    assert!(
        lo_after.rx_packets >= lo_before.rx_packets + 40
            && lo_after.tx_packets >= lo_before.tx_packets + 40
            && lo_after.rx_bytes >= lo_before.rx_bytes + 40 * 84
            && lo_after.tx_bytes >= lo_before.tx_bytes + 40 * 84,
        "{lo_before:?} then {lo_after:?}"
    );

    // The CLI sums them in its NET I/O column.
    let out = cli(&d, &["stats", "--no-stream", &id]);
    assert!(out.status.success(), "{out:?}");
    let table = stdout(&out);
    assert!(table.contains("NET I/O"), "{table}");

    // With network host, the host's interfaces (this test runs in the host's namespace).
    let mut host = spec(&["sleep", "600"]);
    host.network = NetworkMode::Host;
    let host_id = d.run_detached(&host);
    let host_before = conti_tests::host::interface_names();
    let listed = interfaces(&stats(&d, &host_id)).into_iter().collect();
    let host_after = conti_tests::host::interface_names();
    conti_tests::host::assert_host_interfaces(&host_before, &listed, &host_after);
}

#[test]
fn every_limit_refuses_bad_values_with_the_allowed_range() {
    let d = Daemon::start_with_busybox();
    let cpus = std::thread::available_parallelism().unwrap().get();
    let cases = [
        (json!({"memory": 1024 * 1024}), "6 MiB"),
        (json!({"memory": -1}), "negative"),
        (
            json!({"memory": 64 * MIB, "memory_swap": 32 * MIB}),
            "at least memory",
        ),
        (json!({"memory_swap": 64 * MIB}), "needs memory"),
        (json!({"memory_reservation": -5}), "negative"),
        (
            json!({"memory": 16 * MIB, "memory_reservation": 32 * MIB}),
            "above memory",
        ),
        (json!({"cpus": cpus as f64 + 1.0}), "the CPUs this host has"),
        (json!({"cpus": -0.5}), "positive"),
        (json!({"cpu_shares": 1}), "between 2 and 262144"),
        (json!({"cpu_shares": 300000}), "between 2 and 262144"),
        (json!({"cpuset_cpus": "0-9999"}), "does not have"),
        (json!({"cpuset_cpus": "zero"}), "like 0-1,3"),
        (json!({"cpuset_mems": "99"}), "memory nodes"),
        (json!({"pids_limit": 0}), "at least 1"),
        (json!({"pids_limit": -3}), "at least 1"),
        (json!({"blkio_weight": 5}), "between 10 and 1000"),
        (json!({"blkio_weight": 2000}), "between 10 and 1000"),
    ];
    let running = d.run_detached(&spec(&["sleep", "600"]));
    for (resources, expected) in cases {
        let body = json!({"image": "busybox", "cmd": ["true"], "resources": resources});
        let error = d
            .post_json("/v1/containers", &body)
            .expect_error(400, "invalid_spec");
        assert!(
            error.message.contains(expected),
            "{resources}: {}",
            error.message
        );
        let error = patch(&d, &running, json!({ "resources": resources }))
            .expect_error(400, "invalid_spec");
        assert!(
            error.message.contains(expected),
            "{resources}: {}",
            error.message
        );
    }
    // Typos and wrong types are JSON errors, as everywhere.
    d.post_json(
        "/v1/containers",
        &json!({"image": "busybox", "cmd": ["true"], "resources": {"memroy": 1}}),
    )
    .expect_error(400, "invalid_json");
    patch(&d, &running, json!({"resources": {"pids_limit": "many"}}))
        .expect_error(400, "invalid_json");
    // None of it reached the container.
    assert_eq!(d.inspect(&running).resources, Resources::default());
    assert!(d.list_all().len() == 1);
}

/// The flags of the limits that only some hosts can enforce (see `kernel_features`), and the value
/// of its file in the container's cgroup, by the file's name, where the host enforces it.
const OPTIONAL_FLAGS: [(OptionalLimit, [&str; 2]); 2] = [
    (OptionalLimit::BlkioWeight, ["--blkio-weight", "300"]),
    (OptionalLimit::MemorySwap, ["--memory-swap", "-1"]),
];

/// What the cgroup holds for `--blkio-weight 300` and `--memory-swap -1`: BFQ's weights keep
/// blkio's scale ("300", v2 "default 300"), iocost's `io.weight` is 1..=10000 ("default 2930",
/// runc's mapping); unlimited memsw reads as a number near 2^63, v2 `memory.swap.max` as "max".
fn assert_optional_limit_held(file: &LimitFile, id: &str) {
    let value = file.read(id);
    let held = match file.file {
        "blkio.weight" | "blkio.bfq.weight" | "io.bfq.weight" => value
            .lines()
            .any(|line| line == "300" || line == "default 300"),
        "io.weight" => value.lines().any(|line| line == "default 2930"),
        "memory.memsw.limit_in_bytes" => value.parse::<u64>().is_ok_and(|v| v >= 1 << 62),
        "memory.swap.max" => value == "max",
        other => panic!("no expected value for {other}"),
    };
    assert!(held, "{}: {value:?}", file.file);
}

/// `run` with a limit this host cannot enforce: the CLI says which (exit 125), the container is
/// left exited with code 1 and the reason, its cgroup is gone, and a start through the API is
/// 400 `unsupported_limit`.
fn assert_refused_by_the_cli(d: &Daemon, limit: OptionalLimit, flags: &[&str]) {
    let name = unique_name("refused");
    let mut args = vec!["run", "-d", "--network", "none", "--name", &name];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sleep", "600"]);
    let out = cli(d, &args);
    let refusal = format!("{} cannot be enforced on this host", limit.name());
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(stderr(&out).contains(&refusal), "{out:?}");
    let info = d.inspect(&name);
    assert_eq!(
        (info.state, info.exit_code),
        (conti_tests::ContainerState::Exited, Some(1)),
        "{info:?}"
    );
    assert!(
        info.error.as_deref().is_some_and(|e| e.contains(&refusal)),
        "{info:?}"
    );
    assert_eq!(host::cgroup_dirs_named(&info.id), Vec::<PathBuf>::new());
    d.post(&format!("/v1/containers/{name}/start"), b"")
        .expect_error(400, "unsupported_limit");
    assert_eq!(host::cgroup_dirs_named(&info.id), Vec::<PathBuf>::new());
    d.remove(&name);
}

#[test]
fn the_cli_takes_limits_as_people_type_them() {
    let d = Daemon::start_with_busybox();
    let mut args = vec![
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "web",
        "-m",
        "64m",
        "--memory-reservation",
        "32M",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--pids-limit",
        "100",
    ];
    let mut expected = Resources {
        memory: Some(64 * MIB),
        memory_reservation: Some(32 * MIB),
        cpus: Some(0.5),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(100),
        ..Default::default()
    };
    // Each optional limit is enforced where the host has its file, else refused.
    let mut enforced = Vec::new();
    for (limit, flags) in OPTIONAL_FLAGS {
        let Some(file) = limit.file(&d) else {
            eprintln!("{}: this host cannot enforce it", limit.name());
            assert_refused_by_the_cli(&d, limit, &flags);
            continue;
        };
        eprintln!("{}: enforced through {}", limit.name(), file.file);
        args.extend(flags);
        match limit {
            OptionalLimit::BlkioWeight => expected.blkio_weight = Some(300),
            OptionalLimit::MemorySwap => expected.memory_swap = Some(-1),
        }
        enforced.push(file);
    }
    args.extend(["busybox", "sleep", "600"]);
    let out = cli(&d, &args);
    assert!(out.status.success(), "{out:?}");
    let web = d.inspect("web");
    assert_eq!(web.resources, expected);
    for file in &enforced {
        assert_optional_limit_held(file, &web.id);
    }
    let out = cli(&d, &["update", "-m", "1g", "--pids-limit", "-1", "web"]);
    assert!(out.status.success(), "{out:?}");
    let resources = d.inspect("web").resources;
    assert_eq!(
        (resources.memory, resources.pids_limit),
        (Some(1024 * MIB), Some(-1))
    );
    let out = cli(&d, &["stats", "--no-stream"]);
    assert!(out.status.success(), "{out:?}");
    let table = stdout(&out);
    assert!(table.contains("CPU %") && table.contains("web"), "{table}");
    assert!(table.contains("NET I/O"), "{table}");
    assert!(table.contains("/ 1.07GB"), "{table}");
    let out = cli(&d, &["top", "web"]);
    assert!(stdout(&out).contains("sleep 600"), "{out:?}");
    let out = cli(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--pids-limit",
            "0",
            "busybox",
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(125), "{out:?}");
}
