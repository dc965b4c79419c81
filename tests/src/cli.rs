//! Runs the real `conti-cli` binary against a test daemon.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::daemon::{Daemon, bin_path};
use crate::util::run_command;

/// How long one `conti-cli` invocation may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// `conti-cli --socket <daemon's socket> args...`, with stdin closed.
pub fn cli(daemon: &Daemon, args: &[&str]) -> Output {
    cli_with_socket(daemon.socket(), args)
}

pub fn cli_with_socket(socket: &Path, args: &[&str]) -> Output {
    run_command(&mut command(socket, args), CLI_TIMEOUT)
}

/// [`cli`] with `env` (`(name, Some(value))` set, `(name, None)` removed) in its environment.
pub fn cli_with_env(daemon: &Daemon, env: &[(&str, Option<&str>)], args: &[&str]) -> Output {
    let mut command = command(daemon.socket(), args);
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    run_command(&mut command, CLI_TIMEOUT)
}

fn command(socket: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin_path("conti-cli"));
    command
        .env_remove("CONTI_SOCKET")
        .arg("--socket")
        .arg(socket)
        .args(args);
    command
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
