//! The monitor: one process per container, parent of its init, outliving the daemon.
//!
//! The helper forks M1, which calls `setsid` and forks the monitor (M2) before exiting, so the
//! monitor belongs to no one but init (or the nearest subreaper) and the daemon can restart
//! without touching it. The monitor prepares the state folder and the cgroup, clones the init,
//! reports on the report pipe whether the command started, then copies the container's output
//! into its log until the init exits, and writes `exit.json`.
//!
//! From before the fork to the end the container's monitor lock (`monitor_lock`) is held, and
//! names the monitor and, once it runs, the init: a daemon that did not see the start through
//! learns from it what runs.
//!
//! After a start the report pipe stays open: the monitor closes it once the exit is recorded
//! (`exit.json` written, cgroup removed, ports released), which is how the daemon learns of the
//! exit. Only then does it let go of the container's mount namespace, which it holds from the
//! clone on: the last reference to it unmounts the container's root, and unmounting an
//! overlay flushes its upper filesystem to disk (`ovl_sync_fs`: a writeback of the host
//! filesystem and a disk cache flush). Were the init the last holder, its exit, and so every
//! `wait`, would wait for the disk.
//!
//! A container with a restart policy is started again by its monitor (`runs`): its state
//! folder, log, attach socket, cgroup and published ports stay; each run gets new namespaces,
//! its root mounted again and its veth made again, with the same address and MAC.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

mod runs;

use super::exit_record::ExitRecord;
use super::logfile::{LogStream, LogWriter};
use super::monitor_lock::{self, ProcessIdentity};
use super::protocol::HelperFailure;
use super::restart_policy::ORDER_SIGNAL;
use super::run_record::RunRecord;
use super::session::{SessionIo, bind_attach_socket};
use crate::runtime::cgroup::{CgroupError, CgroupManager};
use crate::runtime::child_failure::{
    ChildFailure, STEP_CGROUP_LIMITS, STEP_PUBLISH_PORT, StepResult, io_errno,
};
use crate::runtime::container::child::{
    cgroup_failure, close_inherited_fds, read_to_end, restore_sigchld, run_forked, set_nonblocking,
    stdio_to_dev_null, write_all,
};
use crate::runtime::container::etc_files::write_etc_files;
use crate::runtime::container::init::{InitPipes, run_init};
use crate::runtime::container::namespaces::init_clone_flags;
use crate::runtime::container::pty;
use crate::runtime::container::rootfs::{ROOTFS_DIR, UPPER_DIR, WORK_DIR, idmapped_layer_dir};
use crate::runtime::container::shifted_rootfs::shifted_layer;
use crate::runtime::container::userns::{
    IdMapping, create_user_namespace, supports_idmapped_mount,
};
use crate::runtime::network::create_veth_pair;
use crate::runtime::network::ports::reserve_port;
use crate::runtime::sys::clone::{CloneResult, clone_process};
use crate::runtime::sys::process::start_time;
use crate::runtime::{ContainerLaunch, LaunchReport, NetworkSetup};

/// Runs in the helper: takes the container's monitor lock, forks M1 (which forks the monitor)
/// and returns the report pipe's read end. `attached` are connections of clients that attached
/// before the start (see `session`).
pub(super) fn start_monitor(
    launch: &ContainerLaunch,
    cgroups: &CgroupManager,
    attached: Vec<OwnedFd>,
) -> Result<OwnedFd, HelperFailure> {
    let lock = monitor_lock::take(&launch.state_dir).map_err(|errno| {
        let context = match errno {
            Errno::EBUSY => format!("a monitor of container {} still runs", launch.id),
            _ => "take the monitor lock".to_string(),
        };
        HelperFailure::new(context, errno)
    })?;
    let (report_r, report_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| HelperFailure::new("report pipe", e))?;
    // SAFETY: the helper is single-threaded; the child runs `detach_monitor` and `_exit`s.
    match unsafe { nix::unistd::fork() }.map_err(|e| HelperFailure::new("fork monitor", e))? {
        ForkResult::Child => {
            run_forked(|| detach_monitor(launch, cgroups, report_w, lock, attached))
        }
        // The helper's copy of the lock closes here; M1 and the monitor hold it.
        ForkResult::Parent { .. } => Ok(report_r),
    }
}

/// M1: a new session, then the monitor as an orphan.
fn detach_monitor(
    launch: &ContainerLaunch,
    cgroups: &CgroupManager,
    report: OwnedFd,
    lock: OwnedFd,
    attached: Vec<OwnedFd>,
) -> i32 {
    let forked = nix::unistd::setsid().and_then(|_| {
        // SAFETY: M1 is a single-threaded copy of the helper; the child runs the monitor and
        // `_exit`s.
        unsafe { nix::unistd::fork() }
    });
    match forked {
        Ok(ForkResult::Child) => {
            run_forked(|| Monitor::new(launch, cgroups, report, lock, attached).run())
        }
        Ok(ForkResult::Parent { .. }) => 0,
        Err(errno) => {
            let failure = ChildFailure::new("fork_monitor", errno, "start the container's monitor");
            Monitor::new(launch, cgroups, report, lock, attached).give_up(failure, false)
        }
    }
}

struct Monitor<'a> {
    launch: &'a ContainerLaunch,
    cgroups: &'a CgroupManager,
    /// The report pipe's write end: until a failure is reported, or until the exit is recorded
    /// after a start.
    report: Option<OwnedFd>,
    /// The container's monitor lock (see `monitor_lock`): held until the exit is recorded or the
    /// start given up.
    lock: Option<OwnedFd>,
    /// Clients that attached before the start, until the session takes them.
    attached: Vec<OwnedFd>,
    /// Sockets bound to the published ports: held until the monitor exits.
    reserved_ports: Vec<OwnedFd>,
}

/// What the monitor holds while a run of the container lasts.
struct Running {
    init: Pid,
    /// The init's start time (with its pid, its identity).
    init_start_time: u64,
    /// RFC 3339 time it exec'd.
    started: String,
    /// When, to tell how long the run lasted.
    started_at: std::time::Instant,
    /// The init's mount namespace (see the module's notes); `None` if the init was already
    /// gone when the monitor looked.
    mount_namespace: Option<OwnedFd>,
    io: SessionIo,
    /// The cgroup's OOM kills before the run: those of earlier runs are not this one's.
    oom_kills_before: u64,
}

/// What the monitor holds for the container's whole life, run after run.
struct MonitorIo {
    /// SIGCHLD, and [`ORDER_SIGNAL`].
    signals: SignalFd,
    log: LogWriter,
    /// `attach.sock`, listening.
    listener: Option<OwnedFd>,
}

/// The monitor's ends of the init's pipes, before the clone.
struct MonitorPipes {
    stdout: OwnedFd,
    stderr: OwnedFd,
    go: OwnedFd,
    error: OwnedFd,
    /// Write end of the container's stdin (`open_stdin` without a tty).
    stdin: Option<OwnedFd>,
    /// Where the init sends its terminal's master (with a tty).
    terminal: Option<OwnedFd>,
}

impl<'a> Monitor<'a> {
    fn new(
        launch: &'a ContainerLaunch,
        cgroups: &'a CgroupManager,
        report: OwnedFd,
        lock: OwnedFd,
        attached: Vec<OwnedFd>,
    ) -> Self {
        Monitor {
            launch,
            cgroups,
            report: Some(report),
            lock: Some(lock),
            attached,
            reserved_ports: Vec::new(),
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
        // Before the clone: the init inherits nothing of it, and the socket is there as soon as
        // the daemon learns the container runs.
        let attach_socket = match bind_attach_socket(&self.launch.state_dir)
            .step("attach_socket", || "listen on attach.sock".into())
        {
            Ok(socket) => socket,
            Err(failure) => return self.give_up(failure, false),
        };
        match reserve_ports(self.launch) {
            Ok(sockets) => self.reserved_ports = sockets,
            Err(failure) => return self.give_up(failure, false),
        }
        if let Err(e) = self.cgroups.create(&self.launch.id) {
            return self.give_up(cgroup_failure("cgroup_create", &e), true);
        }
        if let Err(e) = self.cgroups.apply(&self.launch.id, &self.launch.limits) {
            return self.give_up(limits_failure(&e), true);
        }
        if let Err(e) = self
            .cgroups
            .restrict_devices(&self.launch.id, self.launch.security.devices)
        {
            return self.give_up(cgroup_failure("cgroup_devices", &e), true);
        }
        let running = match self.start_init() {
            Ok(running) => running,
            Err(failure) => return self.give_up(failure, true),
        };
        self.report_started(&running);
        let io = MonitorIo {
            signals,
            log,
            listener: Some(attach_socket),
        };
        self.supervise(running, io)
    }

    /// Leaves the daemon's world: only the report pipe stays open, stdio goes to /dev/null.
    fn become_monitor(&self) -> Result<(), ChildFailure> {
        let mut keep: Vec<_> = [&self.report, &self.lock]
            .into_iter()
            .map(|fd| fd.as_ref().map_or(-1, |fd| fd.as_raw_fd()))
            .collect();
        keep.extend(self.attached.iter().map(|fd| fd.as_raw_fd()));
        close_inherited_fds(&keep)?;
        stdio_to_dev_null().step("stdio", || "stdio to /dev/null".into())?;
        // Hold no folder of the daemon's busy for the container's life.
        nix::unistd::chdir("/").step("chdir", || "chdir /".into())?;
        // Processes the init leaves behind are reparented to us, so we reap them.
        nix::sys::prctl::set_child_subreaper(true)
            .step("subreaper", || "PR_SET_CHILD_SUBREAPER".into())?;
        restore_sigchld()?;
        let _ = nix::sys::prctl::set_name(c"conti-monitor");
        // Before anything is made for the container: a daemon that lost this start finds us.
        if let Some(lock) = &self.lock {
            monitor_lock::record_monitor(lock, ProcessIdentity::own())
                .step("monitor_lock", || "write the monitor's record".into())?;
        }
        Ok(())
    }

    /// The state folder, the log, and a signalfd for SIGCHLD (blocked before the clone, so no
    /// exit goes unnoticed) and [`ORDER_SIGNAL`].
    fn prepare(&self) -> Result<(SignalFd, LogWriter), ChildFailure> {
        const STEP: &str = "prepare_state_dir";
        let dir = &self.launch.state_dir;
        for sub in [UPPER_DIR, WORK_DIR, ROOTFS_DIR] {
            std::fs::create_dir_all(dir.join(sub))
                .step(STEP, || format!("mkdir {}", dir.join(sub).display()))?;
        }
        ExitRecord::remove(dir).step(STEP, || "remove the previous exit record".into())?;
        RunRecord::remove(dir).step(STEP, || "remove the previous run record".into())?;
        write_etc_files(self.launch)
            .step(STEP, || "write hostname, hosts and resolv.conf".into())?;
        if let Some(mapping) = self.launch.security.userns {
            give_to_container_root(dir, self.launch.image_layers.len(), mapping)?;
        }
        let log = LogWriter::open(dir, self.launch.log_limits())
            .step("open_log", || "open container.log".into())?;
        let mut watched = SigSet::empty();
        watched.add(Signal::SIGCHLD);
        watched.add(ORDER_SIGNAL);
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched), None)
            .step("signals", || "block SIGCHLD and SIGURG".into())?;
        let signals =
            SignalFd::with_flags(&watched, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .step("signals", || "signalfd for SIGCHLD and SIGURG".into())?;
        Ok((signals, log))
    }

    /// Clones the init (born in its cgroup where the host allows, moved there otherwise), lets it
    /// go once it is there and waits until it exec'd or failed.
    ///
    /// The init prepares its root filesystem meanwhile: a migration can take a whole RCU grace
    /// period (milliseconds), and this way the two overlap.
    fn start_init(&self) -> Result<Running, ChildFailure> {
        let (pipes, init_pipes) = make_pipes(self.launch)?;
        let (init, born_in_cgroup) = self.clone_init(init_pipes)?;
        let mount_namespace = hold_mount_namespace(init);
        let MonitorPipes {
            stdout,
            stderr,
            go,
            error,
            stdin,
            terminal,
        } = pipes;
        let released = if born_in_cgroup {
            Ok(())
        } else {
            self.cgroups
                .add_process(&self.launch.id, init.as_raw())
                .map_err(|e| cgroup_failure("cgroup_add_process", &e))
        }
        .and_then(|()| self.connect_network(init))
        .and_then(|()| {
            write_all(go.as_fd(), b"go")
                .map_err(|errno| ChildFailure::new("sync", errno, "tell the init to go on"))
        });
        drop(go);
        if let Err(failure) = released {
            reap_killed(init);
            // The init may have failed on its own first: then its report says why.
            return Err(read_init_failure(error).unwrap_or(failure));
        }
        if let Some(failure) = read_init_failure(error) {
            reap_killed(init);
            return Err(failure);
        }
        // The init sent its terminal's master before it exec'd: it is waiting in the socket.
        let master = match terminal {
            Some(channel) => match pty::receive_master(channel.as_fd()) {
                Some(master) => Some(master),
                None => {
                    reap_killed(init);
                    return Err(ChildFailure::new(
                        "open_pty",
                        Errno::EPROTO,
                        "the init did not send its terminal",
                    ));
                }
            },
            None => None,
        };
        let pipes = if master.is_some() {
            Vec::new()
        } else {
            vec![(stdout, LogStream::Stdout), (stderr, LogStream::Stderr)]
        };
        Ok(Running {
            init,
            // The init is our child and not reaped yet (even if it already exited), so its
            // start time is readable.
            init_start_time: start_time(init.as_raw()).unwrap_or_default(),
            started: crate::runtime::now_rfc3339(),
            started_at: std::time::Instant::now(),
            mount_namespace,
            io: SessionIo {
                pipes,
                master,
                stdin,
                open_stdin: self.launch.open_stdin,
            },
            oom_kills_before: 0,
        })
    }

    /// On a bridge: the veth pair, its container end placed straight into the init's netns (the
    /// init sets the address and routes from inside once it has "go").
    fn connect_network(&self, init: Pid) -> Result<(), ChildFailure> {
        match &self.launch.network {
            NetworkSetup::Bridge(endpoint) => {
                create_veth_pair(endpoint, init.as_raw()).map_err(|e| {
                    ChildFailure::new(
                        "veth",
                        io_errno(&e),
                        format!("create the veth pair on {}: {e}", endpoint.bridge),
                    )
                })
            }
            _ => Ok(()),
        }
    }

    /// Clones the init into its namespaces; `true` when it was born in its cgroup.
    /// In the child, `run_init` closes every inherited fd but the init's own pipes; in the parent
    /// the init's ends are closed when `init_pipes` goes out of scope.
    fn clone_init(&self, mut init_pipes: InitPipes) -> Result<(Pid, bool), ChildFailure> {
        const STEP: &str = "clone";
        if let Some(mapping) = self.launch.security.userns {
            let userns = create_user_namespace(mapping)?;
            init_pipes.shifted_layers =
                shifted_layers(&self.launch.image_layers, mapping, userns.as_fd())?;
            init_pipes.userns = Some(userns.into());
        }
        let flags = init_clone_flags(&self.launch.network);
        let target = self
            .cgroups
            .open_clone_target(&self.launch.id)
            .map_err(|e| cgroup_failure(STEP, &e))?;
        // A kernel older than 5.7 refuses CLONE_INTO_CGROUP: then the init is moved instead.
        let (cloned, born_in_cgroup) = match target
            .as_ref()
            .map(|fd| clone_process(flags, Some(fd.as_fd())))
        {
            Some(Ok(cloned)) => (cloned, true),
            None | Some(Err(_)) => (
                clone_process(flags, None).step(STEP, || "clone the container's init".into())?,
                false,
            ),
        };
        match cloned {
            CloneResult::Child => run_init(self.launch, init_pipes),
            CloneResult::Parent { child } => Ok((child, born_in_cgroup)),
        }
    }

    /// Reports the first run's start: in the lock first (a daemon that does not read the report
    /// learns the start from there), then on the report pipe.
    fn report_started(&mut self, running: &Running) {
        let monitor = ProcessIdentity::own();
        let init = ProcessIdentity {
            pid: running.init.as_raw(),
            start_time: running.init_start_time,
        };
        if let Some(lock) = &self.lock
            && let Err(e) = monitor_lock::record_started(lock, monitor, init)
        {
            tracing::warn!("container {}: recording its start: {e}", self.launch.id);
        }
        let report = LaunchReport::Started {
            monitor_pid: monitor.pid,
            monitor_start_time: monitor.start_time,
            init_pid: init.pid,
            init_start_time: init.start_time,
        };
        self.send_report(&report, true);
    }

    /// The launch failed: clean up, record and report why, exit.
    fn give_up(&mut self, failure: ChildFailure, cgroup_created: bool) -> i32 {
        if cgroup_created {
            self.remove_cgroup();
        }
        let record = ExitRecord::from_failure(&failure);
        let _ = record.write(&self.launch.state_dir);
        // Nothing of the container runs: a new start may take the lock as soon as it hears.
        drop(self.lock.take());
        self.send_report(&LaunchReport::Failed { failure }, false);
        1
    }

    /// Records the exit, gives back what a new start of the container needs (its cgroup, its
    /// ports, its monitor lock), then closes the report pipe: that tells the daemon.
    fn finish(self, record: ExitRecord) {
        if let Err(e) = record.write(&self.launch.state_dir) {
            tracing::error!("container {}: writing the exit record: {e}", self.launch.id);
        }
        self.remove_cgroup();
        drop(self.reserved_ports);
        drop(self.lock);
        drop(self.report);
    }

    fn remove_cgroup(&self) {
        if let Err(e) = self.cgroups.remove(&self.launch.id) {
            tracing::warn!("container {}: removing its cgroup: {e}", self.launch.id);
        }
    }

    /// Writes the report as one line; closes the pipe unless `keep_open` (a start: the pipe
    /// then closes when the exit is recorded). The daemon may be gone, which changes nothing
    /// for the container.
    fn send_report(&mut self, report: &LaunchReport, keep_open: bool) {
        let Some(pipe) = self.report.take() else {
            return;
        };
        if let Ok(mut bytes) = serde_json::to_vec(report) {
            bytes.push(b'\n');
            let _ = write_all(pipe.as_fd(), &bytes);
        }
        if keep_open {
            self.report = Some(pipe);
        }
    }
}

/// An fd of the init's mount namespace (see the module's notes), opened right after the clone;
/// `None` when the init is already gone (its exit then unmounted everything itself).
fn hold_mount_namespace(init: Pid) -> Option<OwnedFd> {
    std::fs::File::open(format!("/proc/{init}/ns/mnt"))
        .map(OwnedFd::from)
        .ok()
}

fn make_pipes(launch: &ContainerLaunch) -> Result<(MonitorPipes, InitPipes), ChildFailure> {
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).step("pipes", || "pipe for the init".into());
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (sync_r, sync_w) = pipe()?;
    let (error_r, error_w) = pipe()?;
    for fd in [&stdout_r, &stderr_r] {
        set_nonblocking(fd.as_fd()).step("pipes", || "non-blocking output pipe".into())?;
    }
    let (stdin_r, stdin_w) = if launch.open_stdin && !launch.tty {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let (terminal_monitor, terminal_init) = if launch.tty {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .step("pipes", || "socketpair for the terminal".into())?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    Ok((
        MonitorPipes {
            stdout: stdout_r,
            stderr: stderr_r,
            go: sync_w,
            error: error_r,
            stdin: stdin_w,
            terminal: terminal_monitor,
        },
        InitPipes {
            sync: sync_r,
            error: error_w,
            stdout: stdout_w,
            stderr: stderr_w,
            stdin: stdin_r,
            terminal: terminal_init,
            userns: None,
            shifted_layers: None,
        },
    ))
}

/// With `--userns` where the image's layers can't be mounted idmapped through `userns` (or
/// `mapping` says not to): their shifted copies, base first, made now unless they exist.
fn shifted_layers(
    layers: &[PathBuf],
    mapping: IdMapping,
    userns: BorrowedFd<'_>,
) -> Result<Option<Vec<PathBuf>>, ChildFailure> {
    // The layers live side by side in the image store: one filesystem, one answer.
    let idmapped = mapping.idmapped_mounts
        && match layers.first() {
            Some(base) => supports_idmapped_mount(base, userns)?,
            None => true,
        };
    if idmapped {
        return Ok(None);
    }
    let copies = layers
        .iter()
        .map(|layer| shifted_layer(layer, mapping))
        .collect::<Result<_, _>>()?;
    Ok(Some(copies))
}

/// With `--userns`: the mount points of the image's `layers` idmapped (`lower/<n>`); the
/// container's root owns the upper layer (so `/` is its own) and the `/etc` files (the idmapped
/// lower layers show the image's own files as its).
fn give_to_container_root(
    dir: &std::path::Path,
    layers: usize,
    mapping: IdMapping,
) -> Result<(), ChildFailure> {
    for lower in (0..layers).map(|n| idmapped_layer_dir(dir, n)) {
        std::fs::create_dir_all(&lower)
            .step("prepare_state_dir", || format!("mkdir {}", lower.display()))?;
    }
    let (uid, gid) = mapping.root();
    for name in [UPPER_DIR]
        .into_iter()
        .chain(crate::runtime::container::etc_files::ETC_FILES)
    {
        let path = dir.join(name);
        nix::unistd::chown(&path, Some(uid), Some(gid))
            .step("prepare_state_dir", || format!("chown {}", path.display()))?;
    }
    Ok(())
}

/// A limit that could not be written; one the host cannot enforce is told apart by its errno
/// ([`FailureKind::UnsupportedLimit`](crate::runtime::FailureKind::UnsupportedLimit)).
fn limits_failure(error: &CgroupError) -> ChildFailure {
    match error {
        CgroupError::Unsupported { .. } => {
            ChildFailure::new(STEP_CGROUP_LIMITS, Errno::EOPNOTSUPP, error.to_string())
        }
        _ => cgroup_failure(STEP_CGROUP_LIMITS, error),
    }
}

/// What the init wrote on its error pipe before it exited, once every write end is closed (at its
/// `execve` or its exit): `None` when it wrote nothing (it exec'd, or was killed).
fn read_init_failure(error: OwnedFd) -> Option<ChildFailure> {
    match read_to_end(error).step("sync", || "read the init's error pipe".into()) {
        Err(failure) => Some(failure),
        Ok(report) if report.is_empty() => None,
        Ok(report) => Some(serde_json::from_slice(&report).unwrap_or_else(|e| {
            ChildFailure::new(
                "sync",
                Errno::EPROTO,
                format!("unreadable failure report from the init: {e}"),
            )
        })),
    }
}

/// Binds a socket to each published port, before anything else is set up: a taken port fails
/// the start with nothing to undo.
fn reserve_ports(launch: &ContainerLaunch) -> Result<Vec<OwnedFd>, ChildFailure> {
    launch
        .ports
        .iter()
        .map(|&port| {
            reserve_port(port).map_err(|e| {
                ChildFailure::new(
                    STEP_PUBLISH_PORT,
                    io_errno(&e),
                    // The errno's text follows (ChildFailure's Display): not `{e}` too.
                    format!("publish port {port}"),
                )
            })
        })
        .collect()
}

/// After a failure: the init is exiting (or must); wait for it.
fn reap_killed(init: Pid) {
    let _ = nix::sys::signal::kill(init, Signal::SIGKILL);
    while let Err(Errno::EINTR) = waitpid(init, None) {}
}
