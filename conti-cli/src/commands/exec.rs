//! `conti-cli exec`: run a command in a running container; exits with its exit code.

use clap::Args;
use conti_proto::ExecSpec;

use super::{CliError, exit_status};
use crate::client::Client;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container (absolute).
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
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
            env: self.env.clone(),
            cwd: self.workdir.clone(),
        }
    }
}

pub async fn exec(client: &Client, format: Format, args: ExecArgs) -> Result<u8, CliError> {
    let result = client
        .exec(args.container(), &args.to_spec())
        .await
        .map_err(CliError::Container)?;
    match format {
        Format::Json => output::print_json(&result)?,
        Format::Human => {
            output::write_stdout(result.stdout.as_bytes())?;
            output::write_stderr(result.stderr.as_bytes())?;
        }
    }
    Ok(exit_status(result.exit_code))
}
