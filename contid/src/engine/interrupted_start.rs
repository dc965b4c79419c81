//! Starts the daemon did not see through. A start stores `starting` before the helper forks the
//! monitor and `running` (or `exited`) once it hears back; in between the daemon may be killed,
//! or fail on its side (no fd left for the report, a full disk for the status). What the start
//! left is then told by the container's monitor lock (`runtime::process::monitor_lock`): whether a monitor
//! still runs, and which monitor and init it started.
//!
//! At load a monitor that started its container is adopted as running (one still in the middle
//! of its start is given [`SETTLE_TIMEOUT`] to get there); anything else is ended by the helper
//! (`runtime::process::start_leftovers`: the monitor killed, then whatever is left in the container's
//! cgroup, and the cgroup removed; its veth and mounts go with its namespaces), and the
//! container counts as exited. A start that failed
//! on the daemon's side, or a `starting` container that a stop, delete or new start finds, is
//! ended the same way without being adopted.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::runtime::process::monitor_lock::{self, MonitorProbe};
use crate::runtime::sys::atomic_file::Durability;
use crate::runtime::{ExitRecord, ProcessHandle};

use super::{ContainerStatus, Engine, EngineError, EngineResult, blocking, now_rfc3339};

/// How long a load waits for monitors still in the middle of a start to report it.
pub(super) const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// What became of a start the daemon did not see through.
pub(super) enum StartOutcome {
    /// Its monitor runs the container (adopted at load).
    Running {
        status: ContainerStatus,
        monitor: ProcessHandle,
        init: Option<ProcessHandle>,
    },
    /// Nothing of it runs; how it ended (the monitor's own record when it wrote one).
    Ended(ExitRecord),
    /// Its monitor still holds the lock and could not be ended: the container stays `starting`
    /// and the next stop, delete or start tries again.
    Unsettled(String),
}

impl Engine {
    /// Blocking: settles the start of container `id` that left it `starting`. With `adopt_until`
    /// (at load), a monitor that has started the container by then is kept; otherwise, or after
    /// that, the helper ends whatever the start left (it needs no fd of the daemon's, which may
    /// have none left). `why` says why, for the record of an ended one.
    pub(super) fn settle_start(
        &self,
        id: &str,
        adopt_until: Option<Instant>,
        why: &str,
    ) -> StartOutcome {
        let dir = self.container_dir(id);
        if let Some(until) = adopt_until {
            loop {
                match monitor_lock::probe(&dir) {
                    Ok(probe) if !probe.held => break,
                    Ok(probe) => {
                        if let Some(running) = adopt(&probe) {
                            return running;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(container = %id, %err, "cannot read the monitor lock")
                    }
                }
                if Instant::now() >= until {
                    tracing::warn!(container = %id, "the monitor did not finish the start in time; ending it");
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
        match self.inner.helper.end_start(id, &dir) {
            Ok(()) => StartOutcome::Ended(monitor_record_or(&dir, why)),
            Err(err) => StartOutcome::Unsettled(format!(
                "cannot end what container {id}'s interrupted start left: {err}"
            )),
        }
    }

    /// Ends what the start of a `starting` container left, under its lifecycle lock (a stop,
    /// delete or start found it so, or the start failed on the daemon's side), and records the
    /// container as exited. A container that is not `starting` is left as it is.
    pub(super) async fn end_interrupted_start(&self, id: &str, why: &str) -> EngineResult<()> {
        let starting = matches!(
            self.table().entry(id)?.container.status,
            ContainerStatus::Starting
        );
        if !starting {
            return Ok(());
        }
        let engine = self.clone();
        let (doomed, why) = (id.to_string(), why.to_string());
        let outcome = blocking(move || Ok(engine.settle_start(&doomed, None, &why))).await?;
        match outcome {
            StartOutcome::Ended(record) => {
                tracing::info!(container = %id, exit_code = record.exit_code, "ended what an interrupted start left");
                self.record_exit(id, &record, Some(Durability::Durable));
                Ok(())
            }
            StartOutcome::Unsettled(message) => Err(EngineError::Internal(message)),
            StartOutcome::Running { .. } => Err(EngineError::Internal(format!(
                "container {id}'s interrupted start was adopted instead of ended"
            ))),
        }
    }
}

/// The running container a probe names, when its monitor can be opened.
fn adopt(probe: &MonitorProbe) -> Option<StartOutcome> {
    let (Some(monitor), Some(init)) = (probe.record.monitor, probe.record.init) else {
        return None;
    };
    // A monitor that has exited but is not reaped yet (a zombie) does not count.
    let handle = ProcessHandle::open(monitor.pid, monitor.start_time)
        .ok()
        .flatten()
        .filter(|handle| !handle.exits_within(Duration::ZERO))?;
    let init_handle = ProcessHandle::open(init.pid, init.start_time)
        .ok()
        .flatten();
    let started = probe
        .record
        .started
        .map(|at| humantime::format_rfc3339_nanos(at).to_string())
        .unwrap_or_else(now_rfc3339);
    Some(StartOutcome::Running {
        status: ContainerStatus::Running {
            started,
            monitor_pid: monitor.pid,
            monitor_start_time: monitor.start_time,
            init_pid: init.pid,
            init_start_time: init.start_time,
        },
        monitor: handle,
        init: init_handle,
    })
}

/// The exit the monitor recorded for this start (it finished, or gave up, on its own), or a
/// record saying `why` the start ended without one.
fn monitor_record_or(dir: &Path, why: &str) -> ExitRecord {
    match ExitRecord::read(dir) {
        Ok(Some(record)) => record,
        _ => ExitRecord {
            exit_code: 255,
            signal: None,
            finished: now_rfc3339(),
            error: Some(why.to_string()),
            oom_killed: false,
        },
    }
}
