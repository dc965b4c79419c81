//! The monitor: one process per container, parent of its init, outliving the daemon.
//!
//! The helper forks M1, which calls `setsid` and forks the monitor (M2) before exiting, so the
//! monitor belongs to no one but init (or the nearest subreaper) and the daemon can restart
//! without touching it. The monitor prepares the state folder and the cgroup, clones the init,
//! reports on the report pipe whether the command started, then copies the container's output
//! into its log until the init exits, and writes `exit.json`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::cgroup::CgroupManager;
use super::child::{
    StepResult, cgroup_failure, close_inherited_fds, exit_code_of, read_to_end, restore_sigchld,
    run_forked, set_nonblocking, stdio_to_dev_null, write_all,
};
use super::child_failure::ChildFailure;
use super::etc_files::write_etc_files;
use super::exit_record::ExitRecord;
use super::init::{InitPipes, run_init};
use super::logfile::{LineSplitter, LogStream, LogWriter};
use super::namespaces::{CloneResult, clone_process, init_clone_flags};
use super::process::start_time;
use super::protocol::HelperFailure;
use super::rootfs::{ROOTFS_DIR, UPPER_DIR, WORK_DIR};
use super::{ContainerLaunch, LaunchReport};

/// After the init exits, how long to wait for the rest of its output (processes it left behind
/// may hold the pipes open a little longer).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
const READ_CHUNK: usize = 64 * 1024;

/// Runs in the helper: forks M1 (which forks the monitor) and returns the report pipe's read end.
pub(super) fn start_monitor(
    launch: &ContainerLaunch,
    cgroups: &CgroupManager,
) -> Result<OwnedFd, HelperFailure> {
    let (report_r, report_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| HelperFailure::new("report pipe", e))?;
    // SAFETY: the helper is single-threaded; the child runs `detach_monitor` and `_exit`s.
    match unsafe { nix::unistd::fork() }.map_err(|e| HelperFailure::new("fork monitor", e))? {
        ForkResult::Child => run_forked(|| detach_monitor(launch, cgroups, report_w)),
        ForkResult::Parent { .. } => Ok(report_r),
    }
}

/// M1: a new session, then the monitor as an orphan.
fn detach_monitor(launch: &ContainerLaunch, cgroups: &CgroupManager, report: OwnedFd) -> i32 {
    let forked = nix::unistd::setsid().and_then(|_| {
        // SAFETY: M1 is a single-threaded copy of the helper; the child runs the monitor and
        // `_exit`s.
        unsafe { nix::unistd::fork() }
    });
    match forked {
        Ok(ForkResult::Child) => run_forked(|| Monitor::new(launch, cgroups, report).run()),
        Ok(ForkResult::Parent { .. }) => 0,
        Err(errno) => {
            let failure = ChildFailure::new("fork_monitor", errno, "start the container's monitor");
            Monitor::new(launch, cgroups, report).give_up(failure, false)
        }
    }
}

struct Monitor<'a> {
    launch: &'a ContainerLaunch,
    cgroups: &'a CgroupManager,
    /// The report pipe's write end, until the report is sent.
    report: Option<OwnedFd>,
}

/// What the monitor holds once the init runs.
struct Running {
    init: Pid,
    stdout: OwnedFd,
    stderr: OwnedFd,
    signals: SignalFd,
    log: LogWriter,
}

/// The monitor's ends of the init's pipes, before the clone.
struct MonitorPipes {
    stdout: OwnedFd,
    stderr: OwnedFd,
    go: OwnedFd,
    error: OwnedFd,
}

impl<'a> Monitor<'a> {
    fn new(launch: &'a ContainerLaunch, cgroups: &'a CgroupManager, report: OwnedFd) -> Self {
        Monitor {
            launch,
            cgroups,
            report: Some(report),
        }
    }

    fn run(mut self) -> i32 {
        if let Err(failure) = self.become_monitor() {
            return self.give_up(failure, false);
        }
        let (signals, log) = match self.prepare() {
            Ok(prepared) => prepared,
            Err(failure) => return self.give_up(failure, false),
        };
        if let Err(e) = self.cgroups.create(&self.launch.id) {
            return self.give_up(cgroup_failure("cgroup_create", &e), true);
        }
        let running = match self.start_init(signals, log) {
            Ok(running) => running,
            Err(failure) => return self.give_up(failure, true),
        };
        self.watch(running)
    }

    /// Leaves the daemon's world: only the report pipe stays open, stdio goes to /dev/null.
    fn become_monitor(&self) -> Result<(), ChildFailure> {
        let report = self.report.as_ref().map_or(-1, |pipe| pipe.as_raw_fd());
        close_inherited_fds(&[report])?;
        stdio_to_dev_null().step("stdio", || "stdio to /dev/null".into())?;
        // Hold no folder of the daemon's busy for the container's life.
        nix::unistd::chdir("/").step("chdir", || "chdir /".into())?;
        // Processes the init leaves behind are reparented to us, so we reap them.
        nix::sys::prctl::set_child_subreaper(true)
            .step("subreaper", || "PR_SET_CHILD_SUBREAPER".into())?;
        restore_sigchld()?;
        let _ = nix::sys::prctl::set_name(c"conti-monitor");
        Ok(())
    }

    /// The state folder, the log, and a signalfd for SIGCHLD (blocked before the clone, so no
    /// exit goes unnoticed).
    fn prepare(&self) -> Result<(SignalFd, LogWriter), ChildFailure> {
        const STEP: &str = "prepare_state_dir";
        let dir = &self.launch.state_dir;
        for sub in [UPPER_DIR, WORK_DIR, ROOTFS_DIR] {
            std::fs::create_dir_all(dir.join(sub))
                .step(STEP, || format!("mkdir {}", dir.join(sub).display()))?;
        }
        ExitRecord::remove(dir).step(STEP, || "remove the previous exit record".into())?;
        write_etc_files(self.launch)
            .step(STEP, || "write hostname, hosts and resolv.conf".into())?;
        let log = LogWriter::open(dir, self.launch.log_max_bytes)
            .step("open_log", || "open container.log".into())?;
        let mut sigchld = SigSet::empty();
        sigchld.add(Signal::SIGCHLD);
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld), None)
            .step("signals", || "block SIGCHLD".into())?;
        let signals =
            SignalFd::with_flags(&sigchld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .step("signals", || "signalfd for SIGCHLD".into())?;
        Ok((signals, log))
    }

    /// Clones the init, puts it into the cgroup, lets it go and waits until it exec'd or failed.
    fn start_init(&self, signals: SignalFd, log: LogWriter) -> Result<Running, ChildFailure> {
        let (pipes, init_pipes) = make_pipes()?;
        let flags = init_clone_flags(self.launch.network);
        let init =
            match clone_process(flags).step("clone", || "clone the container's init".into())? {
                CloneResult::Child => {
                    drop(pipes);
                    run_init(self.launch, init_pipes)
                }
                CloneResult::Parent { child } => child,
            };
        drop(init_pipes);
        let MonitorPipes {
            stdout,
            stderr,
            go,
            error,
        } = pipes;
        if let Err(e) = self.cgroups.add_process(&self.launch.id, init.as_raw()) {
            reap_killed(init);
            return Err(cgroup_failure("cgroup_add_process", &e));
        }
        if let Err(errno) = write_all(go.as_fd(), b"go") {
            reap_killed(init);
            return Err(ChildFailure::new("sync", errno, "tell the init to go on"));
        }
        drop(go);
        let failure = read_to_end(error).step("sync", || "read the init's error pipe".into())?;
        if !failure.is_empty() {
            let failure = serde_json::from_slice(&failure).unwrap_or_else(|e| {
                ChildFailure::new(
                    "sync",
                    Errno::EPROTO,
                    format!("unreadable failure report from the init: {e}"),
                )
            });
            reap_killed(init);
            return Err(failure);
        }
        Ok(Running {
            init,
            stdout,
            stderr,
            signals,
            log,
        })
    }

    /// Reports the start, then logs output until the init exits; writes `exit.json`.
    fn watch(mut self, running: Running) -> i32 {
        let Running {
            init,
            stdout,
            stderr,
            signals,
            mut log,
        } = running;
        let monitor_pid = nix::unistd::getpid().as_raw();
        // The init is our child and not reaped yet (even if it already exited), so its start time
        // is readable.
        let report = LaunchReport::Started {
            monitor_pid,
            monitor_start_time: start_time(monitor_pid).unwrap_or_default(),
            init_pid: init.as_raw(),
            init_start_time: start_time(init.as_raw()).unwrap_or_default(),
        };
        self.send_report(&report);
        let mut outputs = [
            Output::new(stdout, LogStream::Stdout),
            Output::new(stderr, LogStream::Stderr),
        ];
        let status = copy_output_until_exit(init, &signals, &mut outputs, &mut log);
        drain_output(&mut outputs, &mut log);
        let (exit_code, signal) = exit_code_of(status);
        self.finish(ExitRecord {
            exit_code,
            signal,
            finished: now_rfc3339(),
            error: None,
        });
        0
    }

    /// The launch failed: clean up, record and report why, exit.
    fn give_up(&mut self, failure: ChildFailure, cgroup_created: bool) -> i32 {
        if cgroup_created {
            self.remove_cgroup();
        }
        let record = ExitRecord {
            exit_code: failure.exit_code(),
            signal: None,
            finished: now_rfc3339(),
            error: Some(failure.to_string()),
        };
        let _ = record.write(&self.launch.state_dir);
        self.send_report(&LaunchReport::Failed { failure });
        1
    }

    fn finish(self, record: ExitRecord) {
        if let Err(e) = record.write(&self.launch.state_dir) {
            tracing::error!("container {}: writing the exit record: {e}", self.launch.id);
        }
        self.remove_cgroup();
    }

    fn remove_cgroup(&self) {
        if let Err(e) = self.cgroups.remove(&self.launch.id) {
            tracing::warn!("container {}: removing its cgroup: {e}", self.launch.id);
        }
    }

    /// Writes the report and closes the pipe: the daemon reads until EOF. It may be gone, which
    /// changes nothing for the container.
    fn send_report(&mut self, report: &LaunchReport) {
        if let (Some(pipe), Ok(bytes)) = (self.report.take(), serde_json::to_vec(report)) {
            let _ = write_all(pipe.as_fd(), &bytes);
        }
    }
}

fn make_pipes() -> Result<(MonitorPipes, InitPipes), ChildFailure> {
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).step("pipes", || "pipe for the init".into());
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (sync_r, sync_w) = pipe()?;
    let (error_r, error_w) = pipe()?;
    for fd in [&stdout_r, &stderr_r] {
        set_nonblocking(fd.as_fd()).step("pipes", || "non-blocking output pipe".into())?;
    }
    Ok((
        MonitorPipes {
            stdout: stdout_r,
            stderr: stderr_r,
            go: sync_w,
            error: error_r,
        },
        InitPipes {
            sync: sync_r,
            error: error_w,
            stdout: stdout_w,
            stderr: stderr_w,
        },
    ))
}

/// One output stream of the container, from pipe to log.
struct Output {
    pipe: Option<OwnedFd>,
    lines: LineSplitter,
    stream: LogStream,
}

impl Output {
    fn new(pipe: OwnedFd, stream: LogStream) -> Self {
        Output {
            pipe: Some(pipe),
            lines: LineSplitter::default(),
            stream,
        }
    }

    /// Reads what is there; closes the pipe at EOF or on error.
    fn read_into(&mut self, log: &mut LogWriter) {
        let Some(pipe) = &self.pipe else { return };
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            match nix::unistd::read(pipe, &mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    let stream = self.stream;
                    self.lines
                        .push(&buffer[..n], &mut |line| write_log(log, stream, line));
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => break,
            }
        }
        self.close(log);
    }

    fn close(&mut self, log: &mut LogWriter) {
        if self.pipe.take().is_some() {
            let stream = self.stream;
            self.lines.finish(&mut |line| write_log(log, stream, line));
        }
    }
}

fn write_log(log: &mut LogWriter, stream: LogStream, line: &[u8]) {
    if let Err(e) = log.write_line(stream, line) {
        tracing::warn!("writing container.log: {e}");
    }
}

/// Copies output to the log until the init has exited; returns how it ended.
fn copy_output_until_exit(
    init: Pid,
    signals: &SignalFd,
    outputs: &mut [Output; 2],
    log: &mut LogWriter,
) -> WaitStatus {
    loop {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let open: Vec<usize> = (0..outputs.len())
            .filter(|&i| outputs[i].pipe.is_some())
            .collect();
        for &i in &open {
            if let Some(pipe) = &outputs[i].pipe {
                fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(false)).collect();
        drop(fds);
        for (k, &i) in open.iter().enumerate() {
            if ready[k + 1] {
                outputs[i].read_into(log);
            }
        }
        if ready[0] {
            while let Ok(Some(_)) = signals.read_signal() {}
            if let Some(status) = reap_children(init) {
                return status;
            }
        }
    }
}

/// After the init exited: everything still in the pipes, until EOF or [`DRAIN_TIMEOUT`].
fn drain_output(outputs: &mut [Output; 2], log: &mut LogWriter) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        for output in outputs.iter_mut() {
            output.read_into(log);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let open: Vec<&OwnedFd> = outputs.iter().filter_map(|o| o.pipe.as_ref()).collect();
        if open.is_empty() || left.is_zero() {
            break;
        }
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|pipe| PollFd::new(pipe.as_fd(), PollFlags::POLLIN))
            .collect();
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
        let _ = poll(&mut fds, timeout);
        // Orphans reparented to us exit too (the kernel kills the pid namespace with its init).
        let _ = reap_children(Pid::from_raw(0));
    }
    for output in outputs.iter_mut() {
        output.close(log);
    }
}

/// Reaps every exited child (we are a subreaper); returns the init's status if it was among them.
fn reap_children(init: Pid) -> Option<WaitStatus> {
    let mut init_status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return init_status,
            Ok(status) if status.pid() == Some(init) => init_status = Some(status),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return init_status,
        }
    }
}

/// After a failure: the init is exiting (or must); wait for it.
fn reap_killed(init: Pid) {
    let _ = nix::sys::signal::kill(init, Signal::SIGKILL);
    while let Err(Errno::EINTR) = waitpid(init, None) {}
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}
