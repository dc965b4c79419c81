//! Learning of the runs a container's monitor starts on its own (its restart policy): the
//! monitor rewrites `runs.json` in the container's folder (a rename into it), and an inotify
//! watch on the folder of each container whose monitor the daemon watches tells the engine at
//! once. The engine then reads the record and brings the container to it: its status (running
//! with a new init, or restarting), its restart count, and the `die`, `restart` and `start`
//! events of what happened. The same reading at adoption gives the true count after contid was
//! down (the events of that time are not told).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conti_proto::EventType;
use tokio::io::unix::AsyncFd;

use crate::runtime::ProcessHandle;
use crate::runtime::process::run_record::{RUN_RECORD_FILE, RunRecord, RunningInit};
use crate::runtime::sys::dir_watch::{DirWatch, WatchId};

use super::{ContainerStatus, Engine, EngineError, EngineResult, EventDetails};

/// How long the watch waits after a failed read of its events before it tries again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The folders watched, and whose they are.
pub(super) struct RunWatch {
    watch: AsyncFd<DirWatch>,
    folders: Mutex<HashMap<WatchId, String>>,
}

impl RunWatch {
    /// Must be called inside the tokio runtime.
    pub(super) fn new() -> EngineResult<RunWatch> {
        let failed = |e| EngineError::internal("watch the containers' run records (inotify)", e);
        let watch = DirWatch::new().map_err(failed)?;
        // SAFETY: the AsyncFd owns the DirWatch, so its fd stays open while registered.
        let watch = unsafe { AsyncFd::register(watch) }.map_err(|e| failed(e.into_parts().1))?;
        Ok(RunWatch {
            watch,
            folders: Mutex::new(HashMap::new()),
        })
    }

    fn folders(&self) -> std::sync::MutexGuard<'_, HashMap<WatchId, String>> {
        self.folders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Watches container `id`'s folder; `None` (logged) when it cannot: its restarts are then
    /// learned at its exit only.
    pub(super) fn add(&self, id: &str, dir: &Path) -> Option<WatchId> {
        match self.watch.get_ref().add(dir) {
            Ok(watch) => {
                self.folders().insert(watch, id.to_string());
                Some(watch)
            }
            Err(err) => {
                tracing::warn!(container = %id, %err, "cannot watch the container's runs");
                None
            }
        }
    }

    pub(super) fn remove(&self, watch: WatchId) {
        self.folders().remove(&watch);
        self.watch.get_ref().remove(watch);
    }

    /// The containers whose run record changed since the last call.
    fn changed(&self) -> std::io::Result<Vec<String>> {
        let events = self.watch.get_ref().take_events()?;
        let folders = self.folders();
        let mut ids: Vec<String> = events
            .iter()
            .filter(|(_, name)| name == RUN_RECORD_FILE)
            .filter_map(|(watch, _)| folders.get(watch).cloned())
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

impl Engine {
    /// Reads the watch's events for the daemon's whole life.
    pub(super) fn spawn_run_watch(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            let runs = &engine.inner.runs;
            loop {
                let mut ready = match runs.watch.readable().await {
                    Ok(ready) => ready,
                    Err(err) => {
                        tracing::error!(%err, "the watch of the run records failed");
                        return;
                    }
                };
                let changed = runs.changed();
                ready.clear_ready();
                match changed {
                    Ok(ids) => ids.iter().for_each(|id| engine.observe_runs(id)),
                    Err(err) => {
                        tracing::warn!(%err, "reading the watch of the run records");
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
        });
    }

    /// Brings a running (or restarting) container to what its monitor's run record says, and
    /// tells what changed. Nothing to do for one that is not running any more, or has no record.
    pub(super) fn observe_runs(&self, id: &str) {
        let record = match RunRecord::read(&self.container_dir(id)) {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(container = %id, %err, "unreadable run record");
                return;
            }
        };
        let span = tracing::info_span!("runs", container = %id);
        let _enter = span.enter();
        let start_health_checks = {
            let mut table = self.table();
            let Ok(entry) = table.entry_mut(id) else {
                return;
            };
            let running_init = match &entry.container.status {
                ContainerStatus::Running {
                    init_pid,
                    init_start_time,
                    ..
                } => Some((*init_pid, *init_start_time)),
                ContainerStatus::Restarting { .. } => None,
                _ => return,
            };
            let Some(status) = status_by_record(&entry.container.status, &record) else {
                return;
            };
            let new_exit = record
                .last_exit
                .as_ref()
                .filter(|exit| entry.told_exit.as_deref() != Some(exit.finished.as_str()));
            let new_run = record
                .current
                .as_ref()
                .filter(|init| running_init != Some((init.pid, init.start_time)));
            let recounted = record.restart_count != entry.container.restarts.count;
            if new_exit.is_none() && new_run.is_none() && !recounted {
                return;
            }
            let name = entry.container.config.name.clone();
            let tell_exit = || {
                if let Some(exit) = new_exit {
                    self.tell_exit(id, &name, exit);
                    tracing::info!(exit_code = exit.exit_code, "exited; its policy restarts it");
                }
            };
            let tell_start = || {
                let details = EventDetails::restart(record.restart_count);
                self.emit_named(EventType::Restart, id, &name, details);
                self.emit_named(EventType::Start, id, &name, EventDetails::default());
                tracing::info!(restart_count = record.restart_count, "restarted");
            };
            if record.current.is_some() {
                tell_exit();
                if new_run.is_some() {
                    tell_start();
                }
            } else {
                // A whole run came and went unseen.
                if recounted && running_init.is_none() {
                    tell_start();
                }
                tell_exit();
            }
            let mut container = entry.container.clone();
            container.status = status;
            container.restarts.count = record.restart_count;
            if let Err(err) = self.inner.store.save(&container) {
                tracing::warn!(%err, "cannot store the container's runs");
            }
            entry.container = container;
            entry.told_exit = record.last_exit.as_ref().map(|exit| exit.finished.clone());
            if new_run.is_some() || record.current.is_none() {
                if let Some(checks) = entry.health_checks.take() {
                    checks.abort();
                }
                entry.init = new_run.and_then(open_init);
            }
            new_run.is_some()
        };
        if start_health_checks {
            self.start_health_checks(id);
        }
    }
}

/// What the run record of a container whose monitor runs it says of it, at adoption: its
/// status, its restart count, when the last run it told ended. No record: nothing.
pub(super) fn adopt_runs(container: &mut super::Container, dir: &Path) -> Option<String> {
    let record = match RunRecord::read(dir) {
        Ok(record) => record?,
        Err(err) => {
            tracing::warn!(%err, "unreadable run record");
            return None;
        }
    };
    if let Some(status) = status_by_record(&container.status, &record) {
        container.status = status;
    }
    container.restarts.count = record.restart_count;
    record.last_exit.map(|exit| exit.finished)
}

/// The status a container whose monitor runs it has by the monitor's run record: running with
/// the record's init, or restarting after the record's last exit.
fn status_by_record(status: &ContainerStatus, record: &RunRecord) -> Option<ContainerStatus> {
    let (monitor_pid, monitor_start_time) = status.monitor()?;
    match (&record.current, &record.last_exit) {
        (Some(init), _) => Some(ContainerStatus::Running {
            started: init.started.clone(),
            monitor_pid,
            monitor_start_time,
            init_pid: init.pid,
            init_start_time: init.start_time,
        }),
        (None, Some(exit)) => Some(ContainerStatus::Restarting {
            started: record.last_started.clone(),
            finished: exit.finished.clone(),
            exit_code: exit.exit_code,
            monitor_pid,
            monitor_start_time,
        }),
        (None, None) => None,
    }
}

/// A run's init, to signal; `None` when it is gone already.
pub(super) fn open_init(init: &RunningInit) -> Option<super::supervisor::InitHandle> {
    ProcessHandle::open(init.pid, init.start_time)
        .ok()
        .flatten()
        .map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ExitRecord;

    #[test]
    fn the_record_gives_a_new_run_or_a_wait_under_the_same_monitor() {
        let running = ContainerStatus::Running {
            started: "t0".into(),
            monitor_pid: 10,
            monitor_start_time: 11,
            init_pid: 20,
            init_start_time: 21,
        };
        let exit = ExitRecord {
            exit_code: 3,
            signal: None,
            finished: "t1".into(),
            error: None,
            oom_killed: false,
        };
        let waiting = RunRecord {
            restart_count: 1,
            current: None,
            last_exit: Some(exit.clone()),
            last_started: Some("t0".into()),
        };
        let ContainerStatus::Restarting {
            started,
            exit_code,
            monitor_pid,
            ..
        } = status_by_record(&running, &waiting).unwrap()
        else {
            panic!("not restarting");
        };
        assert_eq!(
            (started.as_deref(), exit_code, monitor_pid),
            (Some("t0"), 3, 10)
        );
        let restarted = RunRecord {
            current: Some(RunningInit {
                pid: 30,
                start_time: 31,
                started: "t2".into(),
            }),
            ..waiting
        };
        let status = status_by_record(&running, &restarted).unwrap();
        assert!(matches!(
            status,
            ContainerStatus::Running {
                init_pid: 30,
                monitor_pid: 10,
                ..
            }
        ));
        assert!(status_by_record(&ContainerStatus::Created, &restarted).is_none());
    }
}
