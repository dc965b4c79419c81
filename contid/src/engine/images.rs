//! Imported root filesystems: `<root>/images/<name>/rootfs`, read-only and shared by every
//! container made from them (each container gets its own overlayfs upper layer).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use conti_proto::ImageInfo;
use serde::{Deserialize, Serialize};

use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::error::{EngineError, EngineResult};
use super::spec::validate_image_name;
use super::{Engine, blocking, spec};

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
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::internal("create images folder", e))?;
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

    /// Where an upload is written before it is unpacked (on the same filesystem).
    pub fn upload_path(&self) -> PathBuf {
        self.dir.join(format!(".upload-{}", uuid::Uuid::new_v4()))
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
    /// appears whole or not at all.
    pub fn import(&self, name: &str, archive: &Path) -> EngineResult<ImageInfo> {
        validate_image_name(name)?;
        if self.exists(name) {
            return Err(EngineError::ImageExists(name.to_string()));
        }
        let staging = self.dir.join(format!(".import-{}", uuid::Uuid::new_v4()));
        let result = self.unpack_and_publish(name, archive, &staging);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result
    }

    fn unpack_and_publish(
        &self,
        name: &str,
        archive: &Path,
        staging: &Path,
    ) -> EngineResult<ImageInfo> {
        let rootfs = staging.join("rootfs");
        std::fs::create_dir_all(&rootfs)
            .map_err(|e| EngineError::internal("create image folder", e))?;
        let size = unpack_archive(archive, &rootfs)?;
        crate::runtime::container::etc_files::add_mount_points(&rootfs)
            .map_err(|e| EngineError::internal("add /etc mount points to the image", e))?;
        let metadata = ImageMetadata {
            name: name.to_string(),
            size,
            created: super::now_rfc3339(),
        };
        write_json_atomic(&staging.join(METADATA_FILE), &metadata, Durability::Durable)
            .map_err(|e| EngineError::internal("write image metadata", e))?;
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

/// Unpacks `archive` (tar, or tar compressed with gzip) into `dest`, keeping owners and modes.
/// Returns the total size of the files. Entries that would land outside `dest` are refused by
/// the tar crate's `unpack_in`.
fn unpack_archive(archive: &Path, dest: &Path) -> EngineResult<u64> {
    let invalid = |e: std::io::Error| {
        // tar wraps the cause ("failed to unpack `x`"); people need both.
        let cause = std::error::Error::source(&e)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        EngineError::InvalidArchive(format!("{e}{cause}"))
    };
    let mut file = File::open(archive).map_err(|e| EngineError::internal("open upload", e))?;
    let mut magic = [0u8; 2];
    let is_gzip = file.read(&mut magic).map_err(invalid)? == 2 && magic == [0x1f, 0x8b];
    drop(file);
    let file =
        BufReader::new(File::open(archive).map_err(|e| EngineError::internal("open upload", e))?);
    let reader: Box<dyn Read> = if is_gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(true);
    tar.set_preserve_mtime(true);
    tar.set_unpack_xattrs(false);
    let mut size = 0u64;
    let mut entries_seen = 0usize;
    for entry in tar.entries().map_err(invalid)? {
        let mut entry = entry.map_err(invalid)?;
        size += entry.header().size().unwrap_or(0);
        entries_seen += 1;
        entry.unpack_in(dest).map_err(invalid)?;
    }
    if entries_seen == 0 {
        return Err(EngineError::InvalidArchive(
            "the archive holds no files".into(),
        ));
    }
    Ok(size)
}

impl Engine {
    // ----- images -----

    pub async fn import_image<S, E>(&self, name: &str, mut body: S) -> EngineResult<ImageInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        spec::validate_image_name(name)?;
        if self.inner.images.exists(name) {
            return Err(EngineError::ImageExists(name.to_string()));
        }
        let upload = self.inner.images.upload_path();
        let result = async {
            let mut file = tokio::fs::File::create(&upload)
                .await
                .map_err(|e| EngineError::internal("create upload file", e))?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|e| EngineError::InvalidArchive(format!("upload interrupted: {e}")))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| EngineError::internal("write upload file", e))?;
            }
            file.flush()
                .await
                .map_err(|e| EngineError::internal("write upload file", e))?;
            let images = self.inner.images.clone();
            let (name, path) = (name.to_string(), upload.clone());
            blocking(move || images.import(&name, &path)).await
        }
        .await;
        let _ = tokio::fs::remove_file(&upload).await;
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
        let upload = store.upload_path();
        std::fs::write(&upload, tar_with(&[("bin/hello", b"#!/bin/sh\n")])).unwrap();
        let info = store.import("busybox", &upload).unwrap();
        assert_eq!(info.size, 10);
        assert!(store.rootfs("busybox").join("bin/hello").exists());
        assert!(matches!(
            store.import("busybox", &upload),
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
        let upload = store.upload_path();
        std::fs::write(&upload, tar_with(&[("etc/hosts", b"10.0.0.1 mine\n")])).unwrap();
        store.import("withhosts", &upload).unwrap();
        let etc = store.rootfs("withhosts").join("etc");
        assert_eq!(
            std::fs::read(etc.join("hosts")).unwrap(),
            b"10.0.0.1 mine\n"
        );
        assert_eq!(std::fs::read(etc.join("hostname")).unwrap(), b"");
        assert_eq!(std::fs::read(etc.join("resolv.conf")).unwrap(), b"");

        // An image whose /etc leads out of it gets nothing through it.
        let outside = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = header(tar::EntryType::Symlink, 0, 0o777);
        builder
            .append_link(&mut header, "etc", outside.path())
            .unwrap();
        std::fs::write(&upload, builder.into_inner().unwrap()).unwrap();
        store.import("sneaky", &upload).unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn garbage_is_an_invalid_archive_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let upload = store.upload_path();
        std::fs::write(
            &upload,
            b"this is not a tar archive at all, not even close..........",
        )
        .unwrap();
        assert!(matches!(
            store.import("junk", &upload),
            Err(EngineError::InvalidArchive(_))
        ));
        std::fs::remove_file(&upload).unwrap();
        assert_eq!(
            std::fs::read_dir(root.path().join("images"))
                .unwrap()
                .count(),
            0
        );
    }
}
