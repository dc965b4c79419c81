//! Watching running containers: each one's monitor process is held by a pidfd; when the monitor
//! exits, the exit record it wrote is collected.

use std::sync::Arc;

use tokio::io::unix::AsyncFd;

use crate::runtime::{ExitRecord, ProcessHandle, process};

use super::Engine;

/// Waits (in a task) for the monitor to exit, then records the container's exit.
pub(super) fn watch_monitor(engine: Engine, id: String, monitor: ProcessHandle) {
    tokio::spawn(async move {
        let pid = monitor.pid();
        // SAFETY: `monitor` owns its pidfd and the AsyncFd owns `monitor`, so the fd stays open
        // for as long as it is registered.
        match unsafe { AsyncFd::register(monitor) } {
            Ok(fd) => {
                // A pidfd becomes readable when its process exits.
                let _ = fd.readable().await;
            }
            Err(err) => {
                tracing::error!(container = %id, %err, "cannot watch the monitor's pidfd; polling for its exit instead");
                while process::start_time(pid).is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
        engine.collect_exit(&id);
    });
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
