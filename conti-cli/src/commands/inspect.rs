//! `conti-cli inspect`: containers as JSON, always (an array, like docker's).

use clap::Args;

use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn inspect(client: &Client, args: InspectArgs) -> Result<u8, CliError> {
    let mut found = Vec::new();
    let status = for_each_ref(&args.containers, async |container| {
        found.push(client.inspect_container(container).await?);
        Ok(())
    })
    .await?;
    output::print_json(&found)?;
    Ok(status)
}
