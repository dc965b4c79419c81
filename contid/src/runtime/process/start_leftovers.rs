//! Ending what a start left when nobody is to run its container: the monitor (named by the
//! container's monitor lock, see `monitor_lock`), which takes the init with it
//! (`PR_SET_PDEATHSIG`), then whatever is left in the container's cgroup, and the cgroup (its veth
//! and mounts go with its namespaces).
//!
//! It runs in the helper: the daemon needs it most when it has no fd left (a start that failed
//! with `EMFILE`), and the helper's own fds are few.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::monitor_lock::{self, ProcessIdentity};
use super::protocol::HelperFailure;
use crate::runtime::RuntimeError;
use crate::runtime::cgroup::CgroupManager;
use crate::runtime::sys::process::ProcessHandle;

/// How long the monitor may take to name itself (just forked) and, killed, to let go of the lock.
const END_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(5);

/// Kills the monitor of container `id` (state folder `state_dir`) until its lock is free, then
/// empties and removes the container's cgroup. `EBUSY` when the lock is still held after
/// [`END_TIMEOUT`].
pub(super) fn end_start(
    id: &str,
    state_dir: &Path,
    cgroups: &CgroupManager,
) -> Result<(), HelperFailure> {
    let deadline = Instant::now() + END_TIMEOUT;
    loop {
        let probe = monitor_lock::probe(state_dir).map_err(|e| {
            HelperFailure::from_io(format!("read the monitor lock of {id}: {e}"), &e)
        })?;
        if !probe.held {
            break;
        }
        if let Some(monitor) = probe.record.monitor {
            kill(monitor).map_err(|err| {
                HelperFailure::new(format!("kill the monitor of {id}: {err}"), Errno::EIO)
            })?;
        }
        if Instant::now() >= deadline {
            return Err(HelperFailure::new(
                format!(
                    "the monitor of container {id} still runs {}s after SIGKILL",
                    END_TIMEOUT.as_secs()
                ),
                Errno::EBUSY,
            ));
        }
        std::thread::sleep(POLL);
    }
    cgroups
        .kill_all(id)
        .and_then(|()| cgroups.remove(id))
        .map_err(|e| HelperFailure::new(format!("clean up the cgroup of {id}: {e}"), Errno::EBUSY))
}

/// SIGKILL through a pidfd, so that a recycled pid is never hit; one already gone is fine.
fn kill(monitor: ProcessIdentity) -> Result<(), RuntimeError> {
    match ProcessHandle::open(monitor.pid, monitor.start_time)? {
        Some(handle) => handle.signal(Signal::SIGKILL),
        None => Ok(()),
    }
}
