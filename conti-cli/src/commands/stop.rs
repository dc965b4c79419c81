//! `conti-cli stop`: SIGTERM, then SIGKILL after the timeout; prints each one stopped.

use clap::Args;

use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing (contid's default: 10).
    #[arg(short = 't', long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn stop(client: &Client, args: StopArgs) -> Result<u8, CliError> {
    for_each_ref(&args.containers, async |container| {
        client.stop_container(container, args.timeout).await?;
        Ok(output::print_line(container)?)
    })
    .await
}
