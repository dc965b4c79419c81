//! `conti-cli create`: a container, not started; prints its id.

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use conti_proto::{ContainerSpec, NetworkMode, VolumeSpec};

use super::CliError;
use super::limits::LimitArgs;
use super::security::SecurityArgs;
use crate::client::Client;
use crate::output::{self, Format};

/// What `create` and `run` both take: the container's spec.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// Remove the container as soon as it exits.
    #[arg(long)]
    pub rm: bool,
    /// Run a tiny init as PID 1 that reaps zombies and forwards signals to the command.
    #[arg(long)]
    pub init: bool,
    /// Keep stdin open: `run` sends ours to the container.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the container a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Name of the container (generated when absent).
    #[arg(long)]
    pub name: Option<String>,
    /// Hostname inside the container (default: the short id).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Network: `none` (only lo) or `host`.
    #[arg(
        long,
        value_name = "MODE",
        value_parser = PossibleValuesParser::new(["none", "host"]).map(|mode| parse_network(&mode))
    )]
    pub network: Option<NetworkMode>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container (absolute).
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Bind a host path or a named volume: SOURCE:TARGET[:ro|:rw] (repeatable).
    #[arg(short, long = "volume", value_name = "SOURCE:TARGET[:ro]", value_parser = parse_volume)]
    pub volumes: Vec<VolumeSpec>,
    /// User to run as: NAME or UID from the image's /etc/passwd, optionally :GROUP or :GID.
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    /// Imported image to run, then the command and its arguments. Flags after IMAGE belong to
    /// the command, as with docker.
    #[arg(
        value_names = ["IMAGE", "CMD"],
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
    )]
    pub image_and_cmd: Vec<String>,
}

/// docker's `-v SOURCE:TARGET[:ro|:rw]`.
fn parse_volume(text: &str) -> Result<VolumeSpec, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts[..] {
        [source, target] => (source, target, false),
        [source, target, "ro"] => (source, target, true),
        [source, target, "rw"] => (source, target, false),
        _ => return Err(format!("{text:?}: expected SOURCE:TARGET[:ro|:rw]")),
    };
    Ok(VolumeSpec {
        source: source.to_string(),
        target: target.to_string(),
        read_only,
    })
}

fn parse_network(mode: &str) -> NetworkMode {
    if mode == "host" {
        NetworkMode::Host
    } else {
        NetworkMode::None
    }
}

impl ContainerArgs {
    pub fn to_spec(&self) -> ContainerSpec {
        ContainerSpec {
            name: self.name.clone(),
            image: self.image_and_cmd[0].clone(),
            cmd: self.image_and_cmd[1..].to_vec(),
            env: self.env.clone(),
            cwd: self.workdir.clone(),
            hostname: self.hostname.clone(),
            network: self.network.unwrap_or_default(),
            auto_remove: self.rm,
            init: self.init,
            tty: self.tty,
            open_stdin: self.interactive,
            resources: self.limits.to_resources(),
            security: self.security.to_security(),
            user: self.user.clone(),
            volumes: self.volumes.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub container: ContainerArgs,
}

pub async fn create(client: &Client, format: Format, args: CreateArgs) -> Result<u8, CliError> {
    let created = client.create_container(&args.container.to_spec()).await?;
    match format {
        Format::Human => output::print_line(&created.id)?,
        Format::Json => output::print_json(&created)?,
    }
    Ok(0)
}
