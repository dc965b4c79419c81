//! The peers: `crun run` and `runc run` on an OCI bundle made by `crun spec` over the same
//! busybox root filesystem, with crun's default namespaces and cgroups.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cleanup;

pub struct OciRuntime {
    /// `crun` or `runc`.
    pub name: &'static str,
    pub binary: PathBuf,
    /// First line of `<binary> --version`.
    pub version: String,
    /// Container ids are `<prefix>-<name>-<n>`; the prefix is the run's unique name, so that
    /// the cleanup finds them.
    prefix: String,
    counter: AtomicUsize,
}

impl OciRuntime {
    /// The runtime found on `PATH`, or `None`.
    pub fn find(name: &'static str, prefix: &str) -> Option<OciRuntime> {
        let binary = find_in_path(name)?;
        let version = Command::new(&binary)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        cleanup::register_oci_runtime(&binary);
        Some(OciRuntime {
            name,
            binary,
            version,
            prefix: prefix.to_string(),
            counter: AtomicUsize::new(0),
        })
    }

    /// One `<runtime> run --bundle DIR ID` with a fresh id, timed from spawn to exit.
    pub fn run_once(&self, bundle: &Path) -> Result<Duration, String> {
        let id = format!(
            "{}-{}-{}",
            self.prefix,
            self.name,
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let start = Instant::now();
        let output = Command::new(&self.binary)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C reaches only the benchmark, which cleans up.
            .process_group(0)
            .output()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        let elapsed = start.elapsed();
        if output.status.success() {
            return Ok(elapsed);
        }
        self.delete_force(&id);
        Err(format!(
            "{} run {id} failed ({}): {}",
            self.name,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }

    fn delete_force(&self, id: &str) {
        let _ = Command::new(&self.binary)
            .args(["delete", "-f", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Makes `bundle/` with `crun spec`, `rootfs/` unpacked from `rootfs_tar` and
/// `process.args = ["/bin/true"]`, `process.terminal = false`; everything else stays crun's
/// default.
pub fn prepare_bundle(crun: &OciRuntime, bundle: &Path, rootfs_tar: &Path) -> Result<(), String> {
    fs::create_dir_all(bundle).map_err(|e| format!("creating {}: {e}", bundle.display()))?;
    run_checked(
        Command::new(&crun.binary).arg("spec").current_dir(bundle),
        "crun spec",
    )?;
    let config_path = bundle.join("config.json");
    let text = fs::read_to_string(&config_path)
        .map_err(|e| format!("reading {}: {e}", config_path.display()))?;
    let mut config: Value =
        serde_json::from_str(&text).map_err(|e| format!("crun spec's config.json: {e}"))?;
    let process = config
        .get_mut("process")
        .and_then(Value::as_object_mut)
        .ok_or("crun spec's config.json has no process object")?;
    process.insert("args".into(), serde_json::json!(["/bin/true"]));
    process.insert("terminal".into(), Value::Bool(false));
    let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
    fs::write(&config_path, text).map_err(|e| format!("writing {}: {e}", config_path.display()))?;
    unpack(rootfs_tar, &bundle.join("rootfs"))
}

/// Unpacks `tar` into a new folder `dest`, owners and modes as recorded.
fn unpack(tar: &Path, dest: &Path) -> Result<(), String> {
    fs::create_dir_all(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
    run_checked(
        Command::new("tar")
            .args(["--numeric-owner", "-xpf"])
            .arg(tar)
            .arg("-C")
            .arg(dest),
        "unpacking the rootfs tar",
    )
}

/// Runs `command` with stdin closed; an error naming `what` with its stderr unless it succeeds.
fn run_checked(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// On a hybrid cgroup host whose `hugetlb` controller sits only in the cgroup2 hierarchy, crun
/// refuses every container ("cgroups in hybrid mode not supported"); mounting the controller as
/// a v1 hierarchy fixes that. Done only when needed, and left mounted afterwards: a daemon
/// started meanwhile may already use the hierarchy. Returns a note when it mounted something.
pub fn ensure_hugetlb_v1() -> Result<Option<String>, String> {
    let unified = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    let Ok(controllers) = fs::read_to_string(unified) else {
        return Ok(None);
    };
    if !controllers.split_whitespace().any(|c| c == "hugetlb") {
        return Ok(None);
    }
    let target = Path::new("/sys/fs/cgroup/hugetlb");
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|line| line.split(' ').nth(1) == Some("/sys/fs/cgroup/hugetlb"))
    {
        return Ok(None);
    }
    fs::create_dir_all(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    run_checked(
        Command::new("mount")
            .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
            .arg(target),
        "mounting the hugetlb cgroup v1 hierarchy (crun needs it on this hybrid host)",
    )?;
    Ok(Some(
        "hybrid cgroups with hugetlb only in cgroup2: mounted it as a v1 hierarchy at \
         /sys/fs/cgroup/hugetlb (crun needs it; left mounted)"
            .to_string(),
    ))
}

/// `name` in `PATH`, else in the usual system folders (`runc` lives in `/usr/sbin`, which a
/// user's `PATH` may lack).
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
