//! The benchmark's own `contid`: a temporary socket and root, a unique cgroup parent, its log
//! in the temp folder; registered for cleanup as soon as it is spawned.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cleanup;
use crate::http::Client;

/// How long the daemon may take to answer `GET /v1/version`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Daemon {
    pub socket: PathBuf,
    pub log: PathBuf,
    /// `GET /v1/version`.
    pub version: Value,
    /// `GET /v1/info`, when the daemon answers it.
    pub info: Option<Value>,
}

pub fn start(
    contid: &Path,
    work: &Path,
    cgroup_parent: &str,
    log_level: Option<&str>,
) -> Result<Daemon, String> {
    let socket = work.join("contid.sock");
    let root = work.join("root");
    let log = work.join("contid.log");
    let log_file = File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let log_file_err = log_file.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(contid);
    command
        .arg("--socket")
        .arg(&socket)
        .arg("--root")
        .arg(&root)
        .arg("--cgroup-parent")
        .arg(cgroup_parent);
    if let Some(level) = log_level {
        command.arg("--log-level").arg(level);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_file_err)
        // Its own process group: a Ctrl-C reaches only the benchmark, which then deletes the
        // containers through the API before it stops the daemon.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", contid.display()))?;
    cleanup::register_daemon(child, &socket);

    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = cleanup::daemon_exit_status() {
            return Err(format!(
                "contid exited at start ({status}); its log:\n{}",
                log_tail(&log)
            ));
        }
        let mut client = Client::new(&socket);
        let last_error = match client.get("/v1/version") {
            Ok(response) if response.status == 200 => {
                let version = response.json()?;
                let info = client
                    .get("/v1/info")
                    .ok()
                    .filter(|r| r.status == 200)
                    .and_then(|r| r.json().ok());
                return Ok(Daemon {
                    socket,
                    log,
                    version,
                    info,
                });
            }
            Ok(response) => format!("HTTP {}: {}", response.status, response.text()),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!(
                "contid did not answer GET /v1/version within {READY_TIMEOUT:?} ({last_error}); its log:\n{}",
                log_tail(&log)
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of the daemon's log, for error messages.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
