//! Watching running containers: each one's monitor process is held by a pidfd, and, after a
//! start, by the report pipe, which the monitor closes once it has recorded the exit (it then
//! still unmounts the container's root, which can wait for the disk). The exit record is
//! collected at whichever comes first; after a daemon restart only the pidfd is there. Its
//! folder is watched meanwhile for the runs the monitor restarts (`run_watch`).

use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::sync::OwnedMutexGuard;

use crate::runtime::sys::process;
use crate::runtime::{ExitPipe, ExitRecord, ProcessHandle};

use super::Engine;

/// Waits (in a task) for the monitor to record the exit, then records the container's exit.
/// `slot` (the container's monitor slot) is held until the monitor process is gone, so that a
/// new start waits for the old monitor to have let go of everything.
pub(super) fn watch_monitor(
    engine: Engine,
    id: String,
    monitor: ProcessHandle,
    exit_pipe: Option<ExitPipe>,
    slot: OwnedMutexGuard<()>,
) {
    tokio::spawn(async move {
        let runs = engine.inner.runs.add(&id, &engine.container_dir(&id));
        // What it did before the watch began.
        engine.observe_runs(&id);
        let pid = monitor.pid();
        // SAFETY: `monitor` owns its pidfd and the AsyncFd owns `monitor`, so the fd stays open
        // for as long as it is registered.
        match unsafe { AsyncFd::register(monitor) } {
            Ok(monitor) => {
                // A pidfd becomes readable when its process exits.
                // SAFETY: the AsyncFd owns the pipe, so its fd stays open while registered.
                let exit_pipe = exit_pipe.and_then(|pipe| unsafe { AsyncFd::register(pipe) }.ok());
                match exit_pipe {
                    Some(pipe) => {
                        tokio::select! {
                            () = until_closed(&pipe) => {}
                            _ = monitor.readable() => {}
                        }
                    }
                    None => {
                        let _ = monitor.readable().await;
                    }
                }
                engine.collect_exit(&id);
                let _ = monitor.readable().await;
                engine.store_seen_exit(&id);
            }
            Err(err) => {
                tracing::error!(container = %id, %err, "cannot watch the monitor's pidfd; polling for its exit instead");
                while process::start_time(pid).is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                engine.collect_exit(&id);
                engine.store_seen_exit(&id);
            }
        }
        if let Some(runs) = runs {
            engine.inner.runs.remove(runs);
        }
        drop(slot);
    });
}

/// Returns once the monitor has closed the pipe (or it cannot be read).
async fn until_closed(pipe: &AsyncFd<ExitPipe>) {
    loop {
        let Ok(mut ready) = pipe.readable().await else {
            return;
        };
        match ready.get_inner().closed() {
            Ok(false) => ready.clear_ready(),
            Ok(true) | Err(_) => return,
        }
    }
}

/// What a vanished monitor leaves for the record.
pub(super) fn exit_record_or_vanished(state_dir: &std::path::Path) -> ExitRecord {
    match ExitRecord::read(state_dir) {
        Ok(Some(record)) => record,
        other => {
            if let Err(err) = other {
                tracing::warn!(%err, "unreadable exit record");
            }
            ExitRecord {
                exit_code: 255,
                signal: None,
                finished: super::now_rfc3339(),
                error: Some("the container's processes vanished without an exit status (was the host or its monitor killed?)".into()),
                oom_killed: false,
            }
        }
    }
}

pub(super) type InitHandle = Arc<ProcessHandle>;
