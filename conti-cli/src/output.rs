//! What the CLI prints: tables for people, JSON for scripts, and the docker-like wording of
//! sizes and times. Everything written to stdout goes through here, and a write error (a closed
//! pipe, say) is returned rather than panicking as `println!` would.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use comfy_table::{Table, presets};
use serde::Serialize;

/// How results are shown, chosen by the global `--json` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// Pretty-printed JSON of `value`.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)
}

/// `value` as one line of JSON (for streams of records, one per line).
pub fn print_json_line<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()
}

/// A docker-like table: upper-case header, columns three spaces apart, no borders.
pub fn print_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> io::Result<()> {
    let mut table = Table::new();
    table.set_header(header.to_vec());
    table.add_rows(rows);
    print_lines(table)
}

/// `Key:   value` lines with the values aligned, for `version` and `info`.
pub fn print_fields(fields: &[(&str, String)]) -> io::Result<()> {
    let mut table = Table::new();
    table.add_rows(
        fields
            .iter()
            .map(|(key, value)| vec![format!("{key}:"), value.clone()]),
    );
    print_lines(table)
}

fn print_lines(mut table: Table) -> io::Result<()> {
    table.load_style(presets::NOTHING);
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    let mut out = io::stdout().lock();
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// One line of text.
pub fn print_line(text: &str) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{text}")
}

/// Output of a container or a command: written as it comes, whole lines or not.
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

pub fn write_stderr(bytes: &[u8]) -> io::Result<()> {
    io::stderr().lock().write_all(bytes)
}

/// A prune's report as docker prints it: `heading` and one line per object deleted (nothing
/// when none was), then the space reclaimed.
pub fn prune_summary(
    heading: &str,
    deleted: impl IntoIterator<Item = String>,
    space_reclaimed: u64,
) -> String {
    deleted_section(heading, deleted) + &reclaimed_line(space_reclaimed)
}

/// `heading`, one line per object deleted and a blank line; nothing when none was.
pub fn deleted_section(heading: &str, deleted: impl IntoIterator<Item = String>) -> String {
    let mut text = String::new();
    for line in deleted {
        if text.is_empty() {
            text = format!("{heading}\n");
        }
        text.push_str(&line);
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// `Total reclaimed space: 1.2MB`, the last line of a prune's report.
pub fn reclaimed_line(space_reclaimed: u64) -> String {
    format!("Total reclaimed space: {}\n", human_size(space_reclaimed))
}

/// A size in decimal units with three significant digits, like docker: `0B`, `999B`, `1.23kB`,
/// `4.27MB`, `12.3MB`, `123MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    let mut text = three_digits(size);
    // 999.6 kB rounds to 1000 kB, shown as 1 MB.
    if text == "1000" && unit + 1 < UNITS.len() {
        unit += 1;
        text = three_digits(size / 1000.0);
    }
    format!("{text}{}", UNITS[unit])
}

/// `size` (below 1000) with three significant digits and no trailing zeros.
fn three_digits(size: f64) -> String {
    let decimals = match size {
        s if s >= 100.0 => 0,
        s if s >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{size:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A duration the way docker words it: `Less than a second`, `5 seconds`, `About a minute`,
/// `3 hours`, `2 weeks`...
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let minutes = seconds / 60;
    // Rounded, like docker.
    let hours = (seconds + 1800) / 3600;
    match () {
        () if seconds < 1 => "Less than a second".to_string(),
        () if seconds == 1 => "1 second".to_string(),
        () if seconds < 60 => format!("{seconds} seconds"),
        () if minutes == 1 => "About a minute".to_string(),
        () if minutes < 60 => format!("{minutes} minutes"),
        () if hours == 1 => "About an hour".to_string(),
        () if hours < 48 => format!("{hours} hours"),
        () if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        () if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        () if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        () => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// Time from an RFC 3339 timestamp (as contid writes them, in UTC) to `now`; a time in the future
/// (clocks apart) counts as now. `None` when `timestamp` cannot be read.
pub fn elapsed(timestamp: &str, now: SystemTime) -> Option<Duration> {
    let then = humantime::parse_rfc3339_weak(timestamp).ok()?;
    Some(now.duration_since(then).unwrap_or_default())
}

/// `3 minutes ago`, or the timestamp itself when it cannot be read.
pub fn time_ago(timestamp: &str, now: SystemTime) -> String {
    match elapsed(timestamp, now) {
        Some(duration) => format!("{} ago", human_duration(duration)),
        None => timestamp.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_three_significant_digits() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1234, "1.23kB"),
            (1500, "1.5kB"),
            (4_270_000, "4.27MB"),
            (12_345_678, "12.3MB"),
            (123_456_789, "123MB"),
            (999_600, "1MB"),
            (5_000_000_000, "5GB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(human_size(bytes), text, "{bytes} bytes");
        }
    }

    #[test]
    fn durations_are_worded_like_docker() {
        let cases = [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (180, "3 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (2 * 3600, "2 hours"),
            (47 * 3600, "47 hours"),
            (3 * 24 * 3600, "3 days"),
            (3 * 7 * 24 * 3600, "3 weeks"),
            (90 * 24 * 3600, "3 months"),
            (3 * 365 * 24 * 3600, "3 years"),
        ];
        for (seconds, text) in cases {
            assert_eq!(
                human_duration(Duration::from_secs(seconds)),
                text,
                "{seconds}s"
            );
        }
    }

    #[test]
    fn times_ago_read_rfc3339_with_nanoseconds() {
        let now = humantime::parse_rfc3339("2026-05-01T12:03:00Z").unwrap();
        assert_eq!(
            time_ago("2026-05-01T12:00:00.123456789Z", now),
            "2 minutes ago"
        );
        assert_eq!(
            time_ago("2026-05-01T12:03:05Z", now),
            "Less than a second ago"
        );
        assert_eq!(time_ago("yesterday", now), "yesterday");
    }
}
