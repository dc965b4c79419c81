//! A container's log: JSON lines `{"log","stream","time"}` in `container.log`, rotated to
//! `container.log.1` when it would grow beyond its limit.
//!
//! The format is Docker's `json-file`. The monitor appends with [`LogWriter`]; the daemon reads
//! with [`LogCursor`], which follows the log across rotations.
//!
//! Disk use: when a record would take `container.log` past `max_bytes`, the file is renamed to
//! `container.log.1` (replacing the previous one) and a new `container.log` starts. Each file
//! therefore stays within `max_bytes` (a single record larger than that gets a file of its own),
//! and the log never takes more than about `2 × max_bytes`. Older records are dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LOG_FILE: &str = "container.log";
pub const ROTATED_LOG_FILE: &str = "container.log.1";
/// Default rotation limit (written in the README).
pub const DEFAULT_LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// A line longer than this is stored as several records, the first ones without `\n` (as
/// Docker does).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// `stdout` or `stderr`, as in [`LogRecord::stream`].
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
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

impl LogRecord {
    /// A record of `line` stamped now; invalid UTF-8 is replaced by U+FFFD.
    pub fn new(stream: LogStream, line: &[u8]) -> LogRecord {
        LogRecord {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.as_str().to_owned(),
            time: crate::runtime::now_rfc3339(),
        }
    }
}

/// Writer kept by the monitor.
pub struct LogWriter {
    path: PathBuf,
    rotated_path: PathBuf,
    file: File,
    /// Bytes in `container.log`, ours included.
    size: u64,
    max_bytes: u64,
}

impl LogWriter {
    /// Appends to `state_dir/container.log`, created if absent (a restarted monitor continues
    /// the existing file).
    pub fn open(state_dir: &Path, max_bytes: u64) -> io::Result<LogWriter> {
        let path = state_dir.join(LOG_FILE);
        let file = open_for_append(&path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path,
            rotated_path: state_dir.join(ROTATED_LOG_FILE),
            file,
            size,
            max_bytes,
        })
    }

    /// Appends one line (the bytes given, which end with `\n` unless it is a final partial line).
    pub fn write_line(&mut self, stream: LogStream, line: &[u8]) -> io::Result<()> {
        let mut bytes =
            serde_json::to_vec(&LogRecord::new(stream, line)).map_err(io::Error::other)?;
        bytes.push(b'\n');
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        // One write(2) per record on an O_APPEND file: a reader sees whole records, or a last
        // one still without its newline, which it holds back.
        match self.file.write_all(&bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
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

    fn rotate(&mut self) -> io::Result<()> {
        match fs::rename(&self.path, &self.rotated_path) {
            Ok(()) => {}
            // Renamed by an earlier rotation whose reopen failed: just start the new file.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        self.file = open_for_append(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
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
    /// UTF-8 character that the cut would split.
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

/// Reads a container's log from the oldest record on, and then whatever is appended, across
/// rotation (it keeps the file it was reading open and switches when the name points elsewhere).
pub struct LogCursor {
    state_dir: PathBuf,
    /// `None` until a log file exists.
    current: Option<OpenLog>,
}

impl LogCursor {
    /// Never fails for a missing log: it has no records yet.
    pub fn open(state_dir: &Path) -> io::Result<LogCursor> {
        let current = open_oldest(state_dir)?;
        Ok(LogCursor {
            state_dir: state_dir.to_path_buf(),
            current,
        })
    }

    /// The complete records written since the last call (a record cut mid-write waits).
    pub fn read_new(&mut self) -> io::Result<Vec<LogRecord>> {
        let mut records = Vec::new();
        loop {
            if self.current.is_none() {
                self.current = open_oldest(&self.state_dir)?;
            }
            let Some(current) = self.current.as_mut() else {
                return Ok(records);
            };
            current.read_available(&mut records)?;
            let Some(next) = next_log(&self.state_dir, current.id)? else {
                return Ok(records);
            };
            // Renamed away, `current` gets no more writes: take what was appended before the
            // rename, and a last line without newline (left by a crash) if it is a record.
            current.read_available(&mut records)?;
            current.flush_partial(&mut records);
            self.current = Some(next);
        }
    }
}

/// All the records in `state_dir`'s log, oldest first.
pub fn read_all(state_dir: &Path) -> io::Result<Vec<LogRecord>> {
    LogCursor::open(state_dir)?.read_new()
}

/// The last `n` records.
pub fn tail(mut records: Vec<LogRecord>, n: usize) -> Vec<LogRecord> {
    let start = records.len().saturating_sub(n);
    records.split_off(start)
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

/// A log file being read: the position is the `File`'s own offset.
struct OpenLog {
    file: File,
    id: FileId,
    /// Bytes after the last newline read so far.
    partial: Vec<u8>,
}

impl OpenLog {
    fn open_if_exists(path: &Path) -> io::Result<Option<OpenLog>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let id = FileId::of(&file.metadata()?);
        Ok(Some(OpenLog {
            file,
            id,
            partial: Vec::new(),
        }))
    }

    /// Reads to the current end of file, parsing every complete line.
    fn read_available(&mut self, records: &mut Vec<LogRecord>) -> io::Result<()> {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let read = match self.file.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.partial.extend_from_slice(&buffer[..read]);
            if let Some(last_newline) = self.partial.iter().rposition(|&b| b == b'\n') {
                let complete: Vec<u8> = self.partial.drain(..=last_newline).collect();
                records.extend(complete.split(|&b| b == b'\n').filter_map(parse_record));
            }
        }
    }

    fn flush_partial(&mut self, records: &mut Vec<LogRecord>) {
        let partial = std::mem::take(&mut self.partial);
        records.extend(parse_record(&partial));
    }
}

fn parse_record(line: &[u8]) -> Option<LogRecord> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice(line) {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::debug!(%err, "skipping a log line that is not a record");
            None
        }
    }
}

/// The oldest log file: `container.log.1` when there is one.
fn open_oldest(state_dir: &Path) -> io::Result<Option<OpenLog>> {
    if let Some(rotated) = OpenLog::open_if_exists(&state_dir.join(ROTATED_LOG_FILE))? {
        return Ok(Some(rotated));
    }
    let Some(log) = OpenLog::open_if_exists(&state_dir.join(LOG_FILE))? else {
        return Ok(None);
    };
    // A rotation between the two opens moved the oldest records to `.1`.
    match OpenLog::open_if_exists(&state_dir.join(ROTATED_LOG_FILE))? {
        Some(rotated) if rotated.id != log.id => Ok(Some(rotated)),
        _ => Ok(Some(log)),
    }
}

/// The file that follows `current` once it has been rotated away; `None` while `current` is
/// still the live `container.log` (or the new one is not created yet).
///
/// The files form a sequence: `.1` is the one before `container.log`. If `current` is not `.1`,
/// it is older still, and `.1` comes next (when more than one rotation happened since, the
/// files in between are gone). If it is `.1`, `container.log` comes next.
fn next_log(state_dir: &Path, current: FileId) -> io::Result<Option<OpenLog>> {
    let live = state_dir.join(LOG_FILE);
    match fs::metadata(&live) {
        Ok(metadata) if FileId::of(&metadata) == current => return Ok(None),
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    if let Some(rotated) = OpenLog::open_if_exists(&state_dir.join(ROTATED_LOG_FILE))?
        && rotated.id != current
    {
        return Ok(Some(rotated));
    }
    Ok(OpenLog::open_if_exists(&live)?.filter(|log| log.id != current))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(records: &[LogRecord]) -> Vec<&str> {
        records.iter().map(|r| r.log.as_str()).collect()
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
    fn writer_stores_json_lines_docker_style() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), DEFAULT_LOG_MAX_BYTES).unwrap();
        writer
            .write_line(LogStream::Stdout, b"hello \"world\"\n")
            .unwrap();
        writer
            .write_line(LogStream::Stderr, b"bad \xff utf8")
            .unwrap();

        let text = fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
        let raw: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(raw.len(), 2);
        assert_eq!(raw[0]["log"], "hello \"world\"\n");
        assert_eq!(raw[0]["stream"], "stdout");
        assert_eq!(raw[1]["log"], "bad \u{fffd} utf8");
        assert_eq!(raw[1]["stream"], "stderr");
        let time = raw[0]["time"].as_str().unwrap();
        humantime::parse_rfc3339(time).unwrap();
        assert!(
            time.len() == "2024-01-01T00:00:00.000000000Z".len(),
            "{time}"
        );

        // Reopened, it appends.
        drop(writer);
        let mut writer = LogWriter::open(dir.path(), DEFAULT_LOG_MAX_BYTES).unwrap();
        writer.write_line(LogStream::Stdout, b"again\n").unwrap();
        assert_eq!(
            lines(&read_all(dir.path()).unwrap()),
            vec!["hello \"world\"\n", "bad \u{fffd} utf8", "again\n"]
        );
    }

    #[test]
    fn rotation_keeps_two_files_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let max = 1000;
        let mut writer = LogWriter::open(dir.path(), max).unwrap();
        for i in 0..200 {
            writer
                .write_line(LogStream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
            let mut names: Vec<String> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            assert!(
                names == [LOG_FILE] || names == [LOG_FILE, ROTATED_LOG_FILE],
                "{names:?}"
            );
            for name in &names {
                let size = fs::metadata(dir.path().join(name)).unwrap().len();
                assert!(size <= max, "{name} has {size} bytes");
            }
        }
        let records = read_all(dir.path()).unwrap();
        let last = records.last().unwrap();
        assert_eq!(last.log, "line 199\n");
        // What is kept is the most recent run of lines, in order, with no gap.
        let first: usize = records[0]
            .log
            .trim()
            .strip_prefix("line ")
            .unwrap()
            .parse()
            .unwrap();
        let expected: Vec<String> = (first..200).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            lines(&records),
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(records.len() > 10);
    }

    #[test]
    fn a_record_larger_than_the_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), 100).unwrap();
        writer.write_line(LogStream::Stdout, b"small\n").unwrap();
        writer.write_line(LogStream::Stdout, &[b'x'; 300]).unwrap();
        writer.write_line(LogStream::Stdout, b"after\n").unwrap();
        let records = read_all(dir.path()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].log.len(), 300);
        assert_eq!(records[1].log, "after\n");
    }

    #[test]
    fn cursor_follows_across_rotations_between_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert!(
            cursor.read_new().unwrap().is_empty(),
            "no log yet is no error"
        );

        let mut writer = LogWriter::open(dir.path(), 400).unwrap();
        let mut written = Vec::new();
        let mut read = Vec::new();
        let mut rotations_seen = 0;
        let mut last_ino = fs::metadata(dir.path().join(LOG_FILE)).unwrap().ino();
        for i in 0..60 {
            let line = format!("record {i}\n");
            writer
                .write_line(
                    if i % 2 == 0 {
                        LogStream::Stdout
                    } else {
                        LogStream::Stderr
                    },
                    line.as_bytes(),
                )
                .unwrap();
            written.push(line);
            let ino = fs::metadata(dir.path().join(LOG_FILE)).unwrap().ino();
            if ino != last_ino {
                rotations_seen += 1;
                last_ino = ino;
            }
            // Read every third record: rotations happen while the cursor is mid-file.
            if i % 3 == 2 {
                read.extend(cursor.read_new().unwrap());
            }
        }
        read.extend(cursor.read_new().unwrap());
        assert!(
            rotations_seen >= 3,
            "the test must rotate; it rotated {rotations_seen} times"
        );
        assert_eq!(
            lines(&read),
            written.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(read[1].stream, "stderr");
        assert!(cursor.read_new().unwrap().is_empty());
    }

    #[test]
    fn cursor_opened_after_rotation_starts_with_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), 160).unwrap();
        for i in 0..3 {
            writer
                .write_line(LogStream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
        }
        assert!(dir.path().join(ROTATED_LOG_FILE).exists());
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert_eq!(
            lines(&cursor.read_new().unwrap()),
            vec!["r0\n", "r1\n", "r2\n"]
        );
    }

    #[test]
    fn cursor_losing_more_than_a_rotation_continues_with_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter::open(dir.path(), 60).unwrap();
        writer.write_line(LogStream::Stdout, b"r0\n").unwrap();
        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert_eq!(lines(&cursor.read_new().unwrap()), vec!["r0\n"]);
        // Every record is larger than the limit: each write rotates, so r1 is gone by the end.
        for i in 1..4 {
            writer
                .write_line(LogStream::Stdout, format!("r{i}\n").as_bytes())
                .unwrap();
        }
        assert_eq!(lines(&cursor.read_new().unwrap()), vec!["r2\n", "r3\n"]);
    }

    #[test]
    fn cursor_holds_back_a_partial_record_and_skips_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let record = serde_json::to_string(&LogRecord::new(LogStream::Stdout, b"whole\n")).unwrap();
        let (head, rest) = record.split_at(10);
        fs::write(&path, format!("not json\n{record}\n{head}")).unwrap();

        let mut cursor = LogCursor::open(dir.path()).unwrap();
        assert_eq!(lines(&cursor.read_new().unwrap()), vec!["whole\n"]);
        assert!(cursor.read_new().unwrap().is_empty());

        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(rest.as_bytes()).unwrap();
        assert!(cursor.read_new().unwrap().is_empty(), "still no newline");
        file.write_all(b"\n").unwrap();
        assert_eq!(lines(&cursor.read_new().unwrap()), vec!["whole\n"]);
    }

    #[test]
    fn tail_keeps_the_last_records() {
        let records: Vec<LogRecord> = (0..5)
            .map(|i| LogRecord::new(LogStream::Stdout, format!("{i}").as_bytes()))
            .collect();
        assert_eq!(lines(&tail(records.clone(), 2)), vec!["3", "4"]);
        assert_eq!(tail(records.clone(), 10).len(), 5);
        assert!(tail(records, 0).is_empty());
    }
}
