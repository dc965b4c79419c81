//! `layers/<hex of the diff id>/`: each layer unpacked once, shared by every image that has it.
//! `fs/` is the tree (overlayfs whiteouts and opaque folders as the layer says), `layer.json`
//! what is known of it. A layer is unpacked into a temporary folder while its blob streams in,
//! its digests checked, then renamed into place: a folder under `layers/` is always whole.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::StoreError;
use super::blobs::{BlobError, BlobStore, BlobWriter};
use super::digest::Digest;
use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};
use crate::runtime::unpack::{UnpackError, UnpackOptions, check_root_folders, unpack};

const TREE_DIR: &str = "fs";
const RECORD_FILE: &str = "layer.json";

pub const MEDIA_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// What is known of a layer in the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// Bytes of its regular files.
    pub size: u64,
    /// Bytes of its tar, uncompressed.
    pub tar_size: u64,
    /// The blob it was unpacked from, kept in the blob store.
    pub blob: Digest,
    pub blob_size: u64,
    pub media_type: String,
}

/// What a layer must turn out to be.
#[derive(Debug, Clone, Default)]
pub struct LayerCheck {
    /// The digest of its blob (a manifest's descriptor), when known.
    pub blob: Option<Digest>,
    /// Its diff id (the config's `rootfs.diff_ids`), when known.
    pub diff_id: Option<Digest>,
    /// A root filesystem imported as a layer: image archives refused, `/etc`, `/proc`… checked,
    /// empty `/etc` mount-point files added.
    pub import: bool,
}

#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl LayerStore {
    pub fn open(root: &Path, tmp: &Path) -> io::Result<LayerStore> {
        let dir = root.join("layers");
        std::fs::create_dir_all(&dir)?;
        Ok(LayerStore {
            dir,
            tmp: tmp.to_path_buf(),
        })
    }

    fn dir_of(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// The layer's tree, the overlay's lower folder.
    pub fn tree(&self, diff_id: &Digest) -> PathBuf {
        self.dir_of(diff_id).join(TREE_DIR)
    }

    pub fn get(&self, diff_id: &Digest) -> Option<LayerRecord> {
        let bytes = std::fs::read(self.dir_of(diff_id).join(RECORD_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn has(&self, diff_id: &Digest) -> bool {
        self.dir_of(diff_id).join(RECORD_FILE).is_file()
    }

    /// Every layer's diff id.
    pub fn list(&self) -> Vec<Digest> {
        Digest::named_in(&self.dir)
    }

    /// Unpacks the blob `blob` streams (tar, gzip or zstd) as it arrives, keeping its bytes in
    /// `blobs`; checks both digests against `check`; publishes the layer. A layer someone else
    /// published meanwhile is kept and ours dropped.
    pub fn ingest(
        &self,
        blobs: &BlobStore,
        blob: impl Read + 'static,
        check: &LayerCheck,
    ) -> Result<LayerRecord, StoreError> {
        let staging = self.tmp.join(format!("layer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&staging).map_err(|e| StoreError::io("create a layer folder", e))?;
        let result = self.ingest_into(blobs, blob, check, &staging);
        let _ = std::fs::remove_dir_all(&staging);
        result
    }

    fn ingest_into(
        &self,
        blobs: &BlobStore,
        blob: impl Read + 'static,
        check: &LayerCheck,
        staging: &Path,
    ) -> Result<LayerRecord, StoreError> {
        let writer = Rc::new(RefCell::new(
            blobs
                .writer()
                .map_err(|e| StoreError::io("create a blob", e))?,
        ));
        let magic = Rc::new(RefCell::new(Vec::new()));
        let tee = Tee {
            inner: blob,
            copy: Rc::clone(&writer),
            magic: Rc::clone(&magic),
        };
        let tree = staging.join(TREE_DIR);
        let options = UnpackOptions {
            overlay_whiteouts: !check.import,
            refuse_image_archives: check.import,
            allow_empty: !check.import,
        };
        let unpacked = unpack(tee, &tree, options).map_err(StoreError::from_unpack)?;
        if check.import {
            check_root_folders(&tree).map_err(StoreError::from_unpack)?;
            crate::runtime::container::etc_files::add_mount_points(&tree)
                .map_err(|e| StoreError::io("add /etc mount points to the image", e))?;
        }
        let writer = Rc::try_unwrap(writer)
            .map_err(|_| StoreError::Internal("the blob writer is still shared".into()))?
            .into_inner();
        let diff_id = Digest::from_sha256(unpacked.tar_sha256);
        if let Some(expected) = &check.diff_id
            && expected != &diff_id
        {
            return Err(StoreError::DigestMismatch(format!(
                "layer {}: its uncompressed content has digest {diff_id}, the image config says \
                 {expected}",
                check.blob.as_ref().map_or("(archive)", |d| d.as_str())
            )));
        }
        let (blob_digest, blob_size) = commit_blob(writer, check.blob.as_ref())?;
        let record = LayerRecord {
            diff_id: diff_id.clone(),
            size: unpacked.size,
            tar_size: unpacked.tar_size,
            blob: blob_digest,
            blob_size,
            media_type: media_type_of(&magic.borrow()).to_string(),
        };
        write_json_atomic(&staging.join(RECORD_FILE), &record, Durability::UntilReboot)
            .map_err(|e| StoreError::io("write the layer record", e))?;
        match std::fs::rename(staging, self.dir_of(&diff_id)) {
            Ok(()) => Ok(record),
            // Published meanwhile by another pull: that one is as good.
            Err(_) if self.has(&diff_id) => Ok(self.get(&diff_id).unwrap_or(record)),
            Err(e) => Err(StoreError::io("publish the layer", e)),
        }
    }

    /// Deletes the layer: out of sight at once (renamed into the temporary folder), then its
    /// files.
    pub fn remove(&self, diff_id: &Digest) {
        let doomed = self.tmp.join(format!("gone-{}", uuid::Uuid::new_v4()));
        if std::fs::rename(self.dir_of(diff_id), &doomed).is_ok()
            && let Err(e) = std::fs::remove_dir_all(&doomed)
        {
            tracing::warn!(layer = %diff_id, error = %e, "cannot delete a layer's files");
        }
    }
}

fn commit_blob(writer: BlobWriter, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
    writer.commit(expected).map_err(|e| match e {
        BlobError::Mismatch { expected, actual } => StoreError::DigestMismatch(format!(
            "layer blob {expected}: the bytes received have digest {actual}"
        )),
        BlobError::Io(e) => StoreError::io("keep the layer blob", e),
    })
}

/// The media type a layer blob gets from its first bytes (imported and loaded layers).
fn media_type_of(magic: &[u8]) -> &'static str {
    if magic.starts_with(&[0x1f, 0x8b]) {
        MEDIA_TAR_GZIP
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        MEDIA_TAR_ZSTD
    } else {
        MEDIA_TAR
    }
}

/// The blob's bytes as read, copied into the blob store; its first bytes (the compression's
/// magic) kept.
struct Tee<R> {
    inner: R,
    copy: Rc<RefCell<BlobWriter>>,
    magic: Rc<RefCell<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.borrow_mut().write_all(&buf[..n])?;
        let mut magic = self.magic.borrow_mut();
        if magic.len() < 8 {
            let take = (8 - magic.len()).min(n);
            magic.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

impl StoreError {
    pub(super) fn from_unpack(err: UnpackError) -> StoreError {
        match err {
            UnpackError::NoSpace { .. } => StoreError::NoSpace(err.to_string()),
            UnpackError::Io { .. } => StoreError::Internal(err.to_string()),
            UnpackError::Invalid(_)
            | UnpackError::Refused { .. }
            | UnpackError::ImageArchive(_) => StoreError::InvalidArchive(err.to_string()),
        }
    }
}
