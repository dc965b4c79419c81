//! `conti-cli top`: the processes of a running container.

use clap::Args;

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
}

pub async fn top(client: &Client, format: Format, args: TopArgs) -> Result<u8, CliError> {
    let top = client.container_top(&args.container).await?;
    match format {
        Format::Json => output::print_json(&top)?,
        Format::Human => output::print_table(
            &["PID", "CONTAINER PID", "PPID", "USER", "COMMAND"],
            top.processes.iter().map(|p| {
                vec![
                    p.pid.to_string(),
                    p.container_pid.map_or("-".into(), |pid| pid.to_string()),
                    p.ppid.to_string(),
                    p.user.clone(),
                    p.command.clone(),
                ]
            }),
        )?,
    }
    Ok(0)
}
