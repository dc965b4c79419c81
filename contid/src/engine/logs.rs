//! Reading a container's log, once or following it until the container has exited.

use std::ops::ControlFlow;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::runtime::process::attach::{HEADER_LEN, STDERR, STDOUT, header};
use crate::runtime::process::logfile::{LogCursor, ReadEnd, ReadScope};
pub use crate::runtime::process::logfile::{LogRecord, LogStream};

use super::Engine;
use super::error::{EngineError, EngineResult};
use super::time_window::{TimeWindow, parse_rfc3339};

/// How often a follower looks for new lines while the container runs.
const FOLLOW_POLL: Duration = Duration::from_millis(50);
/// Bytes of the log files read for one batch: what a reader holds at once is about this much,
/// however far behind its client is.
const BATCH_BYTES: usize = 128 * 1024;

/// Yields batches of log records: those the log had when it was opened, then (when following)
/// those that come, until the container has exited and everything it wrote was delivered, or the
/// end of the time window.
///
/// Only records whose time is in the window are delivered; `tail` counts those, among the
/// records the log had at the open. The monitor stamps records in the order it writes them, so
/// the first record past `until` ends the log.
pub struct LogFollower {
    cursor: LogCursor,
    follow: bool,
    /// `tail`, until the records to skip are counted.
    tail: Option<usize>,
    /// Records in the window still to skip before delivering (to keep the last `tail`).
    skip: usize,
    window: TimeWindow,
    exit: watch::Receiver<Option<i32>>,
    scope: ReadScope,
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
            skip: 0,
            window,
            exit,
            scope: ReadScope::Snapshot,
            finished: false,
        })
    }

    /// Where a record stands against the window: `None` past its end.
    fn in_window(window: &TimeWindow, record: &LogRecord<'_>) -> Option<bool> {
        if *window == TimeWindow::default() {
            return Some(true);
        }
        // A record whose time cannot be read is kept (nothing says it is outside).
        match parse_rfc3339(record.time) {
            Some(time) if window.is_past_until(time) => None,
            Some(time) => Some(window.contains(time)),
            None => Some(true),
        }
    }

    /// How many records of the log as it was at the open are in the window.
    async fn count_in_window(&self) -> std::io::Result<usize> {
        let window = self.window;
        let snapshot = self.cursor.snapshot()?;
        tokio::task::spawn_blocking(move || {
            let mut count = 0;
            snapshot.scan(&mut |record| match Self::in_window(&window, record) {
                None => ControlFlow::Break(()),
                Some(inside) => {
                    count += usize::from(inside);
                    ControlFlow::Continue(())
                }
            })?;
            Ok(count)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Reads one budget's worth; `visit` gets the records to deliver. Returns how the read
    /// ended and how many were delivered.
    fn read(
        &mut self,
        visit: &mut (dyn FnMut(&LogRecord<'_>) + Send),
    ) -> std::io::Result<(ReadEnd, usize)> {
        let (window, skip) = (self.window, &mut self.skip);
        let mut delivered = 0;
        let end = self.cursor.read(self.scope, BATCH_BYTES, &mut |record| {
            match Self::in_window(&window, record) {
                None => return ControlFlow::Break(()),
                Some(false) => {}
                Some(true) if *skip > 0 => *skip -= 1,
                Some(true) => {
                    visit(record);
                    delivered += 1;
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok((end, delivered))
    }

    fn until_passed(&self) -> bool {
        self.window.is_past_until(SystemTime::now())
    }

    /// Calls `visit` on the next records (at least one), or returns `false` at the end.
    pub async fn next_batch(&mut self, visit: &mut (dyn FnMut(&LogRecord<'_>) + Send)) -> bool {
        if let Some(n) = self.tail.take() {
            match self.count_in_window().await {
                Ok(count) => self.skip = count.saturating_sub(n),
                Err(err) => {
                    tracing::warn!(%err, "reading container log failed");
                    self.finished = true;
                }
            }
        }
        while !self.finished {
            // Look at the exit first: the monitor writes every line before it records the exit,
            // so a read after seeing the exit is the last one needed.
            let exited = self.exit.borrow().is_some() || self.exit.has_changed().is_err();
            let (end, delivered) = match self.read(visit) {
                Ok(read) => read,
                Err(err) => {
                    tracing::warn!(%err, "reading container log failed");
                    self.finished = true;
                    break;
                }
            };
            match end {
                ReadEnd::Stopped => self.finished = true,
                ReadEnd::Budget => {}
                ReadEnd::CaughtUp if self.scope == ReadScope::Snapshot && self.follow => {
                    self.scope = ReadScope::Live;
                }
                ReadEnd::CaughtUp if delivered > 0 => {}
                ReadEnd::CaughtUp => {
                    if !self.follow || exited || self.until_passed() {
                        self.finished = true;
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(FOLLOW_POLL) => {}
                        _ = self.exit.changed() => {}
                    }
                }
            }
            if delivered > 0 {
                return true;
            }
            // A budget whose records were all outside the window: let others run.
            tokio::task::yield_now().await;
        }
        false
    }
}

/// Length of a frame header of the multiplexed stream.
pub const FRAME_HEADER_LEN: usize = HEADER_LEN;

/// The header of a frame of the multiplexed stream (attach's framing) holding `len` bytes of
/// `stream`.
pub fn stream_frame_header(stream: LogStream, len: usize) -> [u8; FRAME_HEADER_LEN] {
    let kind = match stream {
        LogStream::Stdout => STDOUT,
        LogStream::Stderr => STDERR,
    };
    header(kind, len)
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
