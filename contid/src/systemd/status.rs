//! The status line `systemctl status contid` shows while contid serves: where, and how many
//! containers run, updated as containers start and end.

use std::path::{Path, PathBuf};

use super::Notifier;
use crate::engine::{Engine, TimeWindow};

/// `serving on SOCKET: N running`.
pub fn serving_status(socket: &Path, running: usize) -> String {
    format!("serving on {}: {running} running", socket.display())
}

/// Says [`serving_status`] again whenever it changes, after each container event, until the
/// daemon shuts down.
pub(super) async fn report_running(engine: Engine, notifier: Notifier, socket: PathBuf) {
    let mut said = serving_status(&socket, engine.count_running());
    loop {
        let mut events = engine.events().subscribe(TimeWindow::default());
        loop {
            let status = serving_status(&socket, engine.count_running());
            if status != said {
                notifier.status(&status);
                said = status;
            }
            match events.next().await {
                Some(Ok(_)) => {}
                // Fell behind: counting again is all that is needed, on a new subscription.
                Some(Err(_)) => break,
                None => return,
            }
        }
    }
}
