//! Running a command in a running container.
//!
//! The helper forks E1, the waiter: it joins the container's cgroup and namespaces, forks E2
//! (only children enter a pid namespace), waits for it and writes one [`ExecStatus`] to the status
//! pipe. E2 sets up stdio and its working directory and execs the command. With a timeout (a
//! health check's), E2 leads a process group of its own, and E1 kills the group when the time is
//! up.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use super::protocol::HelperFailure;
use crate::runtime::cgroup::{CgroupLayout, CgroupManager};
use crate::runtime::child_failure::{ChildFailure, StepResult, io_errno};
use crate::runtime::container::child::{
    cgroup_failure, close_inherited_fds, enter_working_dir, exec_with_failure_report, exit_code_of,
    fail, read_to_end, redirect_stdio, restore_sigchld, run_forked, write_all,
};
use crate::runtime::container::namespaces::ContainerNamespaces;
use crate::runtime::container::pty;
use crate::runtime::sys::process::{ProcessHandle, start_time};
use crate::runtime::{ExecLaunch, ExecStatus};

/// The daemon's ends: read ends of the command's stdout and stderr (without a tty), of the
/// status pipe; the write end of stdin (when asked for); the channel on which the terminal's
/// master comes (with a tty).
pub(super) struct ExecPipes {
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub status: OwnedFd,
    pub stdin: Option<OwnedFd>,
    pub terminal: Option<OwnedFd>,
}

/// The waiter's ends.
struct WaiterPipes {
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    status: OwnedFd,
    stdin: Option<OwnedFd>,
    terminal: Option<OwnedFd>,
}

impl WaiterPipes {
    fn raw_fds(&self) -> Vec<i32> {
        [&self.stdout, &self.stderr, &self.stdin, &self.terminal]
            .into_iter()
            .flatten()
            .map(|fd| fd.as_raw_fd())
            .chain(std::iter::once(self.status.as_raw_fd()))
            .collect()
    }
}

/// Runs in the helper: forks the waiter and returns the daemon's ends.
pub(super) fn start_exec(
    exec: &ExecLaunch,
    cgroups: &CgroupManager,
) -> Result<ExecPipes, HelperFailure> {
    let pipe =
        || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| HelperFailure::new("exec pipe", e));
    let split = |pair: Option<(OwnedFd, OwnedFd)>| match pair {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let (stdout_r, stdout_w) = split((!exec.tty).then(pipe).transpose()?);
    let (stderr_r, stderr_w) = split((!exec.tty).then(pipe).transpose()?);
    let (stdin_r, stdin_w) = split((exec.stdin && !exec.tty).then(pipe).transpose()?);
    let (status_r, status_w) = pipe()?;
    let terminal = exec
        .tty
        .then(|| {
            socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| HelperFailure::new("exec terminal socketpair", e))
        })
        .transpose()?;
    let (terminal_daemon, terminal_waiter) = split(terminal);
    // SAFETY: the helper is single-threaded; the child runs `run_waiter` and `_exit`s.
    match unsafe { nix::unistd::fork() }.map_err(|e| HelperFailure::new("fork exec waiter", e))? {
        ForkResult::Child => {
            let pipes = WaiterPipes {
                stdout: stdout_w,
                stderr: stderr_w,
                status: status_w,
                stdin: stdin_r,
                terminal: terminal_waiter,
            };
            run_forked(|| run_waiter(exec, cgroups, pipes))
        }
        ForkResult::Parent { .. } => Ok(ExecPipes {
            stdout: stdout_r,
            stderr: stderr_r,
            status: status_r,
            stdin: stdin_w,
            terminal: terminal_daemon,
        }),
    }
}

/// E1: join the container, fork the command, report how it ended.
fn run_waiter(exec: &ExecLaunch, cgroups: &CgroupManager, pipes: WaiterPipes) -> i32 {
    let keep = pipes.raw_fds();
    let WaiterPipes {
        stdout,
        stderr,
        status,
        stdin,
        terminal,
    } = pipes;
    let stdio = CommandStdio {
        stdout,
        stderr,
        stdin,
        terminal,
    };
    let status_code = match join_container(exec, cgroups, &keep)
        .and_then(|namespaces| run_command(exec, cgroups, namespaces, stdio))
    {
        Ok(ended) => ExecStatus {
            exit_code: ended.exit_code,
            failure: None,
            timed_out: ended.timed_out,
        },
        Err(failure) => ExecStatus {
            exit_code: failure.exit_code(),
            failure: Some(failure),
            timed_out: false,
        },
    };
    if let Ok(bytes) = serde_json::to_vec(&status_code) {
        let _ = write_all(status.as_fd(), &bytes);
    }
    0
}

/// Everything E1 does before forking the command, in order. E1 itself joins only the pid
/// namespace (which applies to its children) and stays out of the container's cgroup, so that
/// nothing in the container — an OOM kill under its memory limit, say — can take the waiter,
/// and with it the exit status, away. The command joins the rest (see `start_command`).
fn join_container(
    exec: &ExecLaunch,
    cgroups: &CgroupManager,
    pipes: &[i32],
) -> Result<ContainerNamespaces, ChildFailure> {
    close_inherited_fds(pipes)?;
    restore_sigchld()?;
    // Until exec, the command is a copy of the daemon's binary inside the container: processes
    // there must not be able to ptrace it or open its /proc/<pid>/exe. execve makes it dumpable
    // again.
    nix::sys::prctl::set_dumpable(false).step("set_dumpable", || "PR_SET_DUMPABLE".into())?;
    let namespaces = ContainerNamespaces::open(exec.init_pid)?;
    // The namespaces opened must be the container's, not those of a process that got the pid of
    // an init that exited: the init's pid must be in the container's cgroup (when there is one).
    if cgroups.layout() != CgroupLayout::None {
        let procs = cgroups
            .procs(&exec.container_id)
            .map_err(|e| cgroup_failure("cgroup_procs", &e))?;
        if !procs.contains(&exec.init_pid) {
            let message = format!(
                "the container's init (pid {}) is not running",
                exec.init_pid
            );
            return Err(ChildFailure::new("join_container", Errno::ESRCH, message));
        }
    }
    namespaces.join_pid()?;
    Ok(namespaces)
}

/// How the command ended.
struct CommandEnd {
    exit_code: i32,
    timed_out: bool,
}

/// Forks E2 (in the container's pid namespace), waits for it (until its timeout at most).
fn run_command(
    exec: &ExecLaunch,
    cgroups: &CgroupManager,
    namespaces: ContainerNamespaces,
    stdio: CommandStdio,
) -> Result<CommandEnd, ChildFailure> {
    let (error_r, error_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).step("pipes", || "error pipe".into())?;
    // SAFETY: E1 is single-threaded; the child runs `start_command` and never returns.
    let command = match unsafe { nix::unistd::fork() }.step("fork", || "fork the command".into())? {
        ForkResult::Child => {
            drop(error_r);
            start_command(exec, cgroups, namespaces, stdio, error_w)
        }
        ForkResult::Parent { child } => child,
    };
    if exec.timeout.is_some() {
        // Also here: whichever of the two comes first, the group exists before it is killed.
        let _ = nix::unistd::setpgid(command, command);
    }
    drop((error_w, stdio, namespaces));
    let report = read_to_end(error_r)
        .map_err(|e| ChildFailure::new("sync", io_errno(&e), "read the error pipe"))?;
    let timed_out = match exec.timeout {
        Some(timeout) if report.is_empty() => !exits_within(command, timeout),
        _ => false,
    };
    if timed_out {
        // The command and what it started; something that left the group lives on.
        let _ = nix::sys::signal::killpg(command, Signal::SIGKILL);
    }
    let status = wait_for(command)?;
    if report.is_empty() {
        return Ok(CommandEnd {
            exit_code: exit_code_of(status).0,
            timed_out,
        });
    }
    Err(serde_json::from_slice(&report).unwrap_or_else(|e| {
        ChildFailure::new(
            "sync",
            Errno::EPROTO,
            format!("unreadable failure report from the command: {e}"),
        )
    }))
}

/// The command's ends of its stdio.
struct CommandStdio {
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    terminal: Option<OwnedFd>,
}

/// E2: the container's cgroup (entered while the host's cgroupfs is still in view), the
/// remaining namespaces, stdio, working directory, the container's confinement, exec.
fn start_command(
    exec: &ExecLaunch,
    cgroups: &CgroupManager,
    namespaces: ContainerNamespaces,
    stdio: CommandStdio,
    error: OwnedFd,
) -> ! {
    let own_group = match exec.timeout {
        Some(_) => nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))
            .step("setpgid", || "a process group of its own".into()),
        None => Ok(()),
    };
    let prepared = own_group
        .and_then(|()| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
                .step("set_pdeathsig", || "PR_SET_PDEATHSIG".into())
        })
        // "0" moves the writer itself: this process's pid means nothing outside its namespace.
        .and_then(|()| {
            cgroups
                .add_process(&exec.container_id, 0)
                .map_err(|e| cgroup_failure("cgroup_add_process", &e))
        })
        .and_then(|()| namespaces.join_all_but_pid())
        .and_then(|()| connect_stdio(exec, stdio))
        .and_then(|()| enter_working_dir(&exec.cwd))
        .and_then(|()| exec.confinement.compile());
    match prepared {
        Ok(confinement) => {
            let env = confinement.environment(&exec.env);
            exec_with_failure_report(&exec.argv, &env, error.as_fd(), Some(&confinement))
        }
        Err(failure) => fail(error.as_fd(), &failure),
    }
}

/// Whether our child `pid` exits within `timeout`; it is not reaped.
fn exits_within(pid: Pid, timeout: std::time::Duration) -> bool {
    match ProcessHandle::open(pid.as_raw(), start_time(pid.as_raw()).unwrap_or_default()) {
        Ok(Some(command)) => command.exits_within(timeout),
        // Gone (a zombie still has its stat, so this is rare), or not to be watched: wait.
        _ => true,
    }
}

fn wait_for(pid: Pid) -> Result<nix::sys::wait::WaitStatus, ChildFailure> {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => return other.step("wait", || "wait for the command".into()),
        }
    }
}

/// A terminal made in the container's devpts (the mount namespace joined, `/dev/pts` is the
/// container's), or the pipes.
fn connect_stdio(exec: &ExecLaunch, stdio: CommandStdio) -> Result<(), ChildFailure> {
    if let Some(channel) = stdio.terminal {
        return pty::attach_new_terminal(channel.as_fd(), exec.window_size);
    }
    let (Some(stdout), Some(stderr)) = (stdio.stdout, stdio.stderr) else {
        return Err(ChildFailure::new("stdio", Errno::EBADF, "no output pipes"));
    };
    redirect_stdio(stdout, stderr)?;
    if let Some(stdin) = stdio.stdin {
        nix::unistd::dup2_stdin(&stdin).step("stdio", || "dup2 stdin".into())?;
    }
    Ok(())
}
