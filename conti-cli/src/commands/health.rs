//! The health check flags of `create` and `run` (docker's `--health-*`).

use clap::Args;
use conti_proto::{HealthDuration, HealthcheckSpec};

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Command that checks the container's health, run by `/bin/sh -c` in it: exit code 0 is
    /// healthy (default: the image's check).
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between checks (30s, 1m30s, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = HealthDuration::parse)]
    pub health_interval: Option<HealthDuration>,
    /// A check still running after this long is killed and fails.
    #[arg(long, value_name = "DURATION", value_parser = HealthDuration::parse)]
    pub health_timeout: Option<HealthDuration>,
    /// Failures in a row that make the container unhealthy.
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    /// Failures during this time after the start do not count.
    #[arg(long, value_name = "DURATION", value_parser = HealthDuration::parse)]
    pub health_start_period: Option<HealthDuration>,
    /// No health check, not even the image's.
    #[arg(long, conflicts_with_all = ["health_cmd", "health_interval", "health_timeout", "health_retries", "health_start_period"])]
    pub no_healthcheck: bool,
}

impl HealthArgs {
    /// The spec's `healthcheck`: `None` when no flag was given (the image's check applies).
    pub fn to_healthcheck(&self) -> Option<HealthcheckSpec> {
        if self.no_healthcheck {
            return Some(HealthcheckSpec::disabled());
        }
        let spec = HealthcheckSpec {
            test: self
                .health_cmd
                .iter()
                .flat_map(|command| ["CMD-SHELL".to_string(), command.clone()])
                .collect(),
            interval: self.health_interval,
            timeout: self.health_timeout,
            start_period: self.health_start_period,
            retries: self.health_retries,
        };
        (spec != HealthcheckSpec::default()).then_some(spec)
    }
}
