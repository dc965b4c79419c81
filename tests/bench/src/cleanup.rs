//! Everything the benchmark leaves on the machine is registered here and removed by [`run`]:
//! at the normal end, on an error, on a panic (through [`Guard`]), and on SIGINT/SIGTERM/SIGHUP
//! (through a handler and a thread that reads what it writes).
//!
//! The run's folder, its `contid` and that daemon's cgroup parent belong to the test harness's
//! [`Daemon`], whose drop removes them. Order: containers through the API, the daemon (SIGTERM
//! by PID, then SIGKILL), OCI runtime leftovers (`crun delete -f`) and processes left in their
//! cgroups, the network scenario's namespaces and bridge, the scale scenario's podman containers,
//! network and image, the pull scenario's registry, the docker scenario's dockerd, then the `Daemon` is dropped (processes in its cgroup or holding files in the folder
//! are killed, mounts under the folder detached, its cgroups and the folder removed), and last
//! the OCI runtimes' cgroups.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::unistd::{Pid, pipe2};

use conti_tests::{Daemon, TestRegistry, host};

/// How long contid may take to stop on SIGTERM before it is killed.
const DAEMON_STOP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Registry {
    /// `conti-bench-<pid>`: the daemon's cgroup parent and folder name; OCI container ids and
    /// cgroups start with `<name>-`.
    name: String,
    /// Owns the run's folder, and the daemon once launched.
    daemon: Option<Daemon>,
    /// OCI runtimes used (binary paths), whose leftover containers named `<name>-*` we delete.
    oci_runtimes: BTreeSet<PathBuf>,
    /// Bridges of the network scenario's peers (their namespaces are `<name>-*`).
    bridges: Vec<String>,
    /// The scale scenario's podman containers, network and image (see `podman::remove`).
    podman: bool,
    /// The pull scenario's registry (killed by its pid and its folder removed when dropped).
    test_registry: Option<TestRegistry>,
    /// The docker scenario's dockerd (stopped by its pid; its folder is in the run's).
    dockerd: Option<crate::docker::Dockerd>,
    done: bool,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static STOPPING: AtomicBool = AtomicBool::new(false);

/// True once a termination signal arrived: the benchmark loops stop starting new work.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

fn registry() -> MutexGuard<'static, Option<Registry>> {
    // A panic while holding the lock must not stop the cleanup.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = registry();
    f(guard.get_or_insert_with(Registry::default))
}

/// The write end of the self-pipe the signal handler writes the signal number to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Starts the registry for this run with the (unstarted) daemon that owns the run's folder,
/// and catches SIGINT, SIGTERM and SIGHUP: the handler only writes to a pipe, and a thread
/// reading it cleans up and exits. (Blocking the signals and waiting for them instead would
/// leak the blocked mask into every child we spawn; caught signals are reset to their default
/// by `exec`.)
pub fn init(daemon: Daemon) {
    with_registry(|r| {
        r.name = daemon.cgroup_parent().to_string();
        r.daemon = Some(daemon);
    });
    if let Err(e) = catch_termination_signals() {
        eprintln!("warning: cannot catch termination signals ({e}); Ctrl-C will not clean up");
    }
}

fn catch_termination_signals() -> nix::Result<()> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC)?;
    SIGNAL_PIPE.store(write_end.into_raw_fd(), Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: `on_signal` only loads an atomic and calls write(2), both async-signal-safe.
        unsafe { sigaction(signal, &action) }?;
    }
    thread::spawn(move || {
        let mut pipe = fs::File::from(read_end);
        let mut number = [0u8; 1];
        if pipe.read_exact(&mut number).is_ok() {
            STOPPING.store(true, Ordering::SeqCst);
            let name = Signal::try_from(i32::from(number[0])).map_or("a signal", Signal::as_str);
            eprintln!("\nconti-bench: {name}, cleaning up");
            run();
            std::process::exit(128 + i32::from(number[0]));
        }
    });
    Ok(())
}

extern "C" fn on_signal(signal: nix::libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    let byte = signal as u8;
    // SAFETY: write(2) on a pipe we own, from a one-byte buffer on the stack; it is
    // async-signal-safe. A full pipe only drops the byte, and one byte is enough.
    unsafe {
        nix::libc::write(fd, (&raw const byte).cast(), 1);
    }
}

/// Runs `f` on the registered daemon; `None` once the cleanup has taken it.
pub fn with_daemon<T>(f: impl FnOnce(&mut Daemon) -> T) -> Option<T> {
    with_registry(|r| r.daemon.as_mut().map(f))
}

/// The last lines of the daemon's log, for error messages.
pub fn log_tail(daemon: &mut Daemon) -> String {
    let text = daemon.log_text();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub fn register_bridge(name: &str) {
    with_registry(|r| r.bridges.push(name.to_string()));
}

pub fn register_podman() {
    with_registry(|r| r.podman = true);
}

pub fn register_test_registry(registry: TestRegistry) {
    with_registry(|r| r.test_registry = Some(registry));
}

/// Runs `f` on the registered registry; `None` once the cleanup has taken it.
pub fn with_test_registry<T>(f: impl FnOnce(&TestRegistry) -> T) -> Option<T> {
    with_registry(|r| r.test_registry.as_ref().map(f))
}

/// Stops the registry and removes its folder.
pub fn drop_test_registry() {
    let registry = with_registry(|r| r.test_registry.take());
    drop(registry);
}

pub fn register_dockerd(dockerd: crate::docker::Dockerd) {
    with_registry(|r| r.dockerd = Some(dockerd));
}

pub fn register_oci_runtime(binary: &Path) {
    with_registry(|r| {
        r.oci_runtimes.insert(binary.to_path_buf());
    });
}

/// Runs [`run`] when dropped, so that a panic cleans up too.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        run();
    }
}

/// Removes everything registered; runs once, later calls do nothing.
pub fn run() {
    let mut guard = registry();
    let Some(r) = guard.as_mut() else { return };
    if r.done {
        return;
    }
    r.done = true;

    let mut daemon = r.daemon.take();
    if let Some(daemon) = daemon.as_mut()
        && daemon.is_running()
    {
        remove_conti_containers(daemon);
        if daemon.try_terminate(DAEMON_STOP_TIMEOUT).is_none() {
            eprintln!(
                "warning: contid (pid {}) did not stop on SIGTERM within {DAEMON_STOP_TIMEOUT:?}; \
                 killing it\ncontid's log (last lines):\n{}",
                daemon.pid(),
                log_tail(daemon)
            );
        }
    }
    for binary in &r.oci_runtimes {
        delete_oci_leftovers(binary, &r.name);
    }
    crate::network::remove_leftovers(&r.name, &r.bridges);
    if r.podman {
        crate::podman::remove(&r.name);
    }
    drop(r.test_registry.take());
    if let Some(dockerd) = r.dockerd.take() {
        dockerd.stop();
    }
    let prefix = format!("{}-", r.name);
    let peer_cgroups = host::cgroup_dirs_where(|name| name.starts_with(&prefix));
    for pid in peer_cgroups
        .iter()
        .flat_map(|dir| host::pids_in_cgroup_tree(dir))
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    // Kills what is left in the daemon's cgroup or folder, detaches the mounts under the folder,
    // removes the daemon's cgroups and the folder.
    drop(daemon);
    for dir in &peer_cgroups {
        for left in host::remove_cgroup_tree(dir, Duration::from_secs(3)) {
            eprintln!("warning: could not remove cgroup {}", left.display());
        }
    }
}

/// Force-deletes every container the daemon still knows, so that their monitors and overlay
/// mounts go away the way the daemon itself removes them.
fn remove_conti_containers(daemon: &Daemon) {
    let client = daemon.client();
    let Ok(response) = client.try_request("GET", "/v1/containers?all=true", None) else {
        return;
    };
    let Ok(containers) = response.try_json::<Vec<serde_json::Value>>() else {
        return;
    };
    for container in containers {
        let Some(id) = container.get("id").and_then(|id| id.as_str()) else {
            continue;
        };
        match client.try_request("DELETE", &format!("/v1/containers/{id}?force=true"), None) {
            Ok(response) if response.status == 204 || response.status == 404 => {}
            Ok(response) => eprintln!(
                "warning: deleting container {id}: HTTP {}: {}",
                response.status,
                response.text()
            ),
            Err(e) => eprintln!("warning: deleting container {id}: {e}"),
        }
    }
}

/// `<runtime> delete -f` for every container of this run the runtime still lists.
fn delete_oci_leftovers(binary: &Path, name: &str) {
    let Ok(output) = Command::new(binary)
        .args(["list", "-q"])
        .stdin(Stdio::null())
        .output()
    else {
        return;
    };
    let prefix = format!("{name}-");
    for id in String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
    {
        if id.starts_with(&prefix) {
            let _ = Command::new(binary)
                .args(["delete", "-f", id])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
