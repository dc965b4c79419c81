//! The helper: a single-threaded process forked from `main` before the async runtime starts.
//! Every process the daemon needs (monitors, container inits, exec'd commands) is forked by it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socketpair, sockopt};
use nix::sys::time::TimeVal;
use nix::unistd::{ForkResult, Pid};

use super::protocol::{HelperFailure, HelperReply, HelperRequest};
use super::{exec, monitor, start_leftovers};
use crate::runtime::cgroup::CgroupManager;
use crate::runtime::container::child::{
    close_fds_except, read_to_end, restore_sigchld, run_forked, write_all,
};
use crate::runtime::network::bridge;
use crate::runtime::network::firewall::{self, Rewrite};
use crate::runtime::sys::channel::{ChannelError, MAX_MESSAGE_BYTES, recv_message, send_message};
use crate::runtime::{ContainerLaunch, ExecLaunch, ExecStatus, LaunchReport, RuntimeError};

/// How long the daemon waits for the helper's answer (it answers right after forking).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the helper needs for its whole life.
pub struct HelperConfig {
    pub cgroups: CgroupManager,
}

/// The daemon's end of the helper's socket. Calls are blocking, serialised, and return as soon
/// as the helper has forked (long waits happen on the returned handles).
pub struct HelperClient {
    channel: Mutex<Channel>,
    pid: Pid,
}

struct Channel {
    socket: OwnedFd,
    /// Set when a request got no answer: a late answer would be taken for the next request's.
    broken: Option<String>,
}

/// Forks the helper. Must be called while the process is still single-threaded.
///
/// The helper gets SIGKILL when the thread that called this function exits (PR_SET_PDEATHSIG
/// follows the thread), so call it from the main thread; it also exits when the returned client
/// is dropped.
pub fn spawn_helper(config: HelperConfig) -> Result<HelperClient, RuntimeError> {
    let (daemon_end, helper_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("helper socketpair", e))?;
    let timeout = TimeVal::new(REPLY_TIMEOUT.as_secs() as _, 0);
    setsockopt(&daemon_end, sockopt::ReceiveTimeout, &timeout)
        .map_err(|e| RuntimeError::sys("helper socket timeout", e))?;
    // A datagram must fit in the sender's buffer; the default (about 200 KiB) is too small for a
    // large argv or environment. Raising it past net.core.wmem_max needs the Force variant.
    for socket in [&daemon_end, &helper_end] {
        if setsockopt(socket, sockopt::SndBufForce, &MAX_MESSAGE_BYTES).is_err() {
            let _ = setsockopt(socket, sockopt::SndBuf, &MAX_MESSAGE_BYTES);
        }
    }
    let daemon_pid = nix::unistd::getpid();
    // SAFETY: the caller guarantees the process is single-threaded, so the child is a complete
    // copy of it; the child runs only the helper loop and ends with `_exit` (`run_forked`).
    match unsafe { nix::unistd::fork() }.map_err(|e| RuntimeError::sys("fork helper", e))? {
        ForkResult::Child => run_forked(|| helper_main(helper_end, daemon_pid, config)),
        ForkResult::Parent { child } => {
            drop(helper_end);
            Ok(HelperClient {
                channel: Mutex::new(Channel {
                    socket: daemon_end,
                    broken: None,
                }),
                pid: child,
            })
        }
    }
}

/// The helper process: set up, then answer requests until the daemon closes its end.
fn helper_main(socket: OwnedFd, daemon_pid: Pid, config: HelperConfig) -> i32 {
    // The daemon's fds (its lock file above all) must not live on in the helper and its children.
    if close_fds_except(&[0, 1, 2, socket.as_raw_fd()]).is_err() {
        return 1;
    }
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
        || nix::unistd::getppid() != daemon_pid
    {
        return 1; // The daemon died before PR_SET_PDEATHSIG took effect.
    }
    // SAFETY: SIG_IGN installs no handler. Ignoring SIGCHLD makes the kernel reap the helper's
    // children (the first half of each monitor's double fork, exec waiters) at once.
    if unsafe { nix::sys::signal::signal(Signal::SIGCHLD, SigHandler::SigIgn) }.is_err() {
        return 1;
    }
    // SAFETY: as above. A reader that went away (a daemon that dropped a report pipe) must be an
    // EPIPE for the helper, its monitors and exec waiters, never a fatal signal. (The daemon's
    // Rust runtime ignores SIGPIPE already; this does not rely on it.) Container processes get
    // SIG_DFL back before execve.
    if unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }.is_err() {
        return 1;
    }
    // Its own process group: a Ctrl-C meant for the daemon in a terminal must not kill the helper
    // in the middle of a request (it exits when the daemon closes the socket).
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let _ = nix::sys::prctl::set_name(c"conti-helper");
    serve(&socket, &config.cgroups)
}

fn serve(socket: &OwnedFd, cgroups: &CgroupManager) -> i32 {
    loop {
        let (request, fds) = match recv_message::<HelperRequest>(socket.as_fd()) {
            Ok(received) => received,
            Err(ChannelError::Closed) => return 0,
            Err(ChannelError::Malformed(message)) => {
                tracing::warn!("helper: bad request: {message}");
                let reply = HelperReply::Err {
                    context: format!("bad request: {message}"),
                    errno: Errno::EINVAL as i32,
                };
                if send_message(socket.as_fd(), &reply, &[]).is_err() {
                    return 1;
                }
                continue;
            }
            Err(ChannelError::Sys(errno)) => {
                tracing::error!("helper: receiving a request: {errno}");
                return 1;
            }
        };
        let sent = match request {
            // The fds of a launch are connections of clients attached before the start.
            HelperRequest::Launch(launch) => match monitor::start_monitor(&launch, cgroups, fds) {
                Ok(report) => send_message(socket.as_fd(), &HelperReply::Ok, &[report.as_raw_fd()]),
                Err(failure) => send_message(socket.as_fd(), &HelperReply::from(failure), &[]),
            },
            HelperRequest::Exec(exec) => match exec::start_exec(&exec, cgroups) {
                Ok(pipes) => {
                    // The order `exec_reply_fds` expects: [terminal | stdout, stderr], status,
                    // [stdin].
                    let fds: Vec<_> = [&pipes.terminal, &pipes.stdout, &pipes.stderr]
                        .into_iter()
                        .flatten()
                        .chain(std::iter::once(&pipes.status))
                        .chain(pipes.stdin.as_ref())
                        .map(|fd| fd.as_raw_fd())
                        .collect();
                    send_message(socket.as_fd(), &HelperReply::Ok, &fds)
                }
                Err(failure) => send_message(socket.as_fd(), &HelperReply::from(failure), &[]),
            },
            HelperRequest::EnsureBridge {
                name,
                gateway,
                prefix_len,
            } => reply_done(
                socket,
                bridge::ensure_bridge(&name, gateway, prefix_len)
                    .map_err(|e| HelperFailure::from_io(format!("set up bridge {name}: {e}"), &e)),
            ),
            HelperRequest::RemoveBridge { name } => reply_done(
                socket,
                bridge::remove_bridge(&name)
                    .map_err(|e| HelperFailure::from_io(format!("remove bridge {name}: {e}"), &e)),
            ),
            HelperRequest::ApplyFirewall(rewrite) => reply_done(socket, apply_firewall(&rewrite)),
            HelperRequest::EndStart { id, state_dir } => {
                reply_done(socket, start_leftovers::end_start(&id, &state_dir, cgroups))
            }
        };
        // The fds sent are closed here: the daemon holds its own copies now.
        if let Err(error) = sent {
            tracing::error!("helper: sending a reply: {error}");
            return 1;
        }
    }
}

/// The answer to a request that returns no fds.
fn reply_done(socket: &OwnedFd, result: Result<(), HelperFailure>) -> Result<(), ChannelError> {
    let reply = match result {
        Ok(()) => HelperReply::Ok,
        Err(failure) => HelperReply::from(failure),
    };
    send_message(socket.as_fd(), &reply, &[])
}

/// Runs `nft` for the rewrite in a child: the helper ignores SIGCHLD (its children are reaped by
/// the kernel), so it cannot wait for `nft` itself. The child can, and reports nft's error on a
/// pipe.
fn apply_firewall(rewrite: &Rewrite) -> Result<(), HelperFailure> {
    let (error_r, error_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| HelperFailure::new("firewall pipe", e))?;
    // SAFETY: the helper is single-threaded; the child runs `nft` and `_exit`s.
    match unsafe { nix::unistd::fork() }.map_err(|e| HelperFailure::new("fork for nft", e))? {
        ForkResult::Child => run_forked(|| {
            drop(error_r);
            if restore_sigchld().is_err() {
                return 1;
            }
            match firewall::apply(rewrite) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = write_all(error_w.as_fd(), e.to_string().as_bytes());
                    1
                }
            }
        }),
        ForkResult::Parent { .. } => {
            drop(error_w);
            let error = read_to_end(error_r)
                .map_err(|e| HelperFailure::from_io("read nft's result".into(), &e))?;
            match error.is_empty() {
                true => Ok(()),
                false => Err(HelperFailure::new(
                    format!("nft: {}", String::from_utf8_lossy(&error).trim()),
                    Errno::EIO,
                )),
            }
        }
    }
}

impl HelperClient {
    /// Makes sure a network's bridge exists, holds `gateway/prefix_len` and is up.
    pub fn ensure_bridge(
        &self,
        name: &str,
        gateway: std::net::Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), RuntimeError> {
        let request = HelperRequest::EnsureBridge {
            name: name.to_string(),
            gateway,
            prefix_len,
        };
        self.call(&request, &[], 0).map(drop)
    }

    pub fn remove_bridge(&self, name: &str) -> Result<(), RuntimeError> {
        let request = HelperRequest::RemoveBridge {
            name: name.to_string(),
        };
        self.call(&request, &[], 0).map(drop)
    }

    /// Replaces Conti's nftables tables as `rewrite` says.
    pub fn apply_firewall(&self, rewrite: &Rewrite) -> Result<(), RuntimeError> {
        self.call(&HelperRequest::ApplyFirewall(rewrite.clone()), &[], 0)
            .map(drop)
    }

    /// Ends what a start of container `id` left (see `start_leftovers`): blocks until its
    /// monitor is gone and its cgroup removed. Needs no fd of the daemon's.
    pub fn end_start(&self, id: &str, state_dir: &std::path::Path) -> Result<(), RuntimeError> {
        let request = HelperRequest::EndStart {
            id: id.to_string(),
            state_dir: state_dir.to_path_buf(),
        };
        self.call(&request, &[], 0).map(drop)
    }

    pub fn launch_container(&self, launch: &ContainerLaunch) -> Result<LaunchHandle, RuntimeError> {
        self.launch_container_attached(launch, &[])
    }

    /// Starts a container whose output also goes to `attached`: the monitor's ends of
    /// connections of clients that attached before the start, each with its hello written.
    pub fn launch_container_attached(
        &self,
        launch: &ContainerLaunch,
        attached: &[OwnedFd],
    ) -> Result<LaunchHandle, RuntimeError> {
        let raw: Vec<_> = attached.iter().map(|fd| fd.as_raw_fd()).collect();
        let mut fds = self
            .call(&HelperRequest::Launch(Box::new(launch.clone())), &raw, 1)?
            .into_iter();
        match fds.next() {
            Some(report) => Ok(LaunchHandle { report }),
            None => Err(RuntimeError::Protocol(
                "launch reply without its report pipe".into(),
            )),
        }
    }

    /// Runs a command with its output on pipes and stdin from `/dev/null`, whatever `exec` says
    /// about a terminal or stdin.
    pub fn spawn_exec(&self, exec: &ExecLaunch) -> Result<ExecHandle, RuntimeError> {
        let exec = ExecLaunch {
            tty: false,
            stdin: false,
            ..exec.clone()
        };
        let fds = self.call(&HelperRequest::Exec(Box::new(exec)), &[], 3)?;
        match <[OwnedFd; 3]>::try_from(fds) {
            Ok([stdout, stderr, status]) => Ok(ExecHandle {
                stdout,
                stderr,
                status,
            }),
            Err(_) => Err(RuntimeError::Protocol(
                "exec reply without its three pipes".into(),
            )),
        }
    }

    /// Runs a command whose stdio the daemon streams: a terminal (`exec.tty`: its master arrives
    /// on [`ExecIo::Terminal`]'s channel once the command has made it) or pipes.
    pub fn spawn_exec_session(&self, exec: &ExecLaunch) -> Result<ExecSessionHandle, RuntimeError> {
        let expected = match (exec.tty, exec.stdin) {
            (true, _) => 2,
            (false, false) => 3,
            (false, true) => 4,
        };
        let mut fds = self
            .call(&HelperRequest::Exec(Box::new(exec.clone())), &[], expected)?
            .into_iter();
        let mut next = || {
            fds.next()
                .ok_or_else(|| RuntimeError::Protocol("exec reply without its fds".into()))
        };
        let io = if exec.tty {
            ExecIo::Terminal { channel: next()? }
        } else {
            ExecIo::Pipes {
                stdout: next()?,
                stderr: next()?,
                stdin: None,
            }
        };
        let status = next()?;
        let io = match io {
            ExecIo::Pipes { stdout, stderr, .. } if exec.stdin => ExecIo::Pipes {
                stdout,
                stderr,
                stdin: Some(next()?),
            },
            io => io,
        };
        Ok(ExecSessionHandle { io, status })
    }

    /// The helper's pid.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// One request, one reply with `expected_fds` fds.
    fn call(
        &self,
        request: &HelperRequest,
        fds: &[std::os::fd::RawFd],
        expected_fds: usize,
    ) -> Result<Vec<OwnedFd>, RuntimeError> {
        // A panic while holding the lock cannot leave the channel half-used in a way `broken`
        // does not cover, so a poisoned lock is taken over.
        let mut channel = self
            .channel
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(reason) = &channel.broken {
            return Err(RuntimeError::HelperGone(reason.clone()));
        }
        let gone = |error: ChannelError| match error {
            ChannelError::Closed => RuntimeError::HelperGone("the helper closed its socket".into()),
            ChannelError::Sys(errno) => RuntimeError::sys("helper socket", errno),
            ChannelError::Malformed(message) => RuntimeError::Protocol(message),
        };
        send_message(channel.socket.as_fd(), request, fds).map_err(gone)?;
        let (reply, fds) = match recv_message::<HelperReply>(channel.socket.as_fd()) {
            Ok(received) => received,
            Err(ChannelError::Sys(Errno::EAGAIN)) => {
                let reason = format!(
                    "the helper did not answer within {} s",
                    REPLY_TIMEOUT.as_secs()
                );
                channel.broken = Some(reason.clone());
                return Err(RuntimeError::HelperGone(reason));
            }
            Err(error) => {
                if matches!(error, ChannelError::Closed) {
                    channel.broken = Some("the helper closed its socket".into());
                }
                return Err(gone(error));
            }
        };
        match reply {
            HelperReply::Ok if fds.len() == expected_fds => Ok(fds),
            HelperReply::Ok => Err(RuntimeError::Protocol(format!(
                "helper sent {} fds, expected {expected_fds}",
                fds.len()
            ))),
            HelperReply::Err { context, errno } => Err(RuntimeError::io(
                format!("helper: {context}"),
                std::io::Error::from_raw_os_error(errno),
            )),
        }
    }
}

impl Drop for HelperClient {
    /// Closing the socket makes the helper exit; reap it so it does not stay a zombie.
    fn drop(&mut self) {
        let channel = self
            .channel
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = nix::sys::socket::shutdown(
            channel.socket.as_raw_fd(),
            nix::sys::socket::Shutdown::Both,
        );
        while let Err(Errno::EINTR) = nix::sys::wait::waitpid(self.pid, None) {}
    }
}

/// The read end of a container's start report pipe.
pub struct LaunchHandle {
    pub report: OwnedFd,
}

impl LaunchHandle {
    /// Blocks until the monitor reports (one line) that the first process exec'd, or why it
    /// could not. Also gives back the pipe: after a start, it reaches EOF once the monitor has
    /// recorded the container's exit (see `monitor`).
    pub fn wait_report(self) -> Result<(LaunchReport, ExitPipe), RuntimeError> {
        let line = read_line(&self.report)
            .map_err(|e| RuntimeError::sys("reading the launch report", e))?;
        let report = LaunchReport::parse(&line)?;
        crate::runtime::container::child::set_nonblocking(self.report.as_fd())
            .map_err(|e| RuntimeError::sys("report pipe O_NONBLOCK", e))?;
        Ok((report, ExitPipe(self.report)))
    }
}

/// A started container's report pipe, which its monitor closes once it has recorded the exit.
/// Non-blocking: poll it for readability, then ask [`ExitPipe::closed`].
pub struct ExitPipe(OwnedFd);

impl ExitPipe {
    /// `Ok(true)` once the monitor closed it (the exit is recorded, or the monitor is gone),
    /// `Ok(false)` while it is open and empty.
    pub fn closed(&self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 64];
        loop {
            match nix::unistd::read(&self.0, &mut chunk) {
                Ok(0) => return Ok(true),
                // Nothing follows the report; should anything come, it means nothing.
                Ok(_) | Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(false),
                Err(errno) => return Err(errno.into()),
            }
        }
    }
}

impl AsRawFd for ExitPipe {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// Reads up to the first newline (not included) or EOF. The writer sends nothing after the
/// newline but EOF, so reading whole chunks takes nothing that belongs to someone else.
fn read_line(fd: &OwnedFd) -> nix::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = match nix::unistd::read(fd, &mut chunk) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        if read == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk[..read]);
        if let Some(end) = bytes.iter().position(|&byte| byte == b'\n') {
            bytes.truncate(end);
            return Ok(bytes);
        }
    }
}

/// Read ends of an exec'd command's output and of its status pipe (one `ExecStatus` JSON, then EOF).
pub struct ExecHandle {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub status: OwnedFd,
}

/// The daemon's ends of a streamed exec: its stdio, and the status pipe (one `ExecStatus` JSON,
/// then EOF).
pub struct ExecSessionHandle {
    pub io: ExecIo,
    pub status: OwnedFd,
}

pub enum ExecIo {
    /// Read ends of stdout and stderr; the write end of stdin when it was asked for.
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin: Option<OwnedFd>,
    },
    /// The terminal's master comes on this channel (see [`receive_terminal`]).
    Terminal { channel: OwnedFd },
}

/// Blocks until the exec'd command has sent its terminal's master; `None` when it failed first
/// (its status says why).
/// The master is non-blocking.
pub fn receive_terminal(channel: &OwnedFd) -> Option<OwnedFd> {
    let master = crate::runtime::container::pty::receive_master(channel.as_fd())?;
    crate::runtime::container::child::set_nonblocking(master.as_fd()).ok()?;
    Some(master)
}

/// Sets a terminal's size through its master.
pub fn resize_terminal(
    master: std::os::fd::BorrowedFd<'_>,
    size: crate::runtime::WindowSize,
) -> Result<(), RuntimeError> {
    crate::runtime::container::pty::set_window_size(master, size)
        .map_err(|e| RuntimeError::sys("TIOCSWINSZ", e))
}

impl ExecStatus {
    /// Parses what the status pipe carried; an empty pipe means the waiter died.
    pub fn parse(bytes: &[u8]) -> Result<ExecStatus, RuntimeError> {
        parse_report(bytes, "the exec waiter exited without reporting a status")
    }
}

impl LaunchReport {
    pub fn parse(bytes: &[u8]) -> Result<LaunchReport, RuntimeError> {
        parse_report(bytes, "the container's monitor exited without reporting")
    }
}

fn parse_report<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    when_empty: &str,
) -> Result<T, RuntimeError> {
    if bytes.is_empty() {
        return Err(RuntimeError::Protocol(when_empty.into()));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| RuntimeError::Protocol(format!("malformed report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ChildFailure;

    #[test]
    fn reports_round_trip() {
        let started = LaunchReport::Started {
            monitor_pid: 10,
            monitor_start_time: 11,
            init_pid: 12,
            init_start_time: 13,
        };
        let bytes = serde_json::to_vec(&started).unwrap();
        let LaunchReport::Started {
            init_pid,
            init_start_time,
            ..
        } = LaunchReport::parse(&bytes).unwrap()
        else {
            panic!("not started")
        };
        assert_eq!((init_pid, init_start_time), (12, 13));

        let failure = ChildFailure::new("exec", Errno::ENOENT, "exec \"x\"");
        let status = ExecStatus {
            exit_code: 127,
            failure: Some(failure.clone()),
            timed_out: false,
        };
        let parsed = ExecStatus::parse(&serde_json::to_vec(&status).unwrap()).unwrap();
        assert_eq!((parsed.exit_code, parsed.failure), (127, Some(failure)));
    }

    #[test]
    fn an_empty_or_cut_report_is_a_protocol_error() {
        assert!(matches!(
            LaunchReport::parse(b""),
            Err(RuntimeError::Protocol(_))
        ));
        assert!(matches!(
            ExecStatus::parse(b""),
            Err(RuntimeError::Protocol(_))
        ));
        assert!(matches!(
            ExecStatus::parse(b"{\"exit_code\":"),
            Err(RuntimeError::Protocol(_))
        ));
    }

    #[test]
    fn a_report_is_one_line_and_the_pipe_stays_readable_until_eof() {
        let (read, write) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&write, b"{\"a\":1}\n").unwrap();
        assert_eq!(read_line(&read).unwrap(), b"{\"a\":1}");
        drop(write);
        assert_eq!(read_line(&read).unwrap(), b"");
    }
}
