//! Conti's wire types: the JSON bodies of the REST API that `contid` serves and `conti-cli` speaks.
//!
//! This crate depends on nothing of the daemon: both sides use these types, and the OpenAPI
//! document in `proto-docs/openapi.json` is generated from them (see `contid`'s `api::openapi`).
//! Request types reject unknown fields, so a typo in a request is a clear 400, not a silent default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// Maximum size of a container's log file before it is rotated, in bytes.
    pub log_max_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ContainerCounts {
    pub total: usize,
    pub created: usize,
    pub running: usize,
    pub exited: usize,
}

/// An imported root filesystem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImageInfo {
    pub name: String,
    /// Size of the unpacked root filesystem in bytes.
    pub size: u64,
    /// RFC 3339 time of the import.
    pub created: String,
}

/// Network mode of a container.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own network namespace with only `lo`, brought up.
    #[default]
    None,
    /// The host's network stack.
    Host,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

/// `POST /v1/containers` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Unique name; generated when absent. `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Name of an imported image.
    pub image: String,
    /// Command and arguments; the first element is looked up in `PATH` when it has no `/`.
    pub cmd: Vec<String>,
    /// Extra environment, `KEY=VALUE` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Absolute working directory inside the container (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Hostname inside the container (default: the short id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `none` (default) or `host`.
    #[serde(default)]
    pub network: NetworkMode,
    /// Delete the container as soon as it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Run a tiny init (built into contid) as PID 1: it reaps orphaned zombies, forwards the
    /// signals it gets to the command and exits with the command's exit code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    /// Give the container a pseudo-terminal (in its own devpts) as stdin, stdout and stderr.
    /// Its output is then one raw stream (logged as `stdout`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Keep stdin open for attached clients (`POST .../attach?stdin=true`). Without a tty, stdin
    /// is a pipe, closed when an attached client ends its input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
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
    pub image: String,
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
    pub network: NetworkMode,
    pub auto_remove: bool,
    /// Whether the command runs under the tiny init (`ContainerSpec::init`).
    #[serde(default)]
    pub init: bool,
    /// The container has a pseudo-terminal: attach streams are raw, not multiplexed.
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
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
    /// Absolute working directory (default: the container's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Create a streaming exec instead of running to the end: the answer is 201 `ExecCreated`,
    /// and `POST /v1/execs/{id}/start` runs it over an upgraded connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attach: bool,
    /// Run the command on a pseudo-terminal made in the container's devpts (needs `attach`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Feed the command's stdin from the stream (needs `attach`); otherwise stdin is `/dev/null`
    /// (or the terminal, with `tty`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecResult {
    pub exit_code: i32,
    /// Standard output, decoded as UTF-8 (invalid sequences replaced).
    pub stdout: String,
    pub stderr: String,
}

/// One line of `GET /v1/containers/{ref}/logs?format=json` (newline-delimited).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time the line was written.
    pub time: String,
    /// The line, with its newline when it had one.
    pub log: String,
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
    /// A process of the container was killed for lack of memory.
    Oom,
    /// A `stop` ended a running container.
    Stop,
    /// A signal was sent to the container, named in `signal`.
    Kill,
    /// The container was deleted.
    Destroy,
    /// A client attached to the container's input or output.
    Attach,
    /// An attached client went away.
    Detach,
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
            EventType::Attach => "attach",
            EventType::Detach => "detach",
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
}
