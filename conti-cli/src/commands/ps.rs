//! `conti-cli ps`: the containers, as a table.

use std::time::SystemTime;

use clap::Args;
use conti_proto::{ContainerInfo, ContainerState, HealthStatus};

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format, elapsed, human_duration, time_ago};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Only print the short ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Only the containers that match: label=KEY[=VALUE], name=PART, status=STATE, id=PREFIX,
    /// ancestor=IMAGE. Repeatable: the labels must all match, the other values of one filter
    /// are alternatives.
    #[arg(short, long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filters: Vec<(String, String)>,
}

/// The filters `GET /v1/containers` takes, as query parameters.
const FILTERS: [&str; 5] = ["label", "name", "status", "id", "ancestor"];

/// `KEY=VALUE` of a filter contid knows.
fn parse_filter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if FILTERS.contains(&key) => Ok((key.to_string(), value.to_string())),
        _ => Err(format!(
            "{text:?}: expected KEY=VALUE with KEY one of {}",
            FILTERS.join(", ")
        )),
    }
}

pub async fn ps(client: &Client, format: Format, args: PsArgs) -> Result<u8, CliError> {
    let containers = client.list_containers(args.all, &args.filters).await?;
    if args.quiet {
        for container in &containers {
            output::print_line(&short_id(&container.id))?;
        }
    } else if format == Format::Json {
        output::print_json(&containers)?;
    } else {
        let now = SystemTime::now();
        let header = [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAME",
        ];
        let rows = containers.iter().map(|container| {
            vec![
                short_id(&container.id),
                container.image.clone(),
                command(&container.cmd),
                time_ago(&container.created, now),
                status(container, now),
                ports(container),
                container.name.clone(),
            ]
        });
        output::print_table(&header, rows)?;
    }
    Ok(0)
}

/// The first 12 hex digits of the id, as hostnames and docker show it.
pub fn short_id(id: &str) -> String {
    id.chars().filter(|&c| c != '-').take(12).collect()
}

/// The command line, cut to 20 characters and quoted, like docker's.
fn command(cmd: &[String]) -> String {
    const WIDTH: usize = 20;
    let line = cmd.join(" ");
    if line.chars().count() <= WIDTH {
        format!("{line:?}")
    } else {
        let cut: String = line.chars().take(WIDTH - 1).collect();
        format!("{:?}", cut + "…")
    }
}

/// Published ports as docker shows them: `127.0.0.1:8080->80/tcp, ...`; only while the
/// container runs, when they are published (`inspect` shows what it publishes when it runs).
fn ports(container: &ContainerInfo) -> String {
    if container.state != ContainerState::Running {
        return String::new();
    }
    container
        .ports
        .iter()
        .map(|p| {
            format!(
                "{}:{}->{}/{}",
                p.host_ip,
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Created`, `Up 3 minutes (healthy)`, `Restarting (1) 2 seconds ago`, `Exited (0) 2
/// seconds ago`, as docker shows them.
fn status(container: &ContainerInfo, now: SystemTime) -> String {
    let since = |time: &Option<String>| time.as_deref().and_then(|t| elapsed(t, now));
    let ended = |state: &str| {
        let code = container
            .exit_code
            .map_or_else(|| "?".to_string(), |code| code.to_string());
        match since(&container.finished) {
            Some(duration) => format!("{state} ({code}) {} ago", human_duration(duration)),
            None => format!("{state} ({code})"),
        }
    };
    match container.state {
        ContainerState::Created => "Created".to_string(),
        ContainerState::Running if container.restarting => ended("Restarting"),
        ContainerState::Running => {
            let up = match since(&container.started) {
                Some(duration) => format!("Up {}", human_duration(duration)),
                None => "Up".to_string(),
            };
            match &container.health {
                Some(health) if health.status == HealthStatus::Starting => {
                    format!("{up} (health: starting)")
                }
                Some(health) => format!("{up} ({})", health.status.as_str()),
                None => up,
            }
        }
        ContainerState::Exited => ended("Exited"),
    }
}

#[cfg(test)]
mod tests {
    use conti_proto::NetworkMode;

    use super::*;

    fn container(state: ContainerState) -> ContainerInfo {
        ContainerInfo {
            id: "0f3c2a9e-5b1d-4c8e-9a7f-123456789abc".to_string(),
            name: "web".to_string(),
            image: "busybox".to_string(),
            image_id: format!("sha256:{}", "ab".repeat(32)),
            cmd: vec!["sleep".to_string(), "100".to_string()],
            env: Vec::new(),
            cwd: "/".to_string(),
            state,
            pid: None,
            exit_code: None,
            error: None,
            created: "2026-05-01T12:00:00.5Z".to_string(),
            started: Some("2026-05-01T12:00:01Z".to_string()),
            finished: None,
            hostname: "0f3c2a9e5b1d".to_string(),
            network: NetworkMode::None,
            networks: vec![],
            ports: vec![],
            auto_remove: false,
            init: false,
            tty: false,
            open_stdin: false,
            resources: Default::default(),
            oom_killed: false,
            security: Default::default(),
            user: None,
            volumes: Vec::new(),
            restart_policy: Default::default(),
            restart_count: 0,
            restarting: false,
            healthcheck: None,
            health: None,
            labels: Default::default(),
            network_aliases: Vec::new(),
            stop_signal: "SIGTERM".into(),
            stop_timeout: 10,
            log_limits: Default::default(),
            tmpfs: Vec::new(),
            shm_size: conti_proto::DEFAULT_SHM_SIZE,
            extra_hosts: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            group_add: Vec::new(),
        }
    }

    #[test]
    fn filters_are_the_ones_contid_knows() {
        assert_eq!(
            parse_filter("label=com.example.tier=web").unwrap(),
            ("label".to_string(), "com.example.tier=web".to_string())
        );
        assert_eq!(parse_filter("status=exited").unwrap().1, "exited");
        for bad in ["label", "colour=red", "=x"] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_ids_skip_dashes() {
        assert_eq!(
            short_id("0f3c2a9e-5b1d-4c8e-9a7f-123456789abc"),
            "0f3c2a9e5b1d"
        );
    }

    #[test]
    fn commands_are_quoted_and_cut() {
        let cmd =
            |words: &[&str]| command(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert_eq!(cmd(&["sleep", "100"]), r#""sleep 100""#);
        assert_eq!(cmd(&["sh", "-c", "echo hi"]), r#""sh -c echo hi""#);
        assert_eq!(
            cmd(&["sh", "-c", "while true; do date; done"]),
            r#""sh -c while true; d…""#
        );
        assert_eq!(cmd(&["echo", "\"x\""]), r#""echo \"x\"""#);
    }

    #[test]
    fn published_ports_read_like_docker() {
        let mut web = container(ContainerState::Running);
        assert_eq!(ports(&web), "");
        web.ports = vec![
            conti_proto::PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: 8080,
                container_port: 80,
                protocol: conti_proto::PortProtocol::Tcp,
            },
            conti_proto::PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: 53,
                container_port: 53,
                protocol: conti_proto::PortProtocol::Udp,
            },
        ];
        assert_eq!(ports(&web), "127.0.0.1:8080->80/tcp, 0.0.0.0:53->53/udp");
        // Published only while it runs.
        for state in [ContainerState::Created, ContainerState::Exited] {
            web.state = state;
            assert_eq!(ports(&web), "", "{state:?}");
        }
    }

    #[test]
    fn statuses_read_like_docker() {
        let now = humantime::parse_rfc3339("2026-05-01T12:03:01Z").unwrap();
        assert_eq!(status(&container(ContainerState::Created), now), "Created");
        assert_eq!(
            status(&container(ContainerState::Running), now),
            "Up 3 minutes"
        );
        let mut exited = container(ContainerState::Exited);
        exited.exit_code = Some(137);
        exited.finished = Some("2026-05-01T12:02:59Z".to_string());
        assert_eq!(status(&exited, now), "Exited (137) 2 seconds ago");
        let mut restarting = exited.clone();
        restarting.state = ContainerState::Running;
        restarting.restarting = true;
        restarting.exit_code = Some(1);
        assert_eq!(status(&restarting, now), "Restarting (1) 2 seconds ago");
        let mut checked = container(ContainerState::Running);
        for (health, shown) in [
            (HealthStatus::Starting, "Up 3 minutes (health: starting)"),
            (HealthStatus::Healthy, "Up 3 minutes (healthy)"),
            (HealthStatus::Unhealthy, "Up 3 minutes (unhealthy)"),
        ] {
            checked.health = Some(conti_proto::Health {
                status: health,
                failing_streak: 0,
                log: vec![],
            });
            assert_eq!(status(&checked, now), shown);
        }
    }
}
