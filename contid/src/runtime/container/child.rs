//! What every process forked by the helper does between `fork` and `execve`: fd hygiene, stdio,
//! the working directory, the `PATH` lookup, the signal reset, and reporting a failure as data.
//!
//! Shared by the container's init and by exec'd commands. Everything here runs in a forked,
//! single-threaded child: it may allocate, but it must never unwind into the parent's code, so
//! child bodies run under [`run_forked`].

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::libc;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::WaitStatus;

use crate::runtime::cgroup::CgroupError;
use crate::runtime::child_failure::{
    ChildFailure, STEP_CHDIR_CWD, STEP_EXEC, StepResult, io_errno,
};
use crate::runtime::confinement::CompiledConfinement;

/// `PATH` used when the environment has none (the one Docker and runc use).
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit code of a forked child whose body panicked.
const PANIC_EXIT_CODE: i32 = 125;

/// Ends the process at once: no destructors, no atexit handlers of the parent, no stdio flush.
pub(super) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` only ends the calling process; it never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Runs the body of a freshly forked child and ends the process with its exit code. A panic is
/// caught so that it can never unwind into the code of the process we were forked from (the
/// helper's loop would otherwise go on running in the child).
pub(crate) fn run_forked(body: impl FnOnce() -> i32) -> ! {
    let code =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(PANIC_EXIT_CODE);
    exit_now(code)
}

/// A failed cgroup operation as a child failure, with the errno behind it.
pub(crate) fn cgroup_failure(step: &str, error: &CgroupError) -> ChildFailure {
    let errno = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .map_or(Errno::EIO, io_errno);
    ChildFailure::new(step, errno, error.to_string())
}

/// Writes `failure` as JSON to an error pipe. Best effort: the reader treats a broken report like
/// a dead child.
pub(super) fn report_failure(error_pipe: BorrowedFd<'_>, failure: &ChildFailure) {
    if let Ok(bytes) = serde_json::to_vec(failure) {
        let _ = write_all(error_pipe, &bytes);
    }
}

/// Reports `failure` on the error pipe and exits with status 1.
pub(crate) fn fail(error_pipe: BorrowedFd<'_>, failure: &ChildFailure) -> ! {
    report_failure(error_pipe, failure);
    exit_now(1)
}

/// `write` until done, retrying on EINTR.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads a pipe until EOF.
pub(crate) fn read_to_end(fd: OwnedFd) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut File::from(fd), &mut bytes)?;
    Ok(bytes)
}

/// Closes every fd except those in `keep`. Used first thing in the helper's children so that
/// nothing of the daemon (its lock file, the helper socket, other containers' pipes) leaks in.
pub(crate) fn close_fds_except(keep: &[RawFd]) -> nix::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 0u32;
    for &fd in keep.iter().chain(std::iter::once(&u32::MAX)) {
        if fd > first && close_range(first, fd - 1, 0).is_err() {
            return close_fds_by_listing(&keep);
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

/// [`close_fds_except`] (0, 1 and 2 are always kept) as a step of a child.
pub(crate) fn close_inherited_fds(keep: &[RawFd]) -> Result<(), ChildFailure> {
    let keep: Vec<RawFd> = [0, 1, 2].iter().chain(keep).copied().collect();
    close_fds_except(&keep).step("close_fds", || "close inherited fds".into())
}

/// Waits for children need SIGCHLD back at its default: the helper ignores it so that its own
/// children are reaped by the kernel (and SIG_IGN would also survive `execve`).
pub(crate) fn restore_sigchld() -> Result<(), ChildFailure> {
    // SAFETY: SIG_DFL installs no handler.
    unsafe { nix::sys::signal::signal(Signal::SIGCHLD, SigHandler::SigDfl) }
        .map(drop)
        .step("signals", || "SIGCHLD to default".into())
}

/// Marks every fd ≥ 3 close-on-exec, so the command starts with only 0, 1 and 2.
pub(super) fn cloexec_from_3() -> nix::Result<()> {
    let flag = libc::CLOSE_RANGE_CLOEXEC;
    if close_range(3, u32::MAX, flag).is_ok() {
        return Ok(());
    }
    for fd in open_fds()? {
        if fd >= 3 {
            // SAFETY: the fd was just listed as open; setting FD_CLOEXEC changes no ownership.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            match fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
                Ok(_) | Err(Errno::EBADF) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn close_range(first: u32, last: u32, flags: libc::c_uint) -> nix::Result<()> {
    // SAFETY: close_range takes plain integers. Closing fds is only unsound for fds owned by live
    // Rust objects: callers run in a forked child that never returns to the frames owning them.
    let res = unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) };
    Errno::result(res).map(drop)
}

/// Fallback for kernels without close_range (< 5.9).
fn close_fds_by_listing(keep: &[u32]) -> nix::Result<()> {
    for fd in open_fds()? {
        if u32::try_from(fd).is_ok_and(|fd| !keep.contains(&fd)) {
            // SAFETY: see `close_range`; EBADF (the listing's own fd, already closed) is harmless.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// The fds open in this process, read from `/proc/self/fd` (the listing's own fd included).
fn open_fds() -> nix::Result<Vec<RawFd>> {
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| io_errno(&e))?;
    Ok(entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// stdin from `/dev/null` (opened now: after `pivot_root` it is the container's), stdout and
/// stderr to the given pipes.
pub(crate) fn redirect_stdio(stdout: OwnedFd, stderr: OwnedFd) -> Result<(), ChildFailure> {
    const STEP: &str = "stdio";
    let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .step(STEP, || "open /dev/null".into())?;
    nix::unistd::dup2_stdin(&null).step(STEP, || "dup2 stdin".into())?;
    nix::unistd::dup2_stdout(&stdout).step(STEP, || "dup2 stdout".into())?;
    nix::unistd::dup2_stderr(&stderr).step(STEP, || "dup2 stderr".into())?;
    Ok(())
}

/// `chdir` into the command's working directory (inside the container's root).
pub(crate) fn enter_working_dir(cwd: &str) -> Result<(), ChildFailure> {
    nix::unistd::chdir(cwd).step(STEP_CHDIR_CWD, || {
        format!("chdir to working directory {cwd:?}")
    })?;
    // A directory reachable only through a path outside the root makes getcwd fail (ENOENT) or
    // answer "(unreachable)/…": refuse to start a command there.
    match nix::unistd::getcwd() {
        Ok(dir) if dir.is_absolute() => Ok(()),
        Ok(dir) => Err(ChildFailure::new(
            STEP_CHDIR_CWD,
            Errno::ENOENT,
            format!(
                "working directory {cwd:?} is outside the container's root ({})",
                dir.display()
            ),
        )),
        Err(errno) => Err(ChildFailure::new(
            STEP_CHDIR_CWD,
            errno,
            format!("working directory {cwd:?}"),
        )),
    }
}

/// The value of `PATH` in a `KEY=VALUE` environment.
pub(super) fn path_from_env(env: &[String]) -> Option<&str> {
    env.iter().find_map(|kv| kv.strip_prefix("PATH="))
}

/// Finds the file `execve` should run for `argv0`, like a shell does: a name with a `/` is used
/// as is; otherwise the first executable regular file in `path` (`None`: [`DEFAULT_PATH`]; an
/// empty entry is the working directory). A match that is not executable is kept as a last
/// resort so that `execve` fails with EACCES (exit code 126) instead of "not found" (127).
pub(super) fn resolve_in_path(argv0: &str, path: Option<&str>) -> Result<PathBuf, ChildFailure> {
    if argv0.contains('/') {
        return Ok(PathBuf::from(argv0));
    }
    let not_found = || {
        ChildFailure::new(
            STEP_EXEC,
            Errno::ENOENT,
            format!("exec {argv0:?}: executable file not found in $PATH"),
        )
    };
    if argv0.is_empty() {
        return Err(not_found());
    }
    let mut not_executable = None;
    for dir in path.unwrap_or(DEFAULT_PATH).split(':') {
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(argv0);
        let Ok(metadata) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        if metadata.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        not_executable.get_or_insert(candidate);
    }
    not_executable.ok_or_else(not_found)
}

/// Sets every signal disposition back to default and unblocks all signals. `SIG_IGN` survives
/// `execve` (the helper ignores SIGCHLD, Rust ignores SIGPIPE), a blocked mask too.
pub(super) fn reset_signals() -> nix::Result<()> {
    // Linux has signals 1..=64; the two glibc keeps for itself (32, 33) fail with EINVAL, as do
    // SIGKILL and SIGSTOP: ignored on purpose.
    for signal in 1..=64 {
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask and no flags; it installs no
        // handler, so no Rust code can run in a signal context because of it.
        unsafe {
            let action: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// The last steps of every child: resolve `argv[0]`, reset signals, mark fds close-on-exec, give
/// back the open-file limit contid was started with, apply `confinement` (when the caller has not already) and `execve`. Never returns: on failure
/// the [`ChildFailure`] goes to `error_pipe` (which must be close-on-exec, so that a successful
/// `execve` closes it: EOF means "started").
pub(crate) fn exec_with_failure_report(
    argv: &[String],
    env: &[String],
    error_pipe: BorrowedFd<'_>,
    confinement: Option<&CompiledConfinement>,
) -> ! {
    match prepare_exec(argv, env) {
        Ok((program, argv, env)) => {
            let argv0 = argv
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Err(errno) = reset_signals() {
                fail(
                    error_pipe,
                    &ChildFailure::new("reset_signals", errno, "reset signal dispositions"),
                );
            }
            if let Err(errno) = cloexec_from_3() {
                fail(
                    error_pipe,
                    &ChildFailure::new("close_fds", errno, "mark fds close-on-exec"),
                );
            }
            if let Err(errno) = crate::runtime::sys::open_files_limit::restore_for_container() {
                fail(
                    error_pipe,
                    &ChildFailure::new("rlimit_nofile", errno, "restore the open-file limit"),
                );
            }
            if let Some(Err(failure)) = confinement.map(CompiledConfinement::apply) {
                fail(error_pipe, &failure);
            }
            let Err(errno) = nix::unistd::execve(&program, &argv, &env);
            fail(
                error_pipe,
                &ChildFailure::new(STEP_EXEC, errno, format!("exec {argv0:?}")),
            )
        }
        Err(failure) => fail(error_pipe, &failure),
    }
}

type ExecArgs = (CString, Vec<CString>, Vec<CString>);

fn prepare_exec(argv: &[String], env: &[String]) -> Result<ExecArgs, ChildFailure> {
    let argv0 = argv
        .first()
        .ok_or_else(|| ChildFailure::new(STEP_EXEC, Errno::EINVAL, "empty command"))?;
    let program = resolve_in_path(argv0, path_from_env(env))?;
    let c_string = |s: &[u8]| {
        CString::new(s).map_err(|_| {
            ChildFailure::new(
                STEP_EXEC,
                Errno::EINVAL,
                "argument or environment holds a NUL byte",
            )
        })
    };
    let program = c_string(program.as_os_str().as_encoded_bytes())?;
    let argv = argv
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let env = env
        .iter()
        .map(|e| c_string(e.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((program, argv, env))
}

/// The exit code a shell would report for a wait status, and the signal when one killed the
/// process.
pub(crate) fn exit_code_of(status: WaitStatus) -> (i32, Option<i32>) {
    match status {
        WaitStatus::Exited(_, code) => (code, None),
        WaitStatus::Signaled(_, signal, _) => (128 + signal as i32, Some(signal as i32)),
        _ => (1, None),
    }
}

/// Makes a blocking fd non-blocking (the monitor polls its pipes).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Points fds 0, 1 and 2 at `/dev/null` (for processes that outlive the daemon's terminal).
pub(crate) fn stdio_to_dev_null() -> nix::Result<()> {
    let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    nix::unistd::dup2_stderr(&null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::child_failure::FailureKind;
    use std::os::unix::fs::PermissionsExt;

    fn touch(path: &Path, mode: u32) {
        std::fs::write(path, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_name_with_a_slash_is_not_searched() {
        assert_eq!(
            resolve_in_path("./run", Some("/nowhere")).unwrap(),
            PathBuf::from("./run")
        );
        assert_eq!(
            resolve_in_path("/bin/sh", Some("")).unwrap(),
            PathBuf::from("/bin/sh")
        );
    }

    #[test]
    fn the_first_executable_match_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        touch(&a.join("tool"), 0o644);
        touch(&b.join("tool"), 0o755);
        std::fs::create_dir(a.join("dir")).unwrap();
        touch(&b.join("dir"), 0o755);
        let path = format!("{}:{}", a.display(), b.display());
        assert_eq!(
            resolve_in_path("tool", Some(&path)).unwrap(),
            b.join("tool")
        );
        // A directory of that name is skipped.
        assert_eq!(resolve_in_path("dir", Some(&path)).unwrap(), b.join("dir"));
    }

    #[test]
    fn a_non_executable_match_is_the_last_resort() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("script"), 0o644);
        let path = dir.path().display().to_string();
        assert_eq!(
            resolve_in_path("script", Some(&path)).unwrap(),
            dir.path().join("script")
        );
    }

    #[test]
    fn a_missing_command_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let failure = resolve_in_path("nope", Some(&dir.path().display().to_string())).unwrap_err();
        assert_eq!(failure.kind(), FailureKind::CommandNotFound);
        assert_eq!(failure.exit_code(), 127);
        assert_eq!(
            failure.message,
            "exec \"nope\": executable file not found in $PATH"
        );
        assert_eq!(resolve_in_path("", None).unwrap_err().exit_code(), 127);
    }

    #[test]
    fn path_comes_from_the_environment() {
        let env = vec![
            "HOME=/root".to_string(),
            "PATH=/x:/y".to_string(),
            "PATH=/z".to_string(),
        ];
        assert_eq!(path_from_env(&env), Some("/x:/y"));
        assert_eq!(path_from_env(&[]), None);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        use nix::sys::signal::Signal;
        let pid = nix::unistd::Pid::from_raw(7);
        assert_eq!(exit_code_of(WaitStatus::Exited(pid, 0)), (0, None));
        assert_eq!(exit_code_of(WaitStatus::Exited(pid, 3)), (3, None));
        assert_eq!(
            exit_code_of(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            (137, Some(9))
        );
        assert_eq!(
            exit_code_of(WaitStatus::Signaled(pid, Signal::SIGTERM, true)),
            (143, Some(15))
        );
    }

    #[test]
    fn nul_bytes_are_refused_before_exec() {
        let failure = prepare_exec(&["/bin/sh".into(), "a\0b".into()], &[]).unwrap_err();
        assert_eq!(failure.errno, Errno::EINVAL as i32);
        assert!(prepare_exec(&[], &[]).is_err());
    }
}
