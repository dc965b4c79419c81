//! `conti-cli restart`: stop (SIGTERM, then SIGKILL after the timeout) and start again; prints
//! each one restarted. It takes `stop`'s arguments.

use super::stop::StopArgs;
use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

pub async fn restart(client: &Client, args: StopArgs) -> Result<u8, CliError> {
    for_each_ref(&args.containers, async |container| {
        client.restart_container(container, args.timeout).await?;
        Ok(output::print_line(container)?)
    })
    .await
}
