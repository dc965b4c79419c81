//! `conti-cli exec`: run a command in a running container; exits with its exit code.

use clap::Args;
use conti_proto::ExecSpec;

use super::attach::{DEFAULT_DETACH_KEYS, ResizeTarget, SessionEnd, run_session};
use super::env::{self, EnvArg};
use super::{CliError, exit_status};
use crate::client::{Client, ClientError};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Send our stdin to the command.
    #[arg(short, long)]
    pub interactive: bool,
    /// Run the command on a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Start the command and return at once; it runs on in the background (its output is
    /// dropped). Prints nothing, or the exec's id with --json.
    #[arg(short, long, conflicts_with_all = ["interactive", "tty"])]
    pub detach: bool,
    /// Key sequence that detaches (with -i) and leaves the command running.
    #[arg(long, value_name = "KEYS", default_value = DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,
    /// Environment variable, KEY=VALUE, or KEY for the value it has here (left out when it
    /// has none); repeatable.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]", value_parser = env::parse_env)]
    pub env: Vec<EnvArg>,
    /// Working directory inside the container (absolute).
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as: NAME or UID, optionally :GROUP or :GID (default: the container's).
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Running container, then the command and its arguments. Flags after CONTAINER belong to
    /// the command, as with docker.
    #[arg(
        value_names = ["CONTAINER", "CMD"],
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
    )]
    pub container_and_cmd: Vec<String>,
}

impl ExecArgs {
    pub fn container(&self) -> &str {
        &self.container_and_cmd[0]
    }

    pub fn to_spec(&self) -> ExecSpec {
        ExecSpec {
            cmd: self.container_and_cmd[1..].to_vec(),
            env: env::entries(&self.env),
            cwd: self.workdir.clone(),
            user: self.user.clone(),
            attach: self.interactive || self.tty,
            tty: self.tty,
            stdin: self.interactive,
            detach: self.detach,
        }
    }
}

pub async fn exec(client: &Client, format: Format, args: ExecArgs) -> Result<u8, CliError> {
    if args.interactive || args.tty {
        return exec_attached(client, args).await;
    }
    if args.detach {
        let created = client
            .create_exec(args.container(), &args.to_spec())
            .await
            .map_err(CliError::Container)?;
        if format == Format::Json {
            output::print_json(&created)?;
        }
        return Ok(0);
    }
    let result = client
        .exec(args.container(), &args.to_spec())
        .await
        .map_err(CliError::Container)?;
    match format {
        Format::Json => output::print_json(&result)?,
        Format::Human => {
            let protocol = |e: conti_proto::InvalidBase64| {
                CliError::Container(ClientError::Protocol(e.to_string()))
            };
            output::write_stdout(&result.stdout_bytes().map_err(protocol)?)?;
            output::write_stderr(&result.stderr_bytes().map_err(protocol)?)?;
        }
    }
    Ok(exit_status(result.exit_code))
}

/// `exec -i` / `exec -t`: a streaming exec, its stdio connected to ours.
async fn exec_attached(client: &Client, args: ExecArgs) -> Result<u8, CliError> {
    if args.tty && args.interactive && !crate::terminal::stdin_is_terminal() {
        return Err(CliError::Usage(
            "the input device is not a TTY (drop -t)".into(),
        ));
    }
    let created = client
        .create_exec(args.container(), &args.to_spec())
        .await
        .map_err(CliError::Container)?;
    let target = ResizeTarget::Exec(created.id.clone());
    if args.tty {
        // Before the start: the command sees the right size from its first instruction.
        let _ = target.resize(client).await;
    }
    let stream = client
        .start_exec(&created.id, Some(&args.detach_keys))
        .await
        .map_err(CliError::Container)?;
    let end = run_session(
        client,
        stream,
        args.tty,
        args.interactive,
        &args.detach_keys,
        &target,
        // As Docker: an exec's signals are not forwarded (there is no kill for an exec).
        None,
    )
    .await?;
    if end == SessionEnd::Detached {
        return Ok(0);
    }
    // The stream ends once the exit code is recorded.
    let info = client
        .inspect_exec(&created.id)
        .await
        .map_err(CliError::after_session)?;
    Ok(exit_status(info.exit_code.unwrap_or(255)))
}
