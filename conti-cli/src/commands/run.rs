//! `conti-cli run`: create and start a container, then (unless `-d`) show its output until it
//! exits and exit with its exit code.

use clap::Args;

use super::attach::{DEFAULT_DETACH_KEYS, ResizeTarget, SessionEnd, SigProxyArg, run_session};
use super::create::{ContainerArgs, container_error, create_pulling};
use super::{CliError, exit_status};
use crate::client::{Client, ClientError};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Print the container's id and leave it running.
    #[arg(short, long)]
    pub detach: bool,
    /// Key sequence that detaches (with -i) and leaves the container running.
    #[arg(long, value_name = "KEYS", default_value = DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,
    #[command(flatten)]
    pub sig_proxy: SigProxyArg,
    #[command(flatten)]
    pub container: ContainerArgs,
}

pub async fn run(client: &Client, format: Format, args: RunArgs) -> Result<u8, CliError> {
    let spec = args.container.to_spec();
    let created = create_pulling(client, &spec, args.container.pull)
        .await
        .map_err(container_error)?;
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

    run_attached(client, &args, id).await
}

/// The exit status of `run` once the container's output has ended: its exit code.
async fn exit_when_done(
    wait: tokio::task::JoinHandle<Result<conti_proto::WaitResult, ClientError>>,
) -> Result<u8, CliError> {
    let exit = wait
        .await
        .map_err(|e| CliError::Container(ClientError::Protocol(e.to_string())))?
        .map_err(CliError::after_session)?;
    Ok(exit_status(exit.exit_code))
}

/// A container that could not be started is removed when it was meant to be (otherwise contid
/// keeps it, exited, so that `inspect` can tell why).
async fn abandon(client: &Client, id: &str, auto_remove: bool, error: ClientError) -> CliError {
    if auto_remove {
        // Best effort: the error worth showing is the one that stopped us.
        let _ = client.remove_container(id, true, true).await;
    }
    CliError::Container(error)
}

/// Attach first (contid hands the connection to the container's monitor at start, so no output
/// is lost: a client that reads slowly slows the container's writes, as a terminal does), then
/// start, then copy until the container is done or we detach (`-i`). The output is copied as the
/// container wrote it, stdout to our stdout and stderr to our stderr (one stream with `-t`).
async fn run_attached(client: &Client, args: &RunArgs, id: &str) -> Result<u8, CliError> {
    let (tty, stdin) = (args.container.tty, args.container.interactive);
    let auto_remove = args.container.rm;
    if tty && stdin && !crate::terminal::stdin_is_terminal() {
        let _ = client.remove_container(id, true, true).await;
        return Err(CliError::Usage(
            "the input device is not a TTY (drop -t)".into(),
        ));
    }
    let wait = tokio::spawn({
        let client = client.clone();
        let id = id.to_string();
        async move { client.wait_container(&id).await }
    });
    let target = ResizeTarget::Container(id.to_string());
    let started = async {
        let stream = client
            .attach_container(id, stdin, Some(&args.detach_keys))
            .await?;
        if tty {
            // Before the start: applied when the terminal is made.
            let _ = target.resize(client).await;
        }
        client.start_container(id).await?;
        Ok::<_, ClientError>(stream)
    };
    let stream = match started.await {
        Ok(stream) => stream,
        Err(error) => {
            wait.abort();
            return Err(abandon(client, id, auto_remove, error).await);
        }
    };
    let sig_proxy = args.sig_proxy.target(id, tty);
    let end = run_session(
        client,
        stream,
        tty,
        stdin,
        &args.detach_keys,
        &target,
        sig_proxy,
    )
    .await?;
    if end == SessionEnd::Detached {
        wait.abort();
        return Ok(0);
    }
    exit_when_done(wait).await
}
