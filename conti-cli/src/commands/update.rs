//! `conti-cli update`: change the limits of containers, running or not.

use clap::Args;
use conti_proto::ContainerUpdate;

use super::limits::LimitArgs;
use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn update(client: &Client, args: UpdateArgs) -> Result<u8, CliError> {
    let update = ContainerUpdate {
        resources: args.limits.to_resources(),
    };
    if update.resources.is_empty() {
        return Err(CliError::Usage(
            "give at least one limit to change (see --help)".into(),
        ));
    }
    for_each_ref(&args.containers, async |container| {
        client.update_container(container, &update).await?;
        output::print_line(container)?;
        Ok(())
    })
    .await
}
