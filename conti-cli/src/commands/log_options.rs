//! `--log-driver` and `--log-opt`: how much of a container's output its log keeps.

use clap::Args;
use conti_proto::{LogLimits, MAX_LOG_FILES};

use super::limits::parse_size;

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// `json-file` or `local` (both mean Conti's own log, which `logs` reads); no other.
    #[arg(long, value_name = "DRIVER", value_parser = ["json-file", "local"])]
    pub log_driver: Option<String>,
    /// `max-size=SIZE` (a file is rotated before it grows beyond SIZE: 10m, 512k…) or
    /// `max-file=N` (files kept, the live one included, 1 to 100), as with docker.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_log_option)]
    pub log_opt: Vec<LogOption>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOption {
    MaxSize(u64),
    MaxFile(u32),
}

fn parse_log_option(text: &str) -> Result<LogOption, String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: KEY=VALUE expected (max-size=10m, max-file=3)"))?;
    match key {
        "max-size" => match parse_size(value)? {
            0 => Err("max-size must be at least 1 byte".into()),
            bytes => Ok(LogOption::MaxSize(bytes as u64)),
        },
        "max-file" => match value.parse() {
            Ok(n) if (1..=MAX_LOG_FILES).contains(&n) => Ok(LogOption::MaxFile(n)),
            _ => Err(format!(
                "max-file must be a number from 1 to {MAX_LOG_FILES}"
            )),
        },
        other => Err(format!(
            "log option {other:?} is not supported (max-size, max-file)"
        )),
    }
}

impl LogArgs {
    pub fn to_log_limits(&self) -> LogLimits {
        let mut limits = LogLimits::default();
        for option in &self.log_opt {
            match *option {
                LogOption::MaxSize(bytes) => limits.max_size = Some(bytes),
                LogOption::MaxFile(n) => limits.max_files = Some(n),
            }
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_docker_reads_them() {
        assert_eq!(
            parse_log_option("max-size=1k"),
            Ok(LogOption::MaxSize(1024))
        );
        assert_eq!(parse_log_option("max-file=3"), Ok(LogOption::MaxFile(3)));
        for bad in [
            "max-size",
            "max-size=0",
            "max-file=0",
            "max-file=101",
            "compress=true",
        ] {
            assert!(parse_log_option(bad).is_err(), "{bad:?}");
        }
    }
}
