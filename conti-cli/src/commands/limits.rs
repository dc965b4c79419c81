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

pub use conti_proto::parse_size;

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
        assert_eq!(parse_swap("-1"), Ok(-1));
        assert_eq!(parse_swap("64m"), Ok(64 << 20));
    }
}
