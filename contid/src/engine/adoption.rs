//! Re-adoption at load: containers found on disk are watched again or marked as ended; starts
//! that were under way are adopted or ended (see `interrupted_start`). What their monitors did
//! meanwhile by their restart policy comes from their run records (`run_watch`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::ProcessHandle;

use super::exits::exited_status;
use super::interrupted_start::StartOutcome;
use super::run_watch::adopt_runs;
use super::supervisor::{exit_record_or_vanished, watch_monitor};
use super::{Container, ContainerStatus, Engine, EngineResult, Entry};

impl Engine {
    /// `settle_until`: how long a start found under way may take to finish (see
    /// `interrupted_start`).
    pub(super) fn adopt(&self, container: Container, settle_until: Instant) -> EngineResult<()> {
        let id = container.config.id.clone();
        let span = tracing::info_span!("adopt", container = %id);
        let _enter = span.enter();
        let mut monitor = None;
        let mut init = None;
        let mut told_exit = None;
        let mut container = container;
        let dir = self.inner.store.container_dir(&id);
        if let ContainerStatus::Starting = container.status {
            let why = "contid stopped in the middle of the start";
            match self.settle_start(&id, Some(settle_until), why) {
                StartOutcome::Running {
                    status,
                    monitor: handle,
                    init: init_handle,
                } => {
                    tracing::info!("re-adopted a container started while contid went down");
                    container.status = status;
                    self.inner.store.save(&container)?;
                    monitor = Some(handle);
                    init = init_handle.map(Arc::new);
                }
                StartOutcome::Ended(record) => {
                    tracing::info!(
                        exit_code = record.exit_code,
                        "ended what a start cut short by contid's end left"
                    );
                    container.status = exited_status(&container.status, &record);
                    self.inner.store.save(&container)?;
                }
                StartOutcome::Unsettled(message) => {
                    tracing::error!("{message}; it stays starting until stopped or removed");
                }
            }
        } else if let Some((monitor_pid, monitor_start_time)) = container.status.monitor() {
            // A monitor that has exited but is not reaped yet (a zombie) is gone too.
            monitor = ProcessHandle::open(monitor_pid, monitor_start_time)?
                .filter(|monitor| !monitor.exits_within(Duration::ZERO));
            // Its restarts while contid was down; for one that ended, the true count.
            told_exit = adopt_runs(&mut container, &dir);
            match monitor {
                Some(_) => {
                    if let ContainerStatus::Running {
                        init_pid,
                        init_start_time,
                        ..
                    } = container.status
                    {
                        init = ProcessHandle::open(init_pid, init_start_time)?.map(Arc::new);
                    }
                    tracing::info!(
                        restart_count = container.restarts.count,
                        "re-adopted running container"
                    );
                    self.inner.store.save(&container)?;
                }
                None => {
                    let record = exit_record_or_vanished(&dir);
                    tracing::info!(
                        exit_code = record.exit_code,
                        "container ended while the daemon was down"
                    );
                    if let Err(err) = self
                        .inner
                        .cgroups
                        .kill_all(&id)
                        .and_then(|_| self.inner.cgroups.remove(&id))
                    {
                        tracing::warn!(%err, "cannot clean up the cgroup of an ended container");
                    }
                    container.status = exited_status(&container.status, &record);
                    self.inner.store.save(&container)?;
                }
            }
        }
        let auto_remove = container.config.auto_remove && container.status.exit_code().is_some();
        let mut entry = Entry::new(container);
        entry.init = init;
        entry.told_exit = told_exit;
        let slot = entry.monitor_slot.clone();
        self.table().entries.insert(id.clone(), entry);
        if let Some(monitor) = monitor {
            self.start_health_checks(&id);
            let slot = slot
                .try_lock_owned()
                .expect("a new entry's monitor slot is free");
            watch_monitor(self.clone(), id.clone(), monitor, None, slot);
        }
        if auto_remove {
            self.spawn_auto_remove(id);
        }
        Ok(())
    }
}
