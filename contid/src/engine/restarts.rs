//! Restart policies, the engine's side. The restarts themselves are the monitor's (see
//! `runtime::process::restart_policy`): it outlives the daemon, so a container goes on being
//! restarted while contid is down or being upgraded. The engine tells it the rule and when a
//! person stopped the container (its order), learns of the runs it started (`run_watch`), and
//! keeps the rules of its own: a person's start counts from 0 again, and when contid starts
//! (after a reboot, say) it starts `always` containers, `unless-stopped` ones nobody stopped,
//! and `on-failure` ones that failed with retries left (Docker's rule).

use std::time::Duration;

use conti_proto::{ContainerSpec, EventType, RestartPolicy};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::runtime::ProcessHandle;
use crate::runtime::process::restart_policy::{RestartOrder, RestartRule};
use crate::runtime::sys::atomic_file::Durability;

use super::{Container, ContainerStatus, Engine, EngineError, EngineResult, EventDetails};

/// Where a container stands with its restart policy. Stored with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartState {
    /// Restarts by the policy since a person last started the container.
    pub count: u32,
    /// A person stopped, killed or removed it since: the monitor restarts it no more, and an
    /// `unless-stopped` or `on-failure` container stays stopped when contid starts.
    pub manually_stopped: bool,
}

/// Who starts a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StartCause {
    /// A person (or a client): the restart count begins again.
    Request,
    /// Its restart policy, when contid starts: the count goes on.
    Policy,
}

/// A create's restart policy, checked against the rest of the spec.
pub(super) fn validate(spec: &ContainerSpec) -> EngineResult<()> {
    if spec.auto_remove && !spec.restart_policy.is_no() {
        return Err(EngineError::InvalidSpec(format!(
            "restart_policy {} and auto_remove exclude each other: a container that is removed \
             when it exits is not restarted",
            spec.restart_policy
        )));
    }
    Ok(())
}

/// What the monitor is to do at the container's exits.
pub(super) fn order_for(container: &Container) -> RestartOrder {
    let rule = match container.config.restart_policy {
        RestartPolicy::No => RestartRule::Never,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => RestartRule::Always,
        RestartPolicy::OnFailure { max_retries } => RestartRule::OnFailure { max_retries },
    };
    RestartOrder {
        rule,
        held: container.restarts.manually_stopped,
    }
}

/// Whether contid starts `container`, found not running, when it starts: only one that ran
/// before, as Docker.
pub(super) fn starts_with_daemon(container: &Container) -> bool {
    let ContainerStatus::Exited {
        started: Some(_),
        exit_code,
        ..
    } = container.status
    else {
        return false;
    };
    let RestartState {
        count,
        manually_stopped,
    } = container.restarts;
    match container.config.restart_policy {
        RestartPolicy::No => false,
        RestartPolicy::Always => true,
        RestartPolicy::UnlessStopped => !manually_stopped,
        RestartPolicy::OnFailure { max_retries } => {
            !manually_stopped && exit_code != 0 && max_retries.is_none_or(|max| count < max)
        }
    }
}

impl Engine {
    /// A person stopped, killed or removes the container: its monitor is to restart it no more.
    /// Stored at once for a container whose policy restarts it (an `unless-stopped` one stays
    /// down after a reboot), and told to its monitor.
    pub(super) fn hold_restarts(&self, id: &str) -> EngineResult<()> {
        let mut table = self.table();
        let entry = table.entry_mut(id)?;
        if entry.container.restarts.manually_stopped {
            return Ok(());
        }
        let mut container = entry.container.clone();
        container.restarts.manually_stopped = true;
        if !container.config.restart_policy.is_no() {
            self.inner
                .store
                .save_with(&container, Durability::Durable)?;
            self.deliver_order(&container);
        }
        entry.container = container;
        Ok(())
    }

    /// Tells the monitor of a running container its order (with the table locked, so that
    /// orders are written one at a time). A monitor already gone needs none.
    pub(super) fn deliver_order(&self, container: &Container) {
        let Some((pid, start_time)) = container.status.monitor() else {
            return;
        };
        let delivered = ProcessHandle::open(pid, start_time).and_then(|monitor| match monitor {
            Some(monitor) => {
                order_for(container).deliver(&self.container_dir(&container.config.id), &monitor)
            }
            None => Ok(()),
        });
        if let Err(err) = delivered {
            tracing::warn!(container = %container.config.id, %err, "cannot tell the monitor its restart order");
        }
    }

    /// `POST /v1/containers/{ref}/restart`: a stop (with `timeout`, else the container's own),
    /// then a start, as a person's.
    pub async fn restart(&self, reference: &str, timeout: Option<Duration>) -> EngineResult<()> {
        self.timed("restart", async {
            self.stop_untimed(reference, timeout).await?;
            self.start_untimed(reference, StartCause::Request).await?;
            let id = self.table().resolve(reference)?;
            self.emit(EventType::Restart, &id, EventDetails::default());
            Ok(())
        })
        .await
    }

    /// At load, once every container is adopted: starts those the restart policy says (see
    /// [`starts_with_daemon`]). A start that fails is logged; the container stays exited.
    pub(super) fn start_by_policy(&self) {
        let due: Vec<String> = self
            .table()
            .entries
            .values()
            .filter(|entry| starts_with_daemon(&entry.container))
            .map(|entry| entry.container.config.id.clone())
            .collect();
        for id in due {
            let engine = self.clone();
            let span = tracing::info_span!("restart_policy", container = %id);
            tokio::spawn(
                async move {
                    tracing::info!("starting it again: contid started");
                    if let Err(err) = engine.start_untimed(&id, StartCause::Policy).await {
                        tracing::warn!(%err, "the restart policy's start failed");
                    }
                }
                .instrument(span),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ContainerConfig;

    fn exited(policy: RestartPolicy, exit_code: i32, restarts: RestartState) -> Container {
        let config: ContainerConfig = serde_json::from_value(serde_json::json!({
            "id": "c", "name": "c", "image": "i", "cmd": ["true"], "env": [], "cwd": "/",
            "hostname": "c", "network": "none", "auto_remove": false, "created": "t",
        }))
        .unwrap();
        Container {
            config: ContainerConfig {
                restart_policy: policy,
                ..config
            },
            status: ContainerStatus::Exited {
                started: Some("t".into()),
                finished: "t".into(),
                exit_code,
                error: None,
                oom_killed: false,
            },
            restarts,
        }
    }

    #[test]
    fn contid_starts_what_the_policy_says_as_docker() {
        let stopped = RestartState {
            count: 0,
            manually_stopped: true,
        };
        let crashed = RestartState::default();
        let on_failure = |max| RestartPolicy::OnFailure {
            max_retries: Some(max),
        };
        let cases = [
            (RestartPolicy::No, 255, crashed.clone(), false),
            (RestartPolicy::Always, 0, stopped.clone(), true),
            (RestartPolicy::UnlessStopped, 255, crashed.clone(), true),
            (RestartPolicy::UnlessStopped, 143, stopped.clone(), false),
            (on_failure(3), 255, crashed.clone(), true),
            (on_failure(3), 0, crashed.clone(), false),
            (on_failure(3), 1, stopped, false),
            (
                on_failure(3),
                1,
                RestartState {
                    count: 3,
                    manually_stopped: false,
                },
                false,
            ),
        ];
        for (policy, code, restarts, starts) in cases {
            let container = exited(policy, code, restarts.clone());
            assert_eq!(
                starts_with_daemon(&container),
                starts,
                "{policy} after {code}, {restarts:?}"
            );
        }
        let mut never_ran = exited(RestartPolicy::Always, 0, RestartState::default());
        never_ran.status = ContainerStatus::Created;
        assert!(!starts_with_daemon(&never_ran));
    }

    #[test]
    fn the_order_follows_the_policy_and_a_persons_stop() {
        let mut container = exited(RestartPolicy::UnlessStopped, 0, RestartState::default());
        assert_eq!(
            order_for(&container),
            RestartOrder {
                rule: RestartRule::Always,
                held: false
            }
        );
        container.restarts.manually_stopped = true;
        assert!(order_for(&container).held);
        let spec = ContainerSpec {
            auto_remove: true,
            restart_policy: RestartPolicy::Always,
            ..ContainerSpec::default()
        };
        assert!(matches!(validate(&spec), Err(EngineError::InvalidSpec(_))));
    }
}
