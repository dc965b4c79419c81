//! cgroup v2: one directory in the unified tree.
//!
//! Controllers are enabled in the `cgroup.subtree_control` of each level above a container only
//! when a limit needs them (an enabled controller costs every cgroup below it), and never in the
//! container's own cgroup, which holds processes.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CgroupError;
use super::cgroupfs::{self, Freezer, write_limit};
use super::limits::{
    CPU_PERIOD_US, CgroupLimits, CgroupStats, blkio_weight_to_io_weight, keyed_value, limit_value,
    shares_to_weight,
};
use super::v1::max_or;

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

    pub(super) fn open_dir(&self, cgroup: &Path) -> Result<OwnedFd, CgroupError> {
        let dir = self.dir(cgroup);
        std::fs::File::open(&dir)
            .map(OwnedFd::from)
            .map_err(|source| CgroupError::Io { path: dir, source })
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

/// Writing limits and reading counters.
impl V2Backend {
    pub(super) fn apply(&self, cgroup: &Path, limits: &CgroupLimits) -> Result<(), CgroupError> {
        let mut needed = Vec::new();
        if limits.touches_memory() {
            needed.push(("memory", "memory"));
        }
        if limits.touches_cpu() {
            needed.push(("cpu", "cpus/cpu_shares"));
        }
        if limits.touches_cpuset() {
            needed.push(("cpuset", "cpuset"));
        }
        if limits.pids_limit.is_some() {
            needed.push(("pids", "pids_limit"));
        }
        if limits.blkio_weight.is_some() {
            needed.push(("io", "blkio_weight"));
        }
        self.enable_controllers(cgroup, &needed)?;
        let dir = self.dir(cgroup);
        if let Some(memory) = limits.memory {
            write_limit(&dir, "memory.max", &memory.to_string(), "memory")?;
        }
        if let Some(swap) = limits.memory_swap {
            // v2 limits swap alone; the API's value is memory + swap.
            let value = match (swap, limits.memory) {
                (swap, _) if swap < 0 => "max".to_owned(),
                (swap, Some(memory)) => (swap as u64).saturating_sub(memory).to_string(),
                (swap, None) => {
                    let current = cgroupfs::read_value(&dir.join("memory.max"))?
                        .and_then(|text| limit_value(&text))
                        .unwrap_or(0);
                    (swap as u64).saturating_sub(current).to_string()
                }
            };
            write_limit(&dir, "memory.swap.max", &value, "memory_swap")?;
        }
        if let Some(reservation) = limits.memory_reservation {
            write_limit(
                &dir,
                "memory.low",
                &reservation.to_string(),
                "memory_reservation",
            )?;
        }
        if let Some(quota) = limits.cpu_quota_us {
            let value = format!("{} {CPU_PERIOD_US}", max_or(quota));
            write_limit(&dir, "cpu.max", &value, "cpus")?;
        }
        if let Some(shares) = limits.cpu_shares {
            let weight = shares_to_weight(shares).to_string();
            write_limit(&dir, "cpu.weight", &weight, "cpu_shares")?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            write_limit(&dir, "cpuset.cpus", cpus, "cpuset_cpus")?;
        }
        if let Some(mems) = &limits.cpuset_mems {
            write_limit(&dir, "cpuset.mems", mems, "cpuset_mems")?;
        }
        if let Some(pids) = limits.pids_limit {
            write_limit(&dir, "pids.max", &max_or(pids), "pids_limit")?;
        }
        if let Some(weight) = limits.blkio_weight {
            // BFQ keeps blkio's 1..=1000 scale; io.weight (iocost) is 1..=10000.
            if dir.join("io.bfq.weight").exists() {
                write_limit(&dir, "io.bfq.weight", &weight.to_string(), "blkio_weight")?;
            } else {
                let value = blkio_weight_to_io_weight(weight).to_string();
                write_limit(&dir, "io.weight", &value, "blkio_weight")?;
            }
        }
        Ok(())
    }

    /// Enables `controllers` (name, the limit that needs it) in every level from the mount down
    /// to the container's parent; one that a level does not offer is `Unsupported`.
    fn enable_controllers(
        &self,
        cgroup: &Path,
        controllers: &[(&str, &str)],
    ) -> Result<(), CgroupError> {
        if controllers.is_empty() {
            return Ok(());
        }
        // Every level above the container, root first; the container's own cgroup holds
        // processes and gets the controllers from its parent.
        let mut level = self.mount.clone();
        for component in cgroup.components() {
            let available =
                cgroupfs::read_value(&level.join("cgroup.controllers"))?.unwrap_or_default();
            for (controller, limit) in controllers {
                if !available.split_whitespace().any(|c| c == *controller) {
                    return Err(CgroupError::Unsupported {
                        limit: (*limit).to_owned(),
                        reason: format!(
                            "the {controller} controller is not available in {} \
                             (cgroup.controllers: {:?})",
                            level.display(),
                            available.trim()
                        ),
                    });
                }
            }
            enable_in(&level, controllers)?;
            level.push(component);
        }
        Ok(())
    }

    pub(super) fn oom_kills(&self, cgroup: &Path) -> Result<u64, CgroupError> {
        Ok(
            cgroupfs::read_value(&self.dir(cgroup).join("memory.events"))?
                .and_then(|text| keyed_value(&text, "oom_kill"))
                .unwrap_or(0),
        )
    }

    pub(super) fn stats(&self, cgroup: &Path) -> Result<CgroupStats, CgroupError> {
        let dir = self.dir(cgroup);
        let read = |file: &str| cgroupfs::read_value(&dir.join(file));
        let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
        let (io_read_bytes, io_write_bytes) = match read("io.stat")? {
            Some(text) => {
                let (read, write) = io_stat_bytes(&text);
                (Some(read), Some(write))
            }
            None => (None, None),
        };
        Ok(CgroupStats {
            // `cpu.stat` is there without the cpu controller too.
            cpu_usage_ns: read("cpu.stat")?
                .and_then(|text| keyed_value(&text, "usage_usec"))
                .map(|usec| usec * 1000),
            memory_usage: number(read("memory.current")?),
            memory_limit: read("memory.max")?.and_then(|t| limit_value(&t)),
            memory_cache: read("memory.stat")?.and_then(|text| keyed_value(&text, "file")),
            pids_current: number(read("pids.current")?),
            pids_limit: read("pids.max")?.and_then(|t| limit_value(&t)),
            io_read_bytes,
            io_write_bytes,
        })
    }
}

fn enable_in(level: &Path, controllers: &[(&str, &str)]) -> Result<(), CgroupError> {
    let enabled = cgroupfs::read_value(&level.join("cgroup.subtree_control"))?.unwrap_or_default();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|(c, _)| !enabled.split_whitespace().any(|e| e == *c))
        .map(|(c, _)| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    cgroupfs::write_value(&level.join("cgroup.subtree_control"), &missing.join(" "))
}

/// Sums `rbytes=` and `wbytes=` over the devices of `io.stat`.
fn io_stat_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(value) = field.strip_prefix("rbytes=") {
            read += value.parse::<u64>().unwrap_or(0);
        } else if let Some(value) = field.strip_prefix("wbytes=") {
            write += value.parse::<u64>().unwrap_or(0);
        }
    }
    (read, write)
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
