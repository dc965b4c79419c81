//! `conti-cli image tag SOURCE TARGET` (and `tag`): another name for an image. Prints nothing,
//! as docker.

use clap::Args;

use crate::client::Client;
use crate::commands::CliError;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image: a name, or an id (`sha256:…`, or 12 or more of its hex digits).
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The new name: NAME[:TAG] (`:latest` when no tag is given).
    #[arg(value_name = "TARGET")]
    pub target: String,
}

pub async fn tag(client: &Client, args: TagArgs) -> Result<u8, CliError> {
    client.tag_image(&args.source, &args.target).await?;
    Ok(0)
}
