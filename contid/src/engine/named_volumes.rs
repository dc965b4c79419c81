//! Named volumes as objects: created (explicitly, or by the create of a container that names
//! one there is not), listed and inspected with the containers that use them, deleted when no
//! container refers to one, pruned when none does.
//!
//! A volume is in use while any container, whatever its state, names it in its `volumes`, and
//! while a create that names it is under way (`Table::reserved_volumes`). Locks: the container
//! table, then the volumes, never the other way round.

use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;

use conti_proto::{VolumeCreateSpec, VolumeInfo, VolumePruneReport, VolumeUser};

use super::labels::{LabelFilter, matches_all, validate_labels};
use super::spec::validate_volume_name;
use super::store::purge;
use super::volume_store::{Volume, tree_bytes};
use super::volumes::named_sources;
use super::{Engine, EngineError, EngineResult, Table, blocking, now_rfc3339};

/// The volumes by name.
pub(super) type VolumeTable = BTreeMap<String, Volume>;

impl Engine {
    fn volumes(&self) -> MutexGuard<'_, VolumeTable> {
        self.inner
            .volumes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a volume, or answers the one of that name when it has the same labels (or none
    /// are asked for), as Docker does; 409 `volume_exists` when its labels differ. The volume,
    /// and whether it is new.
    pub async fn create_volume(&self, spec: VolumeCreateSpec) -> EngineResult<(VolumeInfo, bool)> {
        let name = spec.name.unwrap_or_else(generated_name);
        validate_volume_name(&name)?;
        validate_labels(&spec.labels)?;
        let engine = self.clone();
        let (volume, created) = blocking(move || {
            let mut volumes = engine.volumes();
            if let Some(existing) = volumes.get(&name) {
                if spec.labels.is_empty() || spec.labels == existing.labels {
                    return Ok((existing.clone(), false));
                }
                return Err(EngineError::VolumeExists(format!(
                    "volume {name:?} already exists with other labels"
                )));
            }
            let volume = Volume {
                name: name.clone(),
                created: now_rfc3339(),
                labels: spec.labels,
                anonymous: false,
            };
            engine.inner.volume_store.create(&volume)?;
            volumes.insert(name, volume.clone());
            Ok((volume, true))
        })
        .await?;
        if created {
            tracing::info!(volume = %volume.name, "volume created");
        }
        let table = self.table();
        Ok((self.volume_info(&volume, &volume_users(&table)), created))
    }

    /// The volumes with every label of `labels`, by name.
    pub fn list_volumes(&self, labels: &[LabelFilter]) -> Vec<VolumeInfo> {
        let table = self.table();
        let users = volume_users(&table);
        self.volumes()
            .values()
            .filter(|volume| matches_all(labels, &volume.labels))
            .map(|volume| self.volume_info(volume, &users))
            .collect()
    }

    pub fn inspect_volume(&self, name: &str) -> EngineResult<VolumeInfo> {
        let table = self.table();
        let users = volume_users(&table);
        let volumes = self.volumes();
        let volume = volumes
            .get(name)
            .ok_or_else(|| EngineError::VolumeNotFound(name.to_string()))?;
        Ok(self.volume_info(volume, &users))
    }

    /// Deletes a volume no container refers to, with its files; 409 `volume_in_use` otherwise.
    pub async fn delete_volume(&self, name: &str) -> EngineResult<()> {
        let (engine, name) = (self.clone(), name.to_string());
        let trashed = blocking(move || {
            let table = engine.table();
            let mut volumes = engine.volumes();
            if !volumes.contains_key(&name) {
                return Err(EngineError::VolumeNotFound(name));
            }
            if let Some(user) = volume_users(&table)
                .get(name.as_str())
                .and_then(|u| u.first())
            {
                return Err(EngineError::VolumeInUse(format!(
                    "volume {name:?} is used by container {}",
                    user.name
                )));
            }
            if table.reserved_volumes.contains(&name) {
                return Err(EngineError::VolumeInUse(format!(
                    "volume {name:?} is named by a container create under way"
                )));
            }
            // The volumes stay locked until the files are out, so that a create of the same name
            // waits and then makes a new one.
            drop(table);
            let trashed = engine.inner.volume_store.remove(&name)?;
            volumes.remove(&name);
            tracing::info!(volume = %name, "volume removed");
            Ok(trashed)
        })
        .await?;
        if let Some(trashed) = trashed {
            tokio::task::spawn_blocking(move || purge(&trashed));
        }
        Ok(())
    }

    /// Deletes every volume with the labels of `labels` that no container refers to: their
    /// names, and the bytes of the files deleted with them.
    pub async fn prune_volumes(&self, labels: &[LabelFilter]) -> EngineResult<VolumePruneReport> {
        let (engine, labels) = (self.clone(), labels.to_vec());
        blocking(move || {
            let table = engine.table();
            let mut volumes = engine.volumes();
            let users = volume_users(&table);
            let unused: Vec<String> = volumes
                .values()
                .filter(|volume| matches_all(&labels, &volume.labels))
                .map(|volume| volume.name.clone())
                .filter(|name| {
                    !users.contains_key(name.as_str()) && !table.reserved_volumes.contains(name)
                })
                .collect();
            drop(table);
            let mut report = VolumePruneReport::default();
            let mut trash = Vec::new();
            for name in unused {
                trash.extend(engine.inner.volume_store.remove(&name)?);
                volumes.remove(&name);
                report.deleted.push(name);
            }
            drop(volumes);
            for trashed in trash {
                report.space_reclaimed += tree_bytes(&trashed);
                purge(&trashed);
            }
            tracing::info!(volumes = report.deleted.len(), "volumes pruned");
            Ok(report)
        })
        .await
    }

    /// Creates the named volumes of a container's create that do not exist, those of
    /// `anonymous` marked so (blocking).
    pub(super) fn ensure_volumes(
        &self,
        names: &[String],
        anonymous: &[String],
    ) -> EngineResult<()> {
        let mut volumes = self.volumes();
        for name in names {
            if volumes.contains_key(name) {
                continue;
            }
            let volume = Volume {
                name: name.clone(),
                created: now_rfc3339(),
                labels: BTreeMap::new(),
                anonymous: anonymous.contains(name),
            };
            self.inner.volume_store.create(&volume)?;
            tracing::info!(volume = %name, "volume created for a container");
            volumes.insert(name.clone(), volume);
        }
        Ok(())
    }

    /// Deletes the anonymous volumes among `names` (a deleted container's) that no container
    /// refers to any more, as Docker's `rm -v` does; named ones stay. A volume that cannot go is
    /// a warning: the container is gone already.
    pub(super) async fn remove_anonymous_volumes(&self, names: Vec<String>) {
        let engine = self.clone();
        let trash = blocking(move || {
            let table = engine.table();
            let mut volumes = engine.volumes();
            let users = volume_users(&table);
            let mut trash = Vec::new();
            for name in names {
                let unused =
                    !users.contains_key(name.as_str()) && !table.reserved_volumes.contains(&name);
                if !unused || !volumes.get(&name).is_some_and(|v| v.anonymous) {
                    continue;
                }
                match engine.inner.volume_store.remove(&name) {
                    Ok(trashed) => {
                        volumes.remove(&name);
                        tracing::info!(volume = %name, "anonymous volume removed");
                        trash.extend(trashed);
                    }
                    Err(err) => tracing::warn!(volume = %name, %err, "cannot remove a volume"),
                }
            }
            Ok(trash)
        })
        .await
        .unwrap_or_default();
        if !trash.is_empty() {
            tokio::task::spawn_blocking(move || trash.iter().for_each(|t| purge(t)));
        }
    }

    fn volume_info(&self, volume: &Volume, users: &HashMap<&str, Vec<VolumeUser>>) -> VolumeInfo {
        VolumeInfo {
            name: volume.name.clone(),
            created: volume.created.clone(),
            labels: volume.labels.clone(),
            mountpoint: self
                .inner
                .volume_store
                .mountpoint(&volume.name)
                .display()
                .to_string(),
            in_use_by: users.get(volume.name.as_str()).cloned().unwrap_or_default(),
            anonymous: volume.anonymous,
        }
    }
}

/// A volume name no one chose: 64 hex digits, as Docker's.
pub(super) fn generated_name() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The containers that name each volume, by name.
fn volume_users(table: &Table) -> HashMap<&str, Vec<VolumeUser>> {
    let mut users: HashMap<&str, Vec<VolumeUser>> = HashMap::new();
    let mut configs: Vec<_> = table
        .entries
        .values()
        .map(|e| &e.container.config)
        .collect();
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    for config in configs {
        for name in named_sources(&config.volumes) {
            let list = users.entry(name).or_default();
            if !list.iter().any(|user| user.id == config.id) {
                list.push(VolumeUser {
                    id: config.id.clone(),
                    name: config.name.clone(),
                });
            }
        }
    }
    users
}
