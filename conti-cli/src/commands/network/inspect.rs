//! `conti-cli network inspect`: networks as JSON (an array, like docker's).

use clap::Args;

use crate::client::Client;
use crate::commands::{CliError, inspect_each};

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn inspect(client: &Client, args: InspectArgs) -> Result<u8, CliError> {
    inspect_each(&args.names, async |name| client.inspect_network(name).await).await
}
