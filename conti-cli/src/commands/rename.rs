//! `conti-cli rename`: a container's new name.

use clap::Args;

use super::CliError;
use crate::client::Client;

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub async fn rename(client: &Client, args: RenameArgs) -> Result<u8, CliError> {
    client
        .rename_container(&args.container, &args.new_name)
        .await?;
    Ok(0)
}
