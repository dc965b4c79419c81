//! Reading a container's log, once or following it until the container has exited.

use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::runtime::process::logfile::{LogCursor, LogRecord};

use super::Engine;
use super::error::{EngineError, EngineResult};
use super::time_window::{TimeWindow, parse_rfc3339};

/// How often a follower looks for new lines while the container runs.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Yields batches of log records: what is there, then (when following) what comes, until the
/// container has exited and everything it wrote was delivered, or the end of the time window.
///
/// Only records whose time is in the window are delivered; `tail` counts those. The monitor
/// stamps records in the order it writes them, so the first record past `until` ends the log.
pub struct LogFollower {
    cursor: LogCursor,
    follow: bool,
    tail: Option<usize>,
    window: TimeWindow,
    exit: watch::Receiver<Option<i32>>,
    finished: bool,
}

impl LogFollower {
    pub(super) fn open(
        state_dir: &std::path::Path,
        follow: bool,
        tail: Option<usize>,
        window: TimeWindow,
        exit: watch::Receiver<Option<i32>>,
    ) -> EngineResult<Self> {
        let cursor = LogCursor::open(state_dir)
            .map_err(|e| EngineError::internal("open container log", e))?;
        Ok(LogFollower {
            cursor,
            follow,
            tail,
            window,
            exit,
            finished: false,
        })
    }

    fn read(&mut self) -> Vec<LogRecord> {
        let mut records = match self.cursor.read_new() {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(%err, "reading container log failed");
                self.finished = true;
                return Vec::new();
            }
        };
        if self.window != TimeWindow::default() {
            self.keep_window(&mut records);
        }
        records
    }

    /// Drops the records outside the window; the first one past `until` ends the log. A record
    /// whose time cannot be read is kept (nothing says it is outside).
    fn keep_window(&mut self, records: &mut Vec<LogRecord>) {
        if let Some(past) = records.iter().position(|record| {
            parse_rfc3339(&record.time).is_some_and(|time| self.window.is_past_until(time))
        }) {
            records.truncate(past);
            self.finished = true;
        }
        records.retain(|record| {
            parse_rfc3339(&record.time).is_none_or(|time| self.window.contains(time))
        });
    }

    fn until_passed(&self) -> bool {
        self.window.is_past_until(SystemTime::now())
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
            if !self.follow || exited || self.until_passed() {
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

impl Engine {
    pub fn logs(
        &self,
        reference: &str,
        follow: bool,
        tail: Option<usize>,
        window: TimeWindow,
    ) -> EngineResult<LogFollower> {
        let table = self.table();
        let id = table.resolve(reference)?;
        let exit = table.entry(&id)?.exit.subscribe();
        LogFollower::open(&self.container_dir(&id), follow, tail, window, exit)
    }
}
