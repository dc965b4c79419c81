//! Live changes to a running or stopped container's limits.

use tracing::Instrument;

use crate::runtime::cgroup::CgroupError;

use conti_proto::ContainerInfo;

use super::{Engine, EngineError, EngineResult, blocking, resources};

impl Engine {
    /// Changes a container's limits: the update is merged into what it has and checked whole,
    /// written into the cgroup when it runs (put back as they were when the kernel refuses one),
    /// and stored, so that the next start applies it too.
    pub async fn update(
        &self,
        reference: &str,
        update: conti_proto::Resources,
    ) -> EngineResult<ContainerInfo> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let _guard = lifecycle
            .lock()
            .instrument(tracing::info_span!("update", container = %id))
            .await;
        let (mut container, running) = {
            let table = self.table();
            let entry = table.entry(&id)?;
            (entry.container.clone(), entry.container.status.is_running())
        };
        let previous = container.config.resources.clone();
        let merged = previous.merged(&update);
        resources::validate(&merged, &self.inner.host)?;
        if running {
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
        container.config.resources = merged;
        let mut table = self.table();
        let entry = table.entry_mut(&id)?;
        // The status may have moved on (an exit) while we wrote: keep it, change the config.
        container.status = entry.container.status.clone();
        self.inner.store.save(&container)?;
        entry.container = container;
        tracing::info!("limits updated");
        Ok(entry.container.info())
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
