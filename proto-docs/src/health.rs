//! Health checks (`ContainerSpec.healthcheck`) and what they found (`ContainerInfo.health`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The form a duration is written in, for error messages.
pub const DURATION_FORM: &str =
    "a number and a unit (ns, us, ms, s, m, h), repeated: 30s, 1m30s, 500ms, 1.5s";

/// A duration written as Go and Docker write them: `30s`, `1m30s`, `500ms`, `1.5s`, `2h`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HealthDuration(pub Duration);

impl HealthDuration {
    /// Parses `<number><unit>` groups (units `ns`, `us`, `ms`, `s`, `m`, `h`); the error says
    /// the form expected.
    pub fn parse(text: &str) -> Result<HealthDuration, String> {
        let invalid = || format!("invalid duration {text:?}: expected {DURATION_FORM}");
        let mut rest = text;
        let mut nanos: u128 = 0;
        if rest.is_empty() {
            return Err(invalid());
        }
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(invalid)?;
            let (number, tail) = rest.split_at(number_len);
            let unit_len = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let unit_nanos: u128 = match unit {
                "ns" => 1,
                "us" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => return Err(invalid()),
            };
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if whole.is_empty()
                || !all_digits(whole)
                || !all_digits(fraction)
                || (number.contains('.') && fraction.is_empty())
            {
                return Err(invalid());
            }
            let whole: u128 = whole.parse().map_err(|_| invalid())?;
            let mut part = whole.checked_mul(unit_nanos).ok_or_else(invalid)?;
            let mut scale = unit_nanos;
            for digit in fraction.bytes().take(18) {
                scale /= 10;
                part += u128::from(digit - b'0') * scale;
            }
            nanos = nanos.checked_add(part).ok_or_else(invalid)?;
            rest = tail;
        }
        let nanos = u64::try_from(nanos).map_err(|_| invalid())?;
        Ok(HealthDuration(Duration::from_nanos(nanos)))
    }

    pub fn as_duration(&self) -> Duration {
        self.0
    }
}

impl std::fmt::Display for HealthDuration {
    /// The shortest form: `1h30m`, `1m30s`, `1.5s`, `500ms`, `0s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            return match nanos {
                n if n % 1_000_000 == 0 => write!(f, "{}ms", n / 1_000_000),
                n if n % 1_000 == 0 => write!(f, "{}us", n / 1_000),
                n => write!(f, "{n}ns"),
            };
        }
        let secs = self.0.as_secs();
        let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        let sub = self.0.subsec_nanos();
        if sub > 0 {
            let fraction = format!("{sub:09}");
            write!(f, "{seconds}.{}s", fraction.trim_end_matches('0'))
        } else if seconds > 0 {
            write!(f, "{seconds}s")
        } else {
            Ok(())
        }
    }
}

impl Serialize for HealthDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HealthDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HealthDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A container's health check (`ContainerSpec.healthcheck`), Docker's `HEALTHCHECK`: a command
/// run in the container every `interval`; exit code 0 is healthy, anything else (or running
/// longer than `timeout`, which kills it) a failure, and `retries` failures in a row make the
/// container unhealthy. Failures in the first `start_period` do not count.
///
/// In a create, fields left out come from the image's health check, then from the defaults
/// (interval 30s, timeout 30s, start_period 0s, retries 3); `test: ["NONE"]` turns the image's
/// off. In inspect (`ContainerInfo.healthcheck`) every field is filled in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckSpec {
    /// `["CMD", arg, …]` (run as is), `["CMD-SHELL", command]` (run by `/bin/sh -c`) or
    /// `["NONE"]` (no health check); empty: the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between the end of a check and the start of the next (the first runs one interval
    /// after the start); at least 1ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$", example = "30s")]
    pub interval: Option<HealthDuration>,
    /// A check still running after this long is killed and counts as a failure; at least 1ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$", example = "30s")]
    pub timeout: Option<HealthDuration>,
    /// Failures within this time after the start do not count (a success still makes the
    /// container healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$", example = "0s")]
    pub start_period: Option<HealthDuration>,
    /// Failures in a row that make the container unhealthy; at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

impl HealthcheckSpec {
    /// The `["NONE"]` test: no health check, not even the image's.
    pub fn disabled() -> HealthcheckSpec {
        HealthcheckSpec {
            test: vec!["NONE".to_string()],
            ..HealthcheckSpec::default()
        }
    }
}

/// Where a container with a health check stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No check has passed yet, and fewer than `retries` have failed since the start period.
    Starting,
    /// The last check passed.
    Healthy,
    /// `retries` checks in a row failed.
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// What the health checks of a container found (`ContainerInfo.health`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Health {
    pub status: HealthStatus,
    /// Checks that failed in a row, those in the start period left out.
    pub failing_streak: u32,
    /// The last checks (at most 5), oldest first.
    pub log: Vec<HealthcheckResult>,
}

/// One run of a health check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct HealthcheckResult {
    /// RFC 3339 times the check started and ended.
    pub start: String,
    pub end: String,
    /// The check's exit code; -1 when it was killed at its timeout.
    pub exit_code: i32,
    /// Its output (stdout, then stderr), at most 4096 bytes, as text.
    pub output: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_gos_form_and_write_the_shortest() {
        let cases = [
            ("30s", Duration::from_secs(30), "30s"),
            ("1m30s", Duration::from_secs(90), "1m30s"),
            ("90s", Duration::from_secs(90), "1m30s"),
            ("500ms", Duration::from_millis(500), "500ms"),
            ("1.5s", Duration::from_millis(1500), "1.5s"),
            ("2h", Duration::from_secs(7200), "2h"),
            ("1h0m1s", Duration::from_secs(3601), "1h1s"),
            ("0s", Duration::ZERO, "0s"),
            ("250us", Duration::from_micros(250), "250us"),
            ("7ns", Duration::from_nanos(7), "7ns"),
            ("0.25m", Duration::from_secs(15), "15s"),
        ];
        for (text, duration, shortest) in cases {
            let parsed = HealthDuration::parse(text).unwrap();
            assert_eq!(parsed.0, duration, "{text}");
            assert_eq!(parsed.to_string(), shortest, "{text}");
            assert_eq!(HealthDuration::parse(shortest).unwrap(), parsed);
        }
        for bad in [
            "",
            "30",
            "s",
            "1x",
            "1.s",
            ".5s",
            "-1s",
            "1 s",
            "1s ",
            "1e3s",
            "1m30",
            "99999999999h",
        ] {
            let err = HealthDuration::parse(bad).unwrap_err();
            assert!(err.contains("1m30s"), "{bad}: {err}");
        }
    }
}
