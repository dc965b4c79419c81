//! Settings whose text must be checked, whether it comes from a flag or from the configuration
//! file: each is parsed by its `FromStr`, which clap calls for the flag and [`parsed`] for the
//! file's value, so both refuse the same values with the same reason.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::runtime::process::logfile::MAX_LOG_FILES;

/// A Linux interface name (the default network's bridge): 1-15 characters of `[a-zA-Z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct InterfaceName(String);

/// A name of Conti's own nftables tables: a letter, then letters, digits or `_` (at most 64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FirewallTable(String);

/// The cgroup under which each container gets its own: a relative path without `..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CgroupParent(String);

/// What contid logs: `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter
/// (`info,contid::dns=debug`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LogFilter(String);

/// How many files a container's log keeps, 1 to [`MAX_LOG_FILES`]: a number in the file, as
/// the flag's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogMaxFiles(#[serde(deserialize_with = "log_max_files")] pub u32);

fn log_max_files<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(deserializer)?;
    LogMaxFiles::check(n).map_err(D::Error::custom)
}

impl LogMaxFiles {
    fn check(n: u32) -> Result<u32, String> {
        match (1..=MAX_LOG_FILES).contains(&n) {
            true => Ok(n),
            false => Err(format!("1 to {MAX_LOG_FILES} files expected, not {n}")),
        }
    }
}

impl FromStr for LogMaxFiles {
    type Err = String;

    fn from_str(text: &str) -> Result<LogMaxFiles, String> {
        let n = text
            .parse()
            .map_err(|_| format!("a number of files expected, not {text:?}"))?;
        LogMaxFiles::check(n).map(LogMaxFiles)
    }
}

/// `text` when `valid`, else the reason: `expected`.
fn checked(text: &str, valid: bool, expected: &str) -> Result<String, String> {
    match valid {
        true => Ok(text.to_string()),
        false => Err(expected.to_string()),
    }
}

impl FromStr for InterfaceName {
    type Err = String;

    fn from_str(name: &str) -> Result<InterfaceName, String> {
        let valid = (1..=15).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        checked(name, valid, "1-15 characters of [a-zA-Z0-9_.-] expected").map(InterfaceName)
    }
}

impl FromStr for FirewallTable {
    type Err = String;

    fn from_str(name: &str) -> Result<FirewallTable, String> {
        let valid = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        checked(
            name,
            valid,
            "a letter, then letters, digits or _ (at most 64) expected",
        )
        .map(FirewallTable)
    }
}

impl FromStr for CgroupParent {
    type Err = String;

    fn from_str(path: &str) -> Result<CgroupParent, String> {
        let valid = !path.is_empty() && !path.contains("..") && !path.starts_with('/');
        checked(path, valid, "a relative cgroup path expected").map(CgroupParent)
    }
}

impl FromStr for LogFilter {
    type Err = String;

    fn from_str(filter: &str) -> Result<LogFilter, String> {
        tracing_subscriber::EnvFilter::try_new(filter)
            .map(|_| LogFilter(filter.to_string()))
            .map_err(|error| format!("not a log level or filter: {error}"))
    }
}

impl InterfaceName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FirewallTable {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CgroupParent {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl LogFilter {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deserializes a string through `T`'s `FromStr`, as the flag is parsed (for
/// `#[serde(default, deserialize_with = "parsed")]` on an optional setting).
pub(super) fn parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map(Some)
        .map_err(|reason| D::Error::custom(format!("invalid value {text:?}: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_checked() {
        assert!("conti0".parse::<InterfaceName>().is_ok());
        assert!("a-very-long-bridge".parse::<InterfaceName>().is_err());
        assert!("br:0".parse::<InterfaceName>().is_err());
        assert!("conti_2".parse::<FirewallTable>().is_ok());
        assert!("2conti".parse::<FirewallTable>().is_err());
        assert!("conti/test".parse::<CgroupParent>().is_ok());
        for bad in ["", "/conti", "conti/../x"] {
            assert!(bad.parse::<CgroupParent>().is_err(), "{bad:?}");
        }
        assert!("info,contid::dns=debug".parse::<LogFilter>().is_ok());
        assert!("info,[=".parse::<LogFilter>().is_err());
    }
}
