//! What the engine fills to start a container or an exec, and what the helper answers: the
//! vocabulary between the engine and this layer. Plain data (it travels as JSON to the helper);
//! the fields name types of the rooms that act on them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cgroup;
use super::child_failure::ChildFailure;
use super::confinement::ProcessConfinement;
use super::container::{etc_files, tmpfs, userns, volumes};
use super::network::{self, ports::PublishedPort};
use super::process::logfile;

/// Network namespace choice for a container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum NetworkSetup {
    /// A new network namespace where only `lo` exists, brought up.
    Isolated,
    /// Stay in the host's network namespace.
    Host,
    /// A new network namespace with `lo` and `eth0`, the other end of a veth pair on a bridge.
    Bridge(network::BridgeEndpoint),
    /// The network namespace of another container's init (by pid and start time).
    Joined { init_pid: i32, init_start_time: u64 },
}

impl NetworkSetup {
    /// Whether the init gets a network namespace of its own at clone.
    pub fn new_namespace(&self) -> bool {
        matches!(self, NetworkSetup::Isolated | NetworkSetup::Bridge(_))
    }
}

/// Everything the helper needs to start a container. The engine fills it; the runtime does not
/// second-guess it (validation is the engine's job), but every path the container sees is
/// resolved inside its root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerLaunch {
    /// Full container id (also the name of its cgroup).
    pub id: String,
    /// `<root>/containers/<id>`: where `upper/`, `work/`, `rootfs/`, the log and `exit.json` live.
    pub state_dir: PathBuf,
    /// The image's unpacked layers, base first (the order of its config's `rootfs.diff_ids`):
    /// absolute paths of read-only folders shared by every container of the image, stacked as
    /// the overlay's lower layers. They may hold overlayfs whiteouts (0:0 character devices) and
    /// opaque folders (`trusted.overlay.opaque`), which hide what the layers below have. Each
    /// sits alone in a folder of its own (`<layers>/<id>/fs`): with `--userns` its shifted copy
    /// may go next to it.
    pub image_layers: Vec<PathBuf>,
    pub hostname: String,
    pub network: NetworkSetup,
    /// Host ports the monitor reserves for the container's life.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
    /// Its `/etc/resolv.conf`, as the engine made it (the network's resolver, or the host's
    /// nameservers).
    #[serde(default)]
    pub resolv_conf: String,
    /// `argv[0]` is looked up in the `PATH` of `env` inside the container when it has no `/`.
    pub argv: Vec<String>,
    /// Complete environment (`KEY=VALUE`), `PATH` and `HOSTNAME` included.
    pub env: Vec<String>,
    /// Absolute working directory inside the container.
    pub cwd: String,
    /// Rotate `container.log` when it grows beyond this many bytes.
    pub log_max_bytes: u64,
    /// Files the log keeps, the live one included (absent in launches of versions that kept
    /// two).
    #[serde(default = "default_log_max_files")]
    pub log_max_files: u32,
    /// Run the command under the tiny init (`container::tiny_init`): PID 1 stays ours, reaps zombies and
    /// forwards signals.
    #[serde(default)]
    pub init: bool,
    /// Give the init a terminal made in the container's devpts; the monitor holds its master.
    #[serde(default)]
    pub tty: bool,
    /// Attached clients may write to stdin (a pipe without `tty`).
    #[serde(default)]
    pub open_stdin: bool,
    /// The terminal's size before the command starts (a resize that came before the start).
    #[serde(default)]
    pub window_size: Option<WindowSize>,
    /// Written into the container's cgroup before its first process is let go.
    #[serde(default)]
    pub limits: cgroup::CgroupLimits,
    pub security: ContainerSecurity,
    /// Bind mounts, in order.
    pub volumes: Vec<volumes::BindMount>,
    /// Restarts by policy counted before this start (a restart when the daemon starts goes on
    /// counting; a person's start begins again at 0). The monitor counts on from there.
    #[serde(default)]
    pub restart_count: u32,
    /// tmpfs mounts, in order, after the volumes.
    #[serde(default)]
    pub tmpfs: Vec<tmpfs::TmpfsMount>,
    /// Bytes of its `/dev/shm`.
    #[serde(default = "default_shm_size")]
    pub shm_size: u64,
    /// Lines added to its `/etc/hosts`.
    #[serde(default)]
    pub extra_hosts: Vec<etc_files::HostEntry>,
}

fn default_shm_size() -> u64 {
    conti_proto::DEFAULT_SHM_SIZE
}

fn default_log_max_files() -> u32 {
    logfile::DEFAULT_LOG_MAX_FILES
}

impl ContainerLaunch {
    /// What its log keeps on disk.
    pub fn log_limits(&self) -> logfile::LogLimits {
        logfile::LogLimits {
            max_bytes: self.log_max_bytes,
            max_files: self.log_max_files,
        }
    }
}

#[cfg(test)]
impl ContainerLaunch {
    /// A launch of `argv` as container `id` in `state_dir`, every option at its default.
    pub(crate) fn for_tests(
        id: &str,
        state_dir: &std::path::Path,
        argv: &[&str],
    ) -> ContainerLaunch {
        ContainerLaunch {
            id: id.into(),
            state_dir: state_dir.into(),
            image_layers: vec![state_dir.join("image")],
            hostname: id.into(),
            network: NetworkSetup::Isolated,
            ports: vec![],
            resolv_conf: String::new(),
            argv: argv.iter().map(|arg| (*arg).into()).collect(),
            env: vec![],
            cwd: "/".into(),
            log_max_bytes: 1024,
            log_max_files: 2,
            init: false,
            tty: false,
            open_stdin: false,
            window_size: None,
            limits: Default::default(),
            security: ContainerSecurity::from_options(&Default::default()).unwrap(),
            volumes: Vec::new(),
            restart_count: 0,
            tmpfs: Vec::new(),
            shm_size: default_shm_size(),
            extra_hosts: Vec::new(),
        }
    }
}

/// The confinement of a container as its init applies it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerSecurity {
    /// Applied to the init (and the tiny init) just before `execve`, and to every exec.
    pub confinement: ProcessConfinement,
    /// Hide and write-protect the kernel's files in `/proc` and `/sys` (all but privileged).
    pub mask_kernel_paths: bool,
    /// The device allow-list (the devices controller on cgroup v1, a BPF program on v2).
    pub devices: cgroup::DeviceAccess,
    pub read_only_rootfs: bool,
    /// `--userns`: the container's root is this range of host ids (see `container::userns`).
    #[serde(default)]
    pub userns: Option<userns::IdMapping>,
}

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

/// What the monitor reports once the container's first process has exec'd, or failed to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LaunchReport {
    Started {
        monitor_pid: i32,
        /// Start time of the monitor (field 22 of `/proc/<pid>/stat`): with the pid it names the
        /// process across daemon restarts without being fooled by pid reuse.
        monitor_start_time: u64,
        init_pid: i32,
        init_start_time: u64,
    },
    /// Nothing is left running; the monitor has cleaned up and written `exit.json` with
    /// `failure.exit_code()`.
    Failed { failure: ChildFailure },
}

/// A command to run inside a running container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecLaunch {
    pub container_id: String,
    /// Host pid of the container's init: its namespaces are joined.
    pub init_pid: i32,
    pub argv: Vec<String>,
    /// Complete environment.
    pub env: Vec<String>,
    /// Absolute working directory inside the container.
    pub cwd: String,
    /// A terminal made in the container's devpts; its master is sent to the daemon.
    #[serde(default)]
    pub tty: bool,
    /// stdin is a pipe whose write end goes to the daemon (else `/dev/null`, or the terminal).
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub window_size: Option<WindowSize>,
    /// The container's confinement, applied just before `execve`.
    pub confinement: ProcessConfinement,
    /// Kill the command (its whole process group) when it runs longer than this.
    #[serde(default)]
    pub timeout: Option<std::time::Duration>,
}

/// How an exec'd process ended; written by the exec's waiter to the status pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecStatus {
    pub exit_code: i32,
    /// Set when the command could not be started (not found, not executable, bad cwd…).
    pub failure: Option<ChildFailure>,
    /// It ran longer than its `timeout` and was killed.
    #[serde(default)]
    pub timed_out: bool,
}
