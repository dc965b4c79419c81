//! Resource limit flags, shared by `create`, `run` and `update`, with sizes as people type them.

use clap::Args;
use conti_proto::Resources;

/// `-m 64m`, `--cpus 0.5`…: the container's `resources`.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Memory limit (bytes, or with a unit: 64m, 1g, 512k; at least 6m).
    #[arg(short = 'm', long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<i64>,
    /// Memory plus swap (same units), at least --memory; -1 for unlimited swap.
    #[arg(long, value_name = "SIZE", value_parser = parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Soft memory limit (same units).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_reservation: Option<i64>,
    /// Number of CPUs, fractions allowed (0.5 = half of one CPU).
    #[arg(long, value_name = "N")]
    pub cpus: Option<f64>,
    /// Relative CPU weight (2..262144; 1024 is the default share).
    #[arg(short = 'c', long, value_name = "SHARES")]
    pub cpu_shares: Option<i64>,
    /// CPUs the container may use (0-1,3).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (0).
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Most processes at once; -1 for unlimited.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Relative block I/O weight (10..1000).
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<i64>,
}

impl LimitArgs {
    pub fn to_resources(&self) -> Resources {
        Resources {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        }
    }
}

/// `1024`, `512k`, `64m`, `1g`, `1.5g`, `64MiB`, `64mb`… in bytes (units are powers of 1024,
/// as docker reads them).
pub fn parse_size(text: &str) -> Result<i64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (like 64m, 1g, 512k or bytes)"))?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use k, m, g or t)"
            ));
        }
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes.round() as i64)
}

/// A size, or `-1` for unlimited.
fn parse_swap(text: &str) -> Result<i64, String> {
    if text.trim() == "-1" {
        Ok(-1)
    } else {
        parse_size(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_type_them() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_swap("-1"), Ok(-1));
        for bad in ["", "m", "12x", "-5m", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
