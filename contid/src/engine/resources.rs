//! Resource limits: what a caller may ask for, checked against the host, and their translation
//! into what the cgroup backends write.

use conti_proto::Resources;

use super::error::{EngineError, EngineResult};
use crate::runtime::cgroup::{
    CPU_PERIOD_US, CgroupLimits, HostCapacity, UNLIMITED, parse_cpu_list,
};

/// Below this the container's own runtime overhead does not fit (Docker's minimum too).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The kernel refuses CFS quotas under 1 ms.
const MIN_CPUS: f64 = 0.01;
const CPU_SHARES: (i64, i64) = (2, 262_144);
const BLKIO_WEIGHT: (i64, i64) = (10, 1000);
/// The most a `pids.max` takes: the kernel's `PID_MAX_LIMIT` on 64-bit (4 Mi); it refuses more.
const MAX_PIDS_LIMIT: i64 = 4 * 1024 * 1024;

fn invalid(message: String) -> EngineError {
    EngineError::InvalidSpec(message)
}

fn non_negative(name: &str, value: Option<i64>) -> EngineResult<()> {
    match value {
        Some(v) if v < 0 => Err(invalid(format!("{name} must not be negative (got {v})"))),
        _ => Ok(()),
    }
}

fn in_range(name: &str, value: Option<i64>, (min, max): (i64, i64)) -> EngineResult<()> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(invalid(format!(
            "{name} must be between {min} and {max} (got {v})"
        ))),
        _ => Ok(()),
    }
}

/// Checks a complete set of limits (at create, or an update merged with what was there).
pub fn validate(resources: &Resources, host: &HostCapacity) -> EngineResult<()> {
    let r = resources;
    non_negative("memory", r.memory)?;
    if let Some(memory) = r.memory
        && memory < MIN_MEMORY
    {
        return Err(invalid(format!(
            "memory must be at least 6 MiB ({MIN_MEMORY} bytes) (got {memory})"
        )));
    }
    match r.memory_swap {
        None | Some(UNLIMITED) => {}
        Some(swap) if swap < 0 => {
            return Err(invalid(format!(
                "memory_swap must be -1 (unlimited) or at least memory (got {swap})"
            )));
        }
        Some(swap) => match r.memory {
            None => {
                return Err(invalid(
                    "memory_swap needs memory: it limits memory plus swap".into(),
                ));
            }
            Some(memory) if swap < memory => {
                return Err(invalid(format!(
                    "memory_swap ({swap}) must be at least memory ({memory}): it limits memory \
                     plus swap; -1 for unlimited swap"
                )));
            }
            Some(_) => {}
        },
    }
    non_negative("memory_reservation", r.memory_reservation)?;
    if let (Some(reservation), Some(memory)) = (r.memory_reservation, r.memory)
        && reservation > memory
    {
        return Err(invalid(format!(
            "memory_reservation ({reservation}) must not be above memory ({memory})"
        )));
    }
    if let Some(cpus) = r.cpus {
        let available = host.cpus.len();
        if !cpus.is_finite() || cpus < 0.0 {
            return Err(invalid(format!(
                "cpus must be a positive number (got {cpus})"
            )));
        }
        // 0 is "no limit", as with Docker (useful to lift a limit with an update).
        if cpus != 0.0 && !(MIN_CPUS..=available as f64).contains(&cpus) {
            return Err(invalid(format!(
                "cpus must be between {MIN_CPUS} and {available} (the CPUs this host has), \
                 or 0 for no limit (got {cpus})"
            )));
        }
    }
    in_range("cpu_shares", r.cpu_shares, CPU_SHARES)?;
    validate_set("cpuset_cpus", r.cpuset_cpus.as_deref(), &host.cpus, "CPUs")?;
    validate_set(
        "cpuset_mems",
        r.cpuset_mems.as_deref(),
        &host.mems,
        "memory nodes",
    )?;
    if let Some(pids) = r.pids_limit
        && pids != UNLIMITED
        && !(1..=MAX_PIDS_LIMIT).contains(&pids)
    {
        return Err(invalid(format!(
            "pids_limit must be at least 1 and at most {MAX_PIDS_LIMIT} (the kernel's most), or -1 for \
             unlimited (got {pids}); 0 is refused rather than guessed at"
        )));
    }
    in_range("blkio_weight", r.blkio_weight, BLKIO_WEIGHT)?;
    Ok(())
}

fn validate_set(
    name: &str,
    list: Option<&str>,
    host: &std::collections::BTreeSet<u32>,
    what: &str,
) -> EngineResult<()> {
    let Some(list) = list else { return Ok(()) };
    let wanted = parse_cpu_list(list)
        .map_err(|why| invalid(format!("{name} {list:?} is not a list like 0-1,3: {why}")))?;
    let missing: Vec<String> = wanted.difference(host).map(|n| n.to_string()).collect();
    if !missing.is_empty() {
        let online: Vec<String> = host.iter().map(|n| n.to_string()).collect();
        return Err(invalid(format!(
            "{name} names {what} this host does not have: {} (it has {})",
            missing.join(","),
            online.join(",")
        )));
    }
    Ok(())
}

/// The validated limits as the cgroup backends write them. Fields absent stay untouched.
pub fn to_cgroup_limits(r: &Resources) -> CgroupLimits {
    let bytes = |v: Option<i64>| v.map(|v| v.max(0) as u64);
    CgroupLimits {
        memory: bytes(r.memory),
        memory_swap: r.memory_swap,
        memory_reservation: bytes(r.memory_reservation),
        cpu_quota_us: r.cpus.map(|cpus| {
            if cpus == 0.0 {
                UNLIMITED
            } else {
                (cpus * CPU_PERIOD_US as f64).round() as i64
            }
        }),
        cpu_shares: r.cpu_shares.map(|v| v as u64),
        cpuset_cpus: r.cpuset_cpus.as_ref().map(|s| s.trim().to_string()),
        cpuset_mems: r.cpuset_mems.as_ref().map(|s| s.trim().to_string()),
        pids_limit: r.pids_limit,
        blkio_weight: r.blkio_weight.map(|v| v as u16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostCapacity {
        HostCapacity {
            cpus: [0, 1].into(),
            mems: [0].into(),
        }
    }

    fn check(r: Resources) -> Result<(), String> {
        validate(&r, &host()).map_err(|e| e.to_string())
    }

    #[test]
    fn good_limits_pass_and_translate() {
        let r = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            memory_reservation: Some(32 << 20),
            cpus: Some(0.5),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            pids_limit: Some(50),
            blkio_weight: Some(500),
        };
        check(r.clone()).unwrap();
        let limits = to_cgroup_limits(&r);
        assert_eq!(limits.cpu_quota_us, Some(50_000));
        assert_eq!(limits.memory, Some(64 << 20));
        check(Resources {
            pids_limit: Some(4_194_304),
            ..Default::default()
        })
        .unwrap();
        check(Resources {
            pids_limit: Some(-1),
            memory_swap: Some(-1),
            cpus: Some(0.0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            to_cgroup_limits(&Resources {
                cpus: Some(0.0),
                ..Default::default()
            })
            .cpu_quota_us,
            Some(UNLIMITED)
        );
    }

    #[test]
    fn every_limit_has_its_range() {
        let cases: Vec<(Resources, &str)> = vec![
            (
                Resources {
                    memory: Some(1 << 20),
                    ..Default::default()
                },
                "at least 6 MiB",
            ),
            (
                Resources {
                    memory: Some(-5),
                    ..Default::default()
                },
                "negative",
            ),
            (
                Resources {
                    memory: Some(64 << 20),
                    memory_swap: Some(32 << 20),
                    ..Default::default()
                },
                "at least memory",
            ),
            (
                Resources {
                    memory_swap: Some(64 << 20),
                    ..Default::default()
                },
                "needs memory",
            ),
            (
                Resources {
                    memory_swap: Some(-2),
                    ..Default::default()
                },
                "-1",
            ),
            (
                Resources {
                    memory_reservation: Some(-1),
                    ..Default::default()
                },
                "negative",
            ),
            (
                Resources {
                    memory: Some(16 << 20),
                    memory_reservation: Some(32 << 20),
                    ..Default::default()
                },
                "above memory",
            ),
            (
                Resources {
                    cpus: Some(3.0),
                    ..Default::default()
                },
                "between 0.01 and 2",
            ),
            (
                Resources {
                    cpus: Some(-1.0),
                    ..Default::default()
                },
                "positive",
            ),
            (
                Resources {
                    cpus: Some(0.001),
                    ..Default::default()
                },
                "between",
            ),
            (
                Resources {
                    cpu_shares: Some(1),
                    ..Default::default()
                },
                "between 2 and 262144",
            ),
            (
                Resources {
                    cpuset_cpus: Some("0-3".into()),
                    ..Default::default()
                },
                "does not have: 2,3",
            ),
            (
                Resources {
                    cpuset_cpus: Some("x".into()),
                    ..Default::default()
                },
                "list",
            ),
            (
                Resources {
                    cpuset_mems: Some("1".into()),
                    ..Default::default()
                },
                "memory nodes",
            ),
            (
                Resources {
                    pids_limit: Some(0),
                    ..Default::default()
                },
                "at least 1 and at most 4194304",
            ),
            (
                Resources {
                    pids_limit: Some(-7),
                    ..Default::default()
                },
                "at least 1 and at most 4194304",
            ),
            (
                Resources {
                    pids_limit: Some(4_194_305),
                    ..Default::default()
                },
                "at least 1 and at most 4194304",
            ),
            (
                Resources {
                    pids_limit: Some(i64::from(i32::MAX)),
                    ..Default::default()
                },
                "at least 1 and at most 4194304",
            ),
            (
                Resources {
                    blkio_weight: Some(5),
                    ..Default::default()
                },
                "between 10 and 1000",
            ),
        ];
        for (resources, expected) in cases {
            let err = check(resources.clone()).expect_err(&format!("{resources:?} accepted"));
            assert!(err.contains(expected), "{resources:?}: {err}");
        }
    }
}
