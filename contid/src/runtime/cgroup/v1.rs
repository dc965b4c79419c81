//! cgroup v1 (also used on hybrid hosts): one directory per mounted hierarchy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::CgroupError;
use super::cgroupfs::{self, Freezer, write_limit};
use super::devices::{self, DeviceAccess};
use super::limits::{
    CPU_PERIOD_US, CgroupLimits, CgroupStats, UNLIMITED, keyed_value, limit_value,
};

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

    /// Writes the caller's own pid into the cgroup it is already in (see
    /// [`super::CgroupManager::prepay_migration`]): nothing moves, but the kernel takes the
    /// migration lock, and with it waits for a grace period if nobody did lately.
    pub(super) fn prepay_migration(&self) -> Result<(), CgroupError> {
        let Some(hierarchy) = self.procs_hierarchy() else {
            return Ok(());
        };
        let membership =
            std::fs::read_to_string("/proc/self/cgroup").map_err(|source| CgroupError::Io {
                path: "/proc/self/cgroup".into(),
                source,
            })?;
        match own_cgroup(&membership, hierarchy) {
            Some(own) => {
                cgroupfs::write_value(&hierarchy.mount.join(own).join("cgroup.procs"), "0")
            }
            None => Ok(()),
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

/// Writing limits, and reading counters, one controller's hierarchy at a time.
impl V1Backend {
    /// The container's directory in the hierarchy that carries `controller`.
    fn controller_dir(
        &self,
        controller: &str,
        cgroup: &Path,
        limit: &str,
    ) -> Result<PathBuf, CgroupError> {
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .map(|h| h.mount.join(cgroup))
            .ok_or_else(|| CgroupError::Unsupported {
                limit: limit.to_owned(),
                reason: format!("no cgroup v1 hierarchy has the {controller} controller"),
            })
    }

    fn existing_controller_dir(&self, controller: &str, cgroup: &Path) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .map(|h| h.mount.join(cgroup))
    }

    pub(super) fn apply(&self, cgroup: &Path, limits: &CgroupLimits) -> Result<(), CgroupError> {
        if limits.touches_memory() {
            let dir = self.controller_dir("memory", cgroup, "memory")?;
            apply_memory(&dir, limits)?;
        }
        if let Some(quota) = limits.cpu_quota_us {
            let dir = self.controller_dir("cpu", cgroup, "cpus")?;
            write_limit(
                &dir,
                "cpu.cfs_period_us",
                &CPU_PERIOD_US.to_string(),
                "cpus",
            )?;
            write_limit(
                &dir,
                "cpu.cfs_quota_us",
                &quota.max(UNLIMITED).to_string(),
                "cpus",
            )?;
        }
        if let Some(shares) = limits.cpu_shares {
            let dir = self.controller_dir("cpu", cgroup, "cpu_shares")?;
            write_limit(&dir, "cpu.shares", &shares.to_string(), "cpu_shares")?;
        }
        if limits.touches_cpuset() {
            let dir = self.controller_dir("cpuset", cgroup, "cpuset")?;
            // Mounted with `noprefix`, the files lose their `cpuset.` prefix.
            let prefix = if dir.join("cpus").exists() {
                ""
            } else {
                "cpuset."
            };
            if let Some(cpus) = &limits.cpuset_cpus {
                write_limit(&dir, &format!("{prefix}cpus"), cpus, "cpuset_cpus")?;
            }
            if let Some(mems) = &limits.cpuset_mems {
                write_limit(&dir, &format!("{prefix}mems"), mems, "cpuset_mems")?;
            }
        }
        if let Some(pids) = limits.pids_limit {
            let dir = self.controller_dir("pids", cgroup, "pids_limit")?;
            write_limit(&dir, "pids.max", &max_or(pids), "pids_limit")?;
        }
        if let Some(weight) = limits.blkio_weight {
            let dir = self.controller_dir("blkio", cgroup, "blkio_weight")?;
            // CFQ's `blkio.weight` is gone since Linux 5.0; BFQ has its own file.
            let file = cgroupfs::first_existing(&dir, &["blkio.weight", "blkio.bfq.weight"])
                .unwrap_or("blkio.weight");
            write_limit(&dir, file, &weight.to_string(), "blkio_weight")?;
        }
        Ok(())
    }

    pub(super) fn restrict_devices(
        &self,
        cgroup: &Path,
        access: DeviceAccess,
    ) -> Result<(), CgroupError> {
        match self.existing_controller_dir("devices", cgroup) {
            Some(dir) => devices::restrict_v1(&dir, access),
            None => Ok(()),
        }
    }

    pub(super) fn oom_kills(&self, cgroup: &Path) -> Result<u64, CgroupError> {
        let Some(dir) = self.existing_controller_dir("memory", cgroup) else {
            return Ok(0);
        };
        Ok(cgroupfs::read_value(&dir.join("memory.oom_control"))?
            .and_then(|text| keyed_value(&text, "oom_kill"))
            .unwrap_or(0))
    }

    pub(super) fn stats(&self, cgroup: &Path) -> Result<CgroupStats, CgroupError> {
        let read = |controller: &str, file: &str| -> Result<Option<String>, CgroupError> {
            match self.existing_controller_dir(controller, cgroup) {
                Some(dir) => cgroupfs::read_value(&dir.join(file)),
                None => Ok(None),
            }
        };
        let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
        let memory_stat = read("memory", "memory.stat")?;
        let io = read("blkio", "blkio.throttle.io_service_bytes_recursive")?;
        let (io_read_bytes, io_write_bytes) = match io {
            Some(text) => {
                let (read, write) = blkio_bytes(&text);
                (Some(read), Some(write))
            }
            None => (None, None),
        };
        Ok(CgroupStats {
            cpu_usage_ns: number(read("cpuacct", "cpuacct.usage")?),
            memory_usage: number(read("memory", "memory.usage_in_bytes")?),
            memory_limit: read("memory", "memory.limit_in_bytes")?.and_then(|t| limit_value(&t)),
            memory_cache: memory_stat.and_then(|text| {
                keyed_value(&text, "total_cache").or_else(|| keyed_value(&text, "cache"))
            }),
            pids_current: number(read("pids", "pids.current")?),
            pids_limit: read("pids", "pids.max")?.and_then(|t| limit_value(&t)),
            io_read_bytes,
            io_write_bytes,
        })
    }
}

/// `memory.limit_in_bytes` may never exceed `memory.memsw.limit_in_bytes`: when the memory limit
/// grows past the current memory+swap limit, memsw is written first, else last.
fn apply_memory(dir: &Path, limits: &CgroupLimits) -> Result<(), CgroupError> {
    let memsw = |value: i64| {
        write_limit(
            dir,
            "memory.memsw.limit_in_bytes",
            &value.to_string(),
            "memory_swap",
        )
    };
    let memory =
        |value: u64| write_limit(dir, "memory.limit_in_bytes", &value.to_string(), "memory");
    match (limits.memory, limits.memory_swap) {
        (Some(limit), Some(swap)) => {
            let current_memsw = cgroupfs::read_value(&dir.join("memory.memsw.limit_in_bytes"))?
                .and_then(|text| text.trim().parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            if swap == UNLIMITED || limit > current_memsw {
                memsw(swap)?;
                memory(limit)?;
            } else {
                memory(limit)?;
                memsw(swap)?;
            }
        }
        (Some(limit), None) => memory(limit)?,
        (None, Some(swap)) => memsw(swap)?,
        (None, None) => {}
    }
    if let Some(reservation) = limits.memory_reservation {
        write_limit(
            dir,
            "memory.soft_limit_in_bytes",
            &reservation.to_string(),
            "memory_reservation",
        )?;
    }
    Ok(())
}

/// `-1` as `max`, the way `pids.max` and v2's files spell "no limit".
/// The caller's cgroup (relative to the hierarchy's root) in `hierarchy`, from the text of
/// `/proc/self/cgroup` (`<id>:<controllers>:<path>` lines).
pub(super) fn own_cgroup<'a>(membership: &'a str, hierarchy: &V1Hierarchy) -> Option<&'a str> {
    membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let same = !controllers.is_empty()
            && controllers
                .split(',')
                .all(|controller| hierarchy.has(controller));
        same.then(|| path.trim_start_matches('/'))
    })
}

pub(super) fn max_or(value: i64) -> String {
    if value < 0 {
        "max".to_owned()
    } else {
        value.to_string()
    }
}

/// Sums the `Read` and `Write` lines of `blkio.*io_service_bytes*` (`8:0 Read 4096`); the
/// per-device `Total` lines and the closing `Total N` are left out.
fn blkio_bytes(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_device), Some(op), Some(value)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        match op {
            "Read" => read += value,
            "Write" => write += value,
            _ => {}
        }
    }
    (read, write)
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
