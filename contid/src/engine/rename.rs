//! `rename`: a container's new name, in its record, the table and its network's resolver.

use conti_proto::EventType;

use super::spec::validate_container_name;
use super::{Engine, EngineError, EngineResult, EventDetails};

impl Engine {
    /// Gives the container `name`; 409 when another container has it. Its network's resolver
    /// answers the new name at once and the old one no more.
    pub async fn rename(&self, reference: &str, name: &str) -> EngineResult<()> {
        validate_container_name(name)?;
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let _guard = lifecycle.lock().await;
        let old = {
            let mut table = self.table();
            let entry = table.entry(&id)?;
            let old = entry.container.config.name.clone();
            if old == name {
                return Ok(());
            }
            if table.name_taken(name) {
                return Err(EngineError::NameInUse(name.to_string()));
            }
            let entry = table.entry_mut(&id)?;
            let mut renamed = entry.container.clone();
            renamed.config.name = name.to_string();
            self.inner.store.save(&renamed)?;
            entry.container = renamed;
            if let Some(endpoint) = &entry.container.config.endpoint {
                self.unname(endpoint);
            }
            self.name_on_network(&entry.container.config);
            old
        };
        self.emit(
            EventType::Rename,
            &id,
            EventDetails {
                old_name: Some(old),
                ..Default::default()
            },
        );
        Ok(())
    }
}
