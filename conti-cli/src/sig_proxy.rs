//! The signal proxy of attached sessions without a terminal (`--sig-proxy`, on by default, as
//! Docker): SIGINT, SIGTERM and SIGHUP sent to the CLI go to the container's PID 1 through
//! `POST /v1/containers/{ref}/kill`, and the CLI keeps showing the output until the container
//! exits, then exits with its code.
//!
//! Where nothing is forwarded (a tty, `--sig-proxy=false`, `exec`), a session still catches them
//! so that it can restore the terminal first, then ends the CLI with [`die_by`], as if they had
//! never been caught.

use std::io;

use nix::sys::signal::{SigHandler, Signal, raise, signal as set_handler};
use tokio::signal::unix::{SignalKind, signal};

use crate::client::{Client, ClientError};

/// SIGINT, SIGTERM and SIGHUP, caught from [`Signals::catch`] on.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn catch() -> io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next of them to arrive.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
            _ = self.hangup.recv() => Signal::SIGHUP,
        }
    }
}

/// Sends `signal` to the container's PID 1. One that has just exited is no news (the session
/// ends by itself); anything else is worth a line, and the session goes on.
pub async fn forward(client: &Client, container: &str, signal: Signal) {
    match client
        .kill_container(container, Some(signal.as_str()))
        .await
    {
        Ok(()) => {}
        Err(ClientError::Api { code, .. }) if code == "container_not_running" => {}
        Err(error) => eprintln!("conti-cli: cannot forward {signal} to the container: {error}"),
    }
}

/// Ends the CLI by `signal`'s default action (its parent sees it killed by the signal), as if it
/// had never been caught. Whatever needs restoring must have been restored before.
pub fn die_by(signal: Signal) -> ! {
    // SAFETY: installing SIG_DFL runs no code of ours in a signal handler.
    let _ = unsafe { set_handler(signal, SigHandler::SigDfl) };
    let _ = raise(signal);
    // Not reached for these signals; a fallback with the shell's convention all the same.
    std::process::exit(128 + signal as i32)
}
