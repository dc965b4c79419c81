//! Imported root filesystems: `<root>/images/<name>/rootfs`, read-only and shared by every
//! container made from them (each container gets its own overlayfs upper layer).

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use conti_proto::ImageInfo;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};
use crate::runtime::unpack::{UnpackError, UnpackOptions, check_root_folders, unpack};

use super::error::{EngineError, EngineResult};
use super::spec::validate_image_name;
use super::{Engine, blocking, spec, upload};

const METADATA_FILE: &str = "image.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageMetadata {
    name: String,
    size: u64,
    created: String,
}

#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    pub fn open(root: &Path) -> EngineResult<ImageStore> {
        let dir = root.join("images");
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("create images folder", &e))?;
        // Imports cut short by a crash leave a temporary folder behind; it never became an image.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with('.') {
                    let _ = std::fs::remove_dir_all(entry.path())
                        .or_else(|_| std::fs::remove_file(entry.path()));
                }
            }
        }
        Ok(ImageStore { dir })
    }

    fn image_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn rootfs(&self, name: &str) -> PathBuf {
        self.image_dir(name).join("rootfs")
    }

    pub fn get(&self, name: &str) -> EngineResult<ImageInfo> {
        validate_image_name(name).map_err(|_| EngineError::ImageNotFound(name.to_string()))?;
        read_metadata(&self.image_dir(name))
            .ok_or_else(|| EngineError::ImageNotFound(name.to_string()))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    pub fn list(&self) -> Vec<ImageInfo> {
        let mut images: Vec<ImageInfo> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| read_metadata(&e.path()))
            .collect();
        images.sort_by(|a, b| a.name.cmp(&b.name));
        images
    }

    /// Unpacks a tar or tar.gz archive (blocking) into a new image named `name`. The image
    /// appears whole or not at all: it is unpacked into a hidden folder renamed into place, and
    /// a folder a crash left is removed by the next [`ImageStore::open`].
    pub fn import(&self, name: &str, archive: impl Read + 'static) -> EngineResult<ImageInfo> {
        validate_image_name(name)?;
        if self.exists(name) {
            return Err(EngineError::ImageExists(name.to_string()));
        }
        let staging = self.dir.join(format!(".import-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&staging).map_err(|e| EngineError::io("create image folder", &e))?;
        let result = self.unpack_and_publish(name, archive, &staging);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    fn unpack_and_publish(
        &self,
        name: &str,
        archive: impl Read + 'static,
        staging: &Path,
    ) -> EngineResult<ImageInfo> {
        let rootfs = staging.join("rootfs");
        let options = UnpackOptions {
            overlay_whiteouts: false,
            refuse_image_archives: true,
        };
        let unpacked = unpack(archive, &rootfs, options).map_err(unpack_error)?;
        check_root_folders(&rootfs).map_err(unpack_error)?;
        crate::runtime::container::etc_files::add_mount_points(&rootfs)
            .map_err(|e| EngineError::io("add /etc mount points to the image", &e))?;
        let metadata = ImageMetadata {
            name: name.to_string(),
            size: unpacked.size,
            created: super::now_rfc3339(),
        };
        write_json_atomic(&staging.join(METADATA_FILE), &metadata, Durability::Durable)
            .map_err(|e| EngineError::io("write image metadata", &e))?;
        // rename(2) refuses to replace a non-empty folder: two imports racing for one name
        // cannot both win.
        std::fs::rename(staging, self.image_dir(name)).map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ENOTEMPTY) | Some(nix::libc::EEXIST) => {
                EngineError::ImageExists(name.to_string())
            }
            _ => EngineError::internal("publish image", e),
        })?;
        Ok(ImageInfo {
            name: metadata.name,
            size: metadata.size,
            created: metadata.created,
        })
    }

    pub fn remove(&self, name: &str) -> EngineResult<()> {
        self.get(name)?;
        // Move it aside first so that it disappears at once, then delete the files.
        let doomed = self.dir.join(format!(".remove-{}", uuid::Uuid::new_v4()));
        std::fs::rename(self.image_dir(name), &doomed)
            .map_err(|e| EngineError::internal("remove image", e))?;
        std::fs::remove_dir_all(&doomed).map_err(|e| EngineError::internal("remove image files", e))
    }
}

fn read_metadata(dir: &Path) -> Option<ImageInfo> {
    let bytes = std::fs::read(dir.join(METADATA_FILE)).ok()?;
    let m: ImageMetadata = serde_json::from_slice(&bytes).ok()?;
    Some(ImageInfo {
        name: m.name,
        size: m.size,
        created: m.created,
    })
}

fn unpack_error(err: UnpackError) -> EngineError {
    match err {
        UnpackError::NoSpace { .. } => EngineError::NoSpace(err.to_string()),
        UnpackError::Io { .. } => EngineError::Internal(err.to_string()),
        UnpackError::Invalid(_) | UnpackError::Refused { .. } | UnpackError::ImageArchive(_) => {
            EngineError::InvalidArchive(err.to_string())
        }
    }
}

impl Engine {
    // ----- images -----

    /// Imports the root filesystem `body` streams, unpacked as it arrives.
    pub async fn import_image<S, E>(&self, name: &str, body: S) -> EngineResult<ImageInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        spec::validate_image_name(name)?;
        if self.inner.images.exists(name) {
            return Err(EngineError::ImageExists(name.to_string()));
        }
        let (sender, reader) = upload::channel();
        let images = self.inner.images.clone();
        let owned_name = name.to_string();
        let import = blocking(move || images.import(&owned_name, reader));
        let (result, ()) = tokio::join!(import, upload::feed(body, sender));
        if let Ok(image) = &result {
            tracing::info!(image = %image.name, size = image.size, "image imported");
        }
        result
    }

    pub fn images(&self) -> Vec<ImageInfo> {
        self.inner.images.list()
    }

    pub async fn delete_image(&self, name: &str) -> EngineResult<()> {
        self.inner.images.get(name)?;
        if let Some(user) = self
            .table()
            .entries
            .values()
            .find(|e| e.container.config.image == name)
        {
            return Err(EngineError::ImageInUse {
                image: name.to_string(),
                container: user.container.config.name.clone(),
            });
        }
        let images = self.inner.images.clone();
        let name = name.to_string();
        blocking(move || images.remove(&name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header
    }

    fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = header(tar::EntryType::Regular, data.len() as u64, 0o755);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn imports_lists_and_removes_images() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let tar = tar_with(&[("bin/hello", b"#!/bin/sh\n")]);
        let info = store.import("busybox", Cursor::new(tar.clone())).unwrap();
        assert_eq!(info.size, 10);
        assert!(store.rootfs("busybox").join("bin/hello").exists());
        assert!(matches!(
            store.import("busybox", Cursor::new(tar)),
            Err(EngineError::ImageExists(_))
        ));
        assert_eq!(store.list().len(), 1);
        store.remove("busybox").unwrap();
        assert!(store.list().is_empty());
        assert!(matches!(
            store.get("busybox"),
            Err(EngineError::ImageNotFound(_))
        ));
    }

    #[test]
    fn an_image_gets_empty_etc_mount_points_and_keeps_its_own_files() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let tar = tar_with(&[("etc/hosts", b"10.0.0.1 mine\n")]);
        store.import("withhosts", Cursor::new(tar)).unwrap();
        let etc = store.rootfs("withhosts").join("etc");
        assert_eq!(
            std::fs::read(etc.join("hosts")).unwrap(),
            b"10.0.0.1 mine\n"
        );
        assert_eq!(std::fs::read(etc.join("hostname")).unwrap(), b"");
        assert_eq!(std::fs::read(etc.join("resolv.conf")).unwrap(), b"");

        // An image whose /etc is a symlink is refused: a start would have to mount through it.
        let outside = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = header(tar::EntryType::Symlink, 0, 0o777);
        builder
            .append_link(&mut header, "etc", outside.path())
            .unwrap();
        let err = store
            .import("sneaky", Cursor::new(builder.into_inner().unwrap()))
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::InvalidArchive(m) if m.contains("/etc is a symlink")),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn garbage_is_an_invalid_archive_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let garbage = b"this is not a tar archive at all, not even close..........";
        assert!(matches!(
            store.import("junk", Cursor::new(garbage.to_vec())),
            Err(EngineError::InvalidArchive(_))
        ));
        assert_eq!(
            std::fs::read_dir(root.path().join("images"))
                .unwrap()
                .count(),
            0
        );
    }
}
