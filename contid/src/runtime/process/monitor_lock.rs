//! A container's monitor lock, `<state dir>/monitor.lock`: held (`flock`) by whatever may run the
//! container. The helper takes it before it forks the monitor, the monitor inherits it and lets
//! go of it once the container's exit is recorded (or its start given up). So a daemon that did
//! not see a start through — it was killed in the middle, or lost its fds — can tell whether a
//! monitor still runs, and the file says which: the monitor writes `<pid> <start time>` into it
//! first thing, then `<pid> <start time> <init pid> <start time>` once the init has exec'd.
//!
//! The lock belongs to an open file description shared across `fork`, so it holds as long as the
//! helper's fork, the monitor, or a child of it not yet past its own fd cleanup keeps the fd; it
//! goes with them, whatever kills them. Nobody unlocks it (`LOCK_UN` would release it for every
//! holder at once): each holder closes its fd.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use rustix::fs::{FlockOperation, flock};

pub const MONITOR_LOCK_FILE: &str = "monitor.lock";

/// How long the helper waits for the previous run's monitor (or the fork that made it) to be gone.
const TAKE_TIMEOUT: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(2);

/// A process named by pid and start time (see [`crate::runtime::sys::process::start_time`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The calling process.
    pub fn own() -> ProcessIdentity {
        let pid = nix::unistd::getpid().as_raw();
        ProcessIdentity {
            pid,
            start_time: crate::runtime::sys::process::start_time(pid).unwrap_or_default(),
        }
    }
}

/// What the lock file says of the start that took it last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorRecord {
    /// `None` until the monitor has written it (just after the fork).
    pub monitor: Option<ProcessIdentity>,
    /// `None` until the container's first process has exec'd.
    pub init: Option<ProcessIdentity>,
    /// When the init was recorded: when the container started.
    pub started: Option<SystemTime>,
}

/// What the daemon finds: whether a monitor holds the lock, and what the file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorProbe {
    pub held: bool,
    pub record: MonitorRecord,
}

/// The helper's side: takes the lock for a new start of the container in `state_dir`, emptied of
/// the previous run's record. `EBUSY` when a monitor of the container still holds it.
pub fn take(state_dir: &Path) -> Result<OwnedFd, Errno> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open(state_dir.join(MONITOR_LOCK_FILE))
        .map_err(|e| errno_of(&e))?;
    let deadline = Instant::now() + TAKE_TIMEOUT;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(POLL);
            }
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(Errno::EBUSY),
            Err(errno) => return Err(Errno::from_raw(errno.raw_os_error())),
        }
    }
    file.set_len(0).map_err(|e| errno_of(&e))?;
    Ok(OwnedFd::from(file))
}

fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(Errno::EIO as i32))
}

/// The monitor's side: names the monitor, before it does anything for the container.
pub fn record_monitor(lock: &OwnedFd, monitor: ProcessIdentity) -> std::io::Result<()> {
    write_record(lock, &format!("{} {}\n", monitor.pid, monitor.start_time))
}

/// The monitor's side: the container's first process has exec'd.
pub fn record_started(
    lock: &OwnedFd,
    monitor: ProcessIdentity,
    init: ProcessIdentity,
) -> std::io::Result<()> {
    write_record(
        lock,
        &format!(
            "{} {} {} {}\n",
            monitor.pid, monitor.start_time, init.pid, init.start_time
        ),
    )
}

/// One `pwrite` at the start: the record only ever grows, and a reader takes a line without its
/// newline for one still being written.
fn write_record(lock: &OwnedFd, line: &str) -> std::io::Result<()> {
    let written = nix::sys::uio::pwrite(lock, line.as_bytes(), 0)?;
    if written != line.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "short write of the monitor record",
        ));
    }
    Ok(())
}

/// The daemon's side: whether a monitor of the container in `state_dir` holds the lock, and what
/// the file says. No file: no start ever took it.
pub fn probe(state_dir: &Path) -> std::io::Result<MonitorProbe> {
    let path = state_dir.join(MONITOR_LOCK_FILE);
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MonitorProbe::default()),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let started = file.metadata()?.modified().ok();
    // A shared lock conflicts with the monitor's exclusive one only; ours goes with the file.
    let held = match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => false,
        Err(rustix::io::Errno::WOULDBLOCK) => true,
        Err(errno) => return Err(errno.into()),
    };
    let mut record = parse_record(&text);
    if record.init.is_some() {
        record.started = started;
    }
    Ok(MonitorProbe { held, record })
}

fn parse_record(text: &str) -> MonitorRecord {
    let Some(line) = text.strip_suffix('\n') else {
        return MonitorRecord::default();
    };
    let numbers: Option<Vec<u64>> = line.split(' ').map(|word| word.parse().ok()).collect();
    let identity = |pid: u64, start_time: u64| {
        Some(ProcessIdentity {
            pid: i32::try_from(pid).ok().filter(|pid| *pid > 0)?,
            start_time,
        })
    };
    match numbers.as_deref() {
        Some(&[pid, start]) => MonitorRecord {
            monitor: identity(pid, start),
            ..MonitorRecord::default()
        },
        Some(&[pid, start, init_pid, init_start]) => MonitorRecord {
            monitor: identity(pid, start),
            init: identity(init_pid, init_start),
            started: None,
        },
        _ => MonitorRecord::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_seen_held_until_its_last_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()).unwrap(), MonitorProbe::default());
        let lock = take(dir.path()).unwrap();
        let probed = probe(dir.path()).unwrap();
        assert!(probed.held);
        assert_eq!(probed.record, MonitorRecord::default());

        let monitor = ProcessIdentity::own();
        record_monitor(&lock, monitor).unwrap();
        let probed = probe(dir.path()).unwrap();
        assert_eq!(
            (probed.record.monitor, probed.record.init),
            (Some(monitor), None)
        );
        let init = ProcessIdentity {
            pid: 42,
            start_time: 7,
        };
        record_started(&lock, monitor, init).unwrap();
        let probed = probe(dir.path()).unwrap();
        assert_eq!(
            (probed.record.monitor, probed.record.init),
            (Some(monitor), Some(init))
        );
        assert!(probed.record.started.is_some());

        // A copy of the fd (a fork's) keeps it held; another start cannot take it meanwhile.
        let copy = lock.try_clone().unwrap();
        drop(lock);
        assert!(probe(dir.path()).unwrap().held);
        let started = Instant::now();
        assert_eq!(take(dir.path()).unwrap_err(), Errno::EBUSY);
        assert!(started.elapsed() >= TAKE_TIMEOUT);
        drop(copy);
        let probed = probe(dir.path()).unwrap();
        assert!(!probed.held);
        assert_eq!(
            probed.record.init,
            Some(init),
            "the last run's record stays"
        );

        // A new start empties it.
        let lock = take(dir.path()).unwrap();
        assert_eq!(probe(dir.path()).unwrap().record, MonitorRecord::default());
        drop(lock);
    }

    #[test]
    fn a_record_being_written_reads_as_none() {
        assert_eq!(parse_record("12 34"), MonitorRecord::default());
        assert_eq!(parse_record("12 34 5"), MonitorRecord::default());
        assert_eq!(parse_record("12 34 5\n"), MonitorRecord::default());
        assert_eq!(parse_record("0 34\n").monitor, None);
        assert_eq!(parse_record(""), MonitorRecord::default());
        assert_eq!(
            parse_record("12 34\n").monitor,
            Some(ProcessIdentity {
                pid: 12,
                start_time: 34
            })
        );
    }
}
