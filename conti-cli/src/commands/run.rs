//! `conti-cli run`: create and start a container, then (unless `-d`) show its output until it
//! exits and exit with its exit code.

use clap::Args;

use super::create::ContainerArgs;
use super::{CliError, exit_status, logs};
use crate::client::{Client, ClientError, LogOptions, LogStream};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print the container's id and leave it running.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub container: ContainerArgs,
}

pub async fn run(client: &Client, format: Format, args: RunArgs) -> Result<u8, CliError> {
    let spec = args.container.to_spec();
    let created = client
        .create_container(&spec)
        .await
        .map_err(CliError::Container)?;
    let id = created.id.as_str();

    if args.detach {
        if let Err(error) = client.start_container(id).await {
            return Err(abandon(client, id, spec.auto_remove, error).await);
        }
        match format {
            Format::Human => output::print_line(id)?,
            Format::Json => output::print_json(&created)?,
        }
        return Ok(0);
    }

    // Ask for the exit code and the output before starting: a quick command in an auto-removed
    // container could otherwise be gone before we ask. Both requests are on the wire before the
    // log request's answer comes back, and only then do we start; HTTP promises no more than
    // that about when contid registers the wait, but a container takes far longer to start.
    let wait = tokio::spawn({
        let client = client.clone();
        let id = id.to_string();
        async move { client.wait_container(&id).await }
    });
    let mut logs = match attach_and_start(client, id).await {
        Ok(logs) => logs,
        Err(error) => {
            wait.abort();
            return Err(abandon(client, id, spec.auto_remove, error).await);
        }
    };

    logs::copy(&mut logs, format)
        .await
        .map_err(|error| match error {
            CliError::Client(error) => CliError::Container(error),
            other => other,
        })?;
    let exit = wait
        .await
        .map_err(|e| CliError::Container(ClientError::Protocol(e.to_string())))?
        .map_err(CliError::Container)?;
    Ok(exit_status(exit.exit_code))
}

async fn attach_and_start(client: &Client, id: &str) -> Result<LogStream, ClientError> {
    let follow = LogOptions {
        follow: true,
        tail: None,
    };
    let logs = client.container_logs(id, follow).await?;
    client.start_container(id).await?;
    Ok(logs)
}

/// A container that could not be started is removed when it was meant to be (otherwise contid
/// keeps it, exited, so that `inspect` can tell why).
async fn abandon(client: &Client, id: &str, auto_remove: bool, error: ClientError) -> CliError {
    if auto_remove {
        // Best effort: the error worth showing is the one that stopped us.
        let _ = client.remove_container(id, true).await;
    }
    CliError::Container(error)
}
