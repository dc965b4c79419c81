//! The helper: a single-threaded process forked from `main` before the async runtime starts.
//! Every process the daemon needs (monitors, container inits, exec'd commands) is forked by it.

use std::os::fd::OwnedFd;

use super::cgroup::CgroupManager;
use super::{ContainerLaunch, ExecLaunch, ExecStatus, LaunchReport, RuntimeError};

/// What the helper needs for its whole life.
pub struct HelperConfig {
    pub cgroups: CgroupManager,
}

/// The daemon's end of the helper's socket. Calls are blocking, serialised, and return as soon
/// as the helper has forked (long waits happen on the returned handles).
pub struct HelperClient {}

/// Forks the helper. Must be called while the process is still single-threaded.
pub fn spawn_helper(config: HelperConfig) -> Result<HelperClient, RuntimeError> {
    let _ = config;
    todo!("H1")
}

impl HelperClient {
    pub fn launch_container(&self, launch: &ContainerLaunch) -> Result<LaunchHandle, RuntimeError> {
        let _ = launch;
        todo!("H1")
    }

    pub fn spawn_exec(&self, exec: &ExecLaunch) -> Result<ExecHandle, RuntimeError> {
        let _ = exec;
        todo!("H1")
    }
}

/// The read end of a container's start report pipe.
pub struct LaunchHandle {
    pub report: OwnedFd,
}

impl LaunchHandle {
    /// Blocks until the monitor reports that the first process exec'd, or why it could not.
    pub fn wait_report(self) -> Result<LaunchReport, RuntimeError> {
        todo!("H1")
    }
}

/// Read ends of an exec'd command's output and of its status pipe (one `ExecStatus` JSON, then EOF).
pub struct ExecHandle {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub status: OwnedFd,
}

impl ExecStatus {
    /// Parses what the status pipe carried; an empty pipe means the waiter died.
    pub fn parse(bytes: &[u8]) -> Result<ExecStatus, RuntimeError> {
        let _ = bytes;
        todo!("H1")
    }
}

impl LaunchReport {
    pub fn parse(bytes: &[u8]) -> Result<LaunchReport, RuntimeError> {
        let _ = bytes;
        todo!("H1")
    }
}
