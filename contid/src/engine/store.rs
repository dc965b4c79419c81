//! Containers on disk: `<root>/containers/<id>/container.json` holds what the container was
//! created with and where it is in its life, replaced atomically at every change the daemon
//! makes, so that a restarted daemon finds exactly what it had. How a container ended is the
//! monitor's to record (`exit.json`); the daemon folds it in when it (re)loads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::atomic_file::{Durability, write_json_atomic};

use super::container::{Container, ContainerConfig, ContainerStatus};
use super::error::{EngineError, EngineResult};

const CONTAINER_FILE: &str = "container.json";
const TRASH_DIR: &str = "trash";

#[derive(Serialize, Deserialize)]
struct StoredContainer {
    config: ContainerConfig,
    status: ContainerStatus,
}

#[derive(Debug, Clone)]
pub struct ContainerStore {
    dir: PathBuf,
    /// Folders of deleted containers, waiting for [`purge`]: same filesystem as `dir`.
    trash: PathBuf,
}

impl ContainerStore {
    /// Opens `<root>/containers`, and empties `<root>/trash` of what a previous daemon had no
    /// time to delete.
    pub fn open(root: &Path) -> EngineResult<ContainerStore> {
        let dir = root.join("containers");
        let trash = root.join(TRASH_DIR);
        for folder in [&dir, &trash] {
            std::fs::create_dir_all(folder)
                .map_err(|e| EngineError::internal(&format!("create {}", folder.display()), e))?;
        }
        if let Ok(entries) = std::fs::read_dir(&trash) {
            for entry in entries.flatten() {
                purge(&entry.path());
            }
        }
        Ok(ContainerStore { dir, trash })
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Creates the container's folder and its file; on failure nothing is left.
    pub fn create(&self, container: &Container) -> EngineResult<()> {
        let dir = self.container_dir(&container.config.id);
        let result =
            std::fs::create_dir(&dir).and_then(|_| self.write(container, Durability::Durable));
        result.map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            EngineError::internal("store container", e)
        })
    }

    /// Replaces the container's file: without waiting for the disk while it starts or runs (pids
    /// of running processes, or a start under way, mean nothing after a reboot: the container is
    /// then gone and counts as vanished, exit code 255), so that a start does not wait for it.
    pub fn save(&self, container: &Container) -> EngineResult<()> {
        let durability = match container.status {
            ContainerStatus::Starting | ContainerStatus::Running { .. } => Durability::UntilReboot,
            _ => Durability::Durable,
        };
        self.save_with(container, durability)
    }

    pub fn save_with(&self, container: &Container, durability: Durability) -> EngineResult<()> {
        self.write(container, durability)
            .map_err(|e| EngineError::internal("store container state", e))
    }

    fn write(&self, container: &Container, durability: Durability) -> std::io::Result<()> {
        let stored = StoredContainer {
            config: container.config.clone(),
            status: container.status.clone(),
        };
        write_json_atomic(
            &self
                .container_dir(&container.config.id)
                .join(CONTAINER_FILE),
            &stored,
            durability,
        )
    }

    /// Takes the container's folder out of the store in one rename, into the trash; the caller
    /// [`purge`]s what it returns when it has time. Deleting a dozen files and folders one by
    /// one costs a journal operation each, which on a busy disk took a delete milliseconds.
    pub fn remove(&self, id: &str) -> EngineResult<Option<PathBuf>> {
        let doomed = self.trash.join(id);
        let dir = self.container_dir(id);
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => Ok(Some(doomed)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            // A leftover of the same name in the trash: delete it in place instead.
            Err(_) => match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(EngineError::internal("remove container folder", e))
                }
                _ => Ok(None),
            },
        }
    }

    /// Every container on disk. A folder without a readable file (a create cut short by a
    /// crash) is removed: it never became a container.
    pub fn load_all(&self) -> EngineResult<Vec<Container>> {
        let mut containers = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| EngineError::internal("read containers folder", e))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            match load_one(&dir) {
                Ok(container) => containers.push(container),
                Err(err) => {
                    tracing::warn!(dir = %dir.display(), %err, "removing an incomplete container folder");
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
        containers.sort_by(|a, b| a.config.created.cmp(&b.config.created));
        Ok(containers)
    }
}

/// Deletes a folder taken out by [`ContainerStore::remove`]; what cannot be deleted now is
/// tried again by the next daemon's [`ContainerStore::open`].
pub fn purge(doomed: &Path) {
    if let Err(err) = std::fs::remove_dir_all(doomed)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %doomed.display(), %err, "cannot delete a removed container's folder");
    }
}

fn load_one(dir: &Path) -> std::io::Result<Container> {
    let stored: StoredContainer =
        serde_json::from_slice(&std::fs::read(dir.join(CONTAINER_FILE))?)?;
    Ok(Container {
        config: stored.config,
        status: stored.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conti_proto::NetworkMode;

    #[test]
    fn containers_survive_a_reload_and_broken_folders_are_dropped() {
        let root = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(root.path()).unwrap();
        let config = ContainerConfig {
            id: "abc".into(),
            name: "web".into(),
            image: "busybox".into(),
            cmd: vec!["true".into()],
            env: vec![],
            cwd: "/".into(),
            hostname: "abc".into(),
            network: NetworkMode::None,
            auto_remove: false,
            created: "2026-01-01T00:00:00Z".into(),
            init: false,
            tty: false,
            open_stdin: false,
            resources: Default::default(),
            endpoint: None,
            ports: vec![],
            security: Default::default(),
            user: None,
            volumes: Vec::new(),
        };
        let mut container = Container {
            config,
            status: ContainerStatus::Created,
        };
        store.create(&container).unwrap();
        container.status = ContainerStatus::Exited {
            started: None,
            finished: "t".into(),
            exit_code: 3,
            error: None,
            oom_killed: false,
        };
        store.save(&container).unwrap();
        std::fs::create_dir(store.container_dir("half")).unwrap();

        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].status.exit_code(), Some(3));
        assert!(!store.container_dir("half").exists());

        // A removal takes the folder out at once; its files go when purged, or when the next
        // store opens.
        let doomed = store.remove("abc").unwrap().expect("moved to the trash");
        assert!(!store.container_dir("abc").exists());
        assert!(doomed.join(CONTAINER_FILE).exists());
        assert!(store.load_all().unwrap().is_empty());
        assert_eq!(store.remove("abc").unwrap(), None, "already gone");
        ContainerStore::open(root.path()).unwrap();
        assert!(!doomed.exists());
        store.create(&container).unwrap();
        let doomed = store.remove("abc").unwrap().unwrap();
        purge(&doomed);
        assert!(!doomed.exists());
    }
}
