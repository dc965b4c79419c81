//! `conti-cli update`: change the limits and the restart policy of containers, running or not.

use clap::Args;
use conti_proto::{ContainerUpdate, RestartPolicy};

use super::limits::LimitArgs;
use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    /// A new restart policy: `no`, `always`, `unless-stopped`, `on-failure[:MAX]` (from the
    /// container's next exit on).
    #[arg(long, value_name = "POLICY", value_parser = RestartPolicy::parse)]
    pub restart: Option<RestartPolicy>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn update(client: &Client, args: UpdateArgs) -> Result<u8, CliError> {
    let update = ContainerUpdate {
        resources: args.limits.to_resources(),
        restart_policy: args.restart,
    };
    if update.resources.is_empty() && update.restart_policy.is_none() {
        return Err(CliError::Usage(
            "give at least one limit or a restart policy to change (see --help)".into(),
        ));
    }
    for_each_ref(&args.containers, async |container| {
        client.update_container(container, &update).await?;
        output::print_line(container)?;
        Ok(())
    })
    .await
}
