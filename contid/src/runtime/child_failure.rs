//! A failure in a child process (container init, exec) reported back as data, not as a hang, and
//! [`StepResult`], which turns a failed call into one. A leaf: every part of the layer may use it.

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// Which step failed in the child, with the errno it saw. Travels over a pipe as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChildFailure {
    /// Name of the step that failed, e.g. `mount_overlay`, `pivot_root`, `chdir_cwd`, `exec`.
    pub step: String,
    /// The errno of the failed call (0 when not a system call).
    pub errno: i32,
    /// What went wrong, for a person.
    pub message: String,
}

/// The classes of failure the API distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// `execve` found no such file (exit code 127).
    CommandNotFound,
    /// `execve` found the file but may not run it (exit code 126).
    CommandNotExecutable,
    /// The working directory does not exist or is not a directory inside the container.
    BadWorkingDirectory,
    /// The host cannot enforce a resource limit the container asked for.
    UnsupportedLimit,
    /// A published port is taken on the host.
    PortInUse,
    /// The container whose network namespace was to be joined is not running any more.
    NetworkContainerGone,
    /// The user (or group) asked for is not in the container's `/etc/passwd` (`/etc/group`).
    UnknownUser,
    /// A volume leads somewhere no volume may go: a target that is a symlink leading nowhere
    /// inside the root or to the root itself, a file where a folder is needed, `/proc` or `/sys`
    /// reached through a symlink, a path that kept changing while it was resolved; a source
    /// that turned out to be the host's `/`.
    InvalidVolume,
    /// The container's own filesystem has `/proc`, `/sys`, `/dev` or `/etc` as a symlink or a
    /// file, or a folder where `/etc/hosts`, `/etc/hostname` or `/etc/resolv.conf` go (a
    /// previous run of the container made it so; an image with them is refused at import).
    BrokenRootfs,
    /// The state disk (or a quota) is full: a folder, a file or the log could not be written.
    NoSpace,
    /// Anything else: a mount, a namespace, a cgroup… a fault of the daemon or the host.
    Setup,
}

pub const STEP_EXEC: &str = "exec";
pub const STEP_CHDIR_CWD: &str = "chdir_cwd";
/// Mounting the volumes.
pub const STEP_VOLUMES: &str = "volumes";
/// Looking up `--user` in the container's account files.
pub const STEP_RESOLVE_USER: &str = "resolve_user";
/// Writing the container's limits; `EOPNOTSUPP` when the host cannot enforce one.
pub const STEP_CGROUP_LIMITS: &str = "cgroup_limits";
/// Reserving a published port; `EADDRINUSE` when it is taken.
pub const STEP_PUBLISH_PORT: &str = "publish_port";
/// Finding the folders and files the init mounts over; `ELOOP`/`ENOTDIR`/`EISDIR` when the
/// container's filesystem has something else there.
pub const STEP_MOUNT_POINT: &str = "mount_point";
/// Network setup of the init; `ESRCH` when the container whose namespace it joins is gone.
pub const STEP_NETWORK: &str = "network";

impl ChildFailure {
    pub fn new(step: &str, errno: nix::errno::Errno, message: impl Into<String>) -> Self {
        ChildFailure {
            step: step.to_string(),
            errno: errno as i32,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> FailureKind {
        let errno = Errno::from_raw(self.errno);
        // A cgroup's ENOSPC is something else (a cpuset with no CPUs).
        if matches!(errno, Errno::ENOSPC | Errno::EDQUOT) && !self.step.starts_with("cgroup") {
            return FailureKind::NoSpace;
        }
        match self.step.as_str() {
            STEP_EXEC if matches!(errno, Errno::ENOENT | Errno::ENOTDIR) => {
                FailureKind::CommandNotFound
            }
            STEP_EXEC
                if matches!(
                    errno,
                    Errno::EACCES | Errno::ENOEXEC | Errno::EISDIR | Errno::EPERM
                ) =>
            {
                FailureKind::CommandNotExecutable
            }
            STEP_CHDIR_CWD => FailureKind::BadWorkingDirectory,
            STEP_CGROUP_LIMITS if errno == Errno::EOPNOTSUPP => FailureKind::UnsupportedLimit,
            STEP_PUBLISH_PORT if errno == Errno::EADDRINUSE => FailureKind::PortInUse,
            STEP_NETWORK if errno == Errno::ESRCH => FailureKind::NetworkContainerGone,
            STEP_RESOLVE_USER if errno == Errno::ENOENT => FailureKind::UnknownUser,
            STEP_MOUNT_POINT if matches!(errno, Errno::ELOOP | Errno::ENOTDIR | Errno::EISDIR) => {
                FailureKind::BrokenRootfs
            }
            STEP_VOLUMES
                if matches!(
                    errno,
                    Errno::ELOOP | Errno::EXDEV | Errno::ENOTDIR | Errno::EACCES | Errno::EAGAIN
                ) =>
            {
                FailureKind::InvalidVolume
            }
            _ => FailureKind::Setup,
        }
    }

    /// The exit code a shell would give: 127 not found, 126 not executable, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.kind() {
            FailureKind::CommandNotFound => 127,
            FailureKind::CommandNotExecutable => 126,
            FailureKind::BadWorkingDirectory
            | FailureKind::UnknownUser
            | FailureKind::InvalidVolume
            | FailureKind::BrokenRootfs
            | FailureKind::UnsupportedLimit
            | FailureKind::PortInUse
            | FailureKind::NetworkContainerGone
            | FailureKind::NoSpace
            | FailureKind::Setup => 1,
        }
    }
}

/// Maps a failed call in a child to a [`ChildFailure`] naming its step.
pub trait StepResult<T> {
    fn step(self, step: &str, what: impl FnOnce() -> String) -> Result<T, ChildFailure>;
}

impl<T> StepResult<T> for nix::Result<T> {
    fn step(self, step: &str, what: impl FnOnce() -> String) -> Result<T, ChildFailure> {
        self.map_err(|errno| ChildFailure::new(step, errno, what()))
    }
}

impl<T> StepResult<T> for std::io::Result<T> {
    fn step(self, step: &str, what: impl FnOnce() -> String) -> Result<T, ChildFailure> {
        self.map_err(|e| ChildFailure::new(step, io_errno(&e), what()))
    }
}

/// The errno behind an I/O error (EIO when there is none, e.g. a short write).
pub fn io_errno(error: &std::io::Error) -> Errno {
    error
        .raw_os_error()
        .map(Errno::from_raw)
        .unwrap_or(Errno::EIO)
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if self.errno != 0 {
            write!(f, ": {}", nix::errno::Errno::from_raw(self.errno).desc())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn exec_errors_map_to_shell_exit_codes() {
        assert_eq!(
            ChildFailure::new(STEP_EXEC, Errno::ENOENT, "x").exit_code(),
            127
        );
        assert_eq!(
            ChildFailure::new(STEP_EXEC, Errno::EACCES, "x").exit_code(),
            126
        );
        assert_eq!(
            ChildFailure::new(STEP_CHDIR_CWD, Errno::ENOENT, "x").kind(),
            FailureKind::BadWorkingDirectory
        );
        assert_eq!(
            ChildFailure::new("pivot_root", Errno::EINVAL, "x").kind(),
            FailureKind::Setup
        );
    }

    #[test]
    fn a_full_disk_is_told_apart_from_a_cpuset_without_cpus() {
        for errno in [Errno::ENOSPC, Errno::EDQUOT] {
            assert_eq!(
                ChildFailure::new("prepare_state_dir", errno, "x").kind(),
                FailureKind::NoSpace
            );
        }
        assert_eq!(
            ChildFailure::new("cgroup_add_process", Errno::ENOSPC, "x").kind(),
            FailureKind::Setup
        );
    }
}
