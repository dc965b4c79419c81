//! `conti-cli volume rm`: remove volumes; prints each one removed.

use clap::Args;

use crate::client::Client;
use crate::commands::{CliError, remove_each};

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn rm(client: &Client, args: RmArgs) -> Result<u8, CliError> {
    remove_each(&args.names, async |name| client.remove_volume(name).await).await
}
