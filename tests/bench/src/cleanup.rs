//! Everything the benchmark leaves on the machine is registered here and removed by [`run`]:
//! at the normal end, on an error, on a panic (through [`Guard`]), and on SIGINT/SIGTERM/SIGHUP
//! (through a handler and a thread that reads what it writes).
//!
//! Order: containers through the API, the daemon (SIGTERM by PID, then SIGKILL), OCI runtime
//! leftovers (`crun delete -f`), processes left in our cgroups or holding files in our temp
//! folder, mounts under the temp folder, the cgroups, and last the temp folder itself.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::unistd::Pid;
use nix::unistd::pipe2;

use crate::http::Client;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Default)]
struct Registry {
    /// `conti-bench-<pid>`: the daemon's cgroup parent; OCI container ids start with it too.
    name: String,
    temp_dir: Option<PathBuf>,
    daemon: Option<(Child, PathBuf)>,
    /// OCI runtimes used (binary paths), whose leftover containers named `<name>-*` we delete.
    oci_runtimes: BTreeSet<PathBuf>,
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

/// Starts the registry for this run, and catches SIGINT, SIGTERM and SIGHUP: the handler only
/// writes to a pipe, and a thread reading it cleans up and exits. (Blocking the signals and
/// waiting for them instead would leak the blocked mask into every child we spawn; caught
/// signals are reset to their default by `exec`.)
pub fn init(name: &str, temp_dir: &Path) {
    with_registry(|r| {
        r.name = name.to_string();
        r.temp_dir = Some(temp_dir.to_path_buf());
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

pub fn register_daemon(child: Child, socket: &Path) {
    with_registry(|r| r.daemon = Some((child, socket.to_path_buf())));
}

/// The daemon's exit status if it has exited.
pub fn daemon_exit_status() -> Option<std::process::ExitStatus> {
    with_registry(|r| {
        r.daemon
            .as_mut()
            .and_then(|(child, _)| child.try_wait().ok().flatten())
    })
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

    if let Some((mut child, socket)) = r.daemon.take() {
        remove_conti_containers(&socket);
        let log = r.temp_dir.as_ref().map(|dir| dir.join("contid.log"));
        stop_daemon(&mut child, log.as_deref());
    }
    for binary in &r.oci_runtimes {
        delete_oci_leftovers(binary, &r.name);
    }
    let cgroups = our_cgroups(&r.name);
    kill_cgroup_processes(&cgroups);
    if let Some(temp_dir) = &r.temp_dir {
        kill_processes_using(temp_dir);
        if unmount_all_under(temp_dir) {
            if let Err(e) = fs::remove_dir_all(temp_dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                eprintln!("warning: removing {}: {e}", temp_dir.display());
            }
        } else {
            eprintln!(
                "warning: mounts remain under {}; not removing it",
                temp_dir.display()
            );
        }
    }
    remove_cgroups(&cgroups);
}

/// Force-deletes every container the daemon still knows, so that their monitors and overlay
/// mounts go away the way the daemon itself removes them.
fn remove_conti_containers(socket: &Path) {
    let mut client = Client::new(socket);
    let Ok(response) = client.get("/v1/containers?all=true") else {
        return;
    };
    let Ok(serde_json::Value::Array(containers)) = response.json() else {
        return;
    };
    for container in containers {
        if let Some(id) = container.get("id").and_then(|id| id.as_str()) {
            match client.delete(&format!("/v1/containers/{id}?force=true")) {
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
}

/// SIGTERM (graceful shutdown), then SIGKILL after 5 s.
fn stop_daemon(child: &mut Child, log: Option<&Path>) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!("warning: contid (pid {pid}) did not stop on SIGTERM within 5 s; killing it");
    if let Some(log) = log {
        eprintln!(
            "contid's log (last lines):\n{}",
            crate::daemon::log_tail(log)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
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

/// Every cgroup folder of this run, in every hierarchy, children before parents: the daemon's
/// parent `<name>` and the OCI runtimes' `<name>-*`.
fn our_cgroups(name: &str) -> Vec<PathBuf> {
    let prefix = format!("{name}-");
    let mut found = Vec::new();
    let Ok(hierarchies) = fs::read_dir(CGROUP_ROOT) else {
        return found;
    };
    for hierarchy in hierarchies.flatten() {
        let Ok(entries) = fs::read_dir(hierarchy.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            if (file_name == name || file_name.starts_with(&prefix)) && entry.path().is_dir() {
                collect_depth_first(&entry.path(), &mut found);
            }
        }
    }
    found
}

fn collect_depth_first(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_depth_first(&entry.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

fn kill_cgroup_processes(cgroups: &[PathBuf]) {
    for cgroup in cgroups {
        if let Ok(procs) = fs::read_to_string(cgroup.join("cgroup.procs")) {
            for pid in procs
                .lines()
                .filter_map(|line| line.trim().parse::<i32>().ok())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Kills processes whose cwd or an open file lies in our temp folder (e.g. container monitors
/// the daemon could no longer remove).
fn kill_processes_using(temp_dir: &Path) {
    let me = std::process::id().to_string();
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let pid_text = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = pid_text.parse::<i32>() else {
            continue;
        };
        if pid_text == me {
            continue;
        }
        let proc_dir = entry.path();
        let uses =
            |link: PathBuf| fs::read_link(link).is_ok_and(|target| target.starts_with(temp_dir));
        let mut using = uses(proc_dir.join("cwd"));
        if !using && let Ok(fds) = fs::read_dir(proc_dir.join("fd")) {
            using = fds.flatten().any(|fd| uses(fd.path()));
        }
        if using {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Detaches every mount at or under `dir` (deepest first); true when none remains. Removing a
/// folder with an overlay still mounted in it would delete through the mount.
fn unmount_all_under(dir: &Path) -> bool {
    let mounted = || -> Vec<PathBuf> {
        let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
            return Vec::new();
        };
        mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(|field| PathBuf::from(unescape_mount_path(field)))
            .filter(|point| point.starts_with(dir))
            .collect()
    };
    let mut points = mounted();
    points.sort_by_key(|point| std::cmp::Reverse(point.as_os_str().len()));
    for point in &points {
        let _ = umount2(point.as_path(), MntFlags::MNT_DETACH);
    }
    mounted().is_empty()
}

/// `/proc/self/mountinfo` writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape_mount_path(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|digits| std::str::from_utf8(digits).ok());
        if bytes[i] == b'\\'
            && let Some(Ok(value)) = octal.map(|digits| u8::from_str_radix(digits, 8))
        {
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the cgroup folders (children first), retrying while killed processes exit.
fn remove_cgroups(cgroups: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut remaining: Vec<&PathBuf> = cgroups.iter().collect();
    loop {
        remaining.retain(|cgroup| match fs::remove_dir(cgroup) {
            Ok(()) => false,
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        });
        if remaining.is_empty() || Instant::now() > deadline {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    for cgroup in remaining {
        eprintln!("warning: could not remove cgroup {}", cgroup.display());
    }
}
