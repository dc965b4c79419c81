//! `conti-cli rm`: remove containers; prints each one removed.

use clap::Args;

use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop running containers first.
    #[arg(short, long)]
    pub force: bool,
    /// Also remove the containers' anonymous volumes (named volumes stay).
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn rm(client: &Client, args: RmArgs) -> Result<u8, CliError> {
    for_each_ref(&args.containers, async |container| {
        client
            .remove_container(container, args.force, args.volumes)
            .await?;
        Ok(output::print_line(container)?)
    })
    .await
}
