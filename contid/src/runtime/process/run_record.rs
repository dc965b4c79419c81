//! `runs.json`: the monitor's record of the runs it started on its own (restarts by policy),
//! rewritten atomically when a run ends and it is to restart, and when the next run has
//! started. The daemon learns from it what it did not see: the current init, how many restarts
//! were made (also while it was down), how the last run ended. No file: no restart was made
//! since the start.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::exit_record::ExitRecord;
use super::monitor_lock::ProcessIdentity;
use crate::runtime::sys::atomic_file::{
    Durability, read_json, remove_if_present, write_json_atomic,
};

pub const RUN_RECORD_FILE: &str = "runs.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Restarts counted so far, those before this monitor's start included.
    pub restart_count: u32,
    /// The run under way; `None` while the monitor waits to restart.
    pub current: Option<RunningInit>,
    /// How the run before it ended.
    pub last_exit: Option<ExitRecord>,
    /// When that run had started (RFC 3339); `None` when its start failed.
    #[serde(default)]
    pub last_started: Option<String>,
}

/// A run's first process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningInit {
    pub pid: i32,
    pub start_time: u64,
    /// RFC 3339 time it started.
    pub started: String,
}

impl RunningInit {
    pub fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

impl RunRecord {
    /// Atomic; not flushed: the runs of a container mean nothing after a reboot.
    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        write_json_atomic(
            &state_dir.join(RUN_RECORD_FILE),
            self,
            Durability::UntilReboot,
        )
    }

    /// `Ok(None)` when there is none.
    pub fn read(state_dir: &Path) -> std::io::Result<Option<RunRecord>> {
        read_json(&state_dir.join(RUN_RECORD_FILE))
    }

    pub fn remove(state_dir: &Path) -> std::io::Result<()> {
        remove_if_present(&state_dir.join(RUN_RECORD_FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_none_is_no_restart() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunRecord::read(dir.path()).unwrap(), None);
        let record = RunRecord {
            restart_count: 3,
            current: Some(RunningInit {
                pid: 42,
                start_time: 7,
                started: "2026-01-01T00:00:00Z".into(),
            }),
            last_exit: Some(ExitRecord {
                exit_code: 1,
                signal: None,
                finished: "2026-01-01T00:00:00Z".into(),
                error: None,
                oom_killed: false,
            }),
            last_started: None,
        };
        record.write(dir.path()).unwrap();
        assert_eq!(RunRecord::read(dir.path()).unwrap(), Some(record));
        RunRecord::remove(dir.path()).unwrap();
        RunRecord::remove(dir.path()).unwrap();
        assert_eq!(RunRecord::read(dir.path()).unwrap(), None);
    }
}
