//! `conti-cli image inspect REF…`: images as JSON, an array as docker's. A reference that finds
//! nothing is an error on stderr and exit status 1; the others are still shown.

use clap::Args;

use crate::client::Client;
use crate::commands::{CliError, inspect_each};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image names or ids.
    #[arg(required = true, value_name = "REF")]
    pub images: Vec<String>,
}

pub async fn inspect(client: &Client, args: InspectArgs) -> Result<u8, CliError> {
    inspect_each(&args.images, async |image| {
        client.inspect_image(image).await
    })
    .await
}
