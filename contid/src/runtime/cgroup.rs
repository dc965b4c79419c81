//! Cgroups: one directory per container in every hierarchy the host mounts.

use std::path::PathBuf;

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup v1 controllers only.
    V1,
    /// v1 controllers plus a cgroup2 mount (usually empty, at `/sys/fs/cgroup/unified`).
    Hybrid,
    /// One unified cgroup2 tree.
    V2,
    /// No usable cgroup filesystem.
    None,
}

impl CgroupLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupLayout::V1 => "v1",
            CgroupLayout::Hybrid => "hybrid",
            CgroupLayout::V2 => "v2",
            CgroupLayout::None => "none",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Clone + Send + Sync; cheap to pass to the helper, the monitor and the daemon.
#[derive(Debug, Clone)]
pub struct CgroupManager {}

impl CgroupManager {
    /// Detects the layout from `/proc/self/mountinfo`; containers go under `<hierarchy>/<parent>/<id>`.
    pub fn detect(parent: &str) -> CgroupManager {
        let _ = parent;
        todo!("H2")
    }
    pub fn layout(&self) -> CgroupLayout {
        todo!("H2")
    }
    pub fn parent(&self) -> &str {
        todo!("H2")
    }
    /// Creates the container's cgroup in every hierarchy (idempotent).
    pub fn create(&self, id: &str) -> Result<(), CgroupError> {
        let _ = id;
        todo!("H2")
    }
    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn add_process(&self, id: &str, pid: i32) -> Result<(), CgroupError> {
        let _ = (id, pid);
        todo!("H2")
    }
    /// Pids (host view) of every process in the container's cgroup.
    pub fn procs(&self, id: &str) -> Result<Vec<i32>, CgroupError> {
        let _ = id;
        todo!("H2")
    }
    /// SIGKILLs every process in the container's cgroup.
    pub fn kill_all(&self, id: &str) -> Result<(), CgroupError> {
        let _ = id;
        todo!("H2")
    }
    /// Removes the container's cgroup everywhere; idempotent; waits briefly for dying processes.
    pub fn remove(&self, id: &str) -> Result<(), CgroupError> {
        let _ = id;
        todo!("H2")
    }
}
