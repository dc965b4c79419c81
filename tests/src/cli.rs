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
    let mut command = Command::new(bin_path("conti-cli"));
    command
        .env_remove("CONTI_SOCKET")
        .arg("--socket")
        .arg(socket)
        .args(args);
    run_command(&mut command, CLI_TIMEOUT)
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
