//! cgroup v2: one directory in the unified tree.
//!
//! Controllers are not enabled in `cgroup.subtree_control` yet: nothing sets limits so far.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CgroupError;
use super::cgroupfs::{self, Freezer};

#[derive(Debug, Clone)]
pub(super) struct V2Backend {
    mount: PathBuf,
}

impl V2Backend {
    pub(super) fn new(mount: PathBuf) -> V2Backend {
        V2Backend { mount }
    }

    pub(super) fn dir(&self, cgroup: &Path) -> PathBuf {
        self.mount.join(cgroup)
    }

    pub(super) fn create(&self, cgroup: &Path) -> Result<(), CgroupError> {
        cgroupfs::create_levels(&self.mount, cgroup, &|_, _| Ok(()))
    }

    pub(super) fn add_process(&self, cgroup: &Path, pid: i32) -> Result<(), CgroupError> {
        cgroupfs::write_value(&self.dir(cgroup).join("cgroup.procs"), &pid.to_string())
    }

    pub(super) fn procs(&self, cgroup: &Path) -> Result<Vec<i32>, CgroupError> {
        cgroupfs::procs_tree(&self.dir(cgroup))
    }

    pub(super) fn kill_all(&self, cgroup: &Path) -> Result<(), CgroupError> {
        let dir = self.dir(cgroup);
        if dir.join("cgroup.kill").exists() {
            kill_with_cgroup_kill(&dir)
        } else {
            kill_with_freezer(&dir)
        }
    }

    pub(super) fn remove(&self, cgroup: &Path) -> Result<(), CgroupError> {
        cgroupfs::remove_tree(&self.dir(cgroup), Instant::now())
    }

    pub(super) fn remove_parent_if_empty(&self, parent: &Path) -> Result<(), CgroupError> {
        cgroupfs::remove_empty_levels(&self.mount, parent)
    }
}

/// Linux 5.14+: one write kills the whole subtree, new forks included.
pub(super) fn kill_with_cgroup_kill(dir: &Path) -> Result<(), CgroupError> {
    let procs = || cgroupfs::procs_tree(dir);
    cgroupfs::kill_until_empty(dir, &procs, &|| cgroupfs::write_cgroup_kill(dir).map(drop))
}

/// Older kernels: freeze, signal every process, thaw.
pub(super) fn kill_with_freezer(dir: &Path) -> Result<(), CgroupError> {
    let freezer = Freezer::V2 {
        dir: dir.to_path_buf(),
    };
    let procs = || cgroupfs::procs_tree(dir);
    cgroupfs::kill_until_empty(dir, &procs, &|| {
        cgroupfs::signal_round(Some(&freezer), &procs)
    })
}
