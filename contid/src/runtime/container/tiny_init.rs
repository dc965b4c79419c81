//! The tiny init (`--init`): the container's first process stays our code, as PID 1 of the
//! container's pid namespace, and runs the command as its child.
//!
//! Programs that were not written to be PID 1 misbehave there: the kernel delivers them no
//! signal they have not installed a handler for (so `sleep` ignores the SIGTERM of `stop` and
//! gets SIGKILLed), and orphans reparented to them stay zombies forever because they never
//! `wait` for children they did not start. The tiny init does what tini does: it reaps every
//! child, forwards the signals it gets to the command, and exits with the command's exit code
//! (128+N when signal N killed it) as soon as the command exits; the kernel then kills whatever
//! is left in the namespace.
//!
//! Security: PID 1 now runs the contid binary, visible inside the container as `/proc/1/exe`.
//! Before forking the command it makes itself non-dumpable (`PR_SET_DUMPABLE` 0): `/proc/1/*`
//! then belongs to root and needs `CAP_SYS_PTRACE` over it, so `/proc/1/exe` and `/proc/1/fd`
//! cannot be opened by container processes without that capability (the attack of runc's
//! CVE-2019-5736); with it, they find a sealed copy of the binary, not the host's file
//! (`confinement::sealed_exe`). And it closes every fd but 0, 1 and 2 (signals are taken with `sigwait`, not
//! a signalfd), so that even a process that may look finds nothing of the monitor or the daemon
//! there. PID 1 then takes the container's capabilities, no_new_privileges and seccomp filter
//! before it forks the command.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::child::{
    close_inherited_fds, exec_with_failure_report, exit_code_of, exit_now, fail, restore_sigchld,
};
use crate::runtime::child_failure::{ChildFailure, StepResult};
use crate::runtime::confinement::CompiledConfinement;

/// Exit code of the tiny init when its own machinery fails after the command started (the
/// command is then killed with the namespace).
const BROKEN_INIT_EXIT_CODE: i32 = 255;

/// Runs in the container's init once the container is prepared (root, stdio, working
/// directory): forks the command and stays PID 1 until it exits. Never returns. A command that
/// cannot be executed reports its failure on `error_pipe`, as without `--init`.
/// PID 1 takes the container's confinement itself before forking, so that the command inherits
/// it and PID 1 holds no more than the command does.
pub(super) fn run_tiny_init(
    argv: &[String],
    env: &[String],
    error_pipe: OwnedFd,
    confinement: &CompiledConfinement,
) -> ! {
    let signals = match become_tiny_init(&error_pipe).and_then(|signals| {
        confinement.apply()?;
        Ok(signals)
    }) {
        Ok(signals) => signals,
        Err(failure) => fail(error_pipe.as_fd(), &failure),
    };
    // SAFETY: the container's init is single-threaded; the child execs (or `_exit`s).
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            isolate_command();
            // `exec_with_failure_report` resets the signal mask and dispositions.
            exec_with_failure_report(argv, env, error_pipe.as_fd(), None)
        }
        Ok(ForkResult::Parent { child }) => {
            // The monitor learns that the command started (or failed) from the child's copy
            // of the error pipe: ours must be closed for it to read EOF.
            drop(error_pipe);
            supervise(child, &signals)
        }
        Err(errno) => fail(
            error_pipe.as_fd(),
            &ChildFailure::new("init_fork", errno, "fork the command under the tiny init"),
        ),
    }
}

/// Non-dumpable, only fds 0, 1, 2 (and the error pipe, closed after the fork), every signal
/// blocked, to be taken with `sigwait`. Blocked before the fork so that none is lost in
/// between: a blocked signal stays pending even for a namespace's PID 1, which the kernel
/// otherwise spares every signal it has no handler for. Returns the set to wait for.
fn become_tiny_init(error_pipe: &OwnedFd) -> Result<SigSet, ChildFailure> {
    nix::sys::prctl::set_dumpable(false).step("init_dumpable", || "PR_SET_DUMPABLE 0".into())?;
    close_inherited_fds(&[error_pipe.as_raw_fd()])?;
    // What `ps` in the container shows for PID 1 (it was cloned from the monitor).
    let _ = nix::sys::prctl::set_name(c"conti-init");
    // Waiting needs SIGCHLD at its default (SIG_IGN would make the kernel reap for us and the
    // command's status would be lost).
    restore_sigchld()?;
    let all = SigSet::all();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
        .step("init_signals", || "block signals".into())?;
    Ok(all)
}

/// In the command, before `execve`: its own process group, in the terminal's foreground when
/// stdin is one, so that Ctrl-C reaches the command once and not PID 1 as well. (Signals are
/// still blocked here, so taking the foreground raises no SIGTTOU.)
fn isolate_command() {
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let _ = nix::unistd::tcsetpgrp(std::io::stdin().as_fd(), nix::unistd::getpid());
}

/// PID 1's loop: forward signals, reap everything, exit with the command's status.
fn supervise(command: Pid, signals: &SigSet) -> ! {
    loop {
        let signal = match wait_for_signal(signals) {
            Ok(signal) => signal,
            Err(Errno::EINTR) => continue,
            Err(_) => exit_now(BROKEN_INIT_EXIT_CODE),
        };
        if signal == libc::SIGCHLD {
            if let Some(status) = reap_all(command) {
                exit_now(exit_code_of(status).0);
            }
        } else if is_forwarded(signal) {
            // SAFETY: kill takes plain integers. ESRCH (the command has exited, its SIGCHLD is
            // on its way) is harmless.
            unsafe { libc::kill(command.as_raw(), signal) };
        }
    }
}

/// The next pending signal of `signals` (by number: real-time signals too).
fn wait_for_signal(signals: &SigSet) -> nix::Result<libc::c_int> {
    let mut signal = 0;
    // SAFETY: sigwait reads the set and writes one signal number into `signal`.
    match unsafe { libc::sigwait(signals.as_ref(), &mut signal) } {
        0 => Ok(signal),
        errno => Err(Errno::from_raw(errno)),
    }
}

/// Signals PID 1 passes on to the command: all it can get but SIGCHLD, its own business, and
/// SIGTTIN and SIGTTOU, which only concern a process that touches the terminal.
fn is_forwarded(signal: libc::c_int) -> bool {
    !matches!(
        signal,
        libc::SIGCHLD | libc::SIGTTIN | libc::SIGTTOU | libc::SIGKILL | libc::SIGSTOP
    )
}

/// Reaps every child that has exited (the command and any orphan reparented to PID 1); returns
/// the command's status when it was among them.
fn reap_all(command: Pid) -> Option<WaitStatus> {
    let mut command_status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return command_status,
            Ok(status) if status.pid() == Some(command) => command_status = Some(status),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return command_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catchable_signal_but_job_control_of_pid_1_is_forwarded() {
        use libc::*;
        let forwarded = [
            SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP,
        ];
        for signal in forwarded.into_iter().chain(SIGRTMIN()..=SIGRTMAX()) {
            assert!(is_forwarded(signal), "{signal} is not forwarded");
        }
        for signal in [SIGCHLD, SIGTTIN, SIGTTOU] {
            assert!(!is_forwarded(signal), "{signal} is forwarded");
        }
    }
}
