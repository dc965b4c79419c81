//! Containers on disk: `<root>/containers/<id>/container.json` holds what the container was
//! created with and where it is in its life, replaced atomically at every change the daemon
//! makes, so that a restarted daemon finds exactly what it had. How a container ended is the
//! monitor's to record (`exit.json`); the daemon folds it in when it (re)loads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};

use super::container::{Container, ContainerConfig, ContainerStatus};
use super::error::{EngineError, EngineResult};
use super::restarts::RestartState;

const CONTAINER_FILE: &str = "container.json";
/// Where the folders of deleted containers and volumes wait to be deleted (emptied by
/// [`ContainerStore::open`]).
pub(super) const TRASH_DIR: &str = "trash";

#[derive(Serialize, Deserialize)]
struct StoredContainer {
    config: ContainerConfig,
    status: ContainerStatus,
    /// Absent in files written before restart policies existed.
    #[serde(default)]
    restarts: RestartState,
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
            EngineError::io("store container", &e)
        })
    }

    /// Replaces the container's file: without waiting for the disk while it starts or runs (pids
    /// of running processes, or a start under way, mean nothing after a reboot: the container is
    /// then gone and counts as vanished, exit code 255), so that a start does not wait for it.
    pub fn save(&self, container: &Container) -> EngineResult<()> {
        let durability = match container.status {
            ContainerStatus::Starting
            | ContainerStatus::Running { .. }
            | ContainerStatus::Restarting { .. } => Durability::UntilReboot,
            _ => Durability::Durable,
        };
        self.save_with(container, durability)
    }

    pub fn save_with(&self, container: &Container, durability: Durability) -> EngineResult<()> {
        self.write(container, durability)
            .map_err(|e| EngineError::io("store container state", &e))
    }

    fn write(&self, container: &Container, durability: Durability) -> std::io::Result<()> {
        let stored = StoredContainer {
            config: container.config.clone(),
            status: container.status.clone(),
            restarts: container.restarts.clone(),
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

    /// Every container on disk, and the folders whose file cannot be read. A create writes its
    /// file atomically (a temporary file renamed into place) before anything else goes into the
    /// folder, so a folder with no file and nothing but that temporary one is a create cut short
    /// by a crash: it never became a container and is removed. Any other folder without a
    /// readable file (missing, empty, truncated, not ours) had a container, which may still run:
    /// it is left where it is, for [`Unreadable`] to report.
    pub fn load_all(&self) -> EngineResult<(Vec<Container>, Vec<Unreadable>)> {
        let mut containers = Vec::new();
        let mut unreadable = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| EngineError::internal("read containers folder", e))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            match load_one(&dir) {
                Ok(container) => containers.push(container),
                Err(err) if is_cut_short_create(&dir) => {
                    tracing::warn!(dir = %dir.display(), %err, "removing the folder of a create cut short");
                    let _ = std::fs::remove_dir_all(&dir);
                }
                Err(err) => unreadable.push(Unreadable {
                    id: entry.file_name().to_string_lossy().into_owned(),
                    dir,
                    reason: format!("{CONTAINER_FILE}: {err}"),
                }),
            }
        }
        containers.sort_by(|a, b| a.config.created.cmp(&b.config.created));
        Ok((containers, unreadable))
    }
}

/// A container folder whose `container.json` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The folder's name (the container's id).
    pub id: String,
    pub dir: PathBuf,
    pub reason: String,
}

/// No `container.json`, and nothing but the temporary file of its atomic write.
fn is_cut_short_create(dir: &Path) -> bool {
    let temporary = format!(".{CONTAINER_FILE}.tmp");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .map(|entry| entry.map(|entry| entry.file_name()))
        .all(|name| name.is_ok_and(|name| name.to_str() == Some(temporary.as_str())))
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
        restarts: stored.restarts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::test_config;

    #[test]
    fn containers_survive_a_reload_and_creates_cut_short_are_dropped() {
        let root = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(root.path()).unwrap();
        let config = ContainerConfig {
            id: "abc".into(),
            name: "web".into(),
            image: "busybox".into(),
            hostname: "abc".into(),
            created: "2026-01-01T00:00:00Z".into(),
            labels: [("tier".to_string(), "web".to_string())].into(),
            network_aliases: vec!["www".into()],
            ..test_config()
        };
        let mut container = Container {
            config,
            status: ContainerStatus::Created,
            restarts: RestartState::default(),
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
        // Creates cut short: an empty folder, one with only the temporary file.
        std::fs::create_dir(store.container_dir("half")).unwrap();
        std::fs::create_dir(store.container_dir("halfway")).unwrap();
        std::fs::write(
            store.container_dir("halfway").join(".container.json.tmp"),
            "{\"con",
        )
        .unwrap();

        let (loaded, unreadable) = store.load_all().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].status.exit_code(), Some(3));
        assert_eq!(loaded[0].config.labels["tier"], "web");
        assert_eq!(loaded[0].config.network_aliases, ["www"]);
        assert_eq!(unreadable, Vec::new());
        assert!(!store.container_dir("half").exists());
        assert!(!store.container_dir("halfway").exists());

        // A removal takes the folder out at once; its files go when purged, or when the next
        // store opens.
        let doomed = store.remove("abc").unwrap().expect("moved to the trash");
        assert!(!store.container_dir("abc").exists());
        assert!(doomed.join(CONTAINER_FILE).exists());
        assert!(store.load_all().unwrap().0.is_empty());
        assert_eq!(store.remove("abc").unwrap(), None, "already gone");
        ContainerStore::open(root.path()).unwrap();
        assert!(!doomed.exists());
        store.create(&container).unwrap();
        let doomed = store.remove("abc").unwrap().unwrap();
        purge(&doomed);
        assert!(!doomed.exists());
    }

    #[test]
    fn a_folder_whose_file_is_damaged_is_kept_and_reported() {
        let root = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(root.path()).unwrap();
        let cases = [
            ("empty", Some(""), "EOF"),
            ("truncated", Some("{\"config\": {\"id\": \"trunc"), "EOF"),
            ("missing", None, "No such file"),
        ];
        for (id, contents, _) in cases {
            let dir = store.container_dir(id);
            std::fs::create_dir_all(dir.join("upper")).unwrap();
            if let Some(contents) = contents {
                std::fs::write(dir.join(CONTAINER_FILE), contents).unwrap();
            }
        }
        let (loaded, mut unreadable) = store.load_all().unwrap();
        assert!(loaded.is_empty());
        unreadable.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(unreadable.len(), 3);
        for (id, _, why) in cases {
            let found = unreadable.iter().find(|u| u.id == id).unwrap();
            assert!(found.reason.contains(why), "{id}: {}", found.reason);
            assert_eq!(found.dir, store.container_dir(id));
            assert!(found.dir.join("upper").exists(), "{id} was touched");
        }
    }
}
