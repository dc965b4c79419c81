//! Prunes of containers and networks: what `POST /v1/containers/prune`, `POST
//! /v1/networks/prune` and Docker's `/containers/prune`, `/networks/prune` delete. Only what is
//! not in use goes: a running container is kept, and so is a network any container is on.

use std::collections::BTreeMap;
use std::time::SystemTime;

use conti_proto::{ContainerPruneReport, ContainerState, NetworkPruneReport};

use super::labels::{LabelFilter, matches_all};
use super::time_window::parse_time;
use super::volume_store::tree_bytes;
use super::{Engine, EngineError, EngineResult, blocking};

/// Which of the unused objects a prune takes (Docker's `until` and `label` prune filters); the
/// default takes them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// Only those created before this time.
    pub until: Option<SystemTime>,
    /// Only those with every one of these labels.
    pub labels: Vec<LabelFilter>,
}

impl PruneFilter {
    /// `until` as callers write a time (RFC 3339, Unix seconds, or a duration ago such as
    /// `24h`), and `label` filters.
    pub fn parse(until: Option<&str>, labels: Vec<LabelFilter>) -> EngineResult<PruneFilter> {
        let until = until
            .map(|text| {
                parse_time(text, SystemTime::now()).map_err(|why| {
                    EngineError::InvalidArgument(format!("invalid until {text:?}: {why}"))
                })
            })
            .transpose()?;
        Ok(PruneFilter { until, labels })
    }

    fn passes(&self, created: &str, labels: &BTreeMap<String, String>) -> bool {
        let old_enough = self.until.is_none_or(|until| {
            humantime::parse_rfc3339_weak(created).is_ok_and(|created| created < until)
        });
        old_enough && matches_all(&self.labels, labels)
    }
}

/// Created or exited: nothing of it runs (a running, restarting or paused one is in use).
pub(super) fn is_stopped(state: ContainerState) -> bool {
    matches!(state, ContainerState::Created | ContainerState::Exited)
}

impl Engine {
    /// Deletes every container that does not run (and passes `filter`): their ids, and the
    /// bytes of their writable layers.
    pub async fn prune_containers(
        &self,
        filter: &PruneFilter,
    ) -> EngineResult<ContainerPruneReport> {
        let mut report = ContainerPruneReport::default();
        let stopped = self
            .list(true)
            .into_iter()
            .filter(|c| is_stopped(c.state) && filter.passes(&c.created, &c.labels));
        for container in stopped {
            let upper = self.container_dir(&container.id).join("upper");
            let bytes = blocking(move || Ok(tree_bytes(&upper))).await?;
            match self.delete(&container.id, false, false).await {
                Ok(()) => {
                    report.deleted.push(container.id);
                    report.space_reclaimed += bytes;
                }
                // Started or deleted meanwhile, or its network namespace is another running
                // container's: in use, so kept.
                Err(
                    EngineError::ContainerRunning(_)
                    | EngineError::ContainerNotFound(_)
                    | EngineError::NetworkInUse(_),
                ) => {}
                Err(err) => return Err(err),
            }
        }
        tracing::info!(containers = report.deleted.len(), "containers pruned");
        Ok(report)
    }

    /// Deletes every user network no container, in any state, is on (and passes `filter`):
    /// their names.
    pub async fn prune_networks(&self, filter: &PruneFilter) -> EngineResult<NetworkPruneReport> {
        let mut report = NetworkPruneReport::default();
        let unused = self.list_networks().into_iter().filter(|n| {
            !n.default && n.containers.is_empty() && filter.passes(&n.created, &n.labels)
        });
        for network in unused {
            match self.delete_network(&network.name).await {
                Ok(()) => report.deleted.push(network.name),
                // Taken by a container meanwhile: kept, as it should be.
                Err(EngineError::NetworkInUse(_) | EngineError::NetworkNotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        report.deleted.sort();
        tracing::info!(networks = report.deleted.len(), "networks pruned");
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn until_takes_what_was_created_before_and_labels_must_all_hold() {
        let labels: BTreeMap<String, String> = [("tier".to_string(), "cache".to_string())].into();
        let created = "2026-05-01T12:00:00Z";
        let at = humantime::parse_rfc3339("2026-05-01T12:00:00Z").unwrap();
        assert!(PruneFilter::default().passes(created, &labels));
        let until = |time| PruneFilter {
            until: Some(time),
            ..Default::default()
        };
        assert!(until(at + Duration::from_secs(1)).passes(created, &labels));
        assert!(!until(at).passes(created, &labels));
        assert!(!until(at + Duration::from_secs(1)).passes("not a time", &labels));
        let with = |texts: &[&str]| PruneFilter {
            labels: texts.iter().map(|t| LabelFilter::parse(t)).collect(),
            ..Default::default()
        };
        assert!(with(&["tier", "tier=cache"]).passes(created, &labels));
        assert!(!with(&["tier=cache", "owner"]).passes(created, &labels));
    }
}
