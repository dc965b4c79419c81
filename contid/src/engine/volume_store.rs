//! Named volumes on disk. A volume's files are in `<root>/volumes/<name>/`, the folder its
//! containers mount (where volumes have always been); its record (name, creation time, labels)
//! is `<root>/volume-records/<name>.json`, written atomically once the folder is there. A
//! deleted volume's folder is renamed into `<root>/trash/` in one step, then its record goes.
//!
//! So at open a folder without a record is a volume made before volumes had records (or a create
//! cut short): it is adopted, without labels; a record without a folder is a delete cut short:
//! it is dropped.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};

use super::error::{EngineError, EngineResult};
use super::spec::validate_volume_name;
use super::store::TRASH_DIR;
use super::volumes::{named_volume_dir, volumes_dir};

const RECORDS_DIR: &str = "volume-records";

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// RFC 3339.
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Made by a container's create for a volume without a name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: PathBuf,
    records: PathBuf,
    /// Folders of deleted volumes go here (the containers' trash, emptied at every start).
    trash: PathBuf,
}

impl VolumeStore {
    pub fn open(root: &Path) -> EngineResult<VolumeStore> {
        let store = VolumeStore {
            root: root.to_path_buf(),
            records: root.join(RECORDS_DIR),
            trash: root.join(TRASH_DIR),
        };
        for folder in [&store.records, &store.data_dir(), &store.trash] {
            std::fs::create_dir_all(folder)
                .map_err(|e| EngineError::internal(&format!("create {}", folder.display()), e))?;
        }
        Ok(store)
    }

    fn data_dir(&self) -> PathBuf {
        volumes_dir(&self.root)
    }

    /// The folder that holds the volume's files.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        named_volume_dir(&self.root, name)
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.records.join(format!("{name}.json"))
    }

    /// Makes the volume's folder (kept when it is there) and then its record.
    pub fn create(&self, volume: &Volume) -> EngineResult<()> {
        let folder = self.mountpoint(&volume.name);
        std::fs::create_dir_all(&folder)
            .map_err(|e| EngineError::io(&format!("create {}", folder.display()), &e))?;
        self.save(volume)
    }

    fn save(&self, volume: &Volume) -> EngineResult<()> {
        write_json_atomic(&self.record_path(&volume.name), volume, Durability::Durable)
            .map_err(|e| EngineError::io(&format!("store volume {}", volume.name), &e))
    }

    /// Takes the volume's folder out in one rename, then its record; returns where the folder
    /// went, for [`super::store::purge`] (`None`: it was not there any more).
    pub fn remove(&self, name: &str) -> EngineResult<Option<PathBuf>> {
        let folder = self.mountpoint(name);
        let doomed = self
            .trash
            .join(format!("volume-{}", uuid::Uuid::new_v4().simple()));
        let trashed = match std::fs::rename(&folder, &doomed) {
            Ok(()) => Some(doomed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(EngineError::internal(&format!("remove volume {name}"), e)),
        };
        match std::fs::remove_file(self.record_path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(EngineError::internal(
                &format!("remove the record of volume {name}"),
                e,
            )),
            _ => Ok(trashed),
        }
    }

    /// Every volume: the records whose folder is there, and the folders found without one
    /// (given a record now).
    pub fn load_all(&self) -> EngineResult<Vec<Volume>> {
        let mut volumes = Vec::new();
        let mut recorded = HashSet::new();
        for path in read_folder(&self.records)? {
            if path.extension().is_none_or(|ext| ext != "json") {
                continue; // `.name.json.tmp` of an interrupted write
            }
            let volume = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_slice::<Volume>(&text).map_err(|e| e.to_string())
                });
            match volume {
                Ok(volume) if self.mountpoint(&volume.name).is_dir() => {
                    recorded.insert(volume.name.clone());
                    volumes.push(volume);
                }
                Ok(volume) => {
                    tracing::warn!(volume = %volume.name, "dropping the record of a volume whose folder is gone");
                    let _ = std::fs::remove_file(&path);
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "skipping an unreadable volume record")
                }
            }
        }
        for folder in read_folder(&self.data_dir())? {
            let Some(name) = folder.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if recorded.contains(name) || !folder.is_dir() {
                continue;
            }
            if validate_volume_name(name).is_err() {
                tracing::warn!(folder = %folder.display(), "skipping a folder that cannot be a volume's name");
                continue;
            }
            let volume = Volume {
                name: name.to_string(),
                created: made_at(&folder),
                labels: BTreeMap::new(),
                anonymous: false,
            };
            self.save(&volume)?;
            tracing::info!(
                volume = name,
                "adopted a volume made before volumes had records"
            );
            volumes.push(volume);
        }
        Ok(volumes)
    }
}

fn read_folder(folder: &Path) -> EngineResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| EngineError::internal(&format!("read {}", folder.display()), e))?;
    Ok(entries.flatten().map(|entry| entry.path()).collect())
}

/// When a folder was made (its birth time where the filesystem keeps one, else its last change).
fn made_at(folder: &Path) -> String {
    let time = std::fs::metadata(folder)
        .and_then(|m| m.created().or_else(|_| m.modified()))
        .unwrap_or_else(|_| SystemTime::now());
    humantime::format_rfc3339_nanos(time).to_string()
}

/// Bytes of the files below `folder` (each file once, however many links it has), without
/// following symlinks.
pub fn tree_bytes(folder: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut pending = vec![folder.to_path_buf()];
    let mut total = 0;
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|entry| entry.path()));
            }
        } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str) -> Volume {
        Volume {
            name: name.into(),
            created: "2026-01-01T00:00:00Z".into(),
            labels: [("k".to_string(), "v".to_string())].into(),
            anonymous: false,
        }
    }

    #[test]
    fn records_survive_and_folders_without_one_are_adopted() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        store.create(&volume("kept")).unwrap();
        std::fs::write(store.mountpoint("kept").join("f"), "data").unwrap();
        // A volume of before records, and a folder no volume could be named after.
        std::fs::create_dir(store.mountpoint("old")).unwrap();
        std::fs::create_dir(store.mountpoint("-odd")).unwrap();
        // A delete cut short: the record of a folder that is gone.
        store.save(&volume("gone")).unwrap();

        let mut loaded = store.load_all().unwrap();
        loaded.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = loaded.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["kept", "old"]);
        assert_eq!(loaded[0], volume("kept"));
        assert!(loaded[1].labels.is_empty() && !loaded[1].created.is_empty());
        assert!(!store.record_path("gone").exists());
        // The adopted one has its record now: its time does not change at the next open.
        assert_eq!(store.load_all().unwrap().len(), 2);
        assert!(store.record_path("old").exists());

        let trashed = store.remove("kept").unwrap().unwrap();
        assert_eq!(tree_bytes(&trashed), 4);
        assert!(!store.mountpoint("kept").exists() && !store.record_path("kept").exists());
        assert_eq!(store.remove("kept").unwrap(), None);
    }

    #[test]
    fn sizes_count_each_file_once_and_follow_no_symlink() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), "12345").unwrap();
        std::fs::hard_link(dir.path().join("sub/a"), dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("c"), "xy").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        assert_eq!(tree_bytes(dir.path()), 7);
    }
}
