//! Reading a container's log, once or following it until the container has exited.

use std::time::Duration;

use tokio::sync::watch;

use crate::runtime::logfile::{LogCursor, LogRecord};

use super::error::{EngineError, EngineResult};

/// How often a follower looks for new lines while the container runs.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Yields batches of log records: what is there, then (when following) what comes, until the
/// container has exited and everything it wrote was delivered.
pub struct LogFollower {
    cursor: LogCursor,
    follow: bool,
    tail: Option<usize>,
    exit: watch::Receiver<Option<i32>>,
    finished: bool,
}

impl LogFollower {
    pub(super) fn open(
        state_dir: &std::path::Path,
        follow: bool,
        tail: Option<usize>,
        exit: watch::Receiver<Option<i32>>,
    ) -> EngineResult<Self> {
        let cursor = LogCursor::open(state_dir)
            .map_err(|e| EngineError::internal("open container log", e))?;
        Ok(LogFollower {
            cursor,
            follow,
            tail,
            exit,
            finished: false,
        })
    }

    fn read(&mut self) -> Vec<LogRecord> {
        match self.cursor.read_new() {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(%err, "reading container log failed");
                self.finished = true;
                Vec::new()
            }
        }
    }

    /// The next non-empty batch, or `None` at the end.
    pub async fn next_batch(&mut self) -> Option<Vec<LogRecord>> {
        if let Some(n) = self.tail.take() {
            let mut records = self.read();
            if records.len() > n {
                records.drain(..records.len() - n);
            }
            if !records.is_empty() {
                return Some(records);
            }
        }
        while !self.finished {
            // Look at the exit first: the monitor writes every line before it records the exit,
            // so a read after seeing the exit is the last one needed.
            let exited = self.exit.borrow().is_some() || self.exit.has_changed().is_err();
            let records = self.read();
            if !records.is_empty() {
                return Some(records);
            }
            if !self.follow || exited {
                self.finished = true;
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = self.exit.changed() => {}
            }
        }
        None
    }
}
