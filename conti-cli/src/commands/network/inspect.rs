//! `conti-cli network inspect`: networks as JSON, always (an array).

use clap::Args;

use crate::client::Client;
use crate::commands::{CliError, for_each_ref};
use crate::output;

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn inspect(client: &Client, args: InspectArgs) -> Result<u8, CliError> {
    let mut found = Vec::new();
    let status = for_each_ref(&args.names, async |name| {
        found.push(client.inspect_network(name).await?);
        Ok(())
    })
    .await?;
    output::print_json(&found)?;
    Ok(status)
}
