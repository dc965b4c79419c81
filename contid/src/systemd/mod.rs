//! Running under systemd (`Type=notify`, socket activation, the watchdog), which hands contid
//! what it needs in environment variables: `NOTIFY_SOCKET`, `LISTEN_PID`/`LISTEN_FDS`/
//! `LISTEN_FDNAMES` with the sockets from fd 3 on, `WATCHDOG_USEC`/`WATCHDOG_PID`. contid takes
//! them out of its environment at start-up, before anything is forked, so that no helper,
//! monitor, container or exec'd command ever sees them; the socket it takes is close-on-exec.
//! Without them (started by hand) none of this does anything.

mod activation;
mod notify;
mod status;
mod watchdog;

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

pub use activation::{ActivationError, ListenSocket};
pub use notify::Notifier;
pub use status::serving_status;

use crate::engine::Engine;

/// What systemd handed contid.
pub struct Handoff {
    pub notifier: Notifier,
    /// The listening socket of socket activation.
    pub socket: Option<ListenSocket>,
    /// How often to ping the watchdog (half its timeout), when it watches this process.
    pub watchdog_interval: Option<Duration>,
}

impl Handoff {
    /// Takes systemd's variables out of the environment, and the socket they name.
    ///
    /// Must run while the process has a single thread (it changes the environment), after the
    /// re-execution from the sealed binary (which must still find the variables and fd 3) and
    /// before the helper is forked. The variables are gone even when this fails.
    pub fn take() -> Result<Handoff, ActivationError> {
        let notify_socket = take_var("NOTIFY_SOCKET");
        let watchdog_usec = take_var("WATCHDOG_USEC");
        let watchdog_pid = take_var("WATCHDOG_PID");
        let listen_pid = take_var("LISTEN_PID");
        let listen_fds = take_var("LISTEN_FDS");
        let listen_fdnames = take_var("LISTEN_FDNAMES");
        Ok(Handoff {
            notifier: Notifier::new(notify_socket),
            watchdog_interval: watchdog::interval(watchdog_usec, watchdog_pid),
            socket: activation::take_socket(listen_pid, listen_fds, listen_fdnames)?,
        })
    }

    /// Tells systemd that contid serves (`READY=1`: the containers are adopted and `socket`
    /// answers), then keeps its status line up to date and feeds the watchdog, in tasks of the
    /// runtime this is called in.
    pub fn announce_serving(&self, engine: &Engine, socket: &Path) {
        self.notifier
            .ready(&serving_status(socket, engine.count_running()));
        if self.notifier.is_enabled() {
            tokio::spawn(status::report_running(
                engine.clone(),
                self.notifier.clone(),
                socket.to_path_buf(),
            ));
        }
        if let Some(interval) = self.watchdog_interval {
            tokio::spawn(watchdog::feed(self.notifier.clone(), interval));
        }
    }
}

/// The variable's value (`None` when unset or not UTF-8), and the variable removed.
fn take_var(name: &str) -> Option<String> {
    let value = std::env::var_os(name).map(OsString::into_string);
    // SAFETY: `Handoff::take`'s precondition: the process has a single thread, so no other
    // thread reads or writes the environment meanwhile.
    unsafe { std::env::remove_var(name) };
    value.and_then(Result::ok)
}

/// Whether `pid` (a `LISTEN_PID` or `WATCHDOG_PID`) names this process.
fn names_this_process(pid: &str) -> bool {
    pid.parse::<u32>().ok() == Some(std::process::id())
}
