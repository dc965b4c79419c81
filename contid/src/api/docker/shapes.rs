//! Conti's container and image records in Docker's shapes: inspect, the `ps` summary, the
//! image list and inspect.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bollard_stubs::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    ContainerSummary, ContainerSummaryHostConfig, ContainerSummaryNetworkSettings,
    EndpointSettings, HealthStatusEnum, HealthcheckResult, HostConfig, HostConfigLogConfig,
    ImageConfig, ImageInspect, ImageInspectRootFs, ImageSummary, MountPoint, MountPointTypeEnum,
    NetworkSettings, Port, PortBinding, PortTypeEnum, RestartPolicy, RestartPolicyNameEnum,
};
use conti_proto::{ContainerInfo, ImageInfo, NetworkMode};

/// Docker's ids are hex: a container's is its UUID without the dashes (Conti resolves it, and
/// any prefix of it, as it resolves the UUID).
pub fn docker_id(id: &str) -> String {
    id.replace('-', "")
}

fn unix_seconds(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339_weak(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn since(rfc3339: Option<&str>) -> Duration {
    rfc3339
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Docker's `units.HumanDuration`: "Less than a second", "5 seconds", "About a minute"…
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    match () {
        _ if seconds < 1 => "Less than a second".to_string(),
        _ if seconds == 1 => "1 second".to_string(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".to_string(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_string(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// `ps`'s STATUS column: `Up 5 seconds (healthy)`, `Restarting (1) 2 seconds ago`…
pub fn status_line(info: &ContainerInfo) -> String {
    match info.state {
        conti_proto::ContainerState::Created => "Created".to_string(),
        conti_proto::ContainerState::Running if info.restarting => format!(
            "Restarting ({}) {} ago",
            info.exit_code.unwrap_or(0),
            human_duration(since(info.finished.as_deref()))
        ),
        conti_proto::ContainerState::Running => {
            let health = info
                .health
                .as_ref()
                .map(|h| match h.status {
                    conti_proto::HealthStatus::Starting => " (health: starting)".to_string(),
                    other => format!(" ({})", other.as_str()),
                })
                .unwrap_or_default();
            format!(
                "Up {}{health}",
                human_duration(since(info.started.as_deref()))
            )
        }
        conti_proto::ContainerState::Exited => format!(
            "Exited ({}) {} ago",
            info.exit_code.unwrap_or(0),
            human_duration(since(info.finished.as_deref()))
        ),
    }
}

fn network_name(mode: &NetworkMode) -> String {
    mode.to_string()
}

fn port_map(info: &ContainerInfo) -> HashMap<String, Option<Vec<PortBinding>>> {
    let mut map: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &info.ports {
        map.entry(format!(
            "{}/{}",
            port.container_port,
            port.protocol.as_str()
        ))
        .or_insert_with(|| Some(Vec::new()))
        .get_or_insert_with(Vec::new)
        .push(PortBinding {
            host_ip: Some(if port.host_ip.is_empty() {
                "0.0.0.0".to_string()
            } else {
                port.host_ip.clone()
            }),
            host_port: Some(port.host_port.to_string()),
        });
    }
    map
}

fn endpoints(info: &ContainerInfo) -> HashMap<String, EndpointSettings> {
    info.networks
        .iter()
        .map(|n| {
            (
                n.network.clone(),
                EndpointSettings {
                    network_id: Some(n.network.clone()),
                    // Docker's: the given aliases and the short id, which the resolver answers.
                    aliases: Some(
                        info.network_aliases
                            .iter()
                            .cloned()
                            .chain(std::iter::once(docker_id(&info.id)[..12].to_string()))
                            .collect(),
                    ),
                    ip_address: Some(n.ip_address.clone()),
                    ip_prefix_len: Some(i64::from(n.prefix_len)),
                    gateway: Some(n.gateway.clone()),
                    mac_address: Some(n.mac_address.clone()),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn mounts(info: &ContainerInfo) -> Vec<MountPoint> {
    info.volumes
        .iter()
        .map(|v| {
            let bind = v.source.starts_with('/');
            MountPoint {
                typ: Some(if bind {
                    MountPointTypeEnum::BIND
                } else {
                    MountPointTypeEnum::VOLUME
                }),
                name: (!bind).then(|| v.source.clone()),
                source: Some(v.source.clone()),
                destination: Some(v.target.clone()),
                mode: Some(if v.read_only { "ro" } else { "rw" }.to_string()),
                rw: Some(!v.read_only),
                ..Default::default()
            }
        })
        .collect()
}

fn restart_policy(policy: &conti_proto::RestartPolicy) -> RestartPolicy {
    use conti_proto::RestartPolicy as Conti;
    let (name, max) = match policy {
        Conti::No => (RestartPolicyNameEnum::NO, 0),
        Conti::Always => (RestartPolicyNameEnum::ALWAYS, 0),
        Conti::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, 0),
        Conti::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            max_retries.map_or(0, i64::from),
        ),
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: Some(max),
    }
}

fn health(health: &conti_proto::Health) -> bollard_stubs::models::Health {
    bollard_stubs::models::Health {
        status: Some(match health.status {
            conti_proto::HealthStatus::Starting => HealthStatusEnum::STARTING,
            conti_proto::HealthStatus::Healthy => HealthStatusEnum::HEALTHY,
            conti_proto::HealthStatus::Unhealthy => HealthStatusEnum::UNHEALTHY,
        }),
        failing_streak: Some(i64::from(health.failing_streak)),
        log: Some(
            health
                .log
                .iter()
                .map(|r| HealthcheckResult {
                    start: Some(r.start.clone()),
                    end: Some(r.end.clone()),
                    exit_code: Some(i64::from(r.exit_code)),
                    output: Some(r.output.clone()),
                })
                .collect(),
        ),
    }
}

/// Go's zero time, which Docker shows for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn container_inspect(info: &ContainerInfo) -> ContainerInspectResponse {
    let status = match info.state {
        conti_proto::ContainerState::Created => ContainerStateStatusEnum::CREATED,
        conti_proto::ContainerState::Running => ContainerStateStatusEnum::RUNNING,
        conti_proto::ContainerState::Exited => ContainerStateStatusEnum::EXITED,
    };
    let running = info.state == conti_proto::ContainerState::Running;
    let ports = port_map(info);
    let bridge_ip = info
        .networks
        .first()
        .map(|n| n.ip_address.clone())
        .unwrap_or_default();
    ContainerInspectResponse {
        id: Some(docker_id(&info.id)),
        created: Some(info.created.clone()),
        path: info.cmd.first().cloned(),
        args: Some(info.cmd.iter().skip(1).cloned().collect()),
        state: Some(ContainerState {
            status: Some(status),
            running: Some(running),
            paused: Some(false),
            restarting: Some(info.restarting),
            oom_killed: Some(info.oom_killed),
            dead: Some(false),
            pid: Some(info.pid.map_or(0, i64::from)),
            exit_code: Some(info.exit_code.map_or(0, i64::from)),
            error: Some(info.error.clone().unwrap_or_default()),
            started_at: Some(info.started.clone().unwrap_or_else(|| ZERO_TIME.into())),
            finished_at: Some(info.finished.clone().unwrap_or_else(|| ZERO_TIME.into())),
            health: info.health.as_ref().map(health),
        }),
        image: Some(info.image_id.clone()),
        name: Some(format!("/{}", info.name)),
        restart_count: Some(i64::from(info.restart_count)),
        driver: Some("overlay2".to_string()),
        platform: Some("linux".to_string()),
        host_config: Some(HostConfig {
            network_mode: Some(network_name(&info.network)),
            auto_remove: Some(info.auto_remove),
            init: Some(info.init),
            privileged: Some(info.security.privileged),
            readonly_rootfs: Some(info.security.read_only_rootfs),
            cap_add: Some(info.security.cap_add.clone()),
            cap_drop: Some(info.security.cap_drop.clone()),
            port_bindings: Some(ports.clone()),
            binds: Some(
                info.volumes
                    .iter()
                    .map(|v| {
                        let mode = if v.read_only { ":ro" } else { "" };
                        format!("{}:{}{mode}", v.source, v.target)
                    })
                    .collect(),
            ),
            memory: Some(info.resources.memory.unwrap_or(0)),
            nano_cpus: Some(info.resources.cpus.map_or(0, |c| (c * 1e9) as i64)),
            pids_limit: info.resources.pids_limit,
            restart_policy: Some(restart_policy(&info.restart_policy)),
            // Conti keeps each container's log itself; the SDKs read it when it is Docker's own.
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".to_string()),
                config: Some(log_options(&info.log_limits)),
            }),
            ..Default::default()
        }),
        mounts: Some(mounts(info)),
        config: Some(ContainerConfig {
            hostname: Some(info.hostname.clone()),
            user: Some(info.user.clone().unwrap_or_default()),
            tty: Some(info.tty),
            open_stdin: Some(info.open_stdin),
            env: Some(info.env.clone()),
            cmd: Some(info.cmd.clone()),
            image: Some(info.image.clone()),
            working_dir: Some(info.cwd.clone()),
            labels: Some(info.labels.clone().into_iter().collect()),
            stop_signal: Some(info.stop_signal.clone()),
            stop_timeout: Some(info.stop_timeout as i64),
            ..Default::default()
        }),
        network_settings: Some(NetworkSettings {
            ip_address: Some(bridge_ip),
            ports: Some(ports),
            networks: Some(endpoints(info)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_summary(info: &ContainerInfo) -> ContainerSummary {
    let running = info.state == conti_proto::ContainerState::Running;
    ContainerSummary {
        id: Some(docker_id(&info.id)),
        names: Some(vec![format!("/{}", info.name)]),
        image: Some(info.image.clone()),
        image_id: Some(info.image_id.clone()),
        command: Some(info.cmd.join(" ")),
        created: Some(unix_seconds(&info.created)),
        // Docker lists the ports a container publishes while it runs.
        ports: Some(
            info.ports
                .iter()
                .filter(|_| running)
                .map(|p| Port {
                    ip: Some(if p.host_ip.is_empty() {
                        "0.0.0.0".to_string()
                    } else {
                        p.host_ip.clone()
                    }),
                    private_port: p.container_port,
                    public_port: Some(p.host_port),
                    typ: Some(match p.protocol {
                        conti_proto::PortProtocol::Tcp => PortTypeEnum::TCP,
                        conti_proto::PortProtocol::Udp => PortTypeEnum::UDP,
                    }),
                })
                .collect(),
        ),
        labels: Some(info.labels.clone().into_iter().collect()),
        state: Some(info.state.as_str().to_string()),
        status: Some(status_line(info)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(network_name(&info.network)),
            ..Default::default()
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(endpoints(info)),
        }),
        mounts: Some(mounts(info)),
        ..Default::default()
    }
}

pub fn image_summary(image: &ImageInfo, containers: i64) -> ImageSummary {
    ImageSummary {
        id: image.id.clone(),
        parent_id: String::new(),
        repo_tags: image.repo_tags.clone(),
        repo_digests: image.repo_digests.clone(),
        created: unix_seconds(&image.created),
        size: image.size as i64,
        shared_size: -1,
        virtual_size: Some(image.size as i64),
        labels: image
            .config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        containers,
        ..Default::default()
    }
}

pub fn image_inspect(image: &ImageInfo) -> ImageInspect {
    let c = &image.config;
    let config = ImageConfig {
        user: Some(c.user.clone().unwrap_or_default()),
        env: Some(c.env.clone()),
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        working_dir: Some(c.working_dir.clone().unwrap_or_default()),
        labels: Some(
            c.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        stop_signal: c.stop_signal.clone(),
        exposed_ports: Some(
            c.exposed_ports
                .iter()
                .map(|p| (p.clone(), HashMap::new()))
                .collect(),
        ),
        volumes: Some(
            c.volumes
                .iter()
                .map(|v| (v.clone(), HashMap::new()))
                .collect(),
        ),
        ..Default::default()
    };
    ImageInspect {
        id: Some(image.id.clone()),
        repo_tags: Some(image.repo_tags.clone()),
        repo_digests: Some(image.repo_digests.clone()),
        created: Some(image.created.clone()),
        architecture: Some(image.architecture.clone()),
        os: Some(image.os.clone()),
        size: Some(image.size as i64),
        virtual_size: Some(image.size as i64),
        config: Some(config),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".to_string(),
            layers: Some(image.layers.clone()),
        }),
        ..Default::default()
    }
}

/// `LogLimits` as Docker's `--log-opt` map (`max-size` in bytes, `max-file`).
fn log_options(limits: &conti_proto::LogLimits) -> HashMap<String, String> {
    let size = limits
        .max_size
        .map(|b| ("max-size".to_string(), b.to_string()));
    let files = limits
        .max_files
        .map(|n| ("max-file".to_string(), n.to_string()));
    size.into_iter().chain(files).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_dockers() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(42)), "42 seconds");
        assert_eq!(human_duration(s(90)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }

    #[test]
    fn container_ids_are_hex() {
        assert_eq!(
            docker_id("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
            "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        );
    }
}
