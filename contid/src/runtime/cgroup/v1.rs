//! cgroup v1 (also used on hybrid hosts): one directory per mounted hierarchy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CgroupError;
use super::cgroupfs::{self, Freezer};

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount: PathBuf,
    /// Its controllers (`cpu`, `cpuacct`…), or `name=<name>` for a named hierarchy such as
    /// `name=systemd`.
    pub controllers: Vec<String>,
}

impl V1Hierarchy {
    pub fn new(mount: impl Into<PathBuf>, controllers: &[&str]) -> V1Hierarchy {
        V1Hierarchy {
            mount: mount.into(),
            controllers: controllers.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

#[derive(Debug, Clone)]
pub(super) struct V1Backend {
    hierarchies: Vec<V1Hierarchy>,
}

impl V1Backend {
    pub(super) fn new(hierarchies: Vec<V1Hierarchy>) -> V1Backend {
        V1Backend { hierarchies }
    }

    pub(super) fn dirs(&self, cgroup: &Path) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|h| h.mount.join(cgroup))
            .collect()
    }

    pub(super) fn create(&self, cgroup: &Path) -> Result<(), CgroupError> {
        for hierarchy in &self.hierarchies {
            if hierarchy.has("cpuset") {
                cgroupfs::create_levels(&hierarchy.mount, cgroup, &inherit_cpuset)?;
            } else {
                cgroupfs::create_levels(&hierarchy.mount, cgroup, &|_, _| Ok(()))?;
            }
        }
        Ok(())
    }

    pub(super) fn add_process(&self, cgroup: &Path, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for dir in self.dirs(cgroup) {
            cgroupfs::write_value(&dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    /// Read from one hierarchy: every process is in all of them.
    pub(super) fn procs(&self, cgroup: &Path) -> Result<Vec<i32>, CgroupError> {
        match self.procs_hierarchy() {
            Some(hierarchy) => cgroupfs::procs_tree(&hierarchy.mount.join(cgroup)),
            None => Ok(Vec::new()),
        }
    }

    /// `pids` or `memory` when mounted (what a container can least do without), else the first.
    fn procs_hierarchy(&self) -> Option<&V1Hierarchy> {
        let by_controller = |name| self.hierarchies.iter().find(|h| h.has(name));
        by_controller("pids")
            .or_else(|| by_controller("memory"))
            .or_else(|| self.hierarchies.first())
    }

    pub(super) fn kill_all(&self, cgroup: &Path) -> Result<(), CgroupError> {
        let Some(procs_hierarchy) = self.procs_hierarchy() else {
            return Ok(());
        };
        let freezer = self
            .hierarchies
            .iter()
            .find(|h| h.has("freezer"))
            .map(|h| Freezer::V1 {
                dir: h.mount.join(cgroup),
            });
        let procs = || self.procs(cgroup);
        cgroupfs::kill_until_empty(&procs_hierarchy.mount.join(cgroup), &procs, &|| {
            cgroupfs::signal_round(freezer.as_ref(), &procs)
        })
    }

    pub(super) fn remove(&self, cgroup: &Path) -> Result<(), CgroupError> {
        let started = Instant::now();
        for dir in self.dirs(cgroup) {
            cgroupfs::remove_tree(&dir, started)?;
        }
        Ok(())
    }

    pub(super) fn remove_parent_if_empty(&self, parent: &Path) -> Result<(), CgroupError> {
        for hierarchy in &self.hierarchies {
            cgroupfs::remove_empty_levels(&hierarchy.mount, parent)?;
        }
        Ok(())
    }
}

/// A new cpuset cgroup has empty `cpus` and `mems`, and adding a task to it fails with `ENOSPC`:
/// copy them from the parent (already filled, as levels are created top-down).
fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    // Mounted with `noprefix`, the files lose their `cpuset.` prefix.
    let prefix = if parent.join("cpuset.cpus").exists() {
        "cpuset."
    } else {
        ""
    };
    for name in ["cpus", "mems"] {
        let file = format!("{prefix}{name}");
        let current = cgroupfs::read_value(&dir.join(&file))?.unwrap_or_default();
        if !current.trim().is_empty() {
            continue;
        }
        let inherited = cgroupfs::read_value(&parent.join(&file))?.unwrap_or_default();
        if !inherited.trim().is_empty() {
            cgroupfs::write_value(&dir.join(&file), inherited.trim())?;
        }
    }
    Ok(())
}
