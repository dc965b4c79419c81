//! The Conti side: the benchmark's own `contid`, started through the test harness's [`Daemon`]
//! (which the cleanup registry owns), with the busybox image imported.

use std::path::{Path, PathBuf};

use serde_json::Value;

use conti_tests::{Client, Daemon, DaemonOptions};

use crate::cleanup;

/// A running daemon, as the scenarios and the report see it.
pub struct Conti {
    /// The `contid` binary.
    pub binary: PathBuf,
    pub client: Client,
    /// `GET /v1/version`.
    pub version: Value,
    /// `GET /v1/info`, when the daemon answers it.
    pub info: Option<Value>,
}

/// The daemon for this run, not started yet: it owns the run's folder (`/tmp/<name>`) and the
/// cgroup parent `<name>`. It runs in its own process group, so that a Ctrl-C reaches only the
/// benchmark, which then deletes the containers through the API before it stops the daemon.
pub fn unstarted(contid: &Path, name: &str, log_level: Option<&str>) -> Daemon {
    Daemon::unstarted_with(DaemonOptions {
        log_level: log_level.map(str::to_string),
        own_process_group: true,
        ..DaemonOptions::new(contid, name)
    })
}

/// Launches the registered daemon, waits until it answers and imports the busybox image.
pub fn start(contid: &Path) -> Result<Conti, String> {
    let client = cleanup::with_daemon(|daemon| {
        daemon.try_launch()?;
        daemon.import_busybox();
        Ok::<_, String>(daemon.client().clone())
    })
    .ok_or("interrupted")??;
    let get = |path: &str| -> Result<Value, String> {
        let response = client
            .try_request("GET", path, None)
            .map_err(|e| format!("GET {path}: {e}"))?;
        match response.status {
            200 => response.try_json(),
            status => Err(format!("GET {path}: HTTP {status}: {}", response.text())),
        }
    };
    Ok(Conti {
        binary: contid.to_path_buf(),
        version: get("/v1/version")?,
        info: get("/v1/info").ok(),
        client,
    })
}
