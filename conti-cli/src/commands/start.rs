//! `conti-cli start`: start created or exited containers; prints each one started.

use clap::Args;

use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn start(client: &Client, args: StartArgs) -> Result<u8, CliError> {
    for_each_ref(&args.containers, async |container| {
        client.start_container(container).await?;
        Ok(output::print_line(container)?)
    })
    .await
}
