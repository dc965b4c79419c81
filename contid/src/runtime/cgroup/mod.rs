//! Cgroups: one directory per container in every hierarchy the host mounts.
//!
//! A container's cgroup is `<hierarchy mount>/<parent>/<id>`. `<parent>` is the daemon's folder,
//! shared by all its containers: it is created on demand and left in place when a container goes.
//!
//! [`CgroupManager`] hides the host's cgroup version behind one of three backends, so callers
//! never ask which one they have:
//! - v1: one directory per mounted hierarchy, named ones such as `name=systemd` included. Hybrid
//!   hosts use it too, with their cgroup2 tree as one more hierarchy.
//! - v2: one directory in the unified tree.
//! - disabled: the host mounts no writable cgroup filesystem; every operation succeeds and does
//!   nothing.
//!
//! Every operation is plain file I/O on cgroupfs, safe to call from the daemon, the helper, or a
//! process the helper forked.

use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

mod bpf;
mod cgroupfs;
mod device_program;
mod devices;
mod limits;
mod mountinfo;
#[cfg(test)]
mod tests;
mod v1;
mod v2;

pub use devices::{DEFAULT_DEVICES, DeviceAccess, DeviceKind, DeviceOps, DeviceRule};
pub use limits::{
    CPU_PERIOD_US, CgroupLimits, CgroupStats, HostCapacity, UNLIMITED, parse_cpu_list,
};
pub use v1::V1Hierarchy;

const MOUNTINFO: &str = "/proc/self/mountinfo";
/// How the cgroup2 tree of a hybrid host is listed among its v1 hierarchies: cgroup.procs,
/// mkdir and rmdir work the same way in both.
const UNIFIED_IN_HYBRID: &str = "unified";

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
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A container id or parent that is not a plain relative path (empty, absolute, `.`, `..`;
    /// an id must also be a single component).
    #[error("invalid cgroup name {name:?}")]
    InvalidName { name: String },
    /// `kill_all` gave up: these processes were still in the cgroup at its deadline.
    #[error("cgroup {path}: processes still running after SIGKILL: {pids:?}")]
    StillRunning { path: PathBuf, pids: Vec<i32> },
    /// The host cannot enforce this limit: its controller is not mounted or not available to
    /// the container's cgroup, or the kernel lacks the file (e.g. swap accounting is off).
    #[error("{limit} cannot be enforced on this host: {reason}")]
    Unsupported { limit: String, reason: String },
    /// The kernel refused a limit's value (e.g. a memory limit below what the container uses
    /// now, or a CPU outside the parent's cpuset).
    #[error("the kernel refused {limit} = {value} ({path}): {source}")]
    Rejected {
        limit: String,
        value: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The kernel would not load or attach the BPF program that enforces the device allow-list
    /// on cgroup v2 (`reason`: the likely cause, or the verifier's log).
    #[error("cgroup {path}: cannot enforce the device allow-list: {action}: {source} ({reason})")]
    DeviceProgram {
        path: PathBuf,
        action: &'static str,
        reason: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
enum Backend {
    Disabled,
    V1(v1::V1Backend),
    V2(v2::V2Backend),
}

/// Clone + Send + Sync; cheap to pass to the helper, the monitor and the daemon.
#[derive(Debug, Clone)]
pub struct CgroupManager {
    layout: CgroupLayout,
    parent: String,
    backend: Backend,
}

impl CgroupManager {
    /// Detects the layout from `/proc/self/mountinfo`; containers go under `<hierarchy>/<parent>/<id>`.
    ///
    /// Read-only cgroup mounts are ignored (nothing could be created in them); when nothing usable
    /// is left the manager is disabled.
    pub fn detect(parent: &str) -> CgroupManager {
        match std::fs::read_to_string(MOUNTINFO) {
            Ok(text) => CgroupManager::from_mountinfo(&text, parent),
            Err(err) => {
                tracing::warn!(%err, "cannot read {MOUNTINFO}; cgroups disabled");
                CgroupManager::disabled(parent)
            }
        }
    }

    /// Like [`CgroupManager::detect`], from the text of a `mountinfo` file.
    pub fn from_mountinfo(mountinfo: &str, parent: &str) -> CgroupManager {
        let mounts = mountinfo::parse(mountinfo);
        let manager = match (mounts.v1.is_empty(), mounts.v2) {
            (false, None) => CgroupManager::v1_at(mounts.v1, parent),
            // Hybrid: the v1 hierarchies hold the controllers; the container also gets its own
            // cgroup in the unified tree (as systemd does), so its processes are tracked there
            // and whatever controller the host put in cgroup2 (often hugetlb) applies to it alone.
            (false, Some(v2)) => {
                let mut hierarchies = mounts.v1;
                hierarchies.push(V1Hierarchy::new(v2, &[UNIFIED_IN_HYBRID]));
                CgroupManager {
                    layout: CgroupLayout::Hybrid,
                    ..CgroupManager::v1_at(hierarchies, parent)
                }
            }
            (true, Some(v2)) => CgroupManager::v2_at(v2, parent),
            (true, None) => CgroupManager::disabled(parent),
        };
        tracing::debug!(layout = manager.layout.as_str(), ?manager.backend, "cgroups detected");
        manager
    }

    /// A v1 manager over the given hierarchies (tests, or a caller that knows better).
    pub fn v1_at(hierarchies: Vec<V1Hierarchy>, parent: &str) -> CgroupManager {
        CgroupManager {
            layout: CgroupLayout::V1,
            parent: parent.to_owned(),
            backend: Backend::V1(v1::V1Backend::new(hierarchies)),
        }
    }

    /// A v2 manager over the cgroup2 tree mounted at `mount`; any cgroup2 mount works, e.g. the
    /// empty one of a hybrid host, or a fresh `mount -t cgroup2 none <dir>`.
    pub fn v2_at(mount: PathBuf, parent: &str) -> CgroupManager {
        CgroupManager {
            layout: CgroupLayout::V2,
            parent: parent.to_owned(),
            backend: Backend::V2(v2::V2Backend::new(mount)),
        }
    }

    /// A manager whose every operation succeeds and does nothing.
    pub fn disabled(parent: &str) -> CgroupManager {
        CgroupManager {
            layout: CgroupLayout::None,
            parent: parent.to_owned(),
            backend: Backend::Disabled,
        }
    }

    pub fn layout(&self) -> CgroupLayout {
        self.layout
    }

    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The container's cgroup directories, one per hierarchy (none when disabled). They need not
    /// exist.
    pub fn paths(&self, id: &str) -> Result<Vec<PathBuf>, CgroupError> {
        let cgroup = self.container_path(id)?;
        Ok(match &self.backend {
            Backend::Disabled => Vec::new(),
            Backend::V1(v1) => v1.dirs(&cgroup),
            Backend::V2(v2) => vec![v2.dir(&cgroup)],
        })
    }

    /// Creates the container's cgroup in every hierarchy (idempotent).
    pub fn create(&self, id: &str) -> Result<(), CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::V1(v1) => v1.create(&cgroup),
            Backend::V2(v2) => v2.create(&cgroup),
        }
    }

    /// The container's cgroup opened for `clone3(CLONE_INTO_CGROUP)`, so that its init is born in
    /// it rather than moved there: only on a v2 host, where that one directory is all of its
    /// cgroups (v1 hierarchies, hybrid hosts included, can only be joined by migration).
    pub fn open_clone_target(&self, id: &str) -> Result<Option<OwnedFd>, CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled | Backend::V1(_) => Ok(None),
            Backend::V2(v2) => v2.open_dir(&cgroup).map(Some),
        }
    }

    /// Gets the cgroup migration lock's grace period under way ahead of a start (v1 and hybrid
    /// hosts; a no-op elsewhere). Blocks for that grace period (~10 ms): call it from a thread
    /// that can wait, as a start begins.
    ///
    /// Moving a process into a v1 cgroup takes `cgroup_threadgroup_rwsem` for writing, and a
    /// writer that finds the lock idle first waits for an RCU grace period (`rcu_sync_enter`);
    /// one that comes while another writer is waiting, or within a grace period after one,
    /// does not wait again. A start moves its init after its other work (a few ms); begun
    /// here, that wait overlaps with it. (A v2 init is born in its cgroup: no migration.)
    pub fn prepay_migration(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(v1) => v1.prepay_migration(),
            Backend::Disabled | Backend::V2(_) => Ok(()),
        }
    }

    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn add_process(&self, id: &str, pid: i32) -> Result<(), CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::V1(v1) => v1.add_process(&cgroup, pid),
            Backend::V2(v2) => v2.add_process(&cgroup, pid),
        }
    }

    /// Pids (host view) of every process in the container's cgroup and its sub-cgroups; empty
    /// when the cgroup does not exist.
    pub fn procs(&self, id: &str) -> Result<Vec<i32>, CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(Vec::new()),
            Backend::V1(v1) => v1.procs(&cgroup),
            Backend::V2(v2) => v2.procs(&cgroup),
        }
    }

    /// SIGKILLs every process in the container's cgroup and waits (about 2 s at most) until none
    /// is left; [`CgroupError::StillRunning`] if some are.
    pub fn kill_all(&self, id: &str) -> Result<(), CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::V1(v1) => v1.kill_all(&cgroup),
            Backend::V2(v2) => v2.kill_all(&cgroup),
        }
    }

    /// Writes `limits` into the container's cgroup (which must exist); fields left `None` are
    /// not touched. Stops at the first limit that cannot be set: [`CgroupError::Unsupported`]
    /// when the host lacks what it needs, [`CgroupError::Rejected`] when the kernel refuses it.
    pub fn apply(&self, id: &str, limits: &CgroupLimits) -> Result<(), CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled if limits.is_empty() => Ok(()),
            Backend::Disabled => Err(CgroupError::Unsupported {
                limit: "resource limits".into(),
                reason: "no writable cgroup filesystem is mounted".into(),
            }),
            Backend::V1(v1) => v1.apply(&cgroup, limits),
            Backend::V2(v2) => v2.apply(&cgroup, limits),
        }
    }

    /// Restricts the devices the container may use, before its first process is in its cgroup.
    /// On cgroup v1 and hybrid hosts the devices controller enforces it, on a v2 host a BPF
    /// device program attached to the cgroup (see `devices`); a host without cgroups has nothing
    /// to enforce it with.
    pub fn restrict_devices(&self, id: &str, access: DeviceAccess) -> Result<(), CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::V1(v1) => v1.restrict_devices(&cgroup, access),
            Backend::V2(v2) => device_program::restrict_v2(&v2.dir(&cgroup), access),
        }
    }

    /// How many times the kernel's OOM killer killed a process of the container's cgroup (0
    /// when the host does not count it, or the cgroup is gone).
    pub fn oom_kills(&self, id: &str) -> Result<u64, CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(0),
            Backend::V1(v1) => v1.oom_kills(&cgroup),
            Backend::V2(v2) => v2.oom_kills(&cgroup),
        }
    }

    /// The container's usage counters; all `None` when disabled.
    pub fn stats(&self, id: &str) -> Result<CgroupStats, CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(CgroupStats::default()),
            Backend::V1(v1) => v1.stats(&cgroup),
            Backend::V2(v2) => v2.stats(&cgroup),
        }
    }

    /// Removes the container's cgroup everywhere; idempotent; waits briefly for dying processes.
    ///
    /// Sub-cgroups the container made are removed too. A cgroup still busy after about 1 s is an
    /// error (`EBUSY`). The shared parent stays.
    pub fn remove(&self, id: &str) -> Result<(), CgroupError> {
        let cgroup = self.container_path(id)?;
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::V1(v1) => v1.remove(&cgroup),
            Backend::V2(v2) => v2.remove(&cgroup),
        }
    }

    /// Removes the parent folder (each of its levels, deepest first) where it is empty; one that
    /// still holds cgroups stays, silently.
    pub fn remove_parent_if_empty(&self) -> Result<(), CgroupError> {
        let parent = parent_path(&self.parent)?;
        match &self.backend {
            Backend::Disabled => Ok(()),
            Backend::V1(v1) => v1.remove_parent_if_empty(&parent),
            Backend::V2(v2) => v2.remove_parent_if_empty(&parent),
        }
    }

    /// `<parent>/<id>`, relative to a hierarchy's mount point.
    fn container_path(&self, id: &str) -> Result<PathBuf, CgroupError> {
        let mut path = parent_path(&self.parent)?;
        let single_component = !id.contains('/') && is_plain_relative(Path::new(id));
        if id.is_empty() || !single_component {
            return Err(CgroupError::InvalidName {
                name: id.to_owned(),
            });
        }
        path.push(id);
        Ok(path)
    }
}

fn parent_path(parent: &str) -> Result<PathBuf, CgroupError> {
    if parent.is_empty() || !is_plain_relative(Path::new(parent)) {
        return Err(CgroupError::InvalidName {
            name: parent.to_owned(),
        });
    }
    Ok(PathBuf::from(parent))
}

/// Only normal components: a path that cannot leave the hierarchy it is joined to.
fn is_plain_relative(path: &Path) -> bool {
    let text = path.as_os_str().as_encoded_bytes();
    !text.contains(&0)
        && path.components().next().is_some()
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}
