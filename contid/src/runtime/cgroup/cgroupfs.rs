//! File operations on cgroup directories, the same in every hierarchy of either version.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::CgroupError;

/// How long `kill_all` waits for the processes to leave the cgroup.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `remove` retries a cgroup that is busy because its processes are still exiting.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a kill round waits for the freezer to report the cgroup frozen.
const FREEZE_TIMEOUT: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(10);

pub(super) fn io_error(path: &Path, source: io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one value to a cgroup control file in one `write(2)`, as the kernel expects.
pub(super) fn write_value(path: &Path, value: &str) -> Result<(), CgroupError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| file.write_all(value.as_bytes()))
        .map_err(|err| io_error(path, err))
}

/// Writes a limit: a control file the kernel does not provide is
/// [`CgroupError::Unsupported`], so a limit is never silently dropped.
pub(super) fn write_limit(
    dir: &Path,
    file: &str,
    value: &str,
    limit: &str,
) -> Result<(), CgroupError> {
    let path = dir.join(file);
    match write_value(&path, value) {
        Err(CgroupError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Err(CgroupError::Unsupported {
                limit: limit.to_owned(),
                reason: format!("the kernel provides no {}", path.display()),
            })
        }
        Err(CgroupError::Io { path, source }) => Err(CgroupError::Rejected {
            limit: limit.to_owned(),
            value: value.to_owned(),
            path,
            source,
        }),
        other => other,
    }
}

/// The first of `files` that exists in `dir`.
pub(super) fn first_existing<'f>(dir: &Path, files: &[&'f str]) -> Option<&'f str> {
    files.iter().copied().find(|file| dir.join(file).exists())
}

/// The file, or its whole cgroup, does not exist (any more). ENODEV: the cgroup was removed
/// while the file was being opened.
fn is_gone(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(nix::libc::ENODEV)
}

/// Like [`write_value`]; `false` when the file (or its cgroup) does not exist.
fn write_value_if_exists(path: &Path, value: &str) -> Result<bool, CgroupError> {
    match write_value(path, value) {
        Ok(()) => Ok(true),
        Err(CgroupError::Io { source, .. }) if is_gone(&source) => Ok(false),
        Err(err) => Err(err),
    }
}

/// The contents of a control file; `None` when it does not exist.
pub(super) fn read_value(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if is_gone(&err) => Ok(None),
        Err(err) => Err(io_error(path, err)),
    }
}

/// Creates `mount/cgroup` one level at a time (existing levels are fine), calling
/// `init_level(parent, dir)` on every level so a hierarchy can fill in what a new cgroup needs.
pub(super) fn create_levels(
    mount: &Path,
    cgroup: &Path,
    init_level: &dyn Fn(&Path, &Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let mut parent = mount.to_path_buf();
    for component in cgroup.components() {
        let dir = parent.join(component);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io_error(&dir, err)),
        }
        init_level(&parent, &dir)?;
        parent = dir;
    }
    Ok(())
}

/// The pids in `dir` and every cgroup below it; nothing for a cgroup that does not exist.
pub(super) fn procs_tree(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    collect_procs(dir, &mut pids)?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn collect_procs(dir: &Path, pids: &mut Vec<i32>) -> Result<(), CgroupError> {
    let Some(text) = read_value(&dir.join("cgroup.procs"))? else {
        return Ok(());
    };
    // Never 0 or negative: a stray `kill(0)` or `kill(-1)` would hit the daemon or everything.
    pids.extend(
        text.lines()
            .filter_map(|line| line.trim().parse::<i32>().ok())
            .filter(|&pid| pid > 0),
    );
    for child in child_cgroups(dir)? {
        collect_procs(&child, pids)?;
    }
    Ok(())
}

/// The sub-cgroups of `dir` (none when it is gone).
fn child_cgroups(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_error(dir, err)),
    };
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| io_error(dir, err))?;
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            children.push(entry.path());
        }
    }
    Ok(children)
}

/// Repeats `kill_round` until `procs` finds nothing, or fails with the survivors after
/// [`KILL_TIMEOUT`].
pub(super) fn kill_until_empty(
    dir: &Path,
    procs: &dyn Fn() -> Result<Vec<i32>, CgroupError>,
    kill_round: &dyn Fn() -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let deadline = Instant::now() + KILL_TIMEOUT;
    loop {
        let pids = procs()?;
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::StillRunning {
                path: dir.to_path_buf(),
                pids,
            });
        }
        kill_round()?;
        thread::sleep(POLL);
    }
}

/// v2's `cgroup.kill`: kills the whole subtree atomically; `false` on kernels before 5.14.
pub(super) fn write_cgroup_kill(dir: &Path) -> Result<bool, CgroupError> {
    let path = dir.join("cgroup.kill");
    if !path.exists() {
        return Ok(false);
    }
    write_value_if_exists(&path, "1")?;
    Ok(true)
}

/// One kill round without `cgroup.kill`: freeze (so nothing forks or exits and reuses its pid
/// while we signal), SIGKILL every pid, thaw (frozen processes die once thawed).
pub(super) fn signal_round(
    freezer: Option<&Freezer>,
    procs: &dyn Fn() -> Result<Vec<i32>, CgroupError>,
) -> Result<(), CgroupError> {
    let frozen = match freezer {
        Some(freezer) => freezer.freeze()?,
        None => false,
    };
    let signalled = procs().map(|pids| sigkill_all(&pids));
    if frozen && let Some(freezer) = freezer {
        freezer.thaw()?;
    }
    signalled
}

fn sigkill_all(pids: &[i32]) {
    for &pid in pids.iter().filter(|&&pid| pid > 0) {
        match kill(Pid::from_raw(pid), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(err) => tracing::warn!(pid, %err, "cannot SIGKILL a process of a cgroup"),
        }
    }
}

/// A cgroup's freezer.
pub(super) enum Freezer {
    /// `freezer.state` in the v1 freezer hierarchy: `FROZEN` / `THAWED`.
    V1 { dir: PathBuf },
    /// `cgroup.freeze` (`1` / `0`), with `frozen 1` in `cgroup.events` once done.
    V2 { dir: PathBuf },
}

impl Freezer {
    /// Freezes and waits a little for it to take; `false` when the cgroup has no freezer.
    fn freeze(&self) -> Result<bool, CgroupError> {
        let written = match self {
            Freezer::V1 { dir } => write_value_if_exists(&dir.join("freezer.state"), "FROZEN")?,
            Freezer::V2 { dir } => write_value_if_exists(&dir.join("cgroup.freeze"), "1")?,
        };
        if !written {
            return Ok(false);
        }
        // Not being frozen yet is no error: signalling anyway is what we would do without a
        // freezer, and the caller loops.
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        while !self.is_frozen()? && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        Ok(true)
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(match self {
            Freezer::V1 { dir } => {
                read_value(&dir.join("freezer.state"))?.is_none_or(|state| state.trim() == "FROZEN")
            }
            Freezer::V2 { dir } => read_value(&dir.join("cgroup.events"))?
                .is_none_or(|events| events.lines().any(|line| line.trim() == "frozen 1")),
        })
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        match self {
            Freezer::V1 { dir } => write_value_if_exists(&dir.join("freezer.state"), "THAWED")?,
            Freezer::V2 { dir } => write_value_if_exists(&dir.join("cgroup.freeze"), "0")?,
        };
        Ok(())
    }
}

/// Removes `dir` and every cgroup below it, deepest first. A missing cgroup is fine; a busy one
/// (processes still exiting) is retried until [`REMOVE_TIMEOUT`] from `started`.
///
/// The folder is listed only when it is busy: listing a v1 cgroup (dozens of control files)
/// cost more than the removal, and a container's cgroup rarely has children.
pub(super) fn remove_tree(dir: &Path, started: Instant) -> Result<(), CgroupError> {
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err)
                if err.raw_os_error() == Some(libc::EBUSY)
                    && started.elapsed() < REMOVE_TIMEOUT =>
            {
                let children = child_cgroups(dir)?;
                if children.is_empty() {
                    thread::sleep(POLL);
                }
                for child in children {
                    remove_tree(&child, started)?;
                }
            }
            Err(err) => return Err(io_error(dir, err)),
        }
    }
}

/// Removes `mount/parent` level by level, deepest first, stopping at the first level that still
/// holds something.
pub(super) fn remove_empty_levels(mount: &Path, parent: &Path) -> Result<(), CgroupError> {
    let mut level = Some(parent);
    while let Some(relative) = level.filter(|relative| !relative.as_os_str().is_empty()) {
        let dir = mount.join(relative);
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) if matches!(err.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                return Ok(());
            }
            Err(err) => return Err(io_error(&dir, err)),
        }
        level = relative.parent();
    }
    Ok(())
}
