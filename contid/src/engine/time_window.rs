//! `since` / `until` of the logs and events routes: which times a caller asks for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{EngineError, EngineResult};

/// An inclusive range of times; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl TimeWindow {
    /// Reads the `since` and `until` query parameters (see [`parse_time`]); an empty window
    /// (`since` after `until`) is refused.
    pub fn parse(since: Option<&str>, until: Option<&str>) -> EngineResult<TimeWindow> {
        let now = SystemTime::now();
        let read = |name: &str, text: Option<&str>| {
            text.map(|text| {
                parse_time(text, now).map_err(|why| {
                    EngineError::InvalidArgument(format!("invalid {name} {text:?}: {why}"))
                })
            })
            .transpose()
        };
        let window = TimeWindow {
            since: read("since", since)?,
            until: read("until", until)?,
        };
        if let (Some(since), Some(until)) = (window.since, window.until)
            && since > until
        {
            return Err(EngineError::InvalidArgument(
                "since must not be later than until".into(),
            ));
        }
        Ok(window)
    }

    pub fn contains(&self, time: SystemTime) -> bool {
        self.since.is_none_or(|since| time >= since) && !self.is_past_until(time)
    }

    /// Whether `time` is beyond the end of the window (a stream can stop there).
    pub fn is_past_until(&self, time: SystemTime) -> bool {
        self.until.is_some_and(|until| time > until)
    }
}

/// A point in time as callers write it: RFC 3339 (`2026-05-01T12:00:00Z`, fractions allowed;
/// UTC when the zone is left out), Unix seconds (`1777636800`, `1777636800.5`), or a duration
/// before `now` (`90s`, `10m`, `1h30m`), as Docker accepts.
pub fn parse_time(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a time is expected".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_unix_seconds(text);
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return now
            .checked_sub(ago)
            .ok_or_else(|| "the duration reaches before 1970".to_string());
    }
    Err("expected an RFC 3339 time, Unix seconds, or a duration such as 10m".into())
}

fn parse_unix_seconds(text: &str) -> Result<SystemTime, String> {
    let invalid = || "invalid Unix time".to_string();
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    if seconds.is_empty() || fraction.contains('.') || fraction.len() > 9 {
        return Err(invalid());
    }
    let seconds: u64 = seconds.parse().map_err(|_| invalid())?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().map_err(|_| invalid())?
    };
    UNIX_EPOCH
        .checked_add(Duration::new(seconds, nanos))
        .ok_or_else(invalid)
}

/// The time of an RFC 3339 timestamp as the daemon writes them (`None` when unreadable).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn times_are_rfc3339_unix_seconds_or_durations_ago() {
        let now = at(1_777_636_800, 0);
        let parse = |text| parse_time(text, now);
        assert_eq!(parse("2026-05-01T12:00:00Z"), Ok(at(1_777_636_800, 0)));
        assert_eq!(
            parse("2026-05-01T12:00:00.000000007Z"),
            Ok(at(1_777_636_800, 7))
        );
        assert_eq!(parse("1777636800"), Ok(at(1_777_636_800, 0)));
        assert_eq!(parse("1777636800.25"), Ok(at(1_777_636_800, 250_000_000)));
        assert_eq!(parse("0"), Ok(UNIX_EPOCH));
        assert_eq!(parse("10m"), Ok(at(1_777_636_200, 0)));
        assert_eq!(parse("1h 30m"), Ok(at(1_777_631_400, 0)));
        for bad in [
            "",
            "garbage",
            "1.2.3",
            ".5",
            "1.1234567890",
            "-5",
            "2026-13-01",
            "10 parsecs",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn windows_are_inclusive_and_checked() {
        let window = TimeWindow::parse(Some("100"), Some("200")).unwrap();
        assert!(!window.contains(at(99, 999_999_999)));
        assert!(window.contains(at(100, 0)));
        assert!(window.contains(at(200, 0)));
        assert!(!window.contains(at(200, 1)));
        assert!(window.is_past_until(at(201, 0)));
        assert!(TimeWindow::default().contains(UNIX_EPOCH));
        let err = TimeWindow::parse(Some("200"), Some("100")).unwrap_err();
        assert!(matches!(err, EngineError::InvalidArgument(_)));
        let err = TimeWindow::parse(Some("garbage"), None).unwrap_err();
        assert!(err.to_string().contains("invalid since"), "{err}");
    }
}
