//! What a container may use, as the cgroup backends write it, and what the host has to offer.
//!
//! The engine validates and converts the API's `Resources` into [`CgroupLimits`]; the backends
//! only translate each field into their files. A field the host has no file for is
//! [`CgroupError::Unsupported`](super::CgroupError::Unsupported), never skipped.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The CFS period every CPU quota is expressed in, in µs (Docker's and runc's).
pub const CPU_PERIOD_US: u64 = 100_000;
/// `pids_limit`, `memory_swap` and `cpu_quota_us`: no limit.
pub const UNLIMITED: i64 = -1;

/// Limits to write into a container's cgroup. `None` leaves a file as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CgroupLimits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Memory plus swap in bytes, or [`UNLIMITED`]; never below `memory` (the engine checks).
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes.
    pub memory_reservation: Option<u64>,
    /// CPU time per [`CPU_PERIOD_US`], in µs, or [`UNLIMITED`].
    pub cpu_quota_us: Option<i64>,
    /// v1 shares (2..=262144); v2 gets [`shares_to_weight`].
    pub cpu_shares: Option<u64>,
    /// A CPU list such as `0-1,3`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Most tasks, or [`UNLIMITED`].
    pub pids_limit: Option<i64>,
    /// 10..=1000.
    pub blkio_weight: Option<u16>,
}

impl CgroupLimits {
    pub fn is_empty(&self) -> bool {
        *self == CgroupLimits::default()
    }

    pub(super) fn touches_memory(&self) -> bool {
        self.memory.is_some() || self.memory_swap.is_some() || self.memory_reservation.is_some()
    }

    pub(super) fn touches_cpu(&self) -> bool {
        self.cpu_quota_us.is_some() || self.cpu_shares.is_some()
    }

    pub(super) fn touches_cpuset(&self) -> bool {
        self.cpuset_cpus.is_some() || self.cpuset_mems.is_some()
    }
}

/// runc's mapping of v1 shares (2..=262144) onto v2 `cpu.weight` (1..=10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// runc's mapping of a blkio weight (10..=1000) onto v2 `io.weight` (1..=10000).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10) * 9999) / 990
}

/// A kernel CPU or node list (`0-3,8,10-11`) as a set; `Err` says what is wrong with it.
pub fn parse_cpu_list(text: &str) -> Result<BTreeSet<u32>, String> {
    let mut set = BTreeSet::new();
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".into());
    }
    for part in text.split(',') {
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("{part:?} is not a number or a range N-M"))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if first > last {
                    return Err(format!("range {part:?} goes backwards"));
                }
                if last - first > 65_536 {
                    return Err(format!("range {part:?} is too large"));
                }
                set.extend(first..=last);
            }
            None => {
                set.insert(number(part)?);
            }
        }
    }
    Ok(set)
}

/// What the host has, to check limits against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCapacity {
    /// Online CPUs.
    pub cpus: BTreeSet<u32>,
    /// Online memory nodes.
    pub mems: BTreeSet<u32>,
}

impl HostCapacity {
    /// From sysfs; a host without NUMA information has node 0, one without CPU information has
    /// as many CPUs as `available_parallelism` says.
    pub fn detect() -> HostCapacity {
        let read = |path: &str| {
            std::fs::read_to_string(Path::new(path))
                .ok()
                .and_then(|text| parse_cpu_list(&text).ok())
        };
        let cpus = read("/sys/devices/system/cpu/online").unwrap_or_else(|| {
            let count = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..count as u32).collect()
        });
        let mems = read("/sys/devices/system/node/online").unwrap_or_else(|| [0].into());
        HostCapacity { cpus, mems }
    }
}

/// Counters read from a container's cgroup; `None` where the host has no such file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// CPU time of all its tasks, in ns.
    pub cpu_usage_ns: Option<u64>,
    pub memory_usage: Option<u64>,
    /// `None` also when unlimited.
    pub memory_limit: Option<u64>,
    pub memory_cache: Option<u64>,
    pub pids_current: Option<u64>,
    /// `None` also when unlimited.
    pub pids_limit: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
}

/// A `key value` line's value from a flat-keyed file (`memory.stat`, `cpu.stat`, `memory.events`,
/// v1 `memory.oom_control`).
pub(super) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A single-number file, `max` (v2) or a near-2^63 value (v1's "unlimited") as `None`.
pub(super) fn limit_value(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    text.parse::<u64>().ok().filter(|&v| v < 1 << 62)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_like_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0-1,3\n").unwrap(), [0, 1, 3].into());
        assert_eq!(parse_cpu_list("5").unwrap(), [5].into());
        for bad in ["", "a", "3-1", "1,,2", "-1", "0-999999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn weights_map_as_runc_does() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn flat_keyed_files_and_limits_read() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
        assert_eq!(keyed_value(text, "missing"), None);
        assert_eq!(limit_value("max\n"), None);
        assert_eq!(limit_value("9223372036854771712\n"), None);
        assert_eq!(limit_value("33554432\n"), Some(33_554_432));
    }
}
