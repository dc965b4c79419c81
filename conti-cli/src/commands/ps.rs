//! `conti-cli ps`: the containers, as a table or through a `--format` template.

use std::time::SystemTime;

use clap::Args;
use conti_proto::{ContainerInfo, ContainerState, DiskUsage, HealthStatus};

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format, elapsed, human_duration, human_size, time_ago};
use crate::template::{Field, Row, Template};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Only print the short ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Only the containers that match: label=KEY[=VALUE], name=PART, status=STATE, id=PREFIX,
    /// ancestor=IMAGE, network=NAME|ID, volume=NAME|PATH, exited=CODE, before=CONTAINER,
    /// since=CONTAINER. Repeatable: the labels must all match, the other values of one filter
    /// are alternatives.
    #[arg(short, long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filters: Vec<(String, String)>,
    /// Go-template subset, as docker's: {{.ID}}, {{.Names}}, {{.Image}}, {{.Command}},
    /// {{.CreatedAt}}, {{.RunningFor}}, {{.Status}}, {{.State}}, {{.Ports}}, {{.Labels}},
    /// {{.Label "KEY"}}, {{.Networks}}, {{.Mounts}}, {{.LocalVolumes}}, {{.Size}}, {{json .}};
    /// `table …` adds a header and aligns the columns at \t; `json` is {{json .}}.
    #[arg(long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Show the N containers created last, in any state.
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show the container created last, in any state (-n 1).
    #[arg(short, long, conflicts_with = "last")]
    pub latest: bool,
    /// Show ids and commands whole.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show the size of each container's writable layer (and with its image's, `virtual`).
    #[arg(short, long)]
    pub size: bool,
}

/// The filters `GET /v1/containers` takes, as query parameters.
const FILTERS: [&str; 10] = [
    "label", "name", "status", "id", "ancestor", "network", "volume", "exited", "before", "since",
];

/// What `--format` may read, as docker names it.
const FIELDS: [&str; 14] = [
    "ID",
    "Names",
    "Image",
    "Command",
    "CreatedAt",
    "RunningFor",
    "Status",
    "State",
    "Ports",
    "Labels",
    "Networks",
    "Mounts",
    "LocalVolumes",
    "Size",
];

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
    let template = args
        .format
        .as_deref()
        .map(|text| Template::parse(text, &FIELDS, "container"))
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let last = if args.latest { Some(1) } else { args.last };
    let mut containers = client
        .list_containers(args.all || last.is_some(), &args.filters)
        .await?;
    if let Some(last) = last {
        // Oldest first: the last N are the newest.
        containers.drain(..containers.len().saturating_sub(last));
    }
    let wants_size = args.size || template.as_ref().is_some_and(|t| t.uses("Size"));
    let sizes = if wants_size {
        Some(client.disk_usage().await?)
    } else {
        None
    };
    let now = SystemTime::now();
    let rows: Vec<ContainerRow> = containers
        .iter()
        .map(|container| ContainerRow {
            container,
            now,
            no_trunc: args.no_trunc,
            size: sizes.as_ref().map(|usage| size(container, usage)),
        })
        .collect();
    if args.quiet {
        for row in &rows {
            output::print_line(&row.id())?;
        }
    } else if let Some(template) = template {
        output::write_stdout(template.render(&rows, &header).as_bytes())?;
    } else if format == Format::Json {
        output::print_json(&containers)?;
    } else {
        let mut columns = vec![
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAME",
        ];
        if args.size {
            columns.push("SIZE");
        }
        let lines = rows.iter().map(|row| {
            let mut cells: Vec<String> = [
                "ID",
                "Image",
                "Command",
                "RunningFor",
                "Status",
                "Ports",
                "Names",
            ]
            .iter()
            .map(|name| row.field(name))
            .collect();
            if args.size {
                cells.push(row.field("Size"));
            }
            cells
        });
        output::print_table(&columns, lines)?;
    }
    Ok(0)
}

/// A container as `--format` sees it.
struct ContainerRow<'a> {
    container: &'a ContainerInfo,
    now: SystemTime,
    no_trunc: bool,
    /// `12B (virtual 4.27MB)`, when asked for.
    size: Option<String>,
}

impl ContainerRow<'_> {
    fn id(&self) -> String {
        if self.no_trunc {
            self.container.id.clone()
        } else {
            short_id(&self.container.id)
        }
    }
}

impl Row for ContainerRow<'_> {
    fn field(&self, name: &str) -> String {
        let c = self.container;
        match name {
            "ID" => self.id(),
            "Names" => c.name.clone(),
            "Image" => c.image.clone(),
            "Command" if self.no_trunc => format!("{:?}", c.cmd.join(" ")),
            "Command" => command(&c.cmd),
            "CreatedAt" => created_at(&c.created),
            "RunningFor" => time_ago(&c.created, self.now),
            "Status" => status(c, self.now),
            "State" => c.state.as_str().to_string(),
            "Ports" => ports(c),
            "Labels" => c
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            "Networks" => networks(c),
            "Mounts" => c
                .volumes
                .iter()
                .map(|v| v.source.as_str())
                .collect::<Vec<_>>()
                .join(","),
            "LocalVolumes" => c
                .volumes
                .iter()
                .filter(|v| !v.source.starts_with('/'))
                .count()
                .to_string(),
            "Size" => self.size.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }

    fn label(&self, key: &str) -> String {
        self.container.labels.get(key).cloned().unwrap_or_default()
    }

    fn json(&self) -> serde_json::Value {
        let fields = FIELDS
            .iter()
            .filter(|name| **name != "Size" || self.size.is_some())
            .map(|name| {
                (
                    name.to_string(),
                    serde_json::Value::String(self.field(name)),
                )
            });
        serde_json::Value::Object(fields.collect())
    }
}

/// The header docker gives a field's column.
fn header(field: &Field) -> String {
    match field {
        Field::Named(name) => match name.as_str() {
            "ID" => "CONTAINER ID".into(),
            "CreatedAt" => "CREATED AT".into(),
            "RunningFor" => "CREATED".into(),
            "LocalVolumes" => "LOCAL VOLUMES".into(),
            other => other.to_uppercase(),
        },
        // Docker's: the key's last dotted part, `-` and `_` as spaces.
        Field::Label(key) => key
            .rsplit('.')
            .next()
            .unwrap_or(key)
            .replace(['-', '_'], " ")
            .to_uppercase(),
    }
}

/// Go's time format, as docker shows `CreatedAt`: `2026-05-01 12:00:00 +0000 UTC`.
fn created_at(created: &str) -> String {
    match humantime::parse_rfc3339_weak(created) {
        Ok(time) => {
            let text = humantime::format_rfc3339_seconds(time).to_string();
            text.replacen('T', " ", 1).replace('Z', " +0000 UTC")
        }
        Err(_) => created.to_string(),
    }
}

/// The networks it is on, or its network mode (`host`, `none`, `container:…`).
fn networks(container: &ContainerInfo) -> String {
    if container.networks.is_empty() {
        return container.network.to_string();
    }
    container
        .networks
        .iter()
        .map(|n| n.network.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Its writable layer's bytes, and with its image's, as docker's `SIZE`.
fn size(container: &ContainerInfo, usage: &DiskUsage) -> String {
    let own = usage
        .container_usage
        .iter()
        .find(|c| c.id == container.id)
        .map_or(0, |c| c.size);
    let image = usage
        .image_usage
        .iter()
        .find(|i| i.id == container.image_id)
        .map_or(0, |i| i.size);
    format!("{} (virtual {})", human_size(own), human_size(own + image))
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
    fn format_fields_read_like_dockers() {
        let mut web = container(ContainerState::Running);
        web.labels = [("com.example.app-tier".to_string(), "front".to_string())].into();
        let now = humantime::parse_rfc3339("2026-05-01T12:03:01Z").unwrap();
        let row = ContainerRow {
            container: &web,
            now,
            no_trunc: false,
            size: None,
        };
        assert_eq!(row.field("CreatedAt"), "2026-05-01 12:00:00 +0000 UTC");
        assert_eq!(row.field("RunningFor"), "3 minutes ago");
        assert_eq!(row.field("Networks"), "none");
        assert_eq!(row.field("Labels"), "com.example.app-tier=front");
        assert_eq!(
            header(&Field::Label("com.example.app-tier".into())),
            "APP TIER"
        );
        let json = row.json();
        assert_eq!(json["ID"], "0f3c2a9e5b1d");
        assert_eq!(json["State"], "running");
        assert!(json.get("Size").is_none(), "only when asked for");
        let whole = ContainerRow {
            no_trunc: true,
            ..row
        };
        assert_eq!(whole.id(), web.id);
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
