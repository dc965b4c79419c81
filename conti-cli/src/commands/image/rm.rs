//! `conti-cli image rm` (and `rmi`): remove image names; prints each one removed. An image goes
//! with its last name, or when it is named by its id; one a container uses stays.

use clap::Args;

use crate::client::Client;
use crate::commands::{CliError, remove_each};

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Image names or ids (`sha256:…`, or 12 or more of its hex digits).
    #[arg(required = true, value_name = "REF")]
    pub names: Vec<String>,
}

pub async fn rm(client: &Client, args: RmArgs) -> Result<u8, CliError> {
    remove_each(&args.names, async |name| client.remove_image(name).await).await
}
