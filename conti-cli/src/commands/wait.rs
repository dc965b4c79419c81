//! `conti-cli wait`: block until containers exit; prints each exit code.

use clap::Args;

use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn wait(client: &Client, args: WaitArgs) -> Result<u8, CliError> {
    for_each_ref(&args.containers, async |container| {
        let result = client.wait_container(container).await?;
        Ok(output::print_line(&result.exit_code.to_string())?)
    })
    .await
}
