//! The limits scenario's settings: memory 64 MiB, half a CPU and 100 pids, for conti in the
//! create body, for the peers in their bundle's `linux.resources`; and a check, outside the
//! timed runs, that both sides really apply them: the limit files of the cgroups of a running
//! container of each runtime, read on the host, must hold them (and conti's inspect show them).
//!
//! Apart from the limits both sides do the same work: conti with its default hardening, the
//! peers with the same hardening in their config (`hardened::harden`), so that the scenario
//! compares limits with limits and not a seccomp filter with none.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use conti_tests::{Client, ContainerSpec};

use crate::oci::{self, OciRuntime};
use crate::scenario::with_running_conti;

pub const MEMORY: i64 = 64 << 20;
pub const CPUS: f64 = 0.5;
pub const CPU_PERIOD: u64 = 100_000;
pub const CPU_QUOTA: u64 = 50_000;
pub const PIDS: i64 = 100;

/// The limits as a line for people.
pub fn describe() -> String {
    format!(
        "memory {} MiB, cpus {CPUS} (CFS quota {CPU_QUOTA} per {CPU_PERIOD} µs), pids {PIDS}",
        MEMORY >> 20
    )
}

/// The limits as JSON, in both spellings.
pub fn to_json() -> Value {
    json!({
        "memory_bytes": MEMORY,
        "cpus": CPUS,
        "cpu_quota_us": CPU_QUOTA,
        "cpu_period_us": CPU_PERIOD,
        "pids": PIDS,
    })
}

/// A create body running `cmd` with the limits set in its `resources`.
pub fn spec(cmd: &[&str]) -> ContainerSpec {
    let mut spec = crate::scenario::only_lo(conti_tests::spec(cmd));
    let resources = &mut spec.resources;
    resources.memory = Some(MEMORY);
    resources.cpus = Some(CPUS);
    resources.pids_limit = Some(PIDS);
    spec
}

/// Sets the limits in an OCI `config.json` (`linux.resources`, keeping crun's device rules).
fn set_oci_limits(config: &mut Value) {
    let resources = &mut config["linux"]["resources"];
    if !resources.is_object() {
        *resources = json!({});
    }
    resources["memory"] = json!({ "limit": MEMORY });
    resources["cpu"] = json!({ "quota": CPU_QUOTA, "period": CPU_PERIOD });
    resources["pids"] = json!({ "limit": PIDS });
}

/// The lifecycle bundle's `config.json` hardened as conti's defaults, with the limits.
fn harden_and_limit(config: &mut Value) {
    crate::hardened::harden(config);
    set_oci_limits(config);
}

/// `limits_bundle/`: the lifecycle bundle's `config.json` hardened and with the limits, on its
/// `rootfs/`.
pub fn prepare_bundle(bundle: &Path, limits_bundle: &Path) -> Result<(), String> {
    oci::derive_bundle(bundle, limits_bundle, harden_and_limit)
}

/// The command of the containers the check looks at while they run.
const SLEEPER: [&str; 2] = ["sleep", "1000000"];

/// The limit files of the cgroups of process `pid`, read on the host, as `<file> <content>`
/// lines: cgroup v1 (also on hybrid hosts) `memory/memory.limit_in_bytes`,
/// `cpu/cpu.cfs_quota_us`, `cpu/cpu.cfs_period_us`, `pids/pids.max`, each in the process's
/// cgroup of that controller; cgroup v2 `memory.max`, `cpu.max`, `pids.max` in its one cgroup.
fn host_limit_files(pid: i32) -> Result<String, String> {
    let path = format!("/proc/{pid}/cgroup");
    let cgroups = fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let root = Path::new("/sys/fs/cgroup");
    let unified = root.join("cgroup.controllers").exists();
    let mut out = String::new();
    let mut read = |dir: PathBuf, hierarchy: &str, file: &str| {
        if let Ok(value) = fs::read_to_string(dir.join(file)) {
            let name = match hierarchy {
                "" => file.to_string(),
                _ => format!("{hierarchy}/{file}"),
            };
            out.push_str(&format!("{name} {}\n", value.trim()));
        }
    };
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(cgroup)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = cgroup.trim_start_matches('/');
        if controllers.is_empty() {
            if unified {
                for file in ["memory.max", "cpu.max", "pids.max"] {
                    read(root.join(relative), "", file);
                }
            }
            continue;
        }
        for controller in controllers.split(',') {
            let files: &[&str] = match controller {
                "memory" => &["memory.limit_in_bytes"],
                "cpu" => &["cpu.cfs_quota_us", "cpu.cfs_period_us"],
                "pids" => &["pids.max"],
                _ => &[],
            };
            for file in files {
                read(root.join(controller).join(relative), controller, file);
            }
        }
    }
    Ok(out)
}

/// Checks the limit files read; returns what they hold, as a line for people.
fn check_limit_files(who: &str, output: &str) -> Result<String, String> {
    let files: BTreeMap<&str, &str> = output
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(file, value)| (file, value.trim()))
        .collect();
    let fail = |what: &str| {
        Err(format!(
            "{who}: the container's cgroup does not hold the {what} limit; its limit files:\n{output}"
        ))
    };
    let file = |name: &str| files.get(name).copied();
    let memory = file("memory/memory.limit_in_bytes").or(file("memory.max"));
    if memory != Some(MEMORY.to_string().as_str()) {
        return fail("memory");
    }
    let cpu = match (
        file("cpu/cpu.cfs_quota_us"),
        file("cpu/cpu.cfs_period_us"),
        file("cpu.max"),
    ) {
        (Some(quota), Some(period), _) => format!("{quota} {period}"),
        (_, _, Some(max)) => max.to_string(),
        _ => String::new(),
    };
    if cpu != format!("{CPU_QUOTA} {CPU_PERIOD}") {
        return fail("cpu");
    }
    let pids = file("pids/pids.max").or(file("pids.max"));
    if pids != Some(PIDS.to_string().as_str()) {
        return fail("pids");
    }
    let (quota, period) = cpu.split_once(' ').unwrap_or_default();
    Ok(format!(
        "{who}: its running container's cgroup holds memory {MEMORY}, cpu quota \
         {quota}/{period}, pids {PIDS}"
    ))
}

/// `check_bundle/`: the limits bundle's `config.json` with `sleep` as its command, on its
/// `rootfs/`.
pub fn prepare_check_bundle(bundle: &Path, check_bundle: &Path) -> Result<(), String> {
    oci::derive_bundle(bundle, check_bundle, |config| {
        harden_and_limit(config);
        config["process"]["args"] = json!(SLEEPER);
    })
}

/// A running container of `runtime` with the limits (`run -d` of `check_bundle`): the limit
/// files of its cgroups, read on the host, must hold them. The container is deleted after.
pub fn verify_oci(runtime: &OciRuntime, check_bundle: &Path) -> Result<String, String> {
    let id = runtime.run_detached(check_bundle)?;
    let result = runtime
        .state_pid(&id)
        .and_then(host_limit_files)
        .and_then(|files| check_limit_files(runtime.name, &files));
    runtime.delete_force(&id);
    result
}

/// A running conti container with the limits: its inspect must show them, and the limit files
/// of its cgroups, read on the host, must hold them. The container is deleted after.
pub fn verify_conti(client: &Client) -> Result<String, String> {
    let spec = spec(&SLEEPER);
    with_running_conti(client, &spec, "conti limits check", |info| {
        if info.resources != spec.resources {
            return Err(format!(
                "inspect shows resources {:?}, expected {:?}",
                info.resources, spec.resources
            ));
        }
        let pid = info
            .pid
            .ok_or("inspect of the running container has no pid")?;
        let files = host_limit_files(pid)?;
        check_limit_files("conti", &files).map(|line| format!("{line}; inspect shows them"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_files_v1_and_v2() {
        let v1 = "memory/memory.limit_in_bytes 67108864\ncpu/cpu.cfs_quota_us 50000\n\
                  cpu/cpu.cfs_period_us 100000\npids/pids.max 100\n";
        assert!(check_limit_files("x", v1).is_ok());
        let v2 = "memory.max 67108864\ncpu.max 50000 100000\npids.max 100\n";
        assert!(check_limit_files("x", v2).is_ok());
        let unlimited = "memory.max max\ncpu.max max 100000\npids.max max\n";
        assert!(check_limit_files("x", unlimited).is_err());
        assert!(check_limit_files("x", "").is_err());
    }

    #[test]
    fn own_limit_files_are_read() {
        // This process's own cgroups: whatever they hold, the files are found where they exist.
        let files = host_limit_files(std::process::id() as i32).unwrap();
        for line in files.lines() {
            assert!(line.split_once(' ').is_some(), "{line}");
        }
    }

    #[test]
    fn oci_limits_keep_devices() {
        let mut config = json!({"linux": {"resources": {"devices": [{"allow": false}]}}});
        set_oci_limits(&mut config);
        let r = &config["linux"]["resources"];
        assert_eq!(r["devices"][0]["allow"], false);
        assert_eq!(r["memory"]["limit"], MEMORY);
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["pids"]["limit"], 100);
    }
}
