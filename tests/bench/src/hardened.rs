//! The hardened scenario: lifecycles with the full default hardening on both sides, and without
//! it, so that the cost of the hardening can be compared.
//!
//! Hardened: conti's defaults (Docker's 14 capabilities, no_new_privileges, its seccomp
//! allow-list, masked and read-only paths); crun with the same in `config.json` (the same
//! capabilities in bounding/effective/permitted, `noNewPrivileges`, conti's default profile
//! resolved for those capabilities as `linux.seccomp`, the same `maskedPaths` and
//! `readonlyPaths`). Unhardened: conti `privileged`; crun without `linux.seccomp`, masked or
//! read-only paths, and with `noNewPrivileges` off.
//! Before the timed runs, a running container of each side is checked from the host.

use std::path::Path;

use serde_json::{Value, json};

use conti_tests::{Client, ContainerSpec};
use contid::runtime::confinement::capabilities::DEFAULT_CAPABILITIES;
use contid::runtime::confinement::masked_paths::{MASKED_PATHS, READ_ONLY_PATHS};
use contid::runtime::confinement::seccomp::default_profile;

use crate::oci::{self, OciRuntime};
use crate::scenario::with_running_conti;

const SLEEPER: [&str; 2] = ["sleep", "1000000"];

/// The hardening as a line for people.
pub fn describe() -> String {
    format!(
        "{} capabilities, no_new_privileges, seccomp allow-list, {} masked and {} read-only paths",
        DEFAULT_CAPABILITIES.len(),
        MASKED_PATHS.len(),
        READ_ONLY_PATHS.len()
    )
}

/// conti's create body: hardened by default, or privileged; network `none`, as the peers'
/// bundle (a namespace with only `lo`).
pub fn spec(cmd: &[&str], hardened: bool) -> ContainerSpec {
    let mut spec = crate::scenario::only_lo(conti_tests::spec(cmd));
    spec.security.privileged = !hardened;
    spec
}

fn capability_names() -> Vec<String> {
    DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
}

/// conti's default profile as an OCI `linux.seccomp`: the rules that apply to a container with
/// the default capabilities, without Docker's `includes`/`excludes`.
pub fn oci_seccomp() -> Value {
    let caps = capability_names();
    let profile = default_profile();
    let syscalls: Vec<Value> = profile
        .syscalls
        .iter()
        .filter(|rule| {
            rule.includes.caps.iter().all(|c| caps.contains(c))
                && !rule.excludes.caps.iter().any(|c| caps.contains(c))
        })
        .map(|rule| {
            let mut value = serde_json::to_value(rule).expect("a rule serializes");
            if let Some(object) = value.as_object_mut() {
                object.remove("includes");
                object.remove("excludes");
            }
            value
        })
        .collect();
    json!({
        "defaultAction": profile.default_action,
        "defaultErrnoRet": profile.default_errno_ret,
        "architectures": profile.architectures,
        "syscalls": syscalls,
    })
}

/// Gives an OCI `config.json` conti's default hardening.
pub fn harden(config: &mut Value) {
    let caps = capability_names();
    config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    config["process"]["noNewPrivileges"] = json!(true);
    config["linux"]["maskedPaths"] = json!(MASKED_PATHS);
    config["linux"]["readonlyPaths"] = json!(READ_ONLY_PATHS);
    config["linux"]["seccomp"] = oci_seccomp();
}

fn unharden(config: &mut Value) {
    config["process"]["noNewPrivileges"] = json!(false);
    config["linux"]["maskedPaths"] = json!([]);
    config["linux"]["readonlyPaths"] = json!([]);
    if let Some(linux) = config["linux"].as_object_mut() {
        linux.remove("seccomp");
    }
}

/// The hardened and unhardened bundles (and a hardened one running `sleep`, for the check).
pub fn prepare_bundles(bundle: &Path, work: &Path) -> Result<[std::path::PathBuf; 3], String> {
    let hardened = work.join("bundle-hardened");
    let unhardened = work.join("bundle-unhardened");
    let check = work.join("bundle-hardened-check");
    oci::derive_bundle(bundle, &hardened, harden)?;
    oci::derive_bundle(bundle, &unhardened, unharden)?;
    oci::derive_bundle(bundle, &check, |config| {
        harden(config);
        config["process"]["args"] = json!(SLEEPER);
    })?;
    Ok([hardened, unhardened, check])
}

/// `CapEff`, `NoNewPrivs`, `Seccomp` of process `pid` and the mounts over masked or read-only
/// paths in its mount namespace, read on the host; an error unless it is hardened.
fn check_process(who: &str, pid: i32) -> Result<String, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("{who}: reading the status of {pid}: {e}"))?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}:")))
            .map_or(String::new(), |v| v.trim().to_string())
    };
    let (cap_eff, nnp, seccomp) = (field("CapEff"), field("NoNewPrivs"), field("Seccomp"));
    // Each filter costs the kernel a copy, a check and a JIT compile: worth seeing side by side.
    let filters = field("Seccomp_filters");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map_err(|e| format!("{who}: reading the mounts of {pid}: {e}"))?;
    let masked = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| MASKED_PATHS.contains(point) || READ_ONLY_PATHS.contains(point))
        .count();
    let line = format!(
        "{who}: CapEff {cap_eff}, NoNewPrivs {nnp}, Seccomp {seccomp} ({filters} filter(s)), \
         {masked} masked or read-only mounts"
    );
    if cap_eff != "00000000a80425fb" || nnp != "1" || seccomp != "2" || masked == 0 {
        return Err(format!("{line}: not the hardening asked for"));
    }
    Ok(line)
}

pub fn verify_oci(runtime: &OciRuntime, check_bundle: &Path) -> Result<String, String> {
    let id = runtime.run_detached(check_bundle)?;
    let result = runtime
        .state_pid(&id)
        .and_then(|pid| check_process(runtime.name, pid));
    runtime.delete_force(&id);
    result
}

pub fn verify_conti(client: &Client) -> Result<String, String> {
    with_running_conti(
        client,
        &spec(&SLEEPER, true),
        "conti hardening check",
        |info| {
            let pid = info
                .pid
                .ok_or("inspect of the running container has no pid")?;
            check_process("conti", pid)
        },
    )
}
