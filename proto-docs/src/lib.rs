//! Conti's wire types: the JSON bodies of the REST API that `contid` serves and `conti-cli` speaks.
//!
//! This crate depends on nothing of the daemon: both sides use these types, and the OpenAPI
//! document in `proto-docs/openapi.json` is generated from them (see `contid`'s `api::openapi`).
//! Request types reject unknown fields, so a typo in a request is a clear 400, not a silent default.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod disk_usage;
mod health;
mod restart;
mod sizes;

pub use disk_usage::{
    ContainerPruneReport, ContainerUsage, DiskUsage, ImageUsage, NetworkPruneReport, UsageSummary,
    VolumeUsage,
};
pub use health::{
    DURATION_FORM, Health, HealthDuration, HealthStatus, HealthcheckResult, HealthcheckSpec,
};
pub use restart::{MAX_RESTART_RETRIES, RESTART_POLICY_FORMS, RestartPolicy};
pub use sizes::parse_size;

/// API version prefix of every route.
pub const API_PREFIX: &str = "/v1";

/// Error body of every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable, machine-readable error code (see `ErrorCode` in the documentation).
    pub code: String,
    /// Human-readable description of what went wrong.
    pub message: String,
}

/// `GET /v1/version`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    /// Version of contid.
    pub version: String,
    /// API version (the path prefix without the slash).
    pub api_version: String,
    /// Operating system and architecture the daemon runs on.
    pub os: String,
    pub arch: String,
}

/// `GET /v1/info`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DaemonInfo {
    /// State folder of the daemon (`--root`).
    pub root: String,
    /// Unix socket the API is served on.
    pub socket: String,
    /// Cgroup layout detected on the host: `v1`, `v2`, `hybrid` or `none`.
    pub cgroup_layout: String,
    /// Parent cgroup under which each container gets its own.
    pub cgroup_parent: String,
    pub containers: ContainerCounts,
    pub images: usize,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// The host's name (this and the next three as read when contid started).
    #[serde(default)]
    pub hostname: String,
    /// CPUs this daemon may run on.
    #[serde(default)]
    pub cpus: usize,
    /// The host's memory, in bytes.
    #[serde(default)]
    pub memory_bytes: u64,
    /// The host's distribution (`PRETTY_NAME` of `/etc/os-release`).
    #[serde(default)]
    pub operating_system: String,
    /// Maximum size of a container's log file before it is rotated, in bytes.
    pub log_max_bytes: u64,
    /// Files a container's log keeps, the live one included (containers may set their own).
    #[serde(default)]
    pub log_max_files: u32,
    /// Container folders whose `container.json` could not be read when contid started: left
    /// where they are, skipped, and reported here until repaired or removed.
    #[serde(default)]
    pub quarantined: Vec<QuarantinedContainer>,
}

/// A folder under `<root>/containers` whose `container.json` could not be read (empty,
/// truncated, missing). Its container may still run, so contid neither deletes nor adopts it;
/// see proto-docs/README.md, "Quarantined containers".
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantinedContainer {
    /// The folder's name: the container's id.
    pub id: String,
    /// The folder.
    pub path: String,
    /// Why its file could not be read.
    pub reason: String,
    /// Something of it ran when contid started: its monitor, or processes in its cgroup.
    pub running: bool,
    /// Its address (from its `hosts` file) and network: no new container gets it while it is
    /// quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ContainerCounts {
    pub total: usize,
    pub created: usize,
    pub running: usize,
    pub exited: usize,
}

/// An image of the store (`GET /v1/images`, `GET /v1/images/{ref}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImageInfo {
    /// The digest of its config, `sha256:<64 hex>`: the image's identity.
    pub id: String,
    /// The references that name it, in Docker's familiar form (`busybox:latest`,
    /// `127.0.0.1:5000/team/app:1`); empty for a dangling image.
    #[serde(default)]
    pub repo_tags: Vec<String>,
    /// `repository@sha256:…` of the manifests it was pulled or loaded by.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Bytes of the files of its layers, unpacked.
    pub size: u64,
    /// RFC 3339 time the image was made (its config's `created`), else when it entered the store.
    pub created: String,
    /// `amd64`, `arm64`, … (its config's).
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    /// The diff ids of its layers (`sha256:` of each uncompressed layer tar), base first.
    #[serde(default)]
    pub layers: Vec<String>,
    /// What its containers run by default.
    #[serde(default)]
    pub config: ImageConfig,
}

/// The defaults an image gives its containers: the OCI image config's `config` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImageConfig {
    /// `USER[:GROUP]` the command runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `KEY=VALUE` each; a container's own `env` wins over these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The signal `stop` sends first (`SIGTERM` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `PORT/PROTO` each, recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    /// Paths the image declares as volumes, recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<ImageHealthcheck>,
}

/// An image's health check, as its config (Docker's `Healthcheck`) says; durations in
/// nanoseconds, 0 when unset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImageHealthcheck {
    /// `["NONE"]`, `["CMD", arg…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub retries: u64,
}

/// One step of an image's history (`GET /v1/images/{ref}/history`), newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImageHistoryEntry {
    /// RFC 3339, when the config says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made the step (`RUN …`, `COPY …`).
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    /// The step changed only the config, it has no layer.
    #[serde(default)]
    pub empty_layer: bool,
    /// Bytes of its layer's files; 0 for an empty step.
    #[serde(default)]
    pub size: u64,
}

/// One line of the NDJSON stream of `POST /v1/images/pull`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PullEvent {
    /// The manifest for the platform was found: its digest and layers (compressed sizes).
    Resolved {
        reference: String,
        digest: String,
        layers: Vec<PullLayer>,
    },
    /// The layer waits for a download slot.
    Waiting { layer: String },
    /// The layer is in the store already: nothing is downloaded.
    Exists { layer: String },
    /// Bytes received so far, and the layer's size.
    Downloading {
        layer: String,
        current: u64,
        total: u64,
    },
    /// All bytes are in; the digest is being checked.
    Verifying { layer: String },
    /// The layer's files are being written.
    Extracting { layer: String },
    /// The layer is in the store.
    LayerDone { layer: String },
    /// The image is in the store and `reference` names it.
    Done {
        reference: String,
        id: String,
        digest: String,
    },
    /// The pull failed after the stream began; nothing of the failed layer is kept.
    Error { code: String, message: String },
}

/// A layer of a manifest being pulled.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PullLayer {
    /// Digest of the compressed blob.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `POST /v1/images/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImagePruneReport {
    /// Ids of the images deleted.
    pub deleted: Vec<String>,
    /// Bytes of layer files deleted with them.
    pub space_reclaimed: u64,
}

/// `POST /v1/auth` body: credentials for a registry, checked against it and kept by the daemon
/// (root-only) for later pulls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginSpec {
    /// `host[:port]`; `docker.io` for Docker Hub.
    pub registry: String,
    pub username: String,
    pub password: String,
}

/// Network mode of a container, written as a string: `bridge` (the default network),
/// `none`, `host`, `container:<ref>` (join another container's network namespace), or the name
/// of a network made with `POST /v1/networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum NetworkMode {
    /// The default bridge network (`bridge`): its own network namespace with `lo` and `eth0`.
    #[default]
    Bridge,
    /// Own network namespace with only `lo`, brought up.
    None,
    /// The host's network stack.
    Host,
    /// The network namespace of another container (by id, name or id prefix), which must run.
    Container(String),
    /// A network made with `POST /v1/networks`, by name.
    Network(String),
}

/// Name of the default bridge network.
pub const DEFAULT_NETWORK: &str = "bridge";

impl NetworkMode {
    /// Parses the string form; an empty string or `container:` without a reference is `None`.
    pub fn parse(text: &str) -> Option<NetworkMode> {
        Some(match text {
            "" => return None,
            DEFAULT_NETWORK | "default" => NetworkMode::Bridge,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            _ => match text.strip_prefix("container:") {
                Some("") => return None,
                Some(reference) => NetworkMode::Container(reference.to_string()),
                None => NetworkMode::Network(text.to_string()),
            },
        })
    }

    /// The name of the network a container in this mode is attached to, if it is on one.
    pub fn network_name(&self) -> Option<&str> {
        match self {
            NetworkMode::Bridge => Some(DEFAULT_NETWORK),
            NetworkMode::Network(name) => Some(name),
            NetworkMode::None | NetworkMode::Host | NetworkMode::Container(_) => None,
        }
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkMode::Bridge => f.write_str(DEFAULT_NETWORK),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(reference) => write!(f, "container:{reference}"),
            NetworkMode::Network(name) => f.write_str(name),
        }
    }
}

impl Serialize for NetworkMode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NetworkMode::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid network mode {text:?}: expected bridge, none, host, container:<ref> or a network name"
            ))
        })
    }
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    #[default]
    Tcp,
    Udp,
}

impl PortProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        }
    }
}

/// Default address published ports are bound to on the host.
pub const DEFAULT_PUBLISH_ADDRESS: &str = "127.0.0.1";

/// A container port published on the host (`-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PortBinding {
    /// IPv4 address of the host to listen on (default `127.0.0.1`; `0.0.0.0` for all of the
    /// host's addresses).
    #[serde(default = "default_publish_address")]
    pub host_ip: String,
    /// Port on the host, 1-65535.
    #[schema(minimum = 1, maximum = 65535)]
    pub host_port: u16,
    /// Port inside the container, 1-65535.
    #[schema(minimum = 1, maximum = 65535)]
    pub container_port: u16,
    #[serde(default)]
    pub protocol: PortProtocol,
}

fn default_publish_address() -> String {
    DEFAULT_PUBLISH_ADDRESS.to_string()
}

/// A container's attachment to a network, as inspect shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ContainerNetwork {
    /// Network name (`bridge` for the default one).
    pub network: String,
    /// IPv4 address of the container's `eth0`.
    pub ip_address: String,
    /// Prefix length of the network's subnet.
    pub prefix_len: u8,
    /// MAC address of `eth0`.
    pub mac_address: String,
    /// The default route's gateway (the bridge's address).
    pub gateway: String,
}

/// `POST /v1/networks` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Unique name, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters; not `bridge`, `none`,
    /// `host`, `default`, `prune` or `container:...`.
    #[schema(pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", max_length = 64)]
    pub name: String,
    /// IPv4 subnet in CIDR form (`10.90.1.0/24`), prefix length 8-30; must not overlap another
    /// network's. Default: the first free /24 in `10.90.0.0/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The bridge's address inside the subnet. Default: the subnet's first address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Metadata, `KEY: VALUE` (keys not empty); kept with the network and shown by inspect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A network as `GET /v1/networks/{name}` and the list show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub subnet: String,
    pub gateway: String,
    /// Name of the host's bridge interface.
    pub bridge: String,
    /// The predefined default network (`bridge`), which cannot be removed.
    pub default: bool,
    /// RFC 3339 time of creation (of the daemon's start for the default network).
    pub created: String,
    /// `NetworkSpec.labels` (none on the default network).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Containers with an address on it, in any state.
    pub containers: Vec<NetworkMember>,
}

/// A container attached to a network.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct NetworkMember {
    pub id: String,
    pub name: String,
    pub ip_address: String,
    pub mac_address: String,
}

/// `POST /v1/containers` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Unique name; generated when absent. `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters;
    /// not `prune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", max_length = 64)]
    pub name: Option<String>,
    /// The image: a reference (`busybox`, `127.0.0.1:5000/team/app:1`, `name@sha256:…`) or an
    /// image id (`sha256:…`, or a prefix of at least 12 hex digits).
    #[schema(min_length = 1)]
    pub image: String,
    /// Command and arguments; the first element is looked up in `PATH` when it has no `/`.
    /// Empty: the image's `Cmd`. Runs after the entrypoint when there is one, as Docker does.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Replaces the image's `Entrypoint` (and then its `Cmd` is not used); `[]` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Extra environment, `KEY=VALUE` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Absolute working directory inside the container (default `/`); made at the start when
    /// the image lacks it (mode 0755, owned by the container's user), as Docker does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Hostname inside the container (default: the short id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `bridge` (default), `none`, `host`, `container:<ref>` or a network's name.
    #[serde(default)]
    #[schema(value_type = String, example = "bridge")]
    pub network: NetworkMode,
    /// Container ports published on the host (needs a bridge network).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortBinding>,
    /// Delete the container as soon as it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Run a tiny init (built into contid) as PID 1: it reaps orphaned zombies, forwards the
    /// signals it gets to the command and exits with the command's exit code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// Give the container a pseudo-terminal (in its own devpts) as stdin, stdout and stderr.
    /// Its output is then one raw stream (logged as `stdout`); its environment gets
    /// `TERM=xterm` unless `env` sets `TERM`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Keep stdin open for attached clients (`POST .../attach?stdin=true`). Without a tty, stdin
    /// is a pipe, closed when an attached client ends its input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
    /// Limits enforced through the container's cgroup; none by default.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Privileges and confinement; secure defaults when absent (see `SecurityOptions`).
    #[serde(default)]
    pub security: SecurityOptions,
    /// User to run as: `NAME` or `UID`, optionally `:GROUP` or `:GID`, looked up in the
    /// container's `/etc/passwd` and `/etc/group` at start (root when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Bind mounts and named volumes, mounted in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
    /// Metadata, `KEY: VALUE` (keys not empty), over the image's labels; `GET /v1/containers`
    /// filters on them (`label=KEY[=VALUE]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Other names the container answers to on its network's resolver, besides its own (only
    /// on a network made with `POST /v1/networks`); several containers may share one, which
    /// then resolves to all of their addresses. Each as a container name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_aliases: Vec<String>,
    /// When the container is started again after it exits: `no` (default), `always`,
    /// `unless-stopped`, `on-failure` or `on-failure:MAX` (see `RestartPolicy`); not with
    /// `auto_remove`.
    #[serde(default, skip_serializing_if = "RestartPolicy::is_no")]
    #[schema(value_type = String, pattern = "^(no|always|unless-stopped|on-failure(:[1-9][0-9]{0,8})?)$", example = "on-failure:3")]
    pub restart_policy: RestartPolicy,
    /// A health check, over the image's (see `HealthcheckSpec`); `{"test": ["NONE"]}` turns the
    /// image's off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthcheckSpec>,
    /// The signal `stop` sends first (a name, `SIGUSR1` or `USR1`, or a number): replaces the
    /// image's `StopSignal` (default `SIGTERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds a `stop` without its own `timeout` waits before SIGKILL (default 10, at most
    /// 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 86400)]
    pub stop_timeout: Option<u64>,
    /// How much of its output the container's log keeps, over the daemon's defaults
    /// (`contid --log-max-bytes`, `--log-max-files`).
    #[serde(default, skip_serializing_if = "LogLimits::is_unset")]
    pub log_limits: LogLimits,
    /// tmpfs file systems mounted in the container (after `volumes`), each private to it and
    /// gone with it (see `TmpfsSpec`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<TmpfsSpec>,
    /// Size of the container's `/dev/shm` in bytes (default 64 MiB, as Docker's; at most the
    /// host's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub shm_size: Option<u64>,
    /// Extra lines of the container's `/etc/hosts`, `NAME:ADDRESS` each (IPv4 or IPv6, e.g.
    /// `db.local:10.0.0.5`, `v6:fd00::1`); `NAME:host-gateway` is its network's gateway (the
    /// host's address on the container's bridge), refused without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Nameservers (IP addresses). On a network with a resolver they become its upstreams for
    /// this container's queries (the resolver stays its nameserver, as Docker's does);
    /// elsewhere they replace the host's in its `/etc/resolv.conf`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// Search domains of its `/etc/resolv.conf`, replacing the host's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// `options` of its `/etc/resolv.conf` (`ndots:2`, `edns0`, ...), replacing the host's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// Supplementary groups of its processes (and execs), besides the user's: names looked up
    /// in the container's `/etc/group` at start, or numeric GIDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
}

/// A tmpfs mount (`ContainerSpec.tmpfs`), as Docker's `--tmpfs TARGET:OPTIONS`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TmpfsSpec {
    /// Absolute path inside the container, resolved inside its root; not `/`, not in `/proc`
    /// or `/sys`. Created when missing.
    pub target: String,
    /// Docker's options, comma-separated: `rw`/`ro`, `size=` (bytes, or with `k`, `m`, `g`),
    /// `mode=` (octal), `uid=`, `gid=`, `nr_inodes=`, `exec`/`noexec`, `suid`/`nosuid`,
    /// `dev`/`nodev`. Defaults: `rw,noexec,nosuid,nodev`, mode 1777, no size limit but the
    /// kernel's (half the memory). Any other option is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub options: String,
}

/// How much a container's log keeps on disk (`ContainerSpec.log_limits`, Docker's `--log-opt
/// max-size=…,max-file=…`): the live file and the rotated ones, each rotated before it would
/// grow beyond `max_size`, so the log takes at most about `max_size × max_files`. A field left
/// out is the daemon's default.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogLimits {
    /// Bytes a log file may reach before it is rotated, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_size: Option<u64>,
    /// Files kept, the live one included, 1 to 100 (with 1, a full file starts over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub max_files: Option<u32>,
}

impl LogLimits {
    /// Neither field given: the daemon's defaults.
    pub fn is_unset(&self) -> bool {
        self.max_size.is_none() && self.max_files.is_none()
    }
}

/// The most files a container's log may keep (`LogLimits.max_files`).
pub const MAX_LOG_FILES: u32 = 100;

fn default_stop_signal() -> String {
    "SIGTERM".to_string()
}

/// What a `stop` waits before SIGKILL when neither it nor the container says.
pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 10;

fn default_stop_timeout() -> u64 {
    DEFAULT_STOP_TIMEOUT_SECS
}

/// A bind mount of a host path, or a named volume (`ContainerSpec.volumes`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// An absolute host path that exists (not `/` unless the daemon runs with
    /// `--allow-root-bind`), or the name of a volume (`/v1/volumes`), created by the container's
    /// create when there is none of that name, kept after the container goes. Empty or absent:
    /// an anonymous volume, made by the create with a generated name (which the container's
    /// `volumes` then show), removed with the container by `DELETE ...?volumes=true` and by
    /// `auto_remove`. A volume the create makes is filled with what the image has at `target`
    /// when the container first starts (owners and modes kept), as Docker does.
    #[serde(default)]
    pub source: String,
    /// Absolute path inside the container, resolved inside its root; not `/`, not in `/proc` or
    /// `/sys`. Created when missing.
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// `POST /v1/volumes` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VolumeCreateSpec {
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters; generated (64 hex digits) when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", max_length = 64)]
    pub name: Option<String>,
    /// Metadata, `KEY: VALUE` (keys not empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A named volume (`GET /v1/volumes`, `GET /v1/volumes/{name}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    /// RFC 3339 time it was created (for a folder found without a record at the daemon's
    /// start, when that folder was made).
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The folder on the host that holds its files.
    pub mountpoint: String,
    /// The containers, in any state, whose `volumes` name it.
    #[serde(default)]
    pub in_use_by: Vec<VolumeUser>,
    /// Made by a container's create for a volume without a name (`VolumeSpec.source` empty, or
    /// the image's `Volumes`); removed with that container when its delete asks for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// A container that uses a volume.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct VolumeUser {
    pub id: String,
    pub name: String,
}

/// `POST /v1/volumes/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct VolumePruneReport {
    /// Names of the volumes deleted.
    pub deleted: Vec<String>,
    /// Bytes of the files deleted with them.
    pub space_reclaimed: u64,
}

/// Privileges and confinement of every process of a container (`ContainerSpec.security`, also
/// applied to execs). The defaults are Docker's, plus `no_new_privileges`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecurityOptions {
    /// Every capability, no seccomp filter, no masked or read-only paths, every device allowed
    /// by the devices cgroup. Root in a privileged container is root on the host: use it only
    /// for what must manage the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// Capabilities added to the default set (Docker's 14), `CHOWN` or `CAP_CHOWN`; `ALL` adds
    /// every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities removed from the default set; `ALL` removes every one (`cap_add` is then
    /// the whole set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `PR_SET_NO_NEW_PRIVS`: setuid binaries and file capabilities grant nothing. On by
    /// default; `false` opts out (e.g. for `su`/`sudo` inside the container).
    #[serde(default = "enabled")]
    pub no_new_privileges: bool,
    /// Seccomp filter: `{"mode": "default"}` (Conti's allow-list), `{"mode": "unconfined"}`,
    /// or `{"mode": "profile", "profile": {...}}` with a profile in Docker's JSON format.
    #[serde(default)]
    pub seccomp: Seccomp,
    /// Mount the container's root filesystem read-only (`/dev`, `/dev/shm`, `/proc` and the
    /// `/etc` files Conti provides stay as they are).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_rootfs: bool,
    /// Run in a user namespace: the container's root (and every id up to 65535) is mapped to
    /// the unprivileged range the daemon's `--userns-remap` user has in `/etc/subuid` and
    /// `/etc/subgid` (one range shared by all such containers). The image's files are shown
    /// with their owners through an idmapped mount. Refused when the daemon has no range, and
    /// with `privileged`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub userns: bool,
}

fn enabled() -> bool {
    true
}

impl Default for SecurityOptions {
    fn default() -> Self {
        SecurityOptions {
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            no_new_privileges: true,
            seccomp: Seccomp::Default,
            read_only_rootfs: false,
            userns: false,
        }
    }
}

/// Which seccomp filter a container's processes run under.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Seccomp {
    /// Conti's allow-list, comparable to Docker's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in Docker's JSON format (the subset `SeccompProfile` documents).
    Profile { profile: SeccompProfile },
}

/// A seccomp profile in Docker's JSON format. Supported: `defaultAction`, `defaultErrnoRet`,
/// `architectures` (x86_64 only is enforced), `syscalls` with `names`, `action`, `errnoRet`,
/// `args` and the `includes`/`excludes` conditions on `caps`, `arches` and `minKernel`. Other
/// fields (`archMap`, `comment`, ...) are ignored; syscall names this build does not know are
/// skipped, as runc does. Actions: `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, `SCMP_ACT_KILL`,
/// `SCMP_ACT_KILL_THREAD`, `SCMP_ACT_KILL_PROCESS`, `SCMP_ACT_TRAP`, `SCMP_ACT_LOG`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    pub default_action: String,
    /// errno of `SCMP_ACT_ERRNO` as the default action (default EPERM, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<SeccompSyscall>,
}

/// One rule of a seccomp profile: `action` for the syscalls in `names` whose arguments match
/// every entry of `args`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeccompSyscall {
    pub names: Vec<String>,
    pub action: String,
    /// errno of `SCMP_ACT_ERRNO` (default EPERM, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<SeccompArg>,
    /// The rule applies only when all of these hold.
    #[serde(default, skip_serializing_if = "SeccompCondition::is_empty")]
    pub includes: SeccompCondition,
    /// The rule applies only when none of these holds.
    #[serde(default, skip_serializing_if = "SeccompCondition::is_empty")]
    pub excludes: SeccompCondition,
}

/// A comparison of one syscall argument: `SCMP_CMP_EQ`, `_NE`, `_LT`, `_LE`, `_GT`, `_GE`, or
/// `SCMP_CMP_MASKED_EQ` (`arg & value == valueTwo`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeccompArg {
    pub index: u8,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// When a profile rule applies: the container has these capabilities, runs on one of these
/// architectures (`amd64`, `x86_64`...), on a kernel at least this version (`"5.8"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeccompCondition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl SeccompCondition {
    pub fn is_empty(&self) -> bool {
        *self == SeccompCondition::default()
    }
}

/// Resource limits of a container (`ContainerSpec.resources`, `PATCH /v1/containers/{ref}`).
///
/// Every field is optional; an absent one means "no limit" at create and "unchanged" in an
/// update. Out-of-range values are 400 `invalid_spec` with the allowed range; a limit the host
/// cannot enforce fails the start (or the update) with 400 `unsupported_limit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Memory limit in bytes, at least 6 MiB (6291456).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Memory plus swap in bytes, at least `memory` (which it needs); `-1` for unlimited swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`); at most `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    /// CPUs, fractional (`0.5` is half of one CPU): a CFS quota of `cpus × 100000` µs per 100000
    /// µs period. 0.01 up to the number of CPUs the host has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Relative CPU weight, 2..=262144 (v1 `cpu.shares`; v2 `cpu.weight`, mapped as runc does:
    /// `1 + (shares - 2) × 9999 / 262142`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    /// CPUs the container may run on, e.g. `0-1,3`; each must exist on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    /// Memory (NUMA) nodes the container may use, e.g. `0`; each must exist on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    /// Most processes (and threads) at once, 1..=4194304 (the kernel's `PID_MAX_LIMIT`); `-1`
    /// for unlimited. `0` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// Relative block I/O weight, 10..=1000 (v1 `blkio.weight` or `blkio.bfq.weight`; v2
    /// `io.bfq.weight`, or `io.weight` scaled to 1..=10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<i64>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// `self` with every field `update` sets replaced.
    pub fn merged(&self, update: &Resources) -> Resources {
        Resources {
            memory: update.memory.or(self.memory),
            memory_swap: update.memory_swap.or(self.memory_swap),
            memory_reservation: update.memory_reservation.or(self.memory_reservation),
            cpus: update.cpus.or(self.cpus),
            cpu_shares: update.cpu_shares.or(self.cpu_shares),
            cpuset_cpus: update
                .cpuset_cpus
                .clone()
                .or_else(|| self.cpuset_cpus.clone()),
            cpuset_mems: update
                .cpuset_mems
                .clone()
                .or_else(|| self.cpuset_mems.clone()),
            pids_limit: update.pids_limit.or(self.pids_limit),
            blkio_weight: update.blkio_weight.or(self.blkio_weight),
        }
    }
}

/// `PATCH /v1/containers/{ref}` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerUpdate {
    /// The limits to change; fields left out keep their value.
    #[serde(default)]
    pub resources: Resources,
    /// A new restart policy (see `ContainerSpec.restart_policy`); it applies to a running
    /// container at its next exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(no|always|unless-stopped|on-failure(:[1-9][0-9]{0,8})?)$", example = "always")]
    pub restart_policy: Option<RestartPolicy>,
}

/// `GET /v1/containers/{ref}/stats`: one sample (a line of the stream with `stream=true`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    /// RFC 3339 time of the sample.
    pub read: String,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// Traffic of every network interface of the container's network namespace, by interface
    /// name (`/proc/<pid>/net/dev` of its first process): only `lo` with network `none`; with
    /// network `host`, all of the host's interfaces and the host's whole traffic.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkStats>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CpuStats {
    /// CPU time used by all its processes since the start, in nanoseconds.
    pub usage_ns: u64,
    /// CPU time used during the last interval, per wall-clock time, in percent of one CPU
    /// (`200` = two CPUs busy), as `docker stats` shows it.
    pub percent: f64,
    /// CPUs online on the host.
    pub online_cpus: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MemoryStats {
    /// Memory in use in bytes, page cache included.
    pub usage: u64,
    /// The limit in bytes; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Page cache in bytes (part of `usage`).
    pub cache: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PidsStats {
    /// Processes and threads now.
    pub current: u64,
    /// The limit; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BlkioStats {
    /// Bytes read from and written to block devices since the start.
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Counters of one network interface since it was created (for `lo` of a new namespace: since
/// the container started).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct NetworkStats {
    /// Bytes received (link-layer headers included, as the kernel counts them).
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

/// `GET /v1/containers/{ref}/top`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ContainerTop {
    pub processes: Vec<ProcessInfo>,
}

/// One process of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ProcessInfo {
    /// Pid on the host.
    pub pid: i32,
    /// Pid inside the container's pid namespace (`NSpid` of `/proc/<pid>/status`).
    pub container_pid: Option<i32>,
    /// Parent's pid on the host.
    pub ppid: i32,
    /// Real user id, and its name in the container's `/etc/passwd` when it has one.
    pub uid: u32,
    pub user: String,
    /// Command line (or `[name]` when it has none, as ps shows it).
    pub command: String,
}

/// `POST /v1/containers` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedContainer {
    pub id: String,
    pub name: String,
}

/// Lifecycle state of a container.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Created,
    Running,
    Exited,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running => "running",
            ContainerState::Exited => "exited",
        }
    }
}

/// A container as `GET /v1/containers/{ref}` and the list show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The image as the create named it.
    pub image: String,
    /// The id of that image at create (`sha256:…`).
    #[serde(default)]
    pub image_id: String,
    /// What runs: the entrypoint and the command, combined.
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub state: ContainerState,
    /// Host pid of the container's first process while it runs.
    pub pid: Option<i32>,
    /// Exit code once exited: the status, 128+N when killed by signal N, 127/126 when the
    /// command could not be run, 255 when its processes vanished while the daemon was down.
    pub exit_code: Option<i32>,
    /// Why the container could not start, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339 times.
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub hostname: String,
    #[schema(value_type = String, example = "bridge")]
    pub network: NetworkMode,
    /// Its address on its network (none with `none`, `host` or `container:`).
    #[serde(default)]
    pub networks: Vec<ContainerNetwork>,
    /// The ports it publishes while it runs (its `ContainerSpec.ports`), listed in every
    /// state; `conti-cli ps` shows them only while it runs, as `docker ps` does.
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    pub auto_remove: bool,
    /// Whether the command runs under the tiny init (`ContainerSpec::init`).
    #[serde(default)]
    pub init: bool,
    /// The container has a pseudo-terminal: attach streams are raw, not multiplexed.
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    /// The limits in force (`ContainerSpec.resources`, as last updated).
    #[serde(default)]
    pub resources: Resources,
    /// The kernel killed a process of the container for lack of memory during its last run.
    #[serde(default)]
    pub oom_killed: bool,
    /// Privileges and confinement (`ContainerSpec.security`, defaults filled in).
    #[serde(default)]
    pub security: SecurityOptions,
    /// `ContainerSpec.user`; absent: root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `ContainerSpec.volumes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
    /// `ContainerSpec.labels` over the image's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `ContainerSpec.network_aliases`.
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// `ContainerSpec.restart_policy`, as last updated.
    #[serde(default)]
    #[schema(value_type = String, example = "no")]
    pub restart_policy: RestartPolicy,
    /// How many times the restart policy started the container again since a person last
    /// started it (also those made while contid was down).
    #[serde(default)]
    pub restart_count: u32,
    /// Its process exited and the restart policy starts it again after a pause (100 ms,
    /// doubling up to a minute): `state` stays `running`, as Docker's does, with no `pid`;
    /// `exit_code` and `finished` are the last run's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restarting: bool,
    /// The health check in force (the create's over the image's, defaults filled in); absent
    /// when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthcheckSpec>,
    /// What its health checks found during its current (or last) run; absent without a health
    /// check, or before its first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The signal `stop` sends first: the create's, else the image's, else `SIGTERM`.
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    /// Seconds a `stop` without its own `timeout` waits before SIGKILL.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: u64,
    /// `ContainerSpec.log_limits`, as given (a field left out is the daemon's default).
    #[serde(default, skip_serializing_if = "LogLimits::is_unset")]
    pub log_limits: LogLimits,
    /// `ContainerSpec.tmpfs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<TmpfsSpec>,
    /// Size of its `/dev/shm` in bytes.
    #[serde(default = "default_shm_size")]
    pub shm_size: u64,
    /// `ContainerSpec.extra_hosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `ContainerSpec.dns`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// `ContainerSpec.dns_search`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// `ContainerSpec.dns_options`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// `ContainerSpec.group_add`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
}

/// The size of `/dev/shm` when a create does not give one: 64 MiB, as Docker's.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

fn default_shm_size() -> u64 {
    DEFAULT_SHM_SIZE
}

/// `POST /v1/containers/{ref}/wait` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaitResult {
    pub exit_code: i32,
}

/// `POST /v1/containers/{ref}/exec` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    /// Command and arguments, looked up in the container's `PATH`.
    pub cmd: Vec<String>,
    /// Extra environment on top of the container's, `KEY=VALUE` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Absolute working directory (default: the container's); never made: a missing one is
    /// 400 `invalid_cwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// User to run as (default: the container's `user`), as in `ContainerSpec.user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Create a streaming exec instead of running to the end: the answer is 201 `ExecCreated`,
    /// and `POST /v1/execs/{id}/start` runs it over an upgraded connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attach: bool,
    /// Run the command on a pseudo-terminal made in the container's devpts (needs `attach`);
    /// its environment gets `TERM=xterm` unless set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Feed the command's stdin from the stream (needs `attach`); otherwise stdin is `/dev/null`
    /// (or the terminal, with `tty`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
    /// Start the command and answer at once (201 `ExecCreated`), as `docker exec -d`: it runs
    /// on with its output dropped and stdin `/dev/null`; `GET /v1/execs/{id}` tells when it has
    /// exited and its code. Not with `attach`, `tty` or `stdin`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detach: bool,
}

/// `POST /v1/containers/{ref}/exec` answer for a streaming exec (`attach: true`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecCreated {
    pub id: String,
}

/// Lifecycle state of a streaming exec.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExecState {
    Created,
    Running,
    Exited,
}

/// `GET /v1/execs/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecInfo {
    pub id: String,
    /// Full id of the container it runs in.
    pub container_id: String,
    pub cmd: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
    pub state: ExecState,
    /// Set once exited: the status, 128+N when killed by signal N, 127/126 when the command
    /// could not be run.
    pub exit_code: Option<i32>,
}

/// `POST /v1/containers/{ref}/exec` answer: the command ran to its end.
///
/// Output is bytes: each stream is carried as text (`stdout`), plus its exact bytes in base64
/// (`stdout_base64`) when they are not valid UTF-8 (see [`ExecResult::stdout_bytes`]).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ExecResult {
    pub exit_code: i32,
    /// Standard output as text: its bytes when they are valid UTF-8; otherwise each invalid
    /// sequence is replaced by U+FFFD here and `stdout_base64` holds the bytes.
    pub stdout: String,
    /// Standard output's exact bytes in base64 (RFC 4648, padded), only when they are not valid
    /// UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_base64: Option<String>,
    /// Standard error, as `stdout`.
    pub stderr: String,
    /// Standard error's exact bytes, as `stdout_base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_base64: Option<String>,
}

impl ExecResult {
    pub fn new(exit_code: i32, stdout: &[u8], stderr: &[u8]) -> ExecResult {
        let (stdout, stdout_base64) = text_and_base64(stdout);
        let (stderr, stderr_base64) = text_and_base64(stderr);
        ExecResult {
            exit_code,
            stdout,
            stdout_base64,
            stderr,
            stderr_base64,
        }
    }

    /// The exact bytes the command wrote to its standard output.
    pub fn stdout_bytes(&self) -> Result<Cow<'_, [u8]>, InvalidBase64> {
        exact_bytes("stdout_base64", &self.stdout, self.stdout_base64.as_deref())
    }

    /// The exact bytes the command wrote to its standard error.
    pub fn stderr_bytes(&self) -> Result<Cow<'_, [u8]>, InvalidBase64> {
        exact_bytes("stderr_base64", &self.stderr, self.stderr_base64.as_deref())
    }
}

/// One record of `GET /v1/containers/{ref}/logs?format=json` (newline-delimited): a line of
/// output, or a part of one (lines longer than 16 KiB, and a last line without newline).
///
/// Output is bytes: `log` is text, and `log_base64` carries the exact bytes when they are not
/// valid UTF-8 (see [`LogLine::bytes`]).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time the line was written.
    pub time: String,
    /// The line as text, with its newline when it had one: its bytes when they are valid UTF-8;
    /// otherwise each invalid sequence is replaced by U+FFFD here and `log_base64` holds the
    /// bytes.
    pub log: String,
    /// The line's exact bytes in base64 (RFC 4648, padded), only when they are not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_base64: Option<String>,
}

impl LogLine {
    pub fn new(stream: &str, time: &str, line: &[u8]) -> LogLine {
        let (log, log_base64) = text_and_base64(line);
        LogLine {
            stream: stream.to_owned(),
            time: time.to_owned(),
            log,
            log_base64,
        }
    }

    /// The exact bytes of the line.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>, InvalidBase64> {
        exact_bytes("log_base64", &self.log, self.log_base64.as_deref())
    }
}

/// A `*_base64` field that is not base64: the answer did not come from a conforming server.
#[derive(Debug, thiserror::Error)]
#[error("`{field}` is not valid base64: {source}")]
pub struct InvalidBase64 {
    pub field: &'static str,
    pub source: base64::DecodeError,
}

/// The text form of output and, when it is not valid UTF-8, its exact bytes in base64.
fn text_and_base64(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(BASE64_STANDARD.encode(bytes)),
        ),
    }
}

/// The bytes [`text_and_base64`] was given.
fn exact_bytes<'a>(
    field: &'static str,
    text: &'a str,
    base64: Option<&str>,
) -> Result<Cow<'a, [u8]>, InvalidBase64> {
    match base64 {
        None => Ok(Cow::Borrowed(text.as_bytes())),
        Some(encoded) => BASE64_STANDARD
            .decode(encoded)
            .map(Cow::Owned)
            .map_err(|source| InvalidBase64 { field, source }),
    }
}

/// What happened to a container, in `Event::type`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Create,
    Start,
    /// A command started in the container (`exec_id` names it when it has an id).
    ExecStart,
    /// An exec'd command ended, with its `exit_code`.
    ExecDie,
    /// The container's first process ended, with its `exit_code` (and `signal` when one killed
    /// it).
    Die,
    /// A process of the container was killed for lack of memory (sent before its `die`).
    Oom,
    /// A `stop` ended a running container.
    Stop,
    /// A signal was sent to the container, named in `signal`.
    Kill,
    /// The container was deleted.
    Destroy,
    /// The container was given a new name (`container_name`; the old one in `old_name`).
    Rename,
    /// A client attached to the container's input or output.
    Attach,
    /// An attached client went away.
    Detach,
    /// The container was started again: by its restart policy (`restart_count` says how many
    /// times so far), or by `POST /v1/containers/{ref}/restart`.
    Restart,
    /// Its health check found a new status, in `health_status`.
    HealthStatus,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "create",
            EventType::Start => "start",
            EventType::ExecStart => "exec_start",
            EventType::ExecDie => "exec_die",
            EventType::Die => "die",
            EventType::Oom => "oom",
            EventType::Stop => "stop",
            EventType::Kill => "kill",
            EventType::Destroy => "destroy",
            EventType::Rename => "rename",
            EventType::Attach => "attach",
            EventType::Detach => "detach",
            EventType::Restart => "restart",
            EventType::HealthStatus => "health_status",
        }
    }
}

/// One line of `GET /v1/events` (newline-delimited JSON).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Event {
    /// RFC 3339 time with nanoseconds; events come in the order of their times.
    pub time: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub container_id: String,
    pub container_name: String,
    /// `die` and `exec_die`: the exit code (128+N when killed by signal N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// `kill`: the signal sent; `die`: the signal that killed the process, if one did
    /// (`SIGTERM`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// `exec_start`, `exec_die`, and `attach`/`detach` of an exec: the exec's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// `rename`: the name before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_name: Option<String>,
    /// `restart` by the restart policy: how many times it has restarted the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_count: Option<u32>,
    /// `health_status`: the new status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_bytes_survive_json_text_when_utf8_base64_when_not() {
        let text = LogLine::new("stdout", "t", "héllo\n".as_bytes());
        assert_eq!((text.log.as_str(), &text.log_base64), ("héllo\n", &None));
        let json = serde_json::to_string(&text).unwrap();
        assert!(!json.contains("log_base64"), "{json}");

        let raw = b"\xff\xfeA\n\x00\x80";
        let line = LogLine::new("stderr", "t", raw);
        assert_eq!(line.log, "\u{fffd}\u{fffd}A\n\u{0}\u{fffd}");
        assert_eq!(line.log_base64.as_deref(), Some("//5BCgCA"));
        let back: LogLine = serde_json::from_str(&serde_json::to_string(&line).unwrap()).unwrap();
        assert_eq!(back.bytes().unwrap().as_ref(), raw);

        let exec = ExecResult::new(3, raw, b"plain");
        let back: ExecResult = serde_json::from_slice(&serde_json::to_vec(&exec).unwrap()).unwrap();
        assert_eq!(back.stdout_bytes().unwrap().as_ref(), raw);
        assert_eq!(back.stderr_bytes().unwrap().as_ref(), b"plain");
        assert_eq!((back.exit_code, back.stderr_base64), (3, None));

        let broken = LogLine {
            log_base64: Some("not base64!".into()),
            ..line
        };
        assert_eq!(broken.bytes().unwrap_err().field, "log_base64");
    }
}
