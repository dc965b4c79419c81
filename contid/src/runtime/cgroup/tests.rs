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
