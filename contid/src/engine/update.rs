//! Live changes to a container, running or stopped: its limits and its restart policy.

use tracing::Instrument;

use crate::runtime::cgroup::CgroupError;

use conti_proto::{ContainerInfo, ContainerUpdate};

use super::{Engine, EngineError, EngineResult, blocking, resources};

impl Engine {
    /// Changes a container's limits and restart policy. Limits are merged into what it has and
    /// checked whole, written into the cgroup when it runs (put back as they were when the
    /// kernel refuses one); a new policy is told to its monitor, which follows it from the
    /// next exit on. Both are stored, so that the next start applies them too.
    pub async fn update(
        &self,
        reference: &str,
        update: ContainerUpdate,
    ) -> EngineResult<ContainerInfo> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let _guard = lifecycle
            .lock()
            .instrument(tracing::info_span!("update", container = %id))
            .await;
        let (mut config, running) = {
            let table = self.table();
            let entry = table.entry(&id)?;
            (
                entry.container.config.clone(),
                entry.container.status.is_running(),
            )
        };
        if let Some(policy) = update.restart_policy
            && config.auto_remove
            && !policy.is_no()
        {
            return Err(EngineError::InvalidSpec(format!(
                "restart_policy {policy}: the container is removed when it exits (auto_remove)"
            )));
        }
        let previous = config.resources.clone();
        let merged = previous.merged(&update.resources);
        resources::validate(&merged, &self.inner.host)?;
        if running && merged != previous {
            let cgroups = self.inner.cgroups.clone();
            let cgroup_id = id.clone();
            let (new, old) = (
                resources::to_cgroup_limits(&merged),
                resources::to_cgroup_limits(&previous),
            );
            blocking(move || {
                cgroups.apply(&cgroup_id, &new).map_err(|err| {
                    if let Err(undo) = cgroups.apply(&cgroup_id, &old) {
                        tracing::warn!(%undo, "cannot put the previous limits back");
                    }
                    limit_error(err)
                })
            })
            .await?;
        }
        config.resources = merged;
        let new_policy = update
            .restart_policy
            .filter(|policy| *policy != config.restart_policy);
        if let Some(policy) = new_policy {
            config.restart_policy = policy;
        }
        let mut table = self.table();
        let entry = table.entry_mut(&id)?;
        // The status may have moved on (an exit, a restart) while we wrote: keep it.
        let mut container = entry.container.clone();
        container.config = config;
        self.inner.store.save(&container)?;
        if new_policy.is_some() {
            self.deliver_order(&container);
        }
        entry.container = container;
        tracing::info!("updated");
        Ok(entry.info())
    }
}

/// A cgroup error while changing limits, in the caller's terms.
fn limit_error(err: CgroupError) -> EngineError {
    match err {
        CgroupError::Unsupported { .. } => EngineError::UnsupportedLimit(err.to_string()),
        CgroupError::Rejected { .. } => EngineError::LimitRejected(err.to_string()),
        other => EngineError::internal("write the container's limits", other),
    }
}
