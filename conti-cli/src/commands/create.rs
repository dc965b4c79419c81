//! `conti-cli create`: a container, not started; prints its id.

use clap::Args;
use conti_proto::{ContainerSpec, NetworkMode, PortBinding, PortProtocol, VolumeSpec};

use super::CliError;
use super::env::{self, EnvArg};
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
    /// Network: `bridge` (default), `none` (only lo), `host`, `container:<name|id>`, or the
    /// name of a network made with `network create`.
    #[arg(long, value_name = "MODE", value_parser = parse_network)]
    pub network: Option<NetworkMode>,
    /// Publish a container port on the host: [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]
    /// (HOSTIP defaults to 127.0.0.1; repeatable).
    #[arg(short = 'p', long = "publish", value_name = "PORTS", value_parser = parse_port_binding)]
    pub publish: Vec<PortBinding>,
    /// Environment variable, KEY=VALUE, or KEY for the value it has here (left out when it
    /// has none); repeatable.
    #[arg(short, long = "env", value_name = "KEY[=VALUE]", value_parser = env::parse_env)]
    pub env: Vec<EnvArg>,
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

fn parse_network(mode: &str) -> Result<NetworkMode, String> {
    NetworkMode::parse(mode).ok_or_else(|| {
        "expected bridge, none, host, container:<name|id> or a network name".to_string()
    })
}

/// `[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`.
pub fn parse_port_binding(text: &str) -> Result<PortBinding, String> {
    let (ports, protocol) = match text.rsplit_once('/') {
        Some((ports, "tcp")) => (ports, PortProtocol::Tcp),
        Some((ports, "udp")) => (ports, PortProtocol::Udp),
        Some((_, other)) => return Err(format!("unknown protocol {other:?}: tcp or udp")),
        None => (text, PortProtocol::Tcp),
    };
    let parts: Vec<&str> = ports.split(':').collect();
    let (host_ip, host_port, container_port) = match parts.as_slice() {
        [host, container] => (conti_proto::DEFAULT_PUBLISH_ADDRESS, *host, *container),
        [ip, host, container] => (*ip, *host, *container),
        _ => return Err("expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]".into()),
    };
    let port = |text: &str| match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("invalid port {text:?}: 1-65535 expected")),
    };
    Ok(PortBinding {
        host_ip: host_ip.to_string(),
        host_port: port(host_port)?,
        container_port: port(container_port)?,
        protocol,
    })
}

impl ContainerArgs {
    pub fn to_spec(&self) -> ContainerSpec {
        ContainerSpec {
            name: self.name.clone(),
            image: self.image_and_cmd[0].clone(),
            cmd: self.image_and_cmd[1..].to_vec(),
            env: env::entries(&self.env),
            cwd: self.workdir.clone(),
            hostname: self.hostname.clone(),
            network: self.network.clone().unwrap_or_default(),
            ports: self.publish.clone(),
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
