//! `conti-cli image rm`: remove images; prints each one removed.

use clap::Args;

use crate::client::Client;
use crate::commands::{CliError, for_each_ref};
use crate::output;

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn rm(client: &Client, args: RmArgs) -> Result<u8, CliError> {
    for_each_ref(&args.names, async |name| {
        client.remove_image(name).await?;
        Ok(output::print_line(name)?)
    })
    .await
}
