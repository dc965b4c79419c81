//! systemd's watchdog (`WatchdogSec=`): contid pings it at half the timeout from a task of its
//! async runtime, so a daemon whose runtime no longer runs tasks stops pinging, and systemd
//! restarts it (the containers keep running: `KillMode=process`).

use std::time::Duration;

use super::{Notifier, names_this_process};

/// Half of `WATCHDOG_USEC`, when it is set and `WATCHDOG_PID` is unset or names this process.
pub(super) fn interval(usec: Option<String>, pid: Option<String>) -> Option<Duration> {
    if pid.is_some_and(|pid| !names_this_process(&pid)) {
        return None;
    }
    let usec = usec?.parse::<u64>().ok().filter(|&usec| usec > 0)?;
    Some(Duration::from_micros(usec) / 2)
}

/// `WATCHDOG=1` every `interval`, for as long as the runtime runs.
pub(super) async fn feed(notifier: Notifier, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        notifier.watchdog();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_timeout_for_this_process_only() {
        let us = std::process::id().to_string();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            interval(some("2000000"), None),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            interval(some("500000"), Some(us)),
            Some(Duration::from_millis(250))
        );
        assert_eq!(interval(some("2000000"), some("1")), None);
        assert_eq!(interval(some("0"), None), None);
        assert_eq!(interval(some("soon"), None), None);
        assert_eq!(interval(None, None), None);
    }
}
