//! Processes named by pidfd: signals that cannot hit a recycled pid, and exit notification.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::signal::Signal;

use crate::runtime::RuntimeError;

/// A live process held by a pidfd. The fd becomes readable when the process exits.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: i32,
    pidfd: OwnedFd,
}

impl ProcessHandle {
    /// Opens `pid` if it still runs and started at `start_time` (see [`start_time`]);
    /// `Ok(None)` when it is gone or the pid now names another process.
    pub fn open(pid: i32, start_time: u64) -> Result<Option<ProcessHandle>, RuntimeError> {
        let Some(raw_pid) = rustix::process::Pid::from_raw(pid) else {
            return Ok(None);
        };
        // Before: do not open a stranger. After: the pid may have been reused between the first
        // check and pidfd_open; once the pidfd is open it names one process for good. A stat
        // that cannot be read (no fd left) is an error, not a process gone.
        let started_then = || {
            read_start_time(pid).map_err(|e| RuntimeError::io(format!("read /proc/{pid}/stat"), e))
        };
        if started_then()? != Some(start_time) {
            return Ok(None);
        }
        let pidfd = match rustix::process::pidfd_open(raw_pid, rustix::process::PidfdFlags::empty())
        {
            Ok(pidfd) => pidfd,
            Err(rustix::io::Errno::SRCH) => return Ok(None),
            Err(e) => return Err(RuntimeError::io(format!("pidfd_open {pid}"), e.into())),
        };
        if started_then()? != Some(start_time) {
            return Ok(None);
        }
        Ok(Some(ProcessHandle { pid, pidfd }))
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether the process exits within `timeout` (its pidfd becomes readable); blocks that long
    /// at most.
    pub fn exits_within(&self, timeout: std::time::Duration) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, timeout) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => return matches!(other, Ok(1..)),
            }
        }
    }

    /// Sends `signal`; a process that is already gone is not an error.
    pub fn signal(&self, signal: Signal) -> Result<(), RuntimeError> {
        let Some(sig) = rustix::process::Signal::from_named_raw(signal as i32) else {
            return Err(RuntimeError::sys(
                format!("signal {signal}"),
                nix::errno::Errno::EINVAL,
            ));
        };
        match rustix::process::pidfd_send_signal(&self.pidfd, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(RuntimeError::io(
                format!("send {signal} to pid {}", self.pid),
                e.into(),
            )),
        }
    }
}

impl AsFd for ProcessHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}

impl AsRawFd for ProcessHandle {
    fn as_raw_fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }
}

/// Field 22 of `/proc/<pid>/stat` (clock ticks since boot), or `None` when there is no such process
/// (or its stat cannot be read).
pub fn start_time(pid: i32) -> Option<u64> {
    read_start_time(pid).ok().flatten()
}

/// [`start_time`], telling a process that is gone (`Ok(None)`) from a stat that cannot be read.
fn read_start_time(pid: i32) -> std::io::Result<Option<u64>> {
    if pid <= 0 {
        return Ok(None);
    }
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => Ok(start_time_from_stat(&stat)),
        Err(e) if matches!(e.raw_os_error(), Some(nix::libc::ENOENT | nix::libc::ESRCH)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `<pid> (<comm>) <state> …`: the command name may hold spaces and parentheses, so the fields
/// are counted from the last `)`. The first field after it is field 3.
fn start_time_from_stat(stat: &[u8]) -> Option<u64> {
    const START_TIME_FIELD: usize = 22;
    let after_comm = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let field = std::str::from_utf8(after_comm)
        .ok()?
        .split_ascii_whitespace()
        .nth(START_TIME_FIELD - 3)?;
    field.parse().ok()
}

/// What `top` shows of a process, from `/proc/<pid>/status` and `/proc/<pid>/cmdline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDescription {
    pub pid: i32,
    pub ppid: i32,
    /// The innermost of `NSpid`: the pid in the process's own pid namespace.
    pub namespace_pid: Option<i32>,
    pub uid: u32,
    /// The user's name in `/etc/passwd` as the process sees it (its root's), if it has one.
    pub user: Option<String>,
    /// The arguments joined by spaces; `[name]` when empty (a kernel thread, a zombie).
    pub command: String,
}

/// `None` when the process is gone.
pub fn describe(pid: i32) -> Option<ProcessDescription> {
    if pid <= 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':').map(str::trim))
    };
    let ppid = field("PPid")?.parse().ok()?;
    let uid: u32 = field("Uid")?.split_whitespace().next()?.parse().ok()?;
    let namespace_pid = field("NSpid").and_then(|ids| ids.split_whitespace().last()?.parse().ok());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let command = if cmdline.is_empty() {
        format!("[{}]", field("Name").unwrap_or("?"))
    } else {
        cmdline
            .split(|&b| b == 0)
            .filter(|arg| !arg.is_empty())
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let passwd =
        std::fs::read_to_string(format!("/proc/{pid}/root/etc/passwd")).unwrap_or_default();
    Some(ProcessDescription {
        pid,
        ppid,
        namespace_pid,
        uid,
        user: user_name(&passwd, uid),
        command,
    })
}

/// The name of `uid` in the text of a passwd file.
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_described() {
        let me = describe(std::process::id() as i32).unwrap();
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw());
        assert_eq!(me.uid, nix::unistd::getuid().as_raw());
        assert_eq!(me.namespace_pid, Some(std::process::id() as i32));
        assert!(!me.command.is_empty());
        assert_eq!(
            user_name("root:x:0:0::/root:/bin/sh\nwww:x:33:33::/:/bin/false\n", 33).as_deref(),
            Some("www")
        );
        assert_eq!(describe(-1), None);
    }

    #[test]
    fn start_time_is_field_22_even_with_a_tricky_command_name() {
        let stat = b"4242 (a) b) (c ) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(start_time_from_stat(stat), Some(987654));
        assert_eq!(start_time_from_stat(b"12 (x) S 1"), None);
        assert_eq!(start_time_from_stat(b"garbage"), None);
    }

    #[test]
    fn our_own_process_can_be_opened_and_a_wrong_start_time_cannot() {
        let pid = std::process::id() as i32;
        let started = start_time(pid).unwrap();
        let handle = ProcessHandle::open(pid, started).unwrap().unwrap();
        assert_eq!(handle.pid(), pid);
        assert!(ProcessHandle::open(pid, started + 1).unwrap().is_none());
        assert_eq!(start_time(-1), None);
    }

    /// A `sleep 30` child, and a handle on it.
    fn sleeping_child() -> (std::process::Child, ProcessHandle) {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let handle = ProcessHandle::open(pid, start_time(pid).unwrap())
            .unwrap()
            .unwrap();
        (child, handle)
    }

    #[test]
    fn an_exit_is_seen_within_a_timeout() {
        use std::time::Duration;
        let (mut child, handle) = sleeping_child();
        assert!(!handle.exits_within(Duration::ZERO));
        assert!(!handle.exits_within(Duration::from_millis(20)));
        handle.signal(Signal::SIGKILL).unwrap();
        assert!(handle.exits_within(Duration::from_secs(5)));
        child.wait().unwrap();
        assert!(handle.exits_within(Duration::ZERO));
    }

    #[test]
    fn signalling_an_exited_process_is_not_an_error() {
        let (mut child, handle) = sleeping_child();
        handle.signal(Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        handle.signal(Signal::SIGTERM).unwrap();
    }
}
