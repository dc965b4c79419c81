//! Using the API as a user who may not: `nobody`, through `setpriv` and `curl`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::run_command;

/// The user the tests connect as: not root, in no group the daemon trusts.
pub const NOBODY: u32 = 65534;

/// `curl` as `NOBODY`, with `groups` as supplementary groups: (curl's exit code, HTTP status
/// (`000` when it could not connect), body).
pub fn curl_as_nobody(
    socket: &Path,
    groups: Option<u32>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (i32, String, String) {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"));
    match groups {
        Some(gid) => command.arg(format!("--groups={gid}")),
        None => command.arg("--clear-groups"),
    };
    command
        .args(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg("--unix-socket")
        .arg(socket)
        .args(["-X", method]);
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    command.arg(format!("http://localhost{path}"));
    let out = run_command(&mut command, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        status.to_string(),
        body.to_string(),
    )
}
