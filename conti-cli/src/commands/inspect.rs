//! `conti-cli inspect`: containers as JSON, always (an array, like docker's). A name that finds
//! nothing is an error on stderr and exit status 1; the others are still shown. When none is
//! found, nothing is printed on stdout (docker prints `[]` then): a script reads either
//! containers or nothing.

use clap::Args;

use super::{CliError, inspect_each};
use crate::client::Client;

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn inspect(client: &Client, args: InspectArgs) -> Result<u8, CliError> {
    inspect_each(&args.containers, async |container| {
        client.inspect_container(container).await
    })
    .await
}
