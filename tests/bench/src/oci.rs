//! The peers: `crun run` and `runc run` on an OCI bundle made by `crun spec` over the same
//! busybox root filesystem, with crun's default namespaces and cgroups.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cleanup;

/// One timed `exec` of a peer.
pub struct ExecTimes {
    /// Spawn to the first byte on its stdout pipe, when it was piped.
    pub first_byte: Option<Duration>,
    /// Spawn to exit (after its stdout ended).
    pub exit: Duration,
}

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

    /// `<runtime> run -d --bundle DIR ID` with a fresh id: a container that keeps running;
    /// returns its id. The cleanup deletes it with the run's other ids. The container inherits
    /// the runtime's stdio, so its stderr goes to a file in `bundle` (a pipe would stay open as
    /// long as the container runs), read only when the run fails.
    pub fn run_detached(&self, bundle: &Path) -> Result<String, String> {
        let id = format!(
            "{}-{}-{}",
            self.prefix,
            self.name,
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let stderr_path = bundle.join(format!("{id}.stderr"));
        let stderr = fs::File::create(&stderr_path)
            .map_err(|e| format!("creating {}: {e}", stderr_path.display()))?;
        let status = Command::new(&self.binary)
            .args(["run", "-d", "--bundle"])
            .arg(bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .status()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        if status.success() {
            return Ok(id);
        }
        self.delete_force(&id);
        Err(format!(
            "{} run -d {id} failed ({status}): {}",
            self.name,
            fs::read_to_string(&stderr_path).unwrap_or_default().trim()
        ))
    }

    /// One `<runtime> exec ID ARGS...` from spawn to exit, stdin `/dev/null`. With `expect`, its
    /// stdout is a pipe: also the time from spawn to the first byte on it, and the output must be
    /// `expect`; without, stdout is `/dev/null`. Fails unless it exits with 0.
    pub fn exec_once(
        &self,
        id: &str,
        args: &[&str],
        expect: Option<&[u8]>,
    ) -> Result<ExecTimes, String> {
        let what = || format!("{} exec {id} {}", self.name, args.join(" "));
        let start = Instant::now();
        let mut child = Command::new(&self.binary)
            .arg("exec")
            .arg(id)
            .args(args)
            .stdin(Stdio::null())
            .stdout(match expect {
                Some(_) => Stdio::piped(),
                None => Stdio::null(),
            })
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        let (stdout, first_byte) = match child.stdout.take().map(|p| read_timed(p, start)) {
            None => (Vec::new(), None),
            Some(Ok(read)) => read,
            Some(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{}: reading its stdout: {e}", what()));
            }
        };
        let mut stderr = Vec::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_end(&mut stderr);
        }
        let status = child
            .wait()
            .map_err(|e| format!("{}: waiting: {e}", what()))?;
        let exit = start.elapsed();
        if !status.success() {
            return Err(format!(
                "{} failed ({status}): {}",
                what(),
                String::from_utf8_lossy(&stderr).trim()
            ));
        }
        if let Some(expected) = expect
            && stdout != expected
        {
            return Err(format!(
                "{}: printed {:?}, expected {:?}",
                what(),
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(expected)
            ));
        }
        Ok(ExecTimes { first_byte, exit })
    }

    /// The host pid of container `id`'s first process (`<runtime> state ID`).
    pub fn state_pid(&self, id: &str) -> Result<i32, String> {
        let output = Command::new(&self.binary)
            .args(["state", id])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} state {id} failed ({}): {}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let state: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("{} state {id}: {e}", self.name))?;
        state["pid"]
            .as_i64()
            .and_then(|pid| i32::try_from(pid).ok())
            .filter(|pid| *pid > 0)
            .ok_or_else(|| format!("{} state {id}: no pid in {state}", self.name))
    }

    /// `<runtime> delete -f ID`, errors ignored (the cleanup tries again at the end).
    pub fn delete_force(&self, id: &str) {
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

/// Makes `exec_bundle/` for a container that keeps running: `bundle`'s `config.json` with
/// `process.args = args` and the root pointing at `bundle`'s (read-only) `rootfs/`, so that the
/// peers exec into the same root filesystem the lifecycles use.
pub fn prepare_exec_bundle(bundle: &Path, exec_bundle: &Path, args: &[&str]) -> Result<(), String> {
    derive_bundle(bundle, exec_bundle, |config| {
        config["process"]["args"] = serde_json::json!(args);
    })
}

/// Makes `dest/` with `bundle`'s `config.json`, changed by `edit`, and the root pointing at
/// `bundle`'s (read-only) `rootfs/`.
pub fn derive_bundle(
    bundle: &Path,
    dest: &Path,
    edit: impl FnOnce(&mut Value),
) -> Result<(), String> {
    fs::create_dir_all(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
    let source = bundle.join("config.json");
    let text =
        fs::read_to_string(&source).map_err(|e| format!("reading {}: {e}", source.display()))?;
    let mut config: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", source.display()))?;
    edit(&mut config);
    let rootfs = bundle.join("rootfs");
    config["root"]["path"] = Value::String(rootfs.to_string_lossy().into_owned());
    let target = dest.join("config.json");
    let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
    fs::write(&target, text).map_err(|e| format!("writing {}: {e}", target.display()))
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

/// Everything `pipe` gives until its end, and when (since `start`) its first byte came.
pub fn read_timed(
    mut pipe: impl Read,
    start: Instant,
) -> std::io::Result<(Vec<u8>, Option<Duration>)> {
    let mut first_byte = None;
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => return Ok((bytes, first_byte)),
            Ok(n) => {
                first_byte.get_or_insert_with(|| start.elapsed());
                bytes.extend_from_slice(&buffer[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
