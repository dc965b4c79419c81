//! Restarts by the monitor. A container with a restart policy is started again by its monitor
//! when its first process exits, also while the daemon is down or being upgraded (the monitor
//! outlives it). Two files in the container's state folder carry what each side must know:
//!
//! - `restart.json` ([`RestartOrder`]), written by the daemon at each start, at an update of the
//!   policy, and when a person stops or kills the container: the rule, and whether restarts are
//!   held. The monitor reads it at each exit, and again when it gets [`ORDER_SIGNAL`] while it
//!   waits to restart (a stop then ends it at once).
//! - `runs.json` (`run_record`), written by the monitor.
//!
//! Between a run's end and the next start the monitor waits ([`Backoff`], Docker's): 100 ms,
//! doubling up to a minute, back to 100 ms after a run of 10 s or more. A run whose start fails
//! counts as one that exited at once, so a container that cannot start backs off too.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::runtime::RuntimeError;
use crate::runtime::sys::atomic_file::{Durability, read_json, write_json_atomic};
use crate::runtime::sys::process::ProcessHandle;

pub const RESTART_ORDER_FILE: &str = "restart.json";

/// Tells a monitor to read its order again. Its default action is to ignore it, so a monitor
/// of an older contid that does not know it is not harmed.
pub const ORDER_SIGNAL: Signal = Signal::SIGURG;

/// The first pause before a restart.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long starts the pauses over.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);

/// When the monitor restarts the container. (`unless-stopped` differs from `always` only when
/// the daemon starts, which is the daemon's business.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartRule {
    #[default]
    Never,
    Always,
    /// After a non-zero exit, while fewer than `max_retries` restarts were made (`None`: no
    /// limit).
    OnFailure {
        max_retries: Option<u32>,
    },
}

/// `restart.json`: what the daemon wants of the monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartOrder {
    pub rule: RestartRule,
    /// A person stopped or killed the container: no more restarts.
    #[serde(default)]
    pub held: bool,
}

impl RestartOrder {
    /// Whether a run that ended with `exit_code` is followed by another, `restarts` having been
    /// made so far.
    pub fn restarts_after(&self, exit_code: i32, restarts: u32) -> bool {
        if self.held {
            return false;
        }
        match self.rule {
            RestartRule::Never => false,
            RestartRule::Always => true,
            RestartRule::OnFailure { max_retries } => {
                exit_code != 0 && max_retries.is_none_or(|max| restarts < max)
            }
        }
    }

    /// Replaces the order in `state_dir` (atomically: the monitor never reads half of one).
    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        write_json_atomic(
            &state_dir.join(RESTART_ORDER_FILE),
            self,
            Durability::UntilReboot,
        )
    }

    /// [`RestartOrder::write`], then [`ORDER_SIGNAL`] to the container's monitor, so that one
    /// waiting to restart reads it now.
    pub fn deliver(&self, state_dir: &Path, monitor: &ProcessHandle) -> Result<(), RuntimeError> {
        self.write(state_dir)
            .map_err(|e| RuntimeError::io("write the restart order", e))?;
        monitor.signal(ORDER_SIGNAL)
    }

    /// The order in `state_dir`; none, or one that cannot be read, means no restart.
    pub fn read(state_dir: &Path) -> RestartOrder {
        read_json(&state_dir.join(RESTART_ORDER_FILE))
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// The pauses between a run's end and the next start.
#[derive(Debug, Default)]
pub struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    /// The pause after a run that lasted `ran_for`.
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= BACKOFF_RESET_AFTER {
            self.last = None;
        }
        let pause = match self.last {
            None => FIRST_BACKOFF,
            Some(last) => (last * 2).min(MAX_BACKOFF),
        };
        self.last = Some(pause);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_decides_and_a_hold_overrides_it() {
        let order = |rule| RestartOrder { rule, held: false };
        assert!(!order(RestartRule::Never).restarts_after(1, 0));
        assert!(order(RestartRule::Always).restarts_after(0, 100));
        let three = order(RestartRule::OnFailure {
            max_retries: Some(3),
        });
        assert!(!three.restarts_after(0, 0), "a success is not a failure");
        assert!(three.restarts_after(1, 2));
        assert!(!three.restarts_after(1, 3), "three restarts made");
        let unlimited = order(RestartRule::OnFailure { max_retries: None });
        assert!(unlimited.restarts_after(137, 1_000_000));
        let held = RestartOrder {
            rule: RestartRule::Always,
            held: true,
        };
        assert!(!held.restarts_after(1, 0));
    }

    #[test]
    fn pauses_double_up_to_a_minute_and_start_over_after_a_long_run() {
        let mut backoff = Backoff::default();
        let quick = Duration::from_millis(5);
        let pauses: Vec<u128> = (0..12).map(|_| backoff.next(quick).as_millis()).collect();
        assert_eq!(
            pauses,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000
            ]
        );
        assert_eq!(backoff.next(Duration::from_secs(10)), FIRST_BACKOFF);
        assert_eq!(backoff.next(quick), Duration::from_millis(200));
    }

    #[test]
    fn an_order_round_trips_and_a_missing_one_restarts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RestartOrder::read(dir.path()), RestartOrder::default());
        let order = RestartOrder {
            rule: RestartRule::OnFailure {
                max_retries: Some(2),
            },
            held: true,
        };
        order.write(dir.path()).unwrap();
        assert_eq!(RestartOrder::read(dir.path()), order);
        std::fs::write(dir.path().join(RESTART_ORDER_FILE), "{\"ru").unwrap();
        assert!(!RestartOrder::read(dir.path()).restarts_after(1, 0));
    }
}
