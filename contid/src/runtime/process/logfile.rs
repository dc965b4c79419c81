//! A container's log: `container.log`, rotated to `container.log.1` (the older ones to `.2`,
//! `.3`, …) when it would grow beyond its limit. The monitor appends with [`LogWriter`]; the
//! daemon reads with [`LogCursor`].
//!
//! The format is the CRI one kubelet reads (and the CRI endpoint must write): one record per
//! line, `<time> <stream> <tag> <bytes>\n`, with the time in RFC 3339 with nanoseconds, the
//! stream `stdout` or `stderr`, the tag `F` for a full line (its newline is the record's) or `P`
//! for a part of one (a line longer than [`MAX_LINE_BYTES`] is cut into parts, and output that
//! ends without a newline ends with a part), and the bytes exactly as the container wrote them
//! (they hold no newline). Versions of contid before it wrote Docker's `json-file` records
//! (`{"log","stream","time"}`, invalid UTF-8 replaced); a monitor started by such a version keeps
//! writing them after the daemon is upgraded, so the reader takes both, line by line (a JSON
//! record starts with `{`).
//!
//! Disk use ([`LogLimits`]): when a record would take `container.log` past `max_bytes`, the
//! rotated files move one up (`.1` to `.2`, …, the oldest of `max_files - 1` dropped), the file
//! is renamed to `container.log.1` and a new `container.log` starts (with `max_files` 1 the file
//! is dropped instead). Each file therefore stays within `max_bytes` (a single record larger than
//! that gets a file of its own), and the log never takes more than about `max_files ×
//! max_bytes`. Older records are dropped.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use serde::Deserialize;

pub const LOG_FILE: &str = "container.log";
/// Default rotation limit (written in the README).
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default number of files a log keeps, the live one included (written in the README).
pub const DEFAULT_LOG_MAX_FILES: u32 = 2;
/// The most files a log may keep.
pub use conti_proto::MAX_LOG_FILES;
/// A line longer than this is stored as several records, all but the last one partial (as
/// kubelet and Docker do).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Longest line of a log file a reader takes: a record is at most [`MAX_LINE_BYTES`] plus its
/// header (a JSON record of the older format up to six times that); anything longer is garbage.
const MAX_RECORD_LINE: usize = 1024 * 1024;
/// How much of a file a reader asks the kernel for at once.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// `stdout` or `stderr`, as in the log file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    fn parse(text: &[u8]) -> Option<LogStream> {
        match text {
            b"stdout" => Some(LogStream::Stdout),
            b"stderr" => Some(LogStream::Stderr),
            _ => None,
        }
    }
}

/// One record as read, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'a> {
    pub stream: LogStream,
    /// RFC 3339 time with nanoseconds, when the monitor wrote it.
    pub time: &'a str,
    /// The bytes of the line, without its newline.
    pub content: &'a [u8],
    /// A part of a line: no newline follows `content`.
    pub partial: bool,
}

impl LogRecord<'_> {
    /// Appends the bytes as the container wrote them: `content`, and its newline unless partial.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.content);
        if !self.partial {
            out.push(b'\n');
        }
    }
}

/// How much a log keeps on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// A file is rotated before a record would take it beyond this many bytes.
    pub max_bytes: u64,
    /// Files kept, the live one included (1 to [`MAX_LOG_FILES`]).
    pub max_files: u32,
}

/// `container.log.N`: the `n`th file before the live one (1 is the newest rotated file).
fn rotated_name(n: u32) -> String {
    format!("{LOG_FILE}.{n}")
}

/// Writer kept by the monitor.
pub struct LogWriter {
    dir: PathBuf,
    file: File,
    /// Bytes in `container.log`, ours included.
    size: u64,
    limits: LogLimits,
    /// The record being written (kept to spare an allocation per line).
    record: Vec<u8>,
}

impl LogWriter {
    /// Appends to `state_dir/container.log`, created if absent (a restarted container continues
    /// the existing file, whichever format it holds).
    pub fn open(state_dir: &Path, limits: LogLimits) -> io::Result<LogWriter> {
        let file = open_for_append(&state_dir.join(LOG_FILE))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            dir: state_dir.to_path_buf(),
            file,
            size,
            limits: LogLimits {
                max_files: limits.max_files.clamp(1, MAX_LOG_FILES),
                ..limits
            },
            record: Vec::new(),
        })
    }

    /// Appends one line: the bytes given, which end with their `\n` unless it is a part of a
    /// line (see [`LineSplitter`]).
    pub fn write_line(&mut self, stream: LogStream, line: &[u8]) -> io::Result<()> {
        let (content, tag) = match line.strip_suffix(b"\n") {
            Some(content) => (content, b'F'),
            None => (line, b'P'),
        };
        let record = &mut self.record;
        record.clear();
        record.extend_from_slice(crate::runtime::now_rfc3339().as_bytes());
        record.push(b' ');
        record.extend_from_slice(stream.as_str().as_bytes());
        record.extend_from_slice(&[b' ', tag, b' ']);
        record.extend_from_slice(content);
        record.push(b'\n');
        let length = record.len() as u64;
        if self.size > 0 && self.size + length > self.limits.max_bytes {
            self.rotate()?;
        }
        // One write(2) per record on an O_APPEND file: a reader sees whole records, or a last
        // one still without its newline, which it holds back.
        match self.file.write_all(&self.record) {
            Ok(()) => {
                self.size += length;
                Ok(())
            }
            Err(err) => {
                // A short write (disk full) may have left part of the record behind.
                if let Ok(metadata) = self.file.metadata() {
                    self.size = metadata.len();
                }
                Err(err)
            }
        }
    }

    /// Moves every rotated file one up (the oldest beyond the limit goes), then the live file
    /// to `.1`, and starts a new live file. A reader that opens the files meanwhile sees the
    /// live file change last, and so knows to look again (see `open_all`).
    fn rotate(&mut self) -> io::Result<()> {
        let live = self.dir.join(LOG_FILE);
        let kept = self.limits.max_files - 1;
        // Files beyond the limit (left by a run with a larger one) go.
        let mut missing = 0;
        for n in kept + 1..=MAX_LOG_FILES {
            match fs::remove_file(self.dir.join(rotated_name(n))) {
                Ok(()) => missing = 0,
                Err(err) if err.kind() == io::ErrorKind::NotFound && missing == 0 => missing += 1,
                Err(err) if err.kind() == io::ErrorKind::NotFound => break,
                Err(err) => return Err(err),
            }
        }
        let moved = if kept == 0 {
            fs::remove_file(&live)
        } else {
            for n in (1..kept).rev() {
                ignore_missing(fs::rename(
                    self.dir.join(rotated_name(n)),
                    self.dir.join(rotated_name(n + 1)),
                ))?;
            }
            fs::rename(&live, self.dir.join(rotated_name(1)))
        };
        // Moved away by an earlier rotation whose reopen failed: just start the new file.
        ignore_missing(moved)?;
        self.file = open_for_append(&live)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

/// Splits a byte stream into lines; keeps a partial line until its newline, EOF, or 16 KiB.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes; calls `emit` with each complete line.
    ///
    /// A line reaching [`MAX_LINE_BYTES`] without a newline is emitted as it is, cut before a
    /// UTF-8 character that the cut would split (so that text stays text in every part).
    pub fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(&[u8])) {
        while !bytes.is_empty() {
            let room = MAX_LINE_BYTES - self.partial.len();
            let window = &bytes[..bytes.len().min(room)];
            if let Some(newline) = window.iter().position(|&b| b == b'\n') {
                let line = &window[..=newline];
                if self.partial.is_empty() {
                    emit(line);
                } else {
                    self.partial.extend_from_slice(line);
                    emit(&self.partial);
                    self.partial.clear();
                }
                bytes = &bytes[newline + 1..];
            } else {
                self.partial.extend_from_slice(window);
                bytes = &bytes[window.len()..];
                if self.partial.len() == MAX_LINE_BYTES {
                    let keep = incomplete_utf8_suffix(&self.partial);
                    let cut = self.partial.len() - keep;
                    emit(&self.partial[..cut]);
                    self.partial.drain(..cut);
                }
            }
        }
    }

    /// Emits what is left (at EOF).
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial.clear();
        }
    }
}

/// How many bytes at the end of `bytes` are the start of a UTF-8 character still missing its
/// continuation bytes (0 to 3).
fn incomplete_utf8_suffix(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: the lead is further back
        }
        let length = match byte {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if length > back { back } else { 0 };
    }
    0
}

/// How far a [`LogCursor::read`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadScope {
    /// Up to the end the log had when the cursor was opened, in the files there were then.
    Snapshot,
    /// Up to the end there is now, taking up the files that rotation starts meanwhile.
    Live,
}

/// Why a [`LogCursor::read`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Its budget is spent; there is more to read.
    Budget,
    /// Everything in its scope is read.
    CaughtUp,
    /// The visitor asked to stop.
    Stopped,
}

/// Reads a container's log: the records there were when it was opened, and (in the
/// [`ReadScope::Live`] scope) those written since, across rotations.
///
/// It holds open the files it has still to read, so rotation cannot take them away, nor the
/// container's removal: after the folder is renamed or deleted, what the cursor holds is still
/// read (by the folder's descriptor, not its path). Only the files the log still has on disk
/// are held, besides the one being read: a reader that falls so far behind that a whole file
/// came and went before it looked again loses that file's records, and no reader can make the
/// log take more disk than one file beyond its limit.
pub struct LogCursor {
    dir: File,
    /// The files still to read, oldest first; the first one is being read.
    files: VecDeque<OpenLog>,
    /// Where the live file ended when the cursor was opened.
    snapshot_end: Option<(FileId, u64)>,
}

impl LogCursor {
    /// Opens `state_dir`'s log as it is now. A log that does not exist yet has no records.
    pub fn open(state_dir: &Path) -> io::Result<LogCursor> {
        let dir = File::open(state_dir)?;
        let files = open_all(&dir)?;
        let snapshot_end = match files.back() {
            Some(live) if live.is_live => Some((live.id, live.file.metadata()?.len())),
            _ => None,
        };
        Ok(LogCursor {
            dir,
            files,
            snapshot_end,
        })
    }

    /// Reads records from where the last read stopped, calling `visit` on each, until about
    /// `budget` bytes of the files were read, the scope is read, or `visit` breaks (the record
    /// it broke on counts as read).
    pub fn read(
        &mut self,
        scope: ReadScope,
        budget: usize,
        visit: &mut dyn FnMut(&LogRecord<'_>) -> ControlFlow<()>,
    ) -> io::Result<ReadEnd> {
        let mut budget = budget;
        if scope == ReadScope::Live {
            self.take_up_new_files()?;
        }
        while let Some(current) = self.files.front_mut() {
            let stop = match (scope, self.snapshot_end) {
                (ReadScope::Snapshot, Some((id, end))) if id == current.id => Some(end),
                _ => None,
            };
            match current.read(stop, &mut budget, visit)? {
                FileRead::Budget => return Ok(ReadEnd::Budget),
                FileRead::Stopped => return Ok(ReadEnd::Stopped),
                FileRead::AtEnd if stop.is_some() => return Ok(ReadEnd::CaughtUp),
                FileRead::AtEnd if self.files.len() == 1 => return Ok(ReadEnd::CaughtUp),
                // A newer file was known before this read began, so this one had been rotated
                // away already: nothing more will come to it. A last line without newline
                // (left by a crash) counts if it is a record.
                FileRead::AtEnd => {
                    if let Some(mut done) = self.files.pop_front()
                        && done.finish_partial(visit).is_break()
                    {
                        return Ok(ReadEnd::Stopped);
                    }
                }
            }
        }
        Ok(ReadEnd::CaughtUp)
    }

    /// The log as it was when the cursor was opened, to read apart from it (from another
    /// thread). Before the first read: the files read past are let go.
    pub fn snapshot(&self) -> io::Result<LogSnapshot> {
        let files = self
            .files
            .iter()
            .map(|file| {
                Ok(OpenLog {
                    file: file.file.try_clone()?,
                    id: file.id,
                    is_live: file.is_live,
                    offset: 0,
                    pending: Vec::new(),
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(LogSnapshot {
            files,
            end: self.snapshot_end,
        })
    }

    /// Holds the files rotation started since the last look, and lets go of those that are
    /// neither being read nor on disk any more.
    fn take_up_new_files(&mut self) -> io::Result<()> {
        let newest = self.files.back().map(|file| file.id);
        if newest.is_some() && stat_at(&self.dir, LOG_FILE)? == newest {
            return Ok(());
        }
        let on_disk = open_all(&self.dir)?;
        let newer = match on_disk.iter().position(|file| Some(file.id) == newest) {
            Some(known) => known + 1,
            None => {
                // Our newest file is older than both on disk (or the folder is gone, and there
                // is nothing newer): those after the one being read were rotated away before
                // we got to them.
                if !on_disk.is_empty() {
                    self.files.truncate(1);
                }
                0
            }
        };
        self.files.extend(on_disk.into_iter().skip(newer));
        Ok(())
    }
}

/// The files of a log and where the live one ended, at a cursor's open.
pub struct LogSnapshot {
    files: Vec<OpenLog>,
    end: Option<(FileId, u64)>,
}

impl LogSnapshot {
    /// Every record, from the start, until `visit` breaks.
    pub fn scan(
        mut self,
        visit: &mut dyn FnMut(&LogRecord<'_>) -> ControlFlow<()>,
    ) -> io::Result<()> {
        let count = self.files.len();
        for (i, file) in self.files.iter_mut().enumerate() {
            let stop = self
                .end
                .filter(|(id, _)| *id == file.id)
                .map(|(_, end)| end);
            let read = file.read(stop, &mut { usize::MAX }, visit)?;
            if read == FileRead::Stopped || stop.is_some() {
                return Ok(());
            }
            // As `LogCursor::read`: a file followed by another is complete.
            if i + 1 < count && file.finish_partial(visit).is_break() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Identity of a file, surviving renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(metadata: &fs::Metadata) -> FileId {
        FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        }
    }
}

/// Opens the files of a log, oldest first (`container.log.N` … `.1`, then `container.log`), as
/// one consistent set: each file is the one before the next.
///
/// A rotation moves the rotated files up one by one, then the live file: opened newest first,
/// and looked at again by name afterwards, a set that a rotation crossed shows a name that
/// changed, and is opened again (a few times; a log rotating faster than that gives the last
/// set, which may miss a file). One missing name in the rotated ones is a rotation's hole
/// (`.2` moved to `.3`, `.1` not yet to `.2`); two end the list.
fn open_all(dir: &File) -> io::Result<VecDeque<OpenLog>> {
    let mut files = VecDeque::new();
    for _ in 0..4 {
        files.clear();
        let mut names = Vec::new();
        if let Some(mut live) = OpenLog::open_at(dir, LOG_FILE)? {
            live.is_live = true;
            names.push(LOG_FILE.to_string());
            files.push_front(live);
        }
        let mut missing = 0;
        for n in 1..=MAX_LOG_FILES {
            let name = rotated_name(n);
            match OpenLog::open_at(dir, &name)? {
                Some(file) => {
                    missing = 0;
                    if files.iter().all(|known| known.id != file.id) {
                        names.push(name);
                        files.push_front(file);
                    }
                }
                None if missing == 1 => break,
                None => missing += 1,
            }
        }
        let mut consistent = true;
        for (name, file) in names.iter().zip(files.iter().rev()) {
            if stat_at(dir, name)? != Some(file.id) {
                consistent = false;
                break;
            }
        }
        if consistent {
            break;
        }
    }
    Ok(files)
}

fn stat_at(dir: &File, name: &str) -> io::Result<Option<FileId>> {
    match rustix::fs::statat(dir, name, AtFlags::empty()) {
        Ok(stat) => Ok(Some(FileId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        })),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// How a read of one file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileRead {
    Budget,
    /// At its end (or at the stop given).
    AtEnd,
    Stopped,
}

/// A log file being read.
struct OpenLog {
    file: File,
    id: FileId,
    /// Opened as `container.log`.
    is_live: bool,
    /// Where the next read starts.
    offset: u64,
    /// Bytes read after the last newline.
    pending: Vec<u8>,
}

impl OpenLog {
    fn open_at(dir: &File, name: &str) -> io::Result<Option<OpenLog>> {
        let fd =
            match rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => return Ok(None),
                Err(err) => return Err(err.into()),
            };
        let file = File::from(fd);
        let id = FileId::of(&file.metadata()?);
        Ok(Some(OpenLog {
            file,
            id,
            is_live: false,
            offset: 0,
            pending: Vec::new(),
        }))
    }

    /// Reads and visits complete records until the end of the file (or `stop`), the budget
    /// is spent, or the visitor breaks.
    fn read(
        &mut self,
        stop: Option<u64>,
        budget: &mut usize,
        visit: &mut dyn FnMut(&LogRecord<'_>) -> ControlFlow<()>,
    ) -> io::Result<FileRead> {
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            if *budget == 0 {
                return Ok(FileRead::Budget);
            }
            let mut want = chunk.len().min(*budget);
            if let Some(stop) = stop {
                want = want.min(stop.saturating_sub(self.offset) as usize);
            }
            if want == 0 {
                return Ok(FileRead::AtEnd);
            }
            let read = match self.file.read_at(&mut chunk[..want], self.offset) {
                Ok(0) => return Ok(FileRead::AtEnd),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.offset += read as u64;
            *budget = budget.saturating_sub(read);
            if self.visit_lines(&chunk[..read], visit).is_break() {
                return Ok(FileRead::Stopped);
            }
        }
    }

    /// Visits the records completed by `bytes`; keeps what follows the last newline.
    fn visit_lines(
        &mut self,
        mut bytes: &[u8],
        visit: &mut dyn FnMut(&LogRecord<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            let flow = if self.pending.is_empty() {
                visit_line(&bytes[..newline], visit)
            } else {
                self.pending.extend_from_slice(&bytes[..newline]);
                let flow = visit_line(&self.pending, visit);
                self.pending.clear();
                flow
            };
            bytes = &bytes[newline + 1..];
            if flow.is_break() {
                // Keep the rest for the next read: records after the one we stopped on.
                self.offset -= bytes.len() as u64;
                return flow;
            }
        }
        if self.pending.len() + bytes.len() > MAX_RECORD_LINE {
            // Not a record: skip to its end (the first newline to come).
            self.pending.clear();
            self.pending.push(b'!');
        } else {
            self.pending.extend_from_slice(bytes);
        }
        ControlFlow::Continue(())
    }

    /// A last line without newline, in a file that gets no more writes.
    fn finish_partial(
        &mut self,
        visit: &mut dyn FnMut(&LogRecord<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let partial = std::mem::take(&mut self.pending);
        visit_line(&partial, visit)
    }
}

/// Visits the record on one line of a log file (without its newline); skips what is not one.
fn visit_line(
    line: &[u8],
    visit: &mut dyn FnMut(&LogRecord<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if line.first() == Some(&b'{') {
        return match serde_json::from_slice::<JsonRecord>(line) {
            Ok(record) => visit(&record.as_record()),
            Err(err) => {
                tracing::debug!(%err, "skipping a log line that is not a record");
                ControlFlow::Continue(())
            }
        };
    }
    match parse_cri_line(line) {
        Some(record) => visit(&record),
        None => {
            if !line.iter().all(u8::is_ascii_whitespace) {
                tracing::debug!("skipping a log line that is not a record");
            }
            ControlFlow::Continue(())
        }
    }
}

/// `<time> <stream> <F|P> <bytes>`.
fn parse_cri_line(line: &[u8]) -> Option<LogRecord<'_>> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let stream = LogStream::parse(fields.next()?)?;
    let partial = match fields.next()? {
        b"F" => false,
        b"P" => true,
        _ => return None,
    };
    if !time.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(LogRecord {
        stream,
        time,
        content: fields.next().unwrap_or_default(),
        partial,
    })
}

/// A record of the format before CRI: Docker's `json-file`.
#[derive(Deserialize)]
struct JsonRecord {
    log: String,
    stream: String,
    time: String,
}

impl JsonRecord {
    fn as_record(&self) -> LogRecord<'_> {
        let (content, partial) = match self.log.strip_suffix('\n') {
            Some(content) => (content, false),
            None => (self.log.as_str(), true),
        };
        LogRecord {
            stream: LogStream::parse(self.stream.as_bytes()).unwrap_or(LogStream::Stdout),
            time: &self.time,
            content: content.as_bytes(),
            partial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTATED: &str = "container.log.1";

    /// The default shape: the live file and one rotated file, of `max_bytes` each.
    fn two_files(max_bytes: u64) -> LogLimits {
        LogLimits {
            max_bytes,
            max_files: DEFAULT_LOG_MAX_FILES,
        }
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn rotation_keeps_max_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let limits = LogLimits {
            max_bytes: 200,
            max_files: 4,
        };
        let mut writer = LogWriter::open(dir.path(), limits).unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let mut followed = Vec::new();
        for i in 0..300 {
            writer
                .write_line(LogStream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
            let names = file_names(dir.path());
            assert!(names.len() <= 4, "{names:?}");
            for name in &names {
                let size = fs::metadata(dir.path().join(name)).unwrap().len();
                assert!(size <= 200, "{name} has {size} bytes");
            }
            followed.extend(read(&mut cursor, ReadScope::Live));
        }
        assert_eq!(
            file_names(dir.path()),
            [
                LOG_FILE,
                "container.log.1",
                "container.log.2",
                "container.log.3"
            ]
        );
        let kept = lines(&read_all(dir.path()));
        let first: usize = kept[0]
            .trim()
            .strip_prefix("line ")
            .unwrap()
            .parse()
            .unwrap();
        let expected: Vec<String> = (first..300).map(|i| format!("line {i}\n")).collect();
        assert_eq!(kept, expected, "the most recent lines, in order, no gap");
        // Four files of up to 200 bytes hold more than two would.
        assert!(kept.len() * 47 > 3 * 200, "{} lines kept", kept.len());
        let all: Vec<String> = (0..300).map(|i| format!("line {i}\n")).collect();
        assert_eq!(lines(&followed), all, "a follower saw every line");
    }

    #[test]
    fn one_file_starts_over_and_a_reader_keeps_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let limits = LogLimits {
            max_bytes: 100,
            max_files: 1,
        };
        let mut writer = LogWriter::open(dir.path(), limits).unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let mut followed = Vec::new();
        for i in 0..20 {
            writer
                .write_line(LogStream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
            assert_eq!(file_names(dir.path()), [LOG_FILE]);
            if i % 2 == 0 {
                followed.extend(read(&mut cursor, ReadScope::Live));
            }
        }
        followed.extend(read(&mut cursor, ReadScope::Live));
        let kept = lines(&read_all(dir.path()));
        assert_eq!(kept.last().unwrap(), "r19\n");
        assert!(kept.len() < 20);
        // A file holds two records: reading at every other write, the cursor holds the file
        // it is in while the writer drops it, and misses nothing.
        let all: Vec<String> = (0..20).map(|i| format!("r{i}\n")).collect();
        assert_eq!(lines(&followed), all);
    }

    #[test]
    fn a_log_written_with_more_files_reads_whole_with_fewer() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(
            dir.path(),
            LogLimits {
                max_bytes: 100,
                max_files: 5,
            },
        )
        .unwrap();
        for i in 0..40 {
            writer
                .write_line(LogStream::Stdout, format!("a{i}\n").as_bytes())
                .unwrap();
        }
        drop(writer);
        let before = lines(&read_all(dir.path()));
        assert_eq!(file_names(dir.path()).len(), 5);
        // Started again with two files: the next rotation (forced by a record larger than the
        // limit) also drops the files beyond the new limit, so no older file follows a gap.
        let mut writer = LogWriter::open(dir.path(), two_files(100)).unwrap();
        let big = format!("{}\n", "b".repeat(150));
        writer
            .write_line(LogStream::Stdout, big.as_bytes())
            .unwrap();
        assert_eq!(file_names(dir.path()), [LOG_FILE, ROTATED]);
        let after = lines(&read_all(dir.path()));
        assert_eq!(after.last().unwrap(), &big);
        let old = &after[..after.len() - 1];
        assert!(!old.is_empty() && before.ends_with(old), "{old:?}");
    }

    /// A record as read, owned: its stream and its bytes with their newline.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Read {
        stream: LogStream,
        line: Vec<u8>,
    }

    fn visit_into(out: &mut Vec<Read>) -> impl FnMut(&LogRecord<'_>) -> ControlFlow<()> + '_ {
        |record| {
            humantime::parse_rfc3339(record.time).unwrap();
            let mut line = Vec::new();
            record.write_line(&mut line);
            out.push(Read {
                stream: record.stream,
                line,
            });
            ControlFlow::Continue(())
        }
    }

    fn read(cursor: &mut LogCursor, scope: ReadScope) -> Vec<Read> {
        let mut out = Vec::new();
        let end = cursor
            .read(scope, usize::MAX, &mut visit_into(&mut out))
            .unwrap();
        assert_eq!(end, ReadEnd::CaughtUp);
        out
    }

    fn read_all(dir: &Path) -> Vec<Read> {
        read(&mut LogCursor::open(dir).unwrap(), ReadScope::Snapshot)
    }

    fn lines(records: &[Read]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8(r.line.clone()).unwrap())
            .collect()
    }

    fn split_all(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut |line| out.push(line.to_vec()));
        }
        splitter.finish(&mut |line| out.push(line.to_vec()));
        out
    }

    /// A record as the json-file format of earlier versions stored it.
    fn json_record(log: &str, stream: &str) -> String {
        let time = crate::runtime::now_rfc3339();
        serde_json::json!({"log": log, "stream": stream, "time": time}).to_string() + "\n"
    }

    #[test]
    fn splitter_emits_lines_and_keeps_partials_across_pushes() {
        let out = split_all(&[b"one\ntw", b"o\n", b"\nthr", b"ee"]);
        assert_eq!(
            out,
            vec![
                b"one\n".to_vec(),
                b"two\n".to_vec(),
                b"\n".to_vec(),
                b"three".to_vec()
            ]
        );
        assert!(split_all(&[]).is_empty());
    }

    #[test]
    fn splitter_cuts_long_lines_at_16_kib() {
        let mut input = vec![b'a'; MAX_LINE_BYTES * 2 + 10];
        input.extend_from_slice(b"\nnext\n");
        // Fed in odd chunks, to cross the limit in the middle of one.
        let chunks: Vec<&[u8]> = input.chunks(1000).collect();
        let out = split_all(&chunks);
        let lengths: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(lengths, vec![MAX_LINE_BYTES, MAX_LINE_BYTES, 11, 5]);
        assert_eq!(out.concat(), input);

        // Exactly 16 KiB before the newline: emitted at once, the newline alone follows.
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        splitter.push(&vec![b'b'; MAX_LINE_BYTES], &mut |line| {
            out.push(line.len())
        });
        assert_eq!(out, vec![MAX_LINE_BYTES]);
    }

    #[test]
    fn splitter_does_not_cut_a_utf8_character() {
        let mut input = vec![b'a'; MAX_LINE_BYTES - 1];
        input.extend_from_slice("é\n".as_bytes());
        let out = split_all(&[&input]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), MAX_LINE_BYTES - 1);
        assert_eq!(out[1], "é\n".as_bytes());
        assert_eq!(incomplete_utf8_suffix("ab€".as_bytes()), 0);
        assert_eq!(incomplete_utf8_suffix(&"ab€".as_bytes()[..4]), 2);
        assert_eq!(incomplete_utf8_suffix(&[0xff, 0xfe]), 0);
    }

    #[test]
    fn writer_stores_cri_records_with_the_bytes_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(DEFAULT_LOG_MAX_BYTES)).unwrap();
        writer
            .write_line(LogStream::Stdout, b"hello \"world\"\n")
            .unwrap();
        writer
            .write_line(LogStream::Stderr, b"bad \xff\xfe utf8\r")
            .unwrap();
        writer.write_line(LogStream::Stdout, b"\n").unwrap();

        let raw = fs::read(dir.path().join(LOG_FILE)).unwrap();
        let records: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();
        assert_eq!(
            records.len(),
            4,
            "three records and what follows the last newline"
        );
        assert!(records[3].is_empty());
        let (time, rest) = records[0].split_at(records[0].iter().position(|&b| b == b' ').unwrap());
        let time = std::str::from_utf8(time).unwrap();
        humantime::parse_rfc3339(time).unwrap();
        assert_eq!(time.len(), "2024-01-01T00:00:00.000000000Z".len(), "{time}");
        assert_eq!(rest, b" stdout F hello \"world\"");
        assert!(records[1].ends_with(b" stderr P bad \xff\xfe utf8\r"));
        assert!(records[2].ends_with(b" stdout F "));

        // Reopened, it appends; the bytes come back as they were written.
        drop(writer);
        let mut writer = LogWriter::open(dir.path(), two_files(DEFAULT_LOG_MAX_BYTES)).unwrap();
        writer.write_line(LogStream::Stdout, b"again\n").unwrap();
        let read = read_all(dir.path());
        let bytes: Vec<&[u8]> = read.iter().map(|r| r.line.as_slice()).collect();
        assert_eq!(
            bytes,
            [
                &b"hello \"world\"\n"[..],
                b"bad \xff\xfe utf8\r",
                b"\n",
                b"again\n"
            ]
        );
        assert_eq!(read[1].stream, LogStream::Stderr);
    }

    #[test]
    fn every_byte_value_survives_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(4096)).unwrap();
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
        let mut splitter = LineSplitter::default();
        splitter.push(&all, &mut |line| {
            writer.write_line(LogStream::Stdout, line).unwrap()
        });
        splitter.finish(&mut |line| writer.write_line(LogStream::Stdout, line).unwrap());
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let read: Vec<u8> = read(&mut cursor, ReadScope::Snapshot)
            .into_iter()
            .flat_map(|r| r.line)
            .collect();
        // Rotated at 4 KiB: the last two files are kept, ending with what was written last.
        assert!(read.len() > 2048, "{}", read.len());
        assert!(all.ends_with(&read), "the bytes read back differ");
    }

    #[test]
    fn the_reader_takes_json_records_of_earlier_versions_and_cri_records_mixed() {
        let dir = tempfile::tempdir().unwrap();
        // An earlier monitor's files: one rotated, one live, then the new writer appends to it
        // (a container started again after the upgrade) and rotates it away.
        let rotated = json_record("old 1\n", "stdout") + &json_record("old 2\n", "stderr");
        fs::write(dir.path().join(ROTATED), rotated).unwrap();
        let live = json_record("old 3\n", "stdout") + &json_record("old partial", "stdout");
        let limit = live.len() as u64 + 60;
        fs::write(dir.path().join(LOG_FILE), &live).unwrap();

        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(limit)).unwrap();
        writer.write_line(LogStream::Stdout, b"new 1\n").unwrap();
        writer
            .write_line(LogStream::Stderr, b"new 2 \xff\n")
            .unwrap();
        assert!(
            fs::read_to_string(dir.path().join(ROTATED))
                .unwrap()
                .starts_with("{\"log\":\"old 3\\n\""),
            "the json file was rotated"
        );
        let mut out = Vec::new();
        while cursor
            .read(ReadScope::Live, 10, &mut visit_into(&mut out))
            .unwrap()
            == ReadEnd::Budget
        {}
        let expected: [(&[u8], LogStream); 6] = [
            (b"old 1\n", LogStream::Stdout),
            (b"old 2\n", LogStream::Stderr),
            (b"old 3\n", LogStream::Stdout),
            (b"old partial", LogStream::Stdout),
            (b"new 1\n", LogStream::Stdout),
            (b"new 2 \xff\n", LogStream::Stderr),
        ];
        let got: Vec<(&[u8], LogStream)> =
            out.iter().map(|r| (r.line.as_slice(), r.stream)).collect();
        assert_eq!(got, expected);
        // And a reader opened now: the rotated file (json, then CRI), then the live one.
        let now: Vec<Vec<u8>> = read_all(dir.path()).into_iter().map(|r| r.line).collect();
        let expected: Vec<&[u8]> = expected[2..].iter().map(|(line, _)| *line).collect();
        assert_eq!(now, expected);
    }

    #[test]
    fn rotation_keeps_two_files_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let max = 1000;
        let mut writer = LogWriter::open(dir.path(), two_files(max)).unwrap();
        for i in 0..200 {
            writer
                .write_line(LogStream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
            let names = file_names(dir.path());
            assert!(
                names == [LOG_FILE] || names == [LOG_FILE, ROTATED],
                "{names:?}"
            );
            for name in &names {
                let size = fs::metadata(dir.path().join(name)).unwrap().len();
                assert!(size <= max, "{name} has {size} bytes");
            }
        }
        let records = lines(&read_all(dir.path()));
        assert_eq!(records.last().unwrap(), "line 199\n");
        // What is kept is the most recent run of lines, in order, with no gap.
        let first: usize = records[0]
            .trim()
            .strip_prefix("line ")
            .unwrap()
            .parse()
            .unwrap();
        let expected: Vec<String> = (first..200).map(|i| format!("line {i}\n")).collect();
        assert_eq!(records, expected);
        assert!(records.len() > 10);
    }

    #[test]
    fn a_record_larger_than_the_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(100)).unwrap();
        writer.write_line(LogStream::Stdout, b"small\n").unwrap();
        writer.write_line(LogStream::Stdout, &[b'x'; 300]).unwrap();
        writer.write_line(LogStream::Stdout, b"after\n").unwrap();
        let records = read_all(dir.path());
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].line, vec![b'x'; 300]);
        assert_eq!(records[1].line, b"after\n");
    }

    #[test]
    fn cursor_follows_across_rotations_between_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert!(
            read(&mut cursor, ReadScope::Live).is_empty(),
            "no log yet is no error"
        );

        let mut writer = LogWriter::open(dir.path(), two_files(400)).unwrap();
        let mut written = Vec::new();
        let mut read_back = Vec::new();
        let mut rotations_seen = 0;
        let mut last_ino = fs::metadata(dir.path().join(LOG_FILE)).unwrap().ino();
        for i in 0..60 {
            let line = format!("record {i}\n");
            let stream = if i % 2 == 0 {
                LogStream::Stdout
            } else {
                LogStream::Stderr
            };
            writer.write_line(stream, line.as_bytes()).unwrap();
            written.push(line);
            let ino = fs::metadata(dir.path().join(LOG_FILE)).unwrap().ino();
            if ino != last_ino {
                rotations_seen += 1;
                last_ino = ino;
            }
            // Read every third record: rotations happen while the cursor is mid-file.
            if i % 3 == 2 {
                read_back.extend(read(&mut cursor, ReadScope::Live));
            }
        }
        read_back.extend(read(&mut cursor, ReadScope::Live));
        assert!(
            rotations_seen >= 3,
            "the test must rotate; it rotated {rotations_seen} times"
        );
        assert_eq!(lines(&read_back), written);
        assert_eq!(read_back[1].stream, LogStream::Stderr);
        assert!(read(&mut cursor, ReadScope::Live).is_empty());
    }

    #[test]
    fn cursor_opened_after_rotation_starts_with_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(100)).unwrap();
        for i in 0..3 {
            writer
                .write_line(LogStream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
        }
        assert!(dir.path().join(ROTATED).exists());
        assert_eq!(lines(&read_all(dir.path())), ["r0\n", "r1\n", "r2\n"]);
    }

    #[test]
    fn a_cursor_more_than_a_rotation_behind_continues_with_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(40)).unwrap();
        writer.write_line(LogStream::Stdout, b"r0\n").unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert_eq!(lines(&read(&mut cursor, ReadScope::Live)), ["r0\n"]);
        // Every record is larger than the limit: each write rotates, so r1 is gone by the end.
        for i in 1..4 {
            writer
                .write_line(LogStream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
        }
        assert_eq!(lines(&read(&mut cursor, ReadScope::Live)), ["r2\n", "r3\n"]);
    }

    #[test]
    fn a_lagging_cursor_holds_no_more_than_the_files_on_disk_and_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(200)).unwrap();
        writer.write_line(LogStream::Stdout, b"first\n").unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let mut seen = Vec::new();
        // It takes one record per look while every look finds a rotation or two.
        for i in 0..200 {
            writer
                .write_line(LogStream::Stdout, format!("{i:0100}\n").as_bytes())
                .unwrap();
            let mut taken = 0;
            cursor
                .read(ReadScope::Live, usize::MAX, &mut |record| {
                    seen.push(record.content.to_vec());
                    taken += 1;
                    if taken == 1 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .unwrap();
            assert!(cursor.files.len() <= 3, "{} files held", cursor.files.len());
        }
        let numbers: Vec<usize> = seen[1..]
            .iter()
            .map(|line| std::str::from_utf8(line).unwrap().parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(
            numbers.len() < 200,
            "it lost what it could not keep up with"
        );
    }

    #[test]
    fn a_snapshot_read_ends_where_the_log_ended_when_the_cursor_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(150)).unwrap();
        for i in 0..5 {
            writer
                .write_line(LogStream::Stdout, format!("before {i}\n").as_bytes())
                .unwrap();
        }
        let mut snapshot = LogCursor::open(dir.path()).unwrap();
        let mut live = LogCursor::open(dir.path()).unwrap();
        let mut counted = 0;
        snapshot
            .snapshot()
            .unwrap()
            .scan(&mut |_| {
                counted += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        // Written after the open, with a rotation that takes the oldest file off the disk.
        for i in 0..4 {
            writer
                .write_line(LogStream::Stdout, format!("after {i}\n").as_bytes())
                .unwrap();
        }
        let before = lines(&read(&mut snapshot, ReadScope::Snapshot));
        assert_eq!(before.len(), counted);
        assert!(before.iter().all(|l| l.starts_with("before")), "{before:?}");
        assert_eq!(before.last().unwrap(), "before 4\n");
        assert!(read(&mut snapshot, ReadScope::Snapshot).is_empty());
        assert_eq!(
            lines(&read_all(dir.path()))[0],
            "before 3\n",
            "the first file is gone from the disk"
        );

        let everything = lines(&read(&mut live, ReadScope::Live));
        assert_eq!(everything[..5], before);
        assert_eq!(
            everything[5..],
            ["after 0\n", "after 1\n", "after 2\n", "after 3\n"]
        );
    }

    #[test]
    fn reads_take_a_budget_at_a_time_and_stop_where_the_visitor_says() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), two_files(DEFAULT_LOG_MAX_BYTES)).unwrap();
        let written: Vec<String> = (0..500).map(|i| format!("line {i}\n")).collect();
        for line in &written {
            writer
                .write_line(LogStream::Stdout, line.as_bytes())
                .unwrap();
        }
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let mut out = Vec::new();
        let mut batches = 0;
        while cursor
            .read(ReadScope::Snapshot, 1000, &mut visit_into(&mut out))
            .unwrap()
            == ReadEnd::Budget
        {
            batches += 1;
        }
        assert!(batches > 10, "{batches} batches");
        assert_eq!(lines(&out), written);

        let mut cursor = LogCursor::open(dir.path()).unwrap();
        let mut first = Vec::new();
        let end = cursor
            .read(ReadScope::Snapshot, usize::MAX, &mut |record| {
                first.push(record.content.to_vec());
                ControlFlow::Break(())
            })
            .unwrap();
        assert_eq!((end, first), (ReadEnd::Stopped, vec![b"line 0".to_vec()]));
        let rest = lines(&read(&mut cursor, ReadScope::Snapshot));
        assert_eq!(rest, written[1..]);
    }

    #[test]
    fn what_a_cursor_holds_is_read_after_the_folder_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("container");
        fs::create_dir(&dir).unwrap();
        let mut writer = LogWriter::open(&dir, two_files(100)).unwrap();
        for i in 0..4 {
            writer
                .write_line(LogStream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
        }
        let mut cursor = LogCursor::open(&dir).unwrap();
        // The container is removed: its folder goes to the trash, then away.
        let trashed = root.path().join("trash");
        fs::rename(&dir, &trashed).unwrap();
        fs::remove_dir_all(&trashed).unwrap();
        assert_eq!(
            lines(&read(&mut cursor, ReadScope::Live)),
            ["r0\n", "r1\n", "r2\n", "r3\n"]
        );
    }

    #[test]
    fn cursor_holds_back_a_partial_record_and_skips_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let record = "2026-01-01T00:00:00.000000000Z stdout F whole";
        let (head, rest) = record.split_at(20);
        let long_garbage = "x".repeat(MAX_RECORD_LINE + 10);
        fs::write(
            &path,
            format!("not a record\n{{\"not\": 1}}\n{long_garbage}\n{record}\n{head}"),
        )
        .unwrap();

        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert_eq!(lines(&read(&mut cursor, ReadScope::Live)), ["whole\n"]);
        assert!(read(&mut cursor, ReadScope::Live).is_empty());

        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(rest.as_bytes()).unwrap();
        assert!(
            read(&mut cursor, ReadScope::Live).is_empty(),
            "still no newline"
        );
        file.write_all(b"\n").unwrap();
        assert_eq!(lines(&read(&mut cursor, ReadScope::Live)), ["whole\n"]);
    }
}
