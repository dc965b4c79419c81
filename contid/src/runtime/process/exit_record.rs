//! `exit.json`: how a container's first process ended, written by its monitor.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::runtime::sys::atomic_file::{
    Durability, read_json, remove_if_present, write_json_atomic,
};

pub const EXIT_RECORD_FILE: &str = "exit.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitRecord {
    /// The status, or 128+N when killed by signal N, or the failure's code when it never ran.
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// RFC 3339 time of the exit.
    pub finished: String,
    /// Why the container's process could not be started, when it could not.
    #[serde(default)]
    pub error: Option<String>,
    /// The kernel's OOM killer killed a process of the container (its cgroup's `oom_kill`
    /// counter was not 0 when the first process ended).
    #[serde(default)]
    pub oom_killed: bool,
}

impl ExitRecord {
    /// The record of a container whose command never ran.
    pub fn from_failure(failure: &crate::runtime::ChildFailure) -> ExitRecord {
        ExitRecord {
            exit_code: failure.exit_code(),
            signal: None,
            finished: crate::runtime::now_rfc3339(),
            error: Some(failure.to_string()),
            oom_killed: false,
        }
    }

    /// Atomic, not yet flushed: a restarted daemon finds it; [`ExitRecord::flush`] puts it on
    /// disk once the daemon has been told, so that the flush does not delay every `wait`.
    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        write_json_atomic(
            &state_dir.join(EXIT_RECORD_FILE),
            self,
            Durability::UntilReboot,
        )
    }

    /// Flushes a written record to disk (a power cut before it may bring the container back as
    /// vanished, 255). A record already deleted with its container is fine.
    pub fn flush(state_dir: &Path) -> std::io::Result<()> {
        match std::fs::File::open(state_dir.join(EXIT_RECORD_FILE)) {
            Ok(file) => file.sync_all(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `Ok(None)` when the monitor has not written one (yet).
    pub fn read(state_dir: &Path) -> std::io::Result<Option<ExitRecord>> {
        read_json(&state_dir.join(EXIT_RECORD_FILE))
    }

    pub fn remove(state_dir: &Path) -> std::io::Result<()> {
        remove_if_present(&state_dir.join(EXIT_RECORD_FILE))
    }
}
