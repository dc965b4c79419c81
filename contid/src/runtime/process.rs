//! Processes named by pidfd: signals that cannot hit a recycled pid, and exit notification.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::signal::Signal;

use super::RuntimeError;

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
        let _ = (pid, start_time);
        todo!("H1")
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal`; a process that is already gone is not an error.
    pub fn signal(&self, signal: Signal) -> Result<(), RuntimeError> {
        let _ = signal;
        todo!("H1")
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

/// Field 22 of `/proc/<pid>/stat` (clock ticks since boot), or `None` when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let _ = pid;
    todo!("H1")
}
