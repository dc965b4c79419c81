//! A Docker container-create body mapped onto a `ContainerSpec`. Every field Conti acts on is
//! read; a field it does not support is refused by name when it asks for something (a value
//! other than the zero value Docker's clients send for "not set"), never silently dropped.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerConfig, EndpointSettings, HostConfig, HostConfigLogConfig, Mount, MountTypeEnum,
};
use conti_proto::{
    ContainerSpec, HealthDuration, HealthcheckSpec, LogLimits, NetworkMode, PortBinding,
    PortProtocol, Resources, RestartPolicy, Seccomp, SecurityOptions, TmpfsSpec, VolumeSpec,
};
use serde::Deserialize;
use serde_json::Value;

use super::error::{DockerError, DockerResult};

/// `POST /containers/create`'s body: the container's config, with `HostConfig` and
/// `NetworkingConfig` beside its fields.
#[derive(Debug, Default, Deserialize)]
pub struct CreateBody {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(rename = "HostConfig", default)]
    pub host_config: Option<HostConfig>,
    #[serde(rename = "NetworkingConfig", default)]
    pub networking_config: Option<NetworkingConfig>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NetworkingConfig {
    #[serde(rename = "EndpointsConfig", default)]
    pub endpoints_config: Option<HashMap<String, EndpointSettings>>,
}

/// Config fields read into the spec (or that change nothing a Linux container does).
const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    // Documentation of the image's ports; publishing is `PortBindings`.
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    // Conti's stdin pipe closes when the attached client ends its input, which is this.
    "StdinOnce",
    "Env",
    "Cmd",
    "Image",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Healthcheck",
    // Mount points; those no bind or mount covers are anonymous volumes.
    "Volumes",
    // Build-time and Windows settings: nothing to do at run time.
    "ArgsEscaped",
    "OnBuild",
    "Shell",
    "HostConfig",
    "NetworkingConfig",
];

/// HostConfig fields read into the spec.
const HOST_CONFIG_FIELDS: &[&str] = &[
    "Binds",
    "Mounts",
    "NetworkMode",
    "PortBindings",
    "AutoRemove",
    "Init",
    "Privileged",
    "ReadonlyRootfs",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "NanoCpus",
    "CpuQuota",
    "CpuPeriod",
    "CpuShares",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "LogConfig",
    "RestartPolicy",
    // The terminal's first size: the CLI resizes right after the start anyway.
    "ConsoleSize",
    "Tmpfs",
    "ShmSize",
    "ExtraHosts",
    "Dns",
    "DnsSearch",
    "DnsOptions",
    "GroupAdd",
];

/// Zero values that mean "not set" besides `null`, `false`, `0`, `""`, `[]` and `{}`.
fn is_unset(field: &str, value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::Bool(true) => false,
        Value::Number(n) => {
            n.as_f64() == Some(0.0) || (field == "MemorySwappiness" && n.as_i64() == Some(-1))
        }
        Value::String(s) => {
            s.is_empty()
                // Docker's defaults, which its clients may send spelled out.
                || (matches!(field, "IpcMode") && matches!(s.as_str(), "private" | "shareable"))
                || (matches!(field, "CgroupnsMode") && s == "private")
                || (field == "Isolation" && s == "default")
        }
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The first field of `object` outside `known` that asks for something.
fn unsupported<'a>(object: &'a serde_json::Map<String, Value>, known: &[&str]) -> Option<&'a str> {
    object
        .iter()
        .find(|(name, value)| !known.contains(&name.as_str()) && !is_unset(name, value))
        .map(|(name, _)| name.as_str())
}

/// Parses and maps a create body; `name` is the `name` query parameter.
pub fn container_spec(body: &[u8], name: Option<&str>) -> DockerResult<ContainerSpec> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| DockerError::bad_request(format!("invalid JSON body: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(DockerError::bad_request("the body must be a JSON object"));
    };
    if let Some(field) = unsupported(object, CONFIG_FIELDS) {
        return Err(not_supported(field));
    }
    if let Some(Value::Object(host)) = object.get("HostConfig")
        && let Some(field) = unsupported(host, HOST_CONFIG_FIELDS)
    {
        return Err(not_supported(&format!("HostConfig.{field}")));
    }
    // Named here: serde would only say "unknown variant".
    let policy = object
        .get("HostConfig")
        .and_then(|h| h.get("RestartPolicy"))
        .and_then(|p| p.get("Name"))
        .and_then(Value::as_str);
    if let Some(name) = policy
        && !matches!(name, "" | "no" | "always" | "unless-stopped" | "on-failure")
    {
        return Err(DockerError::bad_request(format!(
            "HostConfig.RestartPolicy: invalid restart policy {name:?}: expected {}",
            conti_proto::RESTART_POLICY_FORMS
        )));
    }
    let body: CreateBody = serde_json::from_value(value)
        .map_err(|e| DockerError::bad_request(format!("invalid JSON body: {e}")))?;
    map(body, name)
}

fn not_supported(field: &str) -> DockerError {
    DockerError::bad_request(format!(
        "{field} is not supported by Conti (see proto-docs/docker.md)"
    ))
}

fn map(body: CreateBody, name: Option<&str>) -> DockerResult<ContainerSpec> {
    let config = body.config;
    let host = body.host_config.unwrap_or_default();
    let image = config
        .image
        .filter(|i| !i.is_empty())
        .ok_or_else(|| DockerError::bad_request("config.Image is required"))?;
    let network = network_mode(
        host.network_mode.as_deref(),
        config.network_disabled.unwrap_or(false),
    )?;
    let network_aliases = match body.networking_config.and_then(|n| n.endpoints_config) {
        Some(endpoints) => endpoint_aliases(&endpoints, &network)?,
        None => Vec::new(),
    };
    let restart_policy = restart_policy(host.restart_policy.as_ref())?;
    let healthcheck = config.healthcheck.as_ref().map(healthcheck).transpose()?;
    let log_limits = match &host.log_config {
        Some(log) => log_limits(log)?,
        None => LogLimits::default(),
    };
    let mut volumes = Vec::new();
    for bind in host.binds.iter().flatten() {
        volumes.push(bind_volume(bind)?);
    }
    let mut tmpfs: Vec<TmpfsSpec> = host
        .tmpfs
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(target, options)| TmpfsSpec { target, options })
        .collect();
    tmpfs.sort_by(|a, b| a.target.cmp(&b.target));
    for mount in host.mounts.clone().unwrap_or_default() {
        match mount_spec(mount)? {
            Mounted::Volume(volume) => volumes.push(volume),
            Mounted::Tmpfs(mount) => tmpfs.push(mount),
        }
    }
    let covered = |path: &str| {
        let path = path.trim_end_matches('/');
        volumes
            .iter()
            .any(|v| v.target.trim_end_matches('/') == path)
            || tmpfs.iter().any(|t| t.target.trim_end_matches('/') == path)
    };
    // The mount points no bind or mount covers: anonymous volumes.
    let mut anonymous: Vec<String> = config
        .volumes
        .iter()
        .flatten()
        .map(|(path, _)| path.clone())
        .filter(|path| !covered(path))
        .collect();
    anonymous.sort();
    volumes.extend(anonymous.into_iter().map(|target| VolumeSpec {
        source: String::new(),
        target,
        read_only: false,
    }));
    let shm_size = match host.shm_size {
        None | Some(0) => None,
        Some(bytes) => Some(u64::try_from(bytes).map_err(|_| {
            DockerError::bad_request(format!("HostConfig.ShmSize {bytes} must be positive"))
        })?),
    };
    Ok(ContainerSpec {
        name: name
            .filter(|n| !n.is_empty())
            .map(|n| n.trim_start_matches('/').to_string()),
        image,
        cmd: config.cmd.unwrap_or_default(),
        entrypoint: config.entrypoint.map(|e| {
            // `--entrypoint ""` arrives as `[""]`: no entrypoint.
            if e.iter().all(String::is_empty) {
                Vec::new()
            } else {
                e
            }
        }),
        env: config.env.unwrap_or_default(),
        cwd: config.working_dir.filter(|w| !w.is_empty()),
        hostname: config.hostname.filter(|h| !h.is_empty()),
        network,
        ports: port_bindings(host.port_bindings.clone().unwrap_or_default())?,
        auto_remove: host.auto_remove.unwrap_or(false),
        init: host.init.unwrap_or(false),
        tty: config.tty.unwrap_or(false),
        open_stdin: config.open_stdin.unwrap_or(false),
        resources: resources(&host)?,
        security: security(&host)?,
        user: config.user.filter(|u| !u.is_empty()),
        volumes,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        stop_signal: config.stop_signal.filter(|s| !s.is_empty()),
        restart_policy,
        healthcheck,
        // Docker's -1 is "wait as long as it takes": Conti's longest.
        stop_timeout: config
            .stop_timeout
            .map(|t| u64::try_from(t).unwrap_or(crate::engine::MAX_STOP_TIMEOUT_SECS)),
        network_aliases,
        log_limits,
        tmpfs,
        shm_size,
        // Newer clients may write `NAME=ADDRESS`.
        extra_hosts: host
            .extra_hosts
            .unwrap_or_default()
            .into_iter()
            .map(|entry| match entry.split_once('=') {
                Some((name, address)) if !name.contains(':') => format!("{name}:{address}"),
                _ => entry,
            })
            .collect(),
        dns: host.dns.unwrap_or_default(),
        dns_search: host.dns_search.unwrap_or_default(),
        dns_options: host.dns_options.unwrap_or_default(),
        group_add: host.group_add.unwrap_or_default(),
    })
}

/// `--log-driver` and `--log-opt max-size=10m,max-file=3`: Conti keeps each container's log
/// itself, rotated as Docker's `json-file` driver rotates its own.
fn log_limits(log: &HostConfigLogConfig) -> DockerResult<LogLimits> {
    if let Some(kind) = &log.typ
        && !matches!(kind.as_str(), "" | "json-file" | "local")
    {
        return Err(DockerError::bad_request(format!(
            "HostConfig.LogConfig.Type {kind} is not supported: Conti keeps each container's log itself"
        )));
    }
    let mut limits = LogLimits::default();
    for (key, value) in log.config.iter().flatten() {
        let invalid = |reason: String| {
            DockerError::bad_request(format!(
                "HostConfig.LogConfig.Config {key}={value:?}: {reason}"
            ))
        };
        match key.as_str() {
            "max-size" => {
                let bytes = conti_proto::parse_size(value).map_err(invalid)?;
                limits.max_size = Some(u64::try_from(bytes).unwrap_or(0));
            }
            "max-file" => {
                let files = value
                    .parse()
                    .map_err(|_| invalid("a number of files expected".into()))?;
                limits.max_files = Some(files);
            }
            other => {
                return Err(DockerError::bad_request(format!(
                    "HostConfig.LogConfig.Config: option {other} is not supported (max-size, max-file)"
                )));
            }
        }
    }
    Ok(limits)
}

/// `{"Name": "on-failure", "MaximumRetryCount": 3}` as Conti's `on-failure:3`.
fn restart_policy(
    policy: Option<&bollard_stubs::models::RestartPolicy>,
) -> DockerResult<RestartPolicy> {
    let Some(policy) = policy else {
        return Ok(RestartPolicy::No);
    };
    let name = policy.name.map(|n| n.to_string()).unwrap_or_default();
    let text = match (name.as_str(), policy.maximum_retry_count.unwrap_or(0)) {
        ("" | "no", _) => "no".to_string(),
        ("on-failure", max) if max > 0 => format!("on-failure:{max}"),
        (other, _) => other.to_string(),
    };
    RestartPolicy::parse(&text)
        .map_err(|why| DockerError::bad_request(format!("HostConfig.RestartPolicy: {why}")))
}

/// Docker's health check (durations in nanoseconds, 0 for the default) as Conti's.
fn healthcheck(check: &bollard_stubs::models::HealthConfig) -> DockerResult<HealthcheckSpec> {
    let duration = |field: &str, nanos: Option<i64>| -> DockerResult<Option<HealthDuration>> {
        match nanos.filter(|n| *n != 0) {
            None => Ok(None),
            Some(n) => HealthDuration::parse(&format!("{n}ns"))
                .map(Some)
                .map_err(|why| DockerError::bad_request(format!("Healthcheck.{field}: {why}"))),
        }
    };
    Ok(HealthcheckSpec {
        test: check.test.clone().unwrap_or_default(),
        interval: duration("Interval", check.interval)?,
        timeout: duration("Timeout", check.timeout)?,
        start_period: duration("StartPeriod", check.start_period)?,
        retries: check
            .retries
            .filter(|r| *r != 0)
            .map(|r| {
                u32::try_from(r)
                    .map_err(|_| DockerError::bad_request("Healthcheck.Retries must be positive"))
            })
            .transpose()?,
    })
}

fn network_mode(mode: Option<&str>, disabled: bool) -> DockerResult<NetworkMode> {
    if disabled {
        return Ok(NetworkMode::None);
    }
    match mode.unwrap_or("") {
        "" | "default" => Ok(NetworkMode::Bridge),
        other => NetworkMode::parse(other).ok_or_else(|| {
            DockerError::bad_request(format!("HostConfig.NetworkMode {other:?} is not valid"))
        }),
    }
}

/// Endpoint settings may only name the container's own network, and give it aliases there;
/// static addresses and links are not supported yet. The aliases, in order.
fn endpoint_aliases(
    endpoints: &HashMap<String, EndpointSettings>,
    network: &NetworkMode,
) -> DockerResult<Vec<String>> {
    let mut aliases = Vec::new();
    for (name, settings) in endpoints {
        let own = match network {
            NetworkMode::Bridge => name == "bridge" || name == "default",
            NetworkMode::Network(own) => own == name,
            _ => false,
        };
        if !own {
            return Err(DockerError::bad_request(format!(
                "NetworkingConfig.EndpointsConfig: {name} is not the container's network; a second network is not supported"
            )));
        }
        let value = serde_json::to_value(settings).unwrap_or(Value::Null);
        if let Value::Object(fields) = &value
            && let Some(field) = unsupported(fields, &["Aliases"])
        {
            return Err(not_supported(&format!(
                "NetworkingConfig.EndpointsConfig.{name}.{field}"
            )));
        }
        aliases.extend(settings.aliases.iter().flatten().cloned());
    }
    Ok(aliases)
}

/// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`.
fn port_bindings(
    bindings: HashMap<String, Option<Vec<bollard_stubs::models::PortBinding>>>,
) -> DockerResult<Vec<PortBinding>> {
    let mut ports = Vec::new();
    let mut keys: Vec<_> = bindings.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, hosts) in keys {
        let (port, protocol) = key.split_once('/').unwrap_or((&key, "tcp"));
        let protocol = match protocol {
            "tcp" => PortProtocol::Tcp,
            "udp" => PortProtocol::Udp,
            other => {
                return Err(DockerError::bad_request(format!(
                    "port protocol {other} is not supported (tcp, udp)"
                )));
            }
        };
        let container_port = parse_port(port, &key)?;
        for host in hosts.unwrap_or_default() {
            let host_port = host.host_port.unwrap_or_default();
            if host_port.is_empty() {
                return Err(DockerError::bad_request(format!(
                    "{key}: a random host port is not supported yet; give one (-p HOST:{port})"
                )));
            }
            // Docker's empty host address is every address.
            let host_ip = host.host_ip.filter(|ip| !ip.is_empty());
            ports.push(PortBinding {
                host_ip: host_ip.unwrap_or_else(|| "0.0.0.0".to_string()),
                host_port: parse_port(&host_port, &key)?,
                container_port,
                protocol,
            });
        }
    }
    Ok(ports)
}

fn parse_port(text: &str, key: &str) -> DockerResult<u16> {
    text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
        DockerError::bad_request(format!(
            "{key}: {text:?} is not a port (ranges are not supported yet)"
        ))
    })
}

/// `SOURCE:TARGET[:ro|rw]`: a host path or a volume's name.
fn bind_volume(bind: &str) -> DockerResult<VolumeSpec> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [source, target] => (*source, *target, ""),
        [source, target, options] => (*source, *target, *options),
        _ => {
            return Err(DockerError::bad_request(format!(
                "HostConfig.Binds {bind:?}: expected SOURCE:TARGET[:OPTIONS]"
            )));
        }
    };
    let mut read_only = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(DockerError::bad_request(format!(
                    "HostConfig.Binds {bind:?}: option {other} is not supported (ro, rw)"
                )));
            }
        }
    }
    Ok(VolumeSpec {
        source: source.to_string(),
        target: target.to_string(),
        read_only,
    })
}

/// What one of `HostConfig.Mounts` becomes.
enum Mounted {
    Volume(VolumeSpec),
    Tmpfs(TmpfsSpec),
}

/// A bind, a volume (anonymous without `Source`) or a tmpfs (`TmpfsOptions.SizeBytes` and
/// `Mode`); other options are refused by name.
fn mount_spec(mount: Mount) -> DockerResult<Mounted> {
    let kind = mount.typ.map(|t| t.to_string()).unwrap_or_default();
    let target = mount.target.clone().unwrap_or_default();
    let read_only = mount.read_only.unwrap_or(false);
    let tmpfs_options = mount.tmpfs_options.clone().unwrap_or_default();
    let extra = serde_json::json!({
        "BindOptions": mount.bind_options,
        "VolumeOptions": mount.volume_options,
        "TmpfsOptions": {"Options": tmpfs_options.options},
        "Consistency": mount.consistency,
    });
    if let Value::Object(fields) = &extra
        && let Some(field) = fields.iter().find_map(|(name, value)| match value {
            Value::Object(inner) => unsupported(inner, &[]).map(|f| format!("{name}.{f}")),
            other => (!is_unset(name, other)).then(|| name.clone()),
        })
    {
        return Err(not_supported(&format!("HostConfig.Mounts.{field}")));
    }
    let source = mount.source.unwrap_or_default();
    match mount.typ {
        Some(MountTypeEnum::BIND) | Some(MountTypeEnum::VOLUME) => {
            if source.is_empty() && mount.typ == Some(MountTypeEnum::BIND) {
                return Err(DockerError::bad_request(
                    "HostConfig.Mounts: a bind mount needs a Source",
                ));
            }
            Ok(Mounted::Volume(VolumeSpec {
                source,
                target,
                read_only,
            }))
        }
        Some(MountTypeEnum::TMPFS) => {
            if !source.is_empty() {
                return Err(DockerError::bad_request(
                    "HostConfig.Mounts: a tmpfs mount takes no Source",
                ));
            }
            let mut options = vec![if read_only { "ro" } else { "rw" }.to_string()];
            if let Some(size) = tmpfs_options.size_bytes.filter(|s| *s != 0) {
                options.push(format!("size={size}"));
            }
            if let Some(mode) = tmpfs_options.mode.filter(|m| *m != 0) {
                options.push(format!("mode={mode:o}"));
            }
            Ok(Mounted::Tmpfs(TmpfsSpec {
                target,
                options: options.join(","),
            }))
        }
        _ => Err(DockerError::bad_request(format!(
            "HostConfig.Mounts: type {kind:?} is not supported (bind, volume, tmpfs)"
        ))),
    }
}

fn resources(host: &HostConfig) -> DockerResult<Resources> {
    let positive = |v: Option<i64>| v.filter(|v| *v > 0);
    let cpus = match (positive(host.nano_cpus), positive(host.cpu_quota)) {
        (Some(_), Some(_)) => {
            return Err(DockerError::bad_request(
                "NanoCPUs and CPU quota cannot both be set",
            ));
        }
        (Some(nano), None) => Some(nano as f64 / 1e9),
        (None, Some(quota)) => {
            let period = positive(host.cpu_period).unwrap_or(100_000);
            Some(quota as f64 / period as f64)
        }
        (None, None) => None,
    };
    Ok(Resources {
        memory: positive(host.memory),
        // -1: unlimited swap, Conti's default too.
        memory_swap: positive(host.memory_swap),
        memory_reservation: positive(host.memory_reservation),
        cpus,
        cpu_shares: positive(host.cpu_shares),
        cpuset_cpus: host.cpuset_cpus.clone().filter(|c| !c.is_empty()),
        cpuset_mems: host.cpuset_mems.clone().filter(|c| !c.is_empty()),
        // 0 and -1 are unlimited.
        pids_limit: positive(host.pids_limit),
        blkio_weight: host.blkio_weight.filter(|w| *w > 0).map(i64::from),
    })
}

fn security(host: &HostConfig) -> DockerResult<SecurityOptions> {
    let mut security = SecurityOptions {
        privileged: host.privileged.unwrap_or(false),
        cap_add: host.cap_add.clone().unwrap_or_default(),
        cap_drop: host.cap_drop.clone().unwrap_or_default(),
        read_only_rootfs: host.readonly_rootfs.unwrap_or(false),
        ..SecurityOptions::default()
    };
    for option in host.security_opt.iter().flatten() {
        let (key, value) = option
            .split_once(['=', ':'])
            .unwrap_or((option.as_str(), "true"));
        match key {
            "no-new-privileges" => {
                security.no_new_privileges = value.parse().map_err(|_| {
                    DockerError::bad_request(format!("invalid security option {option:?}"))
                })?;
            }
            "seccomp" if value == "unconfined" => security.seccomp = Seccomp::Unconfined,
            // The CLI sends the profile file's content.
            "seccomp" => {
                let profile = serde_json::from_str(value).map_err(|e| {
                    DockerError::bad_request(format!("the seccomp profile is not valid: {e}"))
                })?;
                security.seccomp = Seccomp::Profile { profile };
            }
            _ => {
                return Err(DockerError::bad_request(format!(
                    "HostConfig.SecurityOpt {option:?} is not supported (no-new-privileges, seccomp)"
                )));
            }
        }
    }
    Ok(security)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(body: &str) -> DockerResult<ContainerSpec> {
        container_spec(body.as_bytes(), Some("/web"))
    }

    #[test]
    fn the_clis_zero_values_are_not_requests() {
        let spec = spec(
            r#"{"Hostname":"","Domainname":"","User":"","Image":"busybox","Cmd":["echo","hi"],
                "Volumes":{},"Labels":{},"StopTimeout":null,"Healthcheck":null,"MacAddress":"",
                "HostConfig":{"Binds":null,"NetworkMode":"default","Memory":0,"MemorySwappiness":-1,
                  "IpcMode":"","Dns":[],"OomKillDisable":false,"LogConfig":{"Type":"","Config":{}},
                  "RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true},
                "NetworkingConfig":{"EndpointsConfig":{}}}"#,
        )
        .unwrap();
        assert_eq!(spec.name.as_deref(), Some("web"));
        assert_eq!(spec.cmd, ["echo", "hi"]);
        assert!(spec.auto_remove);
        assert_eq!(spec.network, NetworkMode::Bridge);
        assert!(spec.security.no_new_privileges, "Conti's default stays");
    }

    #[test]
    fn a_field_conti_cannot_honour_is_refused_by_name() {
        for (body, field) in [
            (
                r#"{"Image":"b","HostConfig":{"Links":["db:db"]}}"#,
                "HostConfig.Links",
            ),
            (
                r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"tmpfs","Source":"x","Target":"/t"}]}}"#,
                "takes no Source",
            ),
            (
                r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"volume","Target":"/t","VolumeOptions":{"NoCopy":true}}]}}"#,
                "HostConfig.Mounts.VolumeOptions.NoCopy",
            ),
            (
                r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/t"}]}}"#,
                "npipe",
            ),
            (
                r#"{"Image":"b","HostConfig":{"OomKillDisable":true}}"#,
                "HostConfig.OomKillDisable",
            ),
            (
                r#"{"Image":"b","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#,
                "RestartPolicy",
            ),
            (
                r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":""}]}}}"#,
                "random host port",
            ),
            (
                r#"{"Image":"b","HostConfig":{"SecurityOpt":["label=disable"]}}"#,
                "SecurityOpt",
            ),
        ] {
            let err = spec(body).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert!(err.message.contains(field), "{body}: {}", err.message);
        }
    }

    #[test]
    fn run_flags_map_onto_the_spec() {
        let spec = spec(
            r#"{"Image":"busybox","Entrypoint":[""],"Env":["A=1"],"WorkingDir":"/w","User":"nobody",
                "Tty":true,"OpenStdin":true,
                "HostConfig":{"Binds":["/srv:/data:ro","cache:/cache"],"NetworkMode":"front",
                  "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},
                  "NanoCpus":500000000,"Memory":67108864,"PidsLimit":-1,"CapDrop":["ALL"],
                  "SecurityOpt":["no-new-privileges=false","seccomp=unconfined"],"Init":true},
                "NetworkingConfig":{"EndpointsConfig":{"front":{}}}}"#,
        )
        .unwrap();
        assert_eq!(spec.entrypoint, Some(vec![]));
        assert_eq!(spec.network, NetworkMode::Network("front".into()));
        assert_eq!(spec.ports[0].host_port, 8080);
        assert_eq!(spec.ports[0].container_port, 80);
        assert_eq!(spec.resources.cpus, Some(0.5));
        assert_eq!(spec.resources.memory, Some(67108864));
        assert_eq!(spec.resources.pids_limit, None);
        assert!(spec.volumes[0].read_only && !spec.volumes[1].read_only);
        assert_eq!(spec.volumes[1].source, "cache");
        assert!(!spec.security.no_new_privileges);
        assert_eq!(spec.security.seccomp, Seccomp::Unconfined);
        assert!(spec.init && spec.tty && spec.open_stdin);
    }

    #[test]
    fn filesystem_and_name_flags_map_onto_the_spec() {
        let spec = spec(
            r#"{"Image":"busybox","Volumes":{"/anon":{},"/data":{}},
                "HostConfig":{"Binds":["d:/data"],"Tmpfs":{"/run":"rw,size=1m"},"ShmSize":1048576,
                  "Mounts":[{"Type":"tmpfs","Target":"/t","ReadOnly":true,
                             "TmpfsOptions":{"SizeBytes":4096,"Mode":448}},
                            {"Type":"volume","Target":"/v"}],
                  "ExtraHosts":["db:10.0.0.5","gw=host-gateway"],"Dns":["192.0.2.53"],
                  "DnsSearch":["example.com"],"DnsOptions":["ndots:2"],"GroupAdd":["audio","44"]}}"#,
        )
        .unwrap();
        let tmpfs: Vec<(&str, &str)> = spec
            .tmpfs
            .iter()
            .map(|t| (t.target.as_str(), t.options.as_str()))
            .collect();
        assert_eq!(
            tmpfs,
            [("/run", "rw,size=1m"), ("/t", "ro,size=4096,mode=700")]
        );
        let volumes: Vec<(&str, &str)> = spec
            .volumes
            .iter()
            .map(|v| (v.source.as_str(), v.target.as_str()))
            .collect();
        assert_eq!(volumes, [("d", "/data"), ("", "/v"), ("", "/anon")]);
        assert_eq!(spec.shm_size, Some(1 << 20));
        assert_eq!(spec.extra_hosts, ["db:10.0.0.5", "gw:host-gateway"]);
        assert_eq!(spec.dns, ["192.0.2.53"]);
        assert_eq!(spec.dns_search, ["example.com"]);
        assert_eq!(spec.dns_options, ["ndots:2"]);
        assert_eq!(spec.group_add, ["audio", "44"]);
    }
}
