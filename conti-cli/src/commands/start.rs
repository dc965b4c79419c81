//! `conti-cli start`: start created or exited containers; prints each one started. With `-a`,
//! attaches to one container first, then starts it and shows its output until it exits.

use clap::Args;
use conti_proto::ContainerState;

use super::attach::{DEFAULT_DETACH_KEYS, ResizeTarget, SigProxyArg, exit_after, run_session};
use super::{CliError, for_each_ref};
use crate::client::{Client, ClientError};
use crate::output;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output (and, with -i, its input), exit with its exit code.
    #[arg(short, long)]
    pub attach: bool,
    /// Send our stdin to the container (with -a; it must have been created with -i).
    #[arg(short, long, requires = "attach")]
    pub interactive: bool,
    /// Key sequence that detaches (with -a on a terminal) and leaves the container running.
    #[arg(long, value_name = "KEYS", default_value = DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,
    #[command(flatten)]
    pub sig_proxy: SigProxyArg,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub async fn start(client: &Client, args: StartArgs) -> Result<u8, CliError> {
    if args.attach {
        return start_attached(client, &args).await;
    }
    for_each_ref(&args.containers, async |container| {
        client.start_container(container).await?;
        Ok(output::print_line(container)?)
    })
    .await
}

/// As `run -i/-t` does: attach (contid hands the connection over at start, so no output is
/// lost), then start, then copy until the container is done or we detach.
async fn start_attached(client: &Client, args: &StartArgs) -> Result<u8, CliError> {
    let [container] = args.containers.as_slice() else {
        return Err(CliError::Usage(
            "start -a takes one container at a time".into(),
        ));
    };
    let info = client
        .inspect_container(container)
        .await
        .map_err(CliError::Container)?;
    let stdin = args.interactive && info.open_stdin;
    if info.tty && stdin && !crate::terminal::stdin_is_terminal() {
        return Err(CliError::Usage(
            "the input device is not a TTY (drop -i)".into(),
        ));
    }
    if info.state == ContainerState::Exited {
        // contid attaches to an exited container only once it runs again: too late for the
        // first output.
        return Err(CliError::Usage(format!(
            "container {container} has exited: start -a needs a created or running one \
             (`conti-cli start {container}`, then `conti-cli logs -f {container}`)"
        )));
    }
    let id = info.id.as_str();
    let target = ResizeTarget::Container(id.to_string());
    let started = async {
        let stream = client
            .attach_container(id, stdin, Some(&args.detach_keys))
            .await?;
        if info.tty {
            // Before the start: applied when the terminal is made.
            let _ = target.resize(client).await;
        }
        // Docker's `start -a` on a running container only attaches.
        if info.state == ContainerState::Created {
            client.start_container(id).await?;
        }
        Ok::<_, ClientError>(stream)
    };
    let stream = started.await.map_err(CliError::Container)?;
    let end = run_session(
        client,
        stream,
        info.tty,
        stdin,
        &args.detach_keys,
        &target,
        args.sig_proxy.target(id, info.tty),
    )
    .await?;
    exit_after(client, id, end).await
}
