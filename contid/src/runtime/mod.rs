//! The Linux layer: everything that makes system calls to build, watch and tear down containers.
//!
//! Nothing here uses tokio. Process creation happens only in the helper (forked in `main` before
//! the async runtime starts) and in the processes it forks: the per-container monitor, the
//! container's init, and exec'd processes. The daemon itself may call the non-forking parts
//! (signals through pidfds, cgroup removal, reading exit records).
//!
//! Files a container's state folder holds that belong to this layer:
//! `upper/`, `work/` (overlayfs), `lower/<n>` (mount points of the image's layers idmapped with
//! `--userns`), `l/<n>` (short links to the image's layers, for images whose layers' paths are
//! too long for one overlay mount), `rootfs/` (mount point, only mounted inside the container's
//! mount namespace), `hostname`, `hosts`, `resolv.conf` (bind-mounted into `/etc`),
//! `container.log` (+ `container.log.1` after rotation), `exit.json` (the monitor's exit record),
//! `monitor.lock` (held by whatever may run the container; see `process::monitor_lock`),
//! `restart.json` (the daemon's restart order) and `runs.json` (the monitor's record of the runs
//! it restarted; see `process::restart_policy`).
//!
//! One room per subsystem; arrows run one way, from the top of this list down:
//! - `process/`: the daemon's side — the helper and its protocol, the monitor (and its restarts),
//!   execs, the stdio session, attach frames, the log file, the exit record, the restart order
//!   and the run record;
//! - `container/`: what runs inside — the init, namespaces, the root filesystem, volumes, `/etc`
//!   files, terminals, and the steps every forked child shares;
//! - `confinement/`: capabilities, seccomp, no_new_privileges, the user, masked paths, the sealed
//!   binary;
//! - `network/` and `cgroup/`: the kernel subsystems of the same names (`network` may use `sys`);
//! - `unpack/`: image archives unpacked into a folder, every path resolved inside it (the import's
//!   root filesystems, and the image store's layers);
//! - `sys/`: OS wrappers that know nothing of containers (atomic files, folder watches, the lock
//!   file, the fd channel, `clone3` as `fork`, process handles, peer credentials).
//!
//! Every room may use what sits at this top: [`RuntimeError`], `child_failure` (a failure in a
//! forked child as data) and `launch` (the types the engine fills), whose fields name the rooms'
//! types.

pub mod cgroup;
mod child_failure;
pub mod confinement;
pub mod container;
mod launch;
pub mod network;
pub mod process;
pub mod sys;
pub mod unpack;

pub use child_failure::{ChildFailure, FailureKind};
pub use confinement::ProcessConfinement;
pub use launch::{
    ContainerLaunch, ContainerSecurity, ExecLaunch, ExecStatus, LaunchReport, NetworkSetup,
    WindowSize,
};
pub use network::ports::PublishedPort;
pub use process::exit_record::ExitRecord;
pub use process::helper::{
    ExecHandle, ExecIo, ExecSessionHandle, ExitPipe, HelperClient, LaunchHandle, receive_terminal,
    resize_terminal,
};
pub use sys::process::ProcessHandle;

/// Errors of the Linux layer as the engine sees them.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("helper process is gone: {0}")]
    HelperGone(String),
    #[error("helper protocol error: {0}")]
    Protocol(String),
    /// The container's init or an exec'd process failed before or at `execve`; the failure
    /// travelled back as data.
    #[error("{0}")]
    Child(ChildFailure),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::Error,
    },
}

impl RuntimeError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
    pub fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        RuntimeError::Sys {
            context: context.into(),
            source,
        }
    }
}

/// Now, as RFC 3339 with nanoseconds: the form of every time Conti writes.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// What `info` says of the host besides its kernel.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub hostname: String,
    pub cpus: usize,
    pub memory_bytes: u64,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub operating_system: String,
}

pub fn host_facts() -> HostFacts {
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory_bytes = nix::sys::sysinfo::sysinfo().map_or(0, |i| i.ram_total());
    let operating_system = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".to_string());
    HostFacts {
        hostname,
        cpus,
        memory_bytes,
        operating_system,
    }
}
