//! A container's log: JSON lines `{"log","stream","time"}` in `container.log`, rotated to
//! `container.log.1` when it would grow beyond its limit.

use std::path::Path;

use serde::{Deserialize, Serialize};

pub const LOG_FILE: &str = "container.log";
pub const ROTATED_LOG_FILE: &str = "container.log.1";
/// Default rotation limit (written in the README).
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of output as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogRecord {
    /// The line, with its trailing newline when it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time with nanoseconds.
    pub time: String,
}

/// Writer kept by the monitor.
pub struct LogWriter {}

impl LogWriter {
    pub fn open(state_dir: &Path, max_bytes: u64) -> std::io::Result<LogWriter> {
        let _ = (state_dir, max_bytes);
        todo!("H2")
    }
    /// Appends one line (the bytes given, which end with `\n` unless it is a final partial line).
    pub fn write_line(&mut self, stream: LogStream, line: &[u8]) -> std::io::Result<()> {
        let _ = (stream, line);
        todo!("H2")
    }
}

/// Splits a byte stream into lines; keeps a partial line until its newline, EOF, or 16 KiB.
#[derive(Default)]
pub struct LineSplitter {}

impl LineSplitter {
    /// Feeds bytes; calls `emit` with each complete line.
    pub fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(&[u8])) {
        let _ = (bytes, emit);
        todo!("H2")
    }
    /// Emits what is left (at EOF).
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        let _ = emit;
        todo!("H2")
    }
}

/// Reads a container's log from the oldest record on, and then whatever is appended, across
/// rotation (it keeps the file it was reading open and switches when the name points elsewhere).
pub struct LogCursor {}

impl LogCursor {
    pub fn open(state_dir: &Path) -> std::io::Result<LogCursor> {
        let _ = state_dir;
        todo!("H2")
    }
    /// The complete records written since the last call (a record cut mid-write waits).
    pub fn read_new(&mut self) -> std::io::Result<Vec<LogRecord>> {
        todo!("H2")
    }
}
