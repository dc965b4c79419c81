//! `conti-cli create`: a container, not started; prints its id.

use clap::{Args, ValueEnum};
use conti_proto::{
    ContainerSpec, CreatedContainer, NetworkMode, PortBinding, PortProtocol, RestartPolicy,
    VolumeSpec,
};

use super::CliError;
use super::env::{self, EnvArg, EnvFile};
use super::health::HealthArgs;
use super::image::progress::ProgressOutput;
use super::image::pull::pull_showing;
use super::labels::{self, Label, LabelFile};
use super::limits::LimitArgs;
use super::log_options::LogArgs;
use super::mounts::MountArgs;
use super::name_resolution::NameResolutionArgs;
use super::security::SecurityArgs;
use crate::client::Client;
use crate::output::{self, Format};
use crate::reference::{is_image_id, with_default_tag};

/// When `run` and `create` pull the image, as docker's `--pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PullPolicy {
    /// When contid does not have it.
    #[default]
    Missing,
    /// Every time, before the container is made.
    Always,
    /// Never: a missing image is an error.
    Never,
}

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
    /// Bind a host path or a named volume: SOURCE:TARGET[:ro|:rw], or /PATH alone for an
    /// anonymous volume (repeatable).
    #[arg(short, long = "volume", value_name = "SOURCE:TARGET[:ro]", value_parser = parse_volume)]
    pub volumes: Vec<VolumeSpec>,
    /// User to run as: NAME or UID from the image's /etc/passwd, optionally :GROUP or :GID
    /// (default: the image's).
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Run this executable instead of the image's entrypoint (the command, if any, is its
    /// arguments); `--entrypoint ""` runs the command alone.
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,
    /// Set a label, KEY=VALUE or KEY (repeatable).
    #[arg(short, long = "label", value_name = "KEY[=VALUE]", value_parser = labels::parse_label)]
    pub labels: Vec<Label>,
    /// Read labels from a file, KEY=VALUE a line (repeatable; --label wins).
    #[arg(long = "label-file", value_name = "FILE", value_parser = labels::parse_label_file)]
    pub label_files: Vec<LabelFile>,
    /// Another name the container answers to on its network (only a network made with
    /// `network create`; repeatable).
    #[arg(long = "network-alias", value_name = "ALIAS")]
    pub network_aliases: Vec<String>,
    /// The signal `stop` sends first (default: the image's, else SIGTERM).
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL when it is not given -t (default 10).
    #[arg(long = "stop-timeout", value_name = "SECONDS")]
    pub stop_timeout: Option<u64>,
    /// Pull the image: `missing` (when contid does not have it), `always`, or `never`.
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,
    /// Start the container again when it exits: `no` (default), `always`, `unless-stopped`,
    /// `on-failure[:MAX]` (after a non-zero exit, MAX times at most).
    #[arg(long, value_name = "POLICY", value_parser = RestartPolicy::parse)]
    pub restart: Option<RestartPolicy>,
    #[command(flatten)]
    pub health: HealthArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Read environment variables from a file: KEY=VALUE or KEY a line, # comments
    /// (repeatable; -e wins).
    #[arg(long = "env-file", value_name = "FILE", value_parser = env::parse_env_file)]
    pub env_files: Vec<EnvFile>,
    #[command(flatten)]
    pub mounts: MountArgs,
    #[command(flatten)]
    pub name_resolution: NameResolutionArgs,
    /// An extra group for the container's processes: a name from its /etc/group or a GID
    /// (repeatable).
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Image to run (a name, pulled as --pull says, or an id), then the command and its
    /// arguments (default: the image's). Flags after IMAGE belong to the command, as with
    /// docker.
    #[arg(
        value_names = ["IMAGE", "CMD"],
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
    )]
    pub image_and_cmd: Vec<String>,
}

/// docker's `-v SOURCE:TARGET[:ro|:rw]`, or `-v TARGET` for an anonymous volume.
fn parse_volume(text: &str) -> Result<VolumeSpec, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts[..] {
        [target] if target.starts_with('/') => ("", target, false),
        [source, target] => (source, target, false),
        [source, target, "ro"] => (source, target, true),
        [source, target, "rw"] => (source, target, false),
        _ => {
            return Err(format!(
                "{text:?}: expected SOURCE:TARGET[:ro|:rw] or /PATH"
            ));
        }
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
            // Docker's `--entrypoint` is one executable; empty clears the image's.
            entrypoint: self.entrypoint.as_ref().map(|entrypoint| {
                if entrypoint.is_empty() {
                    Vec::new()
                } else {
                    vec![entrypoint.clone()]
                }
            }),
            env: env::entries_with_files(&self.env_files, &self.env),
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
            volumes: self.mounts.volumes(&self.volumes),
            restart_policy: self.restart.unwrap_or_default(),
            healthcheck: self.health.to_healthcheck(),
            labels: labels::merged(&self.label_files, &self.labels),
            network_aliases: self.network_aliases.clone(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            log_limits: self.log.to_log_limits(),
            tmpfs: self.mounts.tmpfs(),
            shm_size: self.mounts.shm_size,
            extra_hosts: self.name_resolution.add_host.clone(),
            dns: self.name_resolution.dns.clone(),
            dns_search: self.name_resolution.dns_search.clone(),
            dns_options: self.name_resolution.dns_option.clone(),
            group_add: self.group_add.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub container: ContainerArgs,
}

pub async fn create(client: &Client, format: Format, args: CreateArgs) -> Result<u8, CliError> {
    let spec = args.container.to_spec();
    let created = create_pulling(client, &spec, args.container.pull).await?;
    match format {
        Format::Human => output::print_line(&created.id)?,
        Format::Json => output::print_json(&created)?,
    }
    Ok(0)
}

/// Creates the container of `spec`, pulling its image as `policy` says, as docker does: with
/// `missing`, a create that finds no image pulls it (`Unable to find image … locally`, then the
/// progress on stderr) and tries again. An image named by its id is never pulled.
pub async fn create_pulling(
    client: &Client,
    spec: &ContainerSpec,
    policy: PullPolicy,
) -> Result<CreatedContainer, CliError> {
    if policy == PullPolicy::Always {
        pull_showing(client, &spec.image, None, ProgressOutput::Stderr).await?;
    }
    match client.create_container(spec).await {
        Err(error)
            if policy == PullPolicy::Missing
                && error.api_code() == Some("image_not_found")
                && !is_image_id(&spec.image) =>
        {
            eprintln!(
                "Unable to find image '{}' locally",
                with_default_tag(&spec.image)
            );
            pull_showing(client, &spec.image, None, ProgressOutput::Stderr).await?;
            Ok(client.create_container(spec).await?)
        }
        result => Ok(result?),
    }
}

/// An error of `run` as docker's exit statuses tell it (125 for contid's, the pull's included).
pub fn container_error(error: CliError) -> CliError {
    match error {
        CliError::Client(error) => CliError::Container(error),
        error => error,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::fake_contid::{json_answer, ndjson_answer, serve};

    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        container: ContainerArgs,
    }

    fn parse_spec(line: &[&str]) -> (ContainerSpec, PullPolicy) {
        let line =
            Line::try_parse_from(std::iter::once("create").chain(line.iter().copied())).unwrap();
        (line.container.to_spec(), line.container.pull)
    }

    const NOT_FOUND: &str = r#"{"code":"image_not_found","message":"no such image: busybox"}"#;
    const CREATED: &str = r#"{"id":"c1","name":"web"}"#;

    fn pull_answer() -> Vec<String> {
        ndjson_answer(&[
            r#"{"status":"resolved","reference":"busybox:latest","digest":"sha256:m","layers":[]}"#,
            r#"{"status":"done","reference":"busybox:latest","id":"sha256:i","digest":"sha256:m"}"#,
        ])
    }

    fn paths(requests: &[String]) -> Vec<&str> {
        requests
            .iter()
            .map(|request| request.split(" HTTP/1.1").next().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_missing_image_is_pulled_then_the_create_is_tried_again() {
        let (client, server) = serve(vec![
            vec![json_answer("404 Not Found", NOT_FOUND)],
            pull_answer(),
            vec![json_answer("201 Created", CREATED)],
        ]);
        let (spec, policy) = parse_spec(&["busybox"]);
        assert_eq!(policy, PullPolicy::Missing);
        let created = create_pulling(&client, &spec, policy).await.unwrap();
        assert_eq!(created.id, "c1");
        let requests = server.await.unwrap();
        assert_eq!(
            paths(&requests),
            [
                "POST /v1/containers",
                "POST /v1/images/pull?ref=busybox",
                "POST /v1/containers"
            ]
        );
        // No command: the image's own.
        let (_, body) = requests[0].split_once("\r\n\r\n").unwrap();
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(sent["image"], "busybox");
        assert_eq!(sent["cmd"], serde_json::json!([]));
        assert!(sent.get("entrypoint").is_none(), "{sent}");
    }

    #[tokio::test]
    async fn always_pulls_first_and_never_does_not_pull() {
        let (client, server) = serve(vec![
            pull_answer(),
            vec![json_answer("201 Created", CREATED)],
        ]);
        let (spec, policy) = parse_spec(&["--pull", "always", "busybox", "true"]);
        create_pulling(&client, &spec, policy).await.unwrap();
        assert_eq!(
            paths(&server.await.unwrap()),
            ["POST /v1/images/pull?ref=busybox", "POST /v1/containers"]
        );

        let (client, server) = serve(vec![vec![json_answer("404 Not Found", NOT_FOUND)]]);
        let (spec, policy) = parse_spec(&["--pull=never", "busybox"]);
        let error = create_pulling(&client, &spec, policy).await.unwrap_err();
        assert_eq!(container_error(error).exit_code(), 125);
        assert_eq!(server.await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_pull_is_a_contid_error_of_run() {
        let (client, _server) = serve(vec![
            vec![json_answer("404 Not Found", NOT_FOUND)],
            vec![json_answer(
                "404 Not Found",
                r#"{"code":"image_not_found","message":"manifest unknown: no-such-image"}"#,
            )],
        ]);
        let (spec, policy) = parse_spec(&["no-such-image", "true"]);
        let error = container_error(create_pulling(&client, &spec, policy).await.unwrap_err());
        assert_eq!(error.exit_code(), 125);
        assert!(error.to_string().contains("no-such-image"), "{error}");
    }

    #[tokio::test]
    async fn an_image_named_by_its_id_is_not_pulled() {
        let (client, server) = serve(vec![vec![json_answer("404 Not Found", NOT_FOUND)]]);
        let (spec, policy) = parse_spec(&["sha256:0123", "true"]);
        create_pulling(&client, &spec, policy).await.unwrap_err();
        assert_eq!(server.await.unwrap().len(), 1);
    }

    #[test]
    fn labels_and_aliases_go_into_the_spec() {
        let file = std::env::temp_dir().join(format!("conti-labels-{}", std::process::id()));
        std::fs::write(&file, "a=from-file\nb=2\n").unwrap();
        let (spec, _) = parse_spec(&[
            "--label-file",
            file.to_str().unwrap(),
            "-l",
            "a=1",
            "--label",
            "flag",
            "--network",
            "front",
            "--network-alias",
            "db",
            "--network-alias",
            "primary",
            "busybox",
        ]);
        std::fs::remove_file(&file).unwrap();
        let labels: Vec<(&str, &str)> = spec
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(labels, [("a", "1"), ("b", "2"), ("flag", "")]);
        assert_eq!(spec.network_aliases, ["db", "primary"]);
        let line = Line::try_parse_from(["create", "--label-file", "/nonexistent", "busybox"]);
        assert!(line.is_err());
    }

    #[test]
    fn entrypoints_are_one_executable_or_none() {
        assert_eq!(parse_spec(&["busybox"]).0.entrypoint, None);
        let (with, _) = parse_spec(&["--entrypoint", "/bin/echo", "busybox", "hi"]);
        assert_eq!(with.entrypoint, Some(vec!["/bin/echo".to_string()]));
        assert_eq!(with.cmd, ["hi"]);
        assert_eq!(
            parse_spec(&["--entrypoint", "", "busybox"]).0.entrypoint,
            Some(vec![])
        );
        assert_eq!(
            parse_spec(&["--entrypoint=", "busybox"]).0.entrypoint,
            Some(vec![])
        );
    }
}
