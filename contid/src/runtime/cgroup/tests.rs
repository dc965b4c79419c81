//! Layout detection on sample mountinfo, and every operation on the host's real cgroupfs (as
//! root; a test without root or without the hierarchy it needs says so and passes).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

#[test]
fn layout_follows_the_mounts() {
    let v1 = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
    let v2 = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    let hybrid = format!("{v1}{v2}");
    assert_eq!(
        CgroupManager::from_mountinfo(v1, "conti").layout(),
        CgroupLayout::V1
    );
    assert_eq!(
        CgroupManager::from_mountinfo(v2, "conti").layout(),
        CgroupLayout::V2
    );
    assert_eq!(
        CgroupManager::from_mountinfo(&hybrid, "conti").layout(),
        CgroupLayout::Hybrid
    );
    assert_eq!(
        CgroupManager::from_mountinfo("", "conti").layout(),
        CgroupLayout::None
    );

    // Hybrid: the v1 hierarchies, then the unified tree.
    let manager = CgroupManager::from_mountinfo(&hybrid, "conti");
    assert_eq!(
        manager.paths("c1").unwrap(),
        vec![
            PathBuf::from("/sys/fs/cgroup/memory/conti/c1"),
            PathBuf::from("/sys/fs/cgroup/unified/conti/c1")
        ]
    );
    let manager = CgroupManager::from_mountinfo(v2, "conti/nested");
    assert_eq!(
        manager.paths("c1").unwrap(),
        vec![PathBuf::from("/sys/fs/cgroup/unified/conti/nested/c1")]
    );
}

#[test]
fn own_cgroup_is_read_from_the_matching_line() {
    let membership = "12:pids:/system.slice/contid.service\n\
                      4:cpu,cpuacct:/system.slice\n\
                      1:name=systemd:/system.slice/contid.service\n\
                      0::/system.slice/contid.service\n";
    let pids = V1Hierarchy::new("/sys/fs/cgroup/pids", &["pids"]);
    let cpu = V1Hierarchy::new("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]);
    let memory = V1Hierarchy::new("/sys/fs/cgroup/memory", &["memory"]);
    assert_eq!(
        v1::own_cgroup(membership, &pids),
        Some("system.slice/contid.service")
    );
    assert_eq!(v1::own_cgroup(membership, &cpu), Some("system.slice"));
    assert_eq!(v1::own_cgroup(membership, &memory), None);
}

#[test]
fn prepaying_a_migration_moves_nothing() {
    let manager = CgroupManager::detect("conti-prepay-test");
    let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    manager.prepay_migration().unwrap();
    assert_eq!(
        std::fs::read_to_string("/proc/self/cgroup").unwrap(),
        before
    );
}

#[test]
fn names_that_would_leave_the_parent_are_refused() {
    let manager = CgroupManager::v2_at(PathBuf::from("/nonexistent"), "conti");
    for id in ["", ".", "..", "a/b", "/abs", "a/", "x\0y"] {
        assert!(
            matches!(manager.create(id), Err(CgroupError::InvalidName { .. })),
            "{id:?}"
        );
        assert!(
            matches!(manager.remove(id), Err(CgroupError::InvalidName { .. })),
            "{id:?}"
        );
    }
    for parent in ["", "/conti", "../conti", "conti/../x"] {
        let manager = CgroupManager::v2_at(PathBuf::from("/nonexistent"), parent);
        assert!(
            matches!(manager.procs("c1"), Err(CgroupError::InvalidName { .. })),
            "{parent:?}"
        );
    }
}

#[test]
fn disabled_backend_does_nothing_successfully() {
    let manager = CgroupManager::disabled("conti");
    assert_eq!(manager.layout(), CgroupLayout::None);
    manager.create("c1").unwrap();
    manager
        .add_process("c1", std::process::id() as i32)
        .unwrap();
    assert_eq!(manager.procs("c1").unwrap(), Vec::<i32>::new());
    manager.kill_all("c1").unwrap();
    manager.remove("c1").unwrap();
    manager.remove_parent_if_empty().unwrap();
    assert!(manager.paths("c1").unwrap().is_empty());
}

#[test]
fn manager_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<CgroupManager>();
}

#[test]
fn v1_host_hierarchies_full_cycle() {
    let Some(manager) = host_v1_manager() else {
        return;
    };
    full_cycle(&TestCgroups::new(manager));
}

#[test]
fn v1_cpuset_levels_get_cpus_and_mems() {
    let Some(manager) = host_v1_manager() else {
        return;
    };
    let Some(cpuset) = manager
        .paths("cpuset-check")
        .unwrap()
        .into_iter()
        .find(|p| p.starts_with("/sys/fs/cgroup/cpuset"))
    else {
        eprintln!("skipped: no cpuset hierarchy at /sys/fs/cgroup/cpuset");
        return;
    };
    let cgroups = TestCgroups::new(manager);
    cgroups.create("cpuset-check");
    for dir in [cpuset.parent().unwrap(), cpuset.as_path()] {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let value = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(
                !value.trim().is_empty(),
                "{} is empty",
                dir.join(file).display()
            );
        }
    }
}

#[test]
fn v1_kill_all_kills_a_process_tree_through_the_freezer() {
    let Some(manager) = host_v1_manager() else {
        return;
    };
    kill_process_tree(&TestCgroups::new(manager));
}

#[test]
fn v2_full_cycle() {
    let Some(mount) = host_v2_mount() else { return };
    full_cycle(&TestCgroups::new(CgroupManager::v2_at(
        mount,
        &unique_parent(),
    )));
}

#[test]
fn v2_kill_all_with_cgroup_kill() {
    let Some(mount) = host_v2_mount() else { return };
    kill_process_tree(&TestCgroups::new(CgroupManager::v2_at(
        mount,
        &unique_parent(),
    )));
}

#[test]
fn v2_kill_without_cgroup_kill_uses_the_freezer() {
    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount, &unique_parent()));
    let id = "freeze-kill";
    cgroups.create(id);
    let mut child = cgroups.spawn_in(id, "sleep 100 & sleep 100 & wait");
    wait_for_procs(&cgroups.manager, id, 3);
    let dir = cgroups.manager.paths(id).unwrap().remove(0);
    v2::kill_with_freezer(&dir).unwrap();
    assert_eq!(cgroups.manager.procs(id).unwrap(), Vec::<i32>::new());
    assert_thawed(&cgroups.manager, id);
    child.wait().unwrap();
    cgroups.manager.remove(id).unwrap();
}

#[test]
fn remove_of_a_busy_cgroup_fails_after_retrying() {
    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount, &unique_parent()));
    cgroups.create("busy");
    let _child = cgroups.spawn_in("busy", "exec sleep 100");
    wait_for_procs(&cgroups.manager, "busy", 1);
    let started = Instant::now();
    let err = cgroups.manager.remove("busy").unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "gave up after {:?}",
        started.elapsed()
    );
    match err {
        CgroupError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(nix::libc::EBUSY)),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn remove_takes_sub_cgroups_with_it() {
    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount, &unique_parent()));
    cgroups.create("nested");
    let dir = cgroups.manager.paths("nested").unwrap().remove(0);
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    cgroups.manager.remove("nested").unwrap();
    assert!(!dir.exists());
}

/// create (twice) → add → procs → kill_all → remove (twice), checking the directories.
fn full_cycle(cgroups: &TestCgroups) {
    let manager = &cgroups.manager;
    let id = "cycle";
    cgroups.create(id);
    manager.create(id).unwrap();
    let dirs = manager.paths(id).unwrap();
    assert!(!dirs.is_empty());
    for dir in &dirs {
        assert!(dir.is_dir(), "{} missing", dir.display());
    }
    assert_eq!(manager.procs(id).unwrap(), Vec::<i32>::new());

    let mut child = cgroups.spawn_in(id, "exec sleep 100");
    let pid = child.id() as i32;
    assert_eq!(manager.procs(id).unwrap(), vec![pid]);
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), pid.to_string(), "{}", dir.display());
    }

    manager.kill_all(id).unwrap();
    assert_eq!(manager.procs(id).unwrap(), Vec::<i32>::new());
    // Killed but not yet reaped: a zombie is no longer in the cgroup and does not keep it busy.
    manager.remove(id).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(dir.parent().unwrap().is_dir(), "the parent must stay");
    }
    manager.remove(id).unwrap();
    manager.kill_all(id).unwrap();
    assert_eq!(manager.procs(id).unwrap(), Vec::<i32>::new());
}

fn kill_process_tree(cgroups: &TestCgroups) {
    let manager = &cgroups.manager;
    let id = "tree";
    cgroups.create(id);
    let mut child = cgroups.spawn_in(id, "sleep 100 & sleep 100 & wait");
    wait_for_procs(manager, id, 3);
    manager.kill_all(id).unwrap();
    assert_eq!(manager.procs(id).unwrap(), Vec::<i32>::new());
    assert_thawed(manager, id);
    child.wait().unwrap();
    manager.remove(id).unwrap();
}

/// Whatever froze the cgroup to kill it thawed it again.
fn assert_thawed(manager: &CgroupManager, id: &str) {
    for dir in manager.paths(id).unwrap() {
        if let Ok(state) = std::fs::read_to_string(dir.join("freezer.state")) {
            assert_eq!(state.trim(), "THAWED", "{}", dir.display());
        }
        if let Ok(state) = std::fs::read_to_string(dir.join("cgroup.freeze")) {
            assert_eq!(state.trim(), "0", "{}", dir.display());
        }
    }
}

/// Waits until the shell started by `spawn_in` has forked its children.
fn wait_for_procs(manager: &CgroupManager, id: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while manager.procs(id).unwrap().len() < count {
        assert!(
            Instant::now() < deadline,
            "processes did not start: {:?}",
            manager.procs(id)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A unique parent per test, and a guard that kills and removes everything on drop, failed
/// assertions included.
struct TestCgroups {
    manager: CgroupManager,
    ids: std::cell::RefCell<Vec<String>>,
}

impl TestCgroups {
    fn new(manager: CgroupManager) -> TestCgroups {
        TestCgroups {
            manager,
            ids: Default::default(),
        }
    }

    /// Creates the cgroup `id`, removed on drop.
    fn create(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_owned());
        self.manager.create(id).unwrap();
    }

    /// `sh -c script`, moved into the cgroup `id` before it runs anything (it waits on stdin
    /// until we close it, so its children are born inside).
    fn spawn_in(&self, id: &str, script: &str) -> ChildGuard {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _ ; {script}"))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        self.manager.add_process(id, child.id() as i32).unwrap();
        drop(child.stdin.take());
        ChildGuard(child)
    }
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.manager.kill_all(id);
            if let Err(err) = self.manager.remove(id) {
                eprintln!("cleanup of {id}: {err}");
            }
        }
        if let Err(err) = self.manager.remove_parent_if_empty() {
            eprintln!("cleanup: {err}");
        }
    }
}

/// Kills and reaps the child on drop.
struct ChildGuard(Child);

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unique_parent() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "conti-unit-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn host_mounts() -> mountinfo::CgroupMounts {
    mountinfo::parse(&std::fs::read_to_string(MOUNTINFO).unwrap())
}

fn host_v1_manager() -> Option<CgroupManager> {
    let mounts = host_mounts();
    if !is_root() || mounts.v1.is_empty() {
        eprintln!("skipped: needs root and cgroup v1 hierarchies");
        return None;
    }
    let manager = CgroupManager::detect(&unique_parent());
    assert!(matches!(
        manager.layout(),
        CgroupLayout::V1 | CgroupLayout::Hybrid
    ));
    Some(manager)
}

/// The host's cgroup2 mount: the empty one of a hybrid host, or the whole tree of a v2 host.
fn host_v2_mount() -> Option<PathBuf> {
    let mount = host_mounts().v2.filter(|_| is_root());
    if mount.is_none() {
        eprintln!("skipped: needs root and a cgroup2 mount");
    }
    mount.filter(|m: &PathBuf| Path::new(m).is_dir())
}

// ----- limits, OOM counters and stats -----

fn all_limits() -> CgroupLimits {
    CgroupLimits {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        memory_reservation: Some(16 << 20),
        cpu_quota_us: Some(50_000),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(50),
        blkio_weight: Some(300),
    }
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// A limit that only some hosts can enforce: swap accounting (memsw), a blkio weight (BFQ or,
/// before Linux 5.0, CFQ; `mq-deadline` and `none` have none).
struct OptionalV1Limit {
    name: &'static str,
    limits: CgroupLimits,
    controller: &'static str,
    /// The files that hold it, in the order the backend looks, and what each reads then.
    files: &'static [(&'static str, &'static str)],
}

fn optional_v1_limits() -> [OptionalV1Limit; 2] {
    let all = all_limits();
    [
        OptionalV1Limit {
            name: "memory_swap",
            limits: CgroupLimits {
                memory: all.memory,
                memory_swap: all.memory_swap,
                ..Default::default()
            },
            controller: "memory",
            files: &[("memory.memsw.limit_in_bytes", "134217728")],
        },
        OptionalV1Limit {
            name: "blkio_weight",
            limits: CgroupLimits {
                blkio_weight: all.blkio_weight,
                ..Default::default()
            },
            controller: "blkio",
            files: &[("blkio.weight", "300"), ("blkio.bfq.weight", "300")],
        },
    ]
}

#[test]
fn v1_apply_writes_every_limit_and_stats_read_them_back() {
    let Some(manager) = host_v1_manager() else {
        return;
    };
    let cgroups = TestCgroups::new(manager);
    let id = "limits";
    cgroups.create(id);
    // What every host of the project's kind enforces (memory, cpu, cpuset and pids controllers).
    let limits = CgroupLimits {
        memory_swap: None,
        blkio_weight: None,
        ..all_limits()
    };
    cgroups.manager.apply(id, &limits).unwrap();
    let dir_of = |controller: &str| {
        cgroups
            .manager
            .paths(id)
            .unwrap()
            .into_iter()
            .find(|p| p.starts_with(format!("/sys/fs/cgroup/{controller}")))
            .unwrap()
    };
    let memory = dir_of("memory");
    assert_eq!(
        read_trimmed(&memory.join("memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(
        read_trimmed(&memory.join("memory.soft_limit_in_bytes")),
        "16777216"
    );
    let cpu = dir_of("cpu");
    assert_eq!(read_trimmed(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read_trimmed(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read_trimmed(&cpu.join("cpu.shares")), "512");
    assert_eq!(read_trimmed(&dir_of("cpuset").join("cpuset.cpus")), "0");
    assert_eq!(read_trimmed(&dir_of("pids").join("pids.max")), "50");

    // The optional ones: written where the host has the file, else `Unsupported` naming them,
    // with what was there left as it was.
    for optional in optional_v1_limits() {
        let (name, dir) = (optional.name, dir_of(optional.controller));
        let file = optional
            .files
            .iter()
            .find(|(file, _)| dir.join(file).exists());
        match (file, cgroups.manager.apply(id, &optional.limits)) {
            (Some((file, value)), Ok(())) => {
                assert_eq!(read_trimmed(&dir.join(file)), *value, "{name}");
            }
            (None, Err(CgroupError::Unsupported { limit, reason })) => {
                assert_eq!(limit, name);
                assert!(reason.contains("the kernel provides no"), "{reason}");
            }
            (file, result) => panic!("{name}: file {file:?}, apply: {result:?}"),
        }
    }
    let memsw = memory.join("memory.memsw.limit_in_bytes").exists();

    // Raising memory past the memory+swap limit writes memsw first; -1 lifts limits.
    let raise = CgroupLimits {
        memory: Some(256 << 20),
        memory_swap: memsw.then_some(512 << 20),
        pids_limit: Some(UNLIMITED),
        cpu_quota_us: Some(UNLIMITED),
        ..Default::default()
    };
    cgroups.manager.apply(id, &raise).unwrap();
    assert_eq!(
        read_trimmed(&memory.join("memory.limit_in_bytes")),
        "268435456"
    );
    assert_eq!(read_trimmed(&dir_of("pids").join("pids.max")), "max");
    assert_eq!(read_trimmed(&cpu.join("cpu.cfs_quota_us")), "-1");
    // And back down: memory first.
    let back = CgroupLimits {
        memory_swap: memsw.then_some(128 << 20),
        ..limits
    };
    cgroups.manager.apply(id, &back).unwrap();
    assert_eq!(
        read_trimmed(&memory.join("memory.limit_in_bytes")),
        "67108864"
    );

    let child = cgroups.spawn_in(id, "exec sleep 100");
    wait_for_procs(&cgroups.manager, id, 1);
    let stats = cgroups.manager.stats(id).unwrap();
    assert_eq!(stats.memory_limit, Some(64 << 20));
    assert_eq!(stats.pids_limit, Some(50));
    assert_eq!(stats.pids_current, Some(1));
    assert!(stats.cpu_usage_ns.is_some() && stats.memory_usage.is_some());
    assert_eq!(cgroups.manager.oom_kills(id).unwrap(), 0);
    drop(child);
}

#[test]
fn v1_a_missing_controller_is_unsupported_not_skipped() {
    if !is_root() {
        return;
    }
    // Only the pids hierarchy: memory has nowhere to go.
    let Some(pids) = host_mounts().v1.into_iter().find(|h| h.has("pids")) else {
        eprintln!("skipped: no pids hierarchy");
        return;
    };
    let cgroups = TestCgroups::new(CgroupManager::v1_at(vec![pids], &unique_parent()));
    cgroups.create("partial");
    let memory = CgroupLimits {
        memory: Some(64 << 20),
        ..Default::default()
    };
    match cgroups.manager.apply("partial", &memory) {
        Err(CgroupError::Unsupported { limit, reason }) => {
            assert_eq!(limit, "memory");
            assert!(reason.contains("memory controller"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let pids_only = CgroupLimits {
        pids_limit: Some(10),
        ..Default::default()
    };
    cgroups.manager.apply("partial", &pids_only).unwrap();
}

#[test]
fn disabled_backend_refuses_limits_but_not_their_absence() {
    let manager = CgroupManager::disabled("conti");
    manager.apply("c1", &CgroupLimits::default()).unwrap();
    assert!(matches!(
        manager.apply("c1", &all_limits()),
        Err(CgroupError::Unsupported { .. })
    ));
    assert_eq!(manager.oom_kills("c1").unwrap(), 0);
}

/// The real cgroup2 tree. On a hybrid host it has no controllers (they are all bound to v1
/// hierarchies and cannot move while those hold cgroups), so a limit is `Unsupported` with the
/// reason, while what cgroup2 has without controllers (`cpu.stat`) is read for real. On a v2
/// host the limits are written and read back.
#[test]
fn v2_apply_on_the_host_cgroup2_tree() {
    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount.clone(), &unique_parent()));
    let id = "v2-limits";
    cgroups.create(id);
    cgroups.manager.apply(id, &CgroupLimits::default()).unwrap();
    let root_controllers = read_trimmed(&mount.join("cgroup.controllers"));
    let wanted = ["memory", "cpu", "pids"];
    let limits = CgroupLimits {
        memory: Some(64 << 20),
        cpu_quota_us: Some(25_000),
        cpu_shares: Some(1024),
        pids_limit: Some(20),
        ..Default::default()
    };
    let has_all = wanted
        .iter()
        .all(|c| root_controllers.split_whitespace().any(|r| r == *c));
    if has_all {
        cgroups.manager.apply(id, &limits).unwrap();
        let dir = cgroups.manager.paths(id).unwrap().remove(0);
        assert_eq!(read_trimmed(&dir.join("memory.max")), "67108864");
        assert_eq!(read_trimmed(&dir.join("cpu.max")), "25000 100000");
        assert_eq!(read_trimmed(&dir.join("cpu.weight")), "39");
        assert_eq!(read_trimmed(&dir.join("pids.max")), "20");
        // Swap accounting is optional: written where the kernel has the file, else reported.
        let swap = CgroupLimits {
            memory_swap: Some(96 << 20),
            ..limits.clone()
        };
        let swap_file = dir.join("memory.swap.max");
        match (swap_file.exists(), cgroups.manager.apply(id, &swap)) {
            (true, Ok(())) => assert_eq!(read_trimmed(&swap_file), "33554432"),
            (false, Err(CgroupError::Unsupported { limit, .. })) => {
                assert_eq!(limit, "memory_swap")
            }
            (exists, result) => panic!("memory.swap.max exists: {exists}, apply: {result:?}"),
        }
    } else {
        match cgroups.manager.apply(id, &limits) {
            Err(CgroupError::Unsupported { limit, reason }) => {
                assert_eq!(limit, "memory");
                assert!(reason.contains("not available"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    let child = cgroups.spawn_in(
        id,
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 100",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let usage = cgroups.manager.stats(id).unwrap().cpu_usage_ns.unwrap();
        if usage > 1_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "cpu.stat never counted: {usage}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cgroups.manager.oom_kills(id).unwrap(), 0);
    drop(child);
}

/// Every v2 writer, on a fake cgroup2 tree of plain files (a hybrid host has no controllers to
/// enable in its cgroup2): the files, the values and the controllers enabled in each level above.
#[test]
fn v2_apply_writes_the_v2_files_and_enables_controllers_above() {
    let root = std::env::temp_dir().join(format!("conti-fake-cgroup2-{}", unique_parent()));
    let container = root.join("conti/c1");
    std::fs::create_dir_all(&container).unwrap();
    for level in [root.as_path(), &root.join("conti")] {
        std::fs::write(
            level.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        std::fs::write(level.join("cgroup.subtree_control"), "").unwrap();
    }
    let files = [
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.max",
        "cpu.weight",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
        "io.weight",
    ];
    for file in files {
        std::fs::write(container.join(file), "").unwrap();
    }
    let manager = CgroupManager::v2_at(root.clone(), "conti");
    manager.apply("c1", &all_limits()).unwrap();
    let read = |file: &str| read_trimmed(&container.join(file));
    assert_eq!(read("memory.max"), "67108864");
    assert_eq!(read("memory.swap.max"), "67108864");
    assert_eq!(read("memory.low"), "16777216");
    assert_eq!(read("cpu.max"), "50000 100000");
    assert_eq!(read("cpu.weight"), "20");
    assert_eq!(read("cpuset.cpus"), "0");
    assert_eq!(read("cpuset.mems"), "0");
    assert_eq!(read("pids.max"), "50");
    assert_eq!(read("io.weight"), "2930");
    for level in [root.as_path(), &root.join("conti")] {
        assert_eq!(
            read_trimmed(&level.join("cgroup.subtree_control")),
            "+memory +cpu +cpuset +pids +io"
        );
    }
    // The container's own cgroup holds processes: nothing is enabled there.
    assert!(!container.join("cgroup.subtree_control").exists());

    // A file the kernel lacks (no swap accounting) is reported, not skipped.
    std::fs::remove_file(container.join("memory.swap.max")).unwrap();
    match manager.apply("c1", &all_limits()) {
        Err(CgroupError::Unsupported { limit, .. }) => assert_eq!(limit, "memory_swap"),
        other => panic!("{other:?}"),
    }
    // OOM kills and stats come from the same files a real tree has.
    std::fs::write(
        container.join("memory.events"),
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
    )
    .unwrap();
    assert_eq!(manager.oom_kills("c1").unwrap(), 1);
    std::fs::write(container.join("memory.current"), "1000\n").unwrap();
    std::fs::write(container.join("memory.max"), "max\n").unwrap();
    std::fs::write(
        container.join("cpu.stat"),
        "usage_usec 1500\nuser_usec 1000\n",
    )
    .unwrap();
    std::fs::write(
        container.join("io.stat"),
        "8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n",
    )
    .unwrap();
    let stats = manager.stats("c1").unwrap();
    assert_eq!(stats.cpu_usage_ns, Some(1_500_000));
    assert_eq!(stats.memory_usage, Some(1000));
    assert_eq!(stats.memory_limit, None);
    assert_eq!(
        (stats.io_read_bytes, stats.io_write_bytes),
        (Some(11), Some(22))
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// `clone3(CLONE_INTO_CGROUP)` on the real cgroup2 tree: the child is in the container's cgroup
/// from its first instruction, with nobody writing to `cgroup.procs`.
#[test]
fn a_clone_into_the_v2_cgroup_is_born_there() {
    use crate::runtime::sys::clone::{CloneResult, clone_process};
    use nix::sched::CloneFlags;
    use std::os::fd::AsFd;

    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount, &unique_parent()));
    let id = "born-here";
    cgroups.create(id);
    let target = cgroups.manager.open_clone_target(id).unwrap().unwrap();
    let child = match clone_process(CloneFlags::empty(), Some(target.as_fd())).unwrap() {
        CloneResult::Child => loop {
            // SAFETY: the child of a multi-threaded process may only make async-signal-safe
            // calls: pause(2) until the parent's SIGKILL.
            unsafe { nix::libc::pause() };
        },
        CloneResult::Parent { child } => child,
    };
    let membership = std::fs::read_to_string(format!("/proc/{child}/cgroup"));
    let procs = cgroups.manager.procs(id);
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(child, None);
    let expected = format!("0::/{}/{id}", cgroups.manager.parent());
    assert!(
        membership.unwrap().lines().any(|line| line == expected),
        "not born in {expected}"
    );
    assert_eq!(procs.unwrap(), vec![child.as_raw()]);
    // v1 hierarchies cannot be born into: no target there.
    if let Some(v1) = host_v1_manager() {
        assert!(v1.open_clone_target(id).unwrap().is_none());
    }
}

// ----- the device allow-list on cgroup v2 -----

/// What `sh -c script` printed (stdout, then stderr), run inside the cgroup `id` from its first
/// command on.
fn output_in(cgroups: &TestCgroups, id: &str, script: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read _ ; {script}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    if let Err(err) = cgroups.manager.add_process(id, child.id() as i32) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("moving sh into {id}: {err}");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The BPF device program on the host's real cgroup2 tree (the empty one of a hybrid host
/// works too: programs run by cgroup2 membership). A node of a device outside the list, made
/// from outside the cgroup, cannot be opened from inside, nor can one be made there; the
/// listed ones can. A sibling cgroup without the program opens the same node: the program, not
/// a capability, makes the difference. A privileged cgroup gets no program.
#[test]
fn a_v2_device_program_enforces_the_allow_list() {
    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount, &unique_parent()));
    let nodes = std::env::temp_dir().join(format!("conti-dev-nodes-{}", unique_parent()));
    std::fs::create_dir_all(&nodes).unwrap();
    // /dev/kmsg's numbers: a device every kernel has, harmless to open read-only.
    let kmsg = nodes.join("kmsg");
    nix::sys::stat::mknod(
        &kmsg,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(1, 11),
    )
    .unwrap();
    let script = format!(
        "cd {dir} && \
         (exec 3<kmsg && echo kmsg-opened); \
         mknod sda b 8 0 && echo sda-made; \
         mknod mine c 1 3 && echo null-made && echo x >mine && echo null-written",
        dir = nodes.display()
    );
    for (id, access) in [
        ("devices-default", Some(DeviceAccess::Default)),
        ("devices-all", Some(DeviceAccess::All)),
        ("devices-none", None),
    ] {
        cgroups.create(id);
        if let Some(access) = access {
            cgroups.manager.restrict_devices(id, access).unwrap();
        }
        let text = output_in(&cgroups, id, &format!("{script}; rm -f sda mine"));
        let restricted = access == Some(DeviceAccess::Default);
        assert_eq!(text.contains("kmsg-opened"), !restricted, "{id}: {text}");
        assert_eq!(text.contains("sda-made"), !restricted, "{id}: {text}");
        if restricted {
            assert_eq!(
                text.matches("Operation not permitted").count(),
                2,
                "{id}: {text}"
            );
        }
        assert!(text.contains("null-written"), "{id}: {text}");
    }
    std::fs::remove_dir_all(&nodes).unwrap();
}

/// A program the kernel's verifier refuses (a device program may only return 0 or 1) is an
/// error that quotes the verifier.
#[test]
fn a_device_program_the_verifier_refuses_is_an_error_with_its_log() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    #[rustfmt::skip]
    let returns_two = [
        0xb4, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, // mov32 r0, 2
        0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // exit
    ];
    match bpf::load_device_program(&returns_two, Path::new("/sys/fs/cgroup/c1")) {
        Err(err @ CgroupError::DeviceProgram { .. }) => {
            let message = err.to_string();
            assert!(message.contains("BPF_PROG_LOAD"), "{message}");
            assert!(message.contains("the verifier said:"), "{message}");
            assert!(message.contains("R0"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// An attach the kernel refuses (here: the same program twice on one cgroup) is an error naming
/// the cgroup, and a cgroup with a program attached is removed like any other (the attachment
/// goes with it).
#[test]
fn a_refused_attach_is_an_error_and_the_cgroup_still_goes() {
    use std::os::fd::AsFd;
    let Some(mount) = host_v2_mount() else { return };
    let cgroups = TestCgroups::new(CgroupManager::v2_at(mount, &unique_parent()));
    let id = "attach-twice";
    cgroups.create(id);
    let dir = cgroups.manager.paths(id).unwrap().remove(0);
    let program = device_program::DeviceProgram::allow_only(&DEFAULT_DEVICES);
    let loaded = bpf::load_device_program(program.bytes(), &dir).unwrap();
    let cgroup = std::fs::File::open(&dir).unwrap();
    bpf::attach_device_program(cgroup.as_fd(), loaded.as_fd(), &dir).unwrap();
    match bpf::attach_device_program(cgroup.as_fd(), loaded.as_fd(), &dir) {
        Err(err @ CgroupError::DeviceProgram { .. }) => {
            let message = err.to_string();
            assert!(message.contains(&dir.display().to_string()), "{message}");
            assert!(message.contains("BPF_PROG_ATTACH"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    drop(cgroup);
    cgroups.manager.remove(id).unwrap();
    assert!(!dir.exists());
}
