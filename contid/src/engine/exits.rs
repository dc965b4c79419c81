//! How a container ends: its exit recorded, waiters told, auto-removal.

use conti_proto::EventType;
use tokio::sync::watch;

use crate::runtime::ExitRecord;
use crate::runtime::sys::atomic_file::Durability;

use super::supervisor::{InitHandle, exit_record_or_vanished};
use super::{ContainerStatus, Engine, EngineError, EngineResult, EventDetails};

/// A running container's first process (when it could be opened) and its exit notification.
type RunningHandles = (Option<InitHandle>, watch::Receiver<Option<i32>>);

impl Engine {
    /// Called when a container's monitor is gone: records how the container ended. The monitor
    /// wrote `exit.json` (or nothing, and the container counts as vanished); the watcher stores
    /// the exit later ([`Engine::store_seen_exit`]), once waiters have been told.
    pub(super) fn collect_exit(&self, id: &str) {
        // The runs its monitor made since the daemon last looked: the true restart count.
        self.observe_runs(id);
        let record = exit_record_or_vanished(&self.container_dir(id));
        self.record_exit(id, &record, None);
    }

    /// Stores an exit the daemon collected, without waiting for the disk, so that a restarted
    /// daemon knows it saw it (and says so); were it lost, a reload derives the same exit from
    /// the stored `running` status. Called once the monitor is gone, when the waiters have long
    /// been told; an auto-removed container is about to go anyway.
    pub(super) fn store_seen_exit(&self, id: &str) {
        let table = self.table();
        let Ok(entry) = table.entry(id) else {
            return;
        };
        let container = &entry.container;
        if container.config.auto_remove || container.status.exit_code().is_none() {
            return;
        }
        if let Err(err) = self
            .inner
            .store
            .save_with(container, Durability::UntilReboot)
        {
            tracing::warn!(container = %id, %err, "cannot store the exit");
        }
    }

    /// Records how a container ended, and stores it with `persist` (`None`: not stored). The
    /// exit of an auto-removed container is not stored: its folder is about to go.
    pub(super) fn record_exit(&self, id: &str, record: &ExitRecord, persist: Option<Durability>) {
        let span = tracing::info_span!("exit", container = %id);
        let _enter = span.enter();
        let auto_remove = {
            let mut table = self.table();
            let Ok(entry) = table.entry_mut(id) else {
                return;
            };
            let status = exited_status(&entry.container.status, record);
            entry.container.status = status;
            if let Some(durability) = persist
                && !entry.container.config.auto_remove
                && let Err(err) = self.inner.store.save_with(&entry.container, durability)
            {
                tracing::error!(%err, "cannot persist the exit");
            }
            entry.init = None;
            if let Some(checks) = entry.health_checks.take() {
                checks.abort();
            }
            // A restarting container that a stop ended: its run's end was told already.
            if entry.told_exit.as_deref() != Some(record.finished.as_str()) {
                self.tell_exit(id, &entry.container.config.name, record);
            }
            entry.exit.send_replace(Some(record.exit_code));
            if !entry.container.config.ports.is_empty() {
                // Its port forwards go with it.
                self.spawn_firewall_sync();
            }
            entry.container.config.auto_remove
        };
        tracing::info!(exit_code = record.exit_code, "exited");
        if auto_remove {
            self.spawn_auto_remove(id.to_string());
        }
    }

    /// Tells how a run of container `id` (named `name`) ended: `oom` when the OOM killer
    /// killed a process of it, then `die`.
    pub(super) fn tell_exit(&self, id: &str, name: &str, record: &ExitRecord) {
        if record.oom_killed {
            self.emit_named(EventType::Oom, id, name, EventDetails::default());
        }
        let details = EventDetails::exit(record.exit_code, record.signal);
        self.emit_named(EventType::Die, id, name, details);
    }

    pub(super) fn spawn_auto_remove(&self, id: String) {
        let engine = self.clone();
        tokio::spawn(async move {
            // With its anonymous volumes, as Docker's `--rm`.
            match engine.delete(&id, true, true).await {
                Ok(()) | Err(EngineError::ContainerNotFound(_)) => {}
                Err(err) => {
                    tracing::error!(container = %id, %err, "auto-remove failed");
                    // It stays: waiters holding out for its removal get the exit code now.
                    if let Ok(entry) = engine.table().entry_mut(&id) {
                        entry.container.config.auto_remove = false;
                        entry.exit.send_modify(|_| {});
                    }
                }
            }
        });
    }

    /// Waits for the exit code, however long it takes; for an auto-removed container, until it
    /// is removed too. A container deleted a moment ago still answers by its full id.
    pub async fn wait(&self, reference: &str) -> EngineResult<i32> {
        self.waiter(reference, WaitCondition::NotRunning)?
            .wait()
            .await
    }

    /// Registers a wait now, to be awaited later: a client told that its wait is in place (the
    /// headers of Docker's wait answer) misses no exit that follows.
    pub fn waiter(&self, reference: &str, condition: WaitCondition) -> EngineResult<Waiter> {
        let table = self.table();
        let (id, exit) = match table.resolve(reference) {
            Ok(id) => {
                let exit = table.entry(&id)?.exit.subscribe();
                (id, exit)
            }
            Err(err) => {
                let code = table.removed.get(reference).ok_or(err)?;
                return Ok(Waiter {
                    engine: self.clone(),
                    reference: reference.to_string(),
                    state: WaiterState::Done(code),
                });
            }
        };
        Ok(Waiter {
            engine: self.clone(),
            reference: reference.to_string(),
            state: WaiterState::Waiting {
                id,
                exit,
                condition,
            },
        })
    }
    /// The running container's first process and a receiver for its exit, or `None` when it
    /// does not run.
    pub(super) fn running_handles(&self, id: &str) -> EngineResult<Option<RunningHandles>> {
        let table = self.table();
        let entry = table.entry(id)?;
        Ok(entry
            .container
            .status
            .is_running()
            .then(|| (entry.init.clone(), entry.exit.subscribe())))
    }
}

/// What a wait waits for (Docker's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// The container does not run: an exited one answers at once, a created one at its exit.
    #[default]
    NotRunning,
    /// The exit that comes next, even when the container has exited before.
    NextExit,
    /// The container is deleted (its last exit code then).
    Removed,
}

/// A wait registered by [`Engine::waiter`].
pub struct Waiter {
    engine: Engine,
    reference: String,
    state: WaiterState,
}

enum WaiterState {
    /// The container was deleted a moment ago: its code.
    Done(i32),
    Waiting {
        id: String,
        exit: watch::Receiver<Option<i32>>,
        condition: WaitCondition,
    },
}

impl Waiter {
    pub async fn wait(self) -> EngineResult<i32> {
        let (id, mut exit, condition) = match self.state {
            WaiterState::Done(code) => return Ok(code),
            WaiterState::Waiting {
                id,
                exit,
                condition,
            } => (id, exit, condition),
        };
        if condition == WaitCondition::NextExit {
            // What the container ended with before is not the next exit.
            exit.borrow_and_update();
        }
        let mut first = condition != WaitCondition::NextExit;
        loop {
            let exited = if first {
                *exit.borrow_and_update()
            } else {
                match exit.changed().await {
                    Ok(()) => *exit.borrow_and_update(),
                    Err(_) => {
                        // Deleted: the channel keeps the last code it carried (none when the
                        // container was deleted before it ever ended).
                        let last = *exit.borrow();
                        return last
                            .ok_or_else(|| EngineError::ContainerNotFound(self.reference.clone()));
                    }
                }
            };
            first = false;
            // An auto-removed container answers once it is gone, so that a client whose wait
            // returns (`run --rm`) never finds it listed any more; `Removed` always waits so.
            let being_removed = condition == WaitCondition::Removed
                || self
                    .engine
                    .table()
                    .entry(&id)
                    .is_ok_and(|e| e.container.config.auto_remove);
            if let Some(code) = exited
                && !being_removed
            {
                return Ok(code);
            }
        }
    }
}

pub(super) fn exited_status(previous: &ContainerStatus, record: &ExitRecord) -> ContainerStatus {
    let started = match previous {
        ContainerStatus::Running { started, .. } => Some(started.clone()),
        ContainerStatus::Exited { started, .. } | ContainerStatus::Restarting { started, .. } => {
            started.clone()
        }
        ContainerStatus::Created | ContainerStatus::Starting => None,
    };
    ContainerStatus::Exited {
        started,
        finished: record.finished.clone(),
        exit_code: record.exit_code,
        error: record.error.clone(),
        oom_killed: record.oom_killed,
    }
}
