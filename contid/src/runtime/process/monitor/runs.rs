//! The monitor's runs of the container: each until its init exits, then, as the restart order
//! says (`restart_policy`), another after a pause, or the end of the container. The runs it
//! starts on its own go into `runs.json` (`run_record`) for the daemon.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use super::{Monitor, MonitorIo, Running};
use crate::runtime::container::child::exit_code_of;
use crate::runtime::process::exit_record::ExitRecord;
use crate::runtime::process::restart_policy::{Backoff, RestartOrder};
use crate::runtime::process::run_record::{RunRecord, RunningInit};
use crate::runtime::process::session::{Session, reap_children, remove_attach_socket};

/// How a run ended.
struct RunEnd {
    record: ExitRecord,
    /// When it had started (RFC 3339); `None` for a start that failed.
    started: Option<String>,
    lasted: Duration,
    /// The run's mount namespace, still held (see the monitor's notes).
    mount_namespace: Option<OwnedFd>,
}

impl Monitor<'_> {
    /// Runs the container until a run ends with no restart to follow, then records the exit.
    pub(super) fn supervise(mut self, first: Running, mut io: MonitorIo) -> i32 {
        let mut restarts = self.launch.restart_count;
        let mut backoff = Backoff::default();
        let mut running = first;
        loop {
            let RunEnd {
                mut record,
                mut started,
                mut lasted,
                mut mount_namespace,
            } = self.run_to_exit(running, &mut io);
            running = loop {
                let order = RestartOrder::read(&self.launch.state_dir);
                if !order.restarts_after(record.exit_code, restarts) {
                    return self.end(record, io, mount_namespace);
                }
                // The old root goes before a new one is mounted on the same upper folder.
                drop(mount_namespace.take());
                let pause = backoff.next(lasted);
                self.record_runs(restarts, None, &record, started.as_deref());
                if !self.wait_to_restart(pause, &io, record.exit_code, restarts) {
                    return self.end(record, io, None);
                }
                restarts += 1;
                match self.start_run() {
                    Ok(next) => {
                        self.record_runs(restarts, Some(&next), &record, started.as_deref());
                        break next;
                    }
                    Err(failed) => {
                        record = failed;
                        started = None;
                        lasted = Duration::ZERO;
                    }
                }
            };
        }
    }

    /// A restart: the init again, in new namespaces; a failure is the run's exit record.
    fn start_run(&self) -> Result<Running, ExitRecord> {
        let oom_kills_before = self.oom_kills();
        match self.start_init() {
            Ok(running) => Ok(Running {
                oom_kills_before,
                ..running
            }),
            Err(failure) => {
                tracing::warn!("container {}: a restart failed: {failure}", self.launch.id);
                Err(ExitRecord::from_failure(&failure))
            }
        }
    }

    /// Copies the run's output until its init exits and the output has ended.
    fn run_to_exit(&mut self, running: Running, io: &mut MonitorIo) -> RunEnd {
        let Running {
            init,
            started,
            started_at,
            mount_namespace,
            io: session_io,
            oom_kills_before,
            ..
        } = running;
        let attached = std::mem::take(&mut self.attached);
        let mut session = Session::new(session_io, &mut io.log, io.listener.take(), attached);
        let status = session.run_until_exit(init, &io.signals);
        io.listener = session.drain();
        let (exit_code, signal) = exit_code_of(status);
        RunEnd {
            record: ExitRecord {
                exit_code,
                signal,
                finished: crate::runtime::now_rfc3339(),
                error: None,
                // Before `finish` removes the cgroup, and with it the counter.
                oom_killed: self.oom_kills() > oom_kills_before,
            },
            started: Some(started),
            lasted: started_at.elapsed(),
            mount_namespace,
        }
    }

    /// Waits `pause`; `false` when the order changed meanwhile to no restart (a stop).
    fn wait_to_restart(
        &self,
        pause: Duration,
        io: &MonitorIo,
        exit_code: i32,
        restarts: u32,
    ) -> bool {
        let deadline = Instant::now() + pause;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            let mut fds = [PollFd::new(io.signals.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            if !matches!(poll(&mut fds, timeout), Ok(1..)) {
                continue;
            }
            while let Ok(Some(_)) = io.signals.read_signal() {}
            let _ = reap_children(Pid::from_raw(0));
            let order = RestartOrder::read(&self.launch.state_dir);
            if !order.restarts_after(exit_code, restarts) {
                return false;
            }
        }
    }

    /// Tells the daemon (through `runs.json`) where the runs stand.
    fn record_runs(
        &self,
        restart_count: u32,
        current: Option<&Running>,
        last_exit: &ExitRecord,
        last_started: Option<&str>,
    ) {
        let record = RunRecord {
            restart_count,
            current: current.map(|running| RunningInit {
                pid: running.init.as_raw(),
                start_time: running.init_start_time,
                started: running.started.clone(),
            }),
            last_exit: Some(last_exit.clone()),
            last_started: last_started.map(str::to_string),
        };
        if let Err(e) = record.write(&self.launch.state_dir) {
            tracing::warn!("container {}: writing its run record: {e}", self.launch.id);
        }
    }

    /// The container is done: its exit recorded, everything given back, then its root let go.
    fn end(self, record: ExitRecord, io: MonitorIo, mount_namespace: Option<OwnedFd>) -> i32 {
        let state_dir = self.launch.state_dir.clone();
        if io.listener.is_some() {
            remove_attach_socket(&state_dir);
        }
        drop(io);
        self.finish(record);
        // The daemon knows: now the record goes to disk and the container's mounts may go,
        // however long that takes.
        let _ = ExitRecord::flush(&state_dir);
        drop(mount_namespace);
        0
    }

    /// The container's OOM kills so far (0 when they cannot be read).
    fn oom_kills(&self) -> u64 {
        self.cgroups.oom_kills(&self.launch.id).unwrap_or_else(|e| {
            tracing::warn!("container {}: reading its OOM kills: {e}", self.launch.id);
            0
        })
    }
}
