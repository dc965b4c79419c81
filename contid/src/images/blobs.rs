//! `blobs/sha256/<hex>`: manifests, configs and compressed layers, each under the digest of its
//! bytes. A blob is written under a temporary name, its digest checked, then renamed into place:
//! a blob whose bytes do not match its name is never kept.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::digest::Digest;

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    pub fn open(root: &Path, tmp: &Path) -> io::Result<BlobStore> {
        let dir = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir)?;
        Ok(BlobStore {
            dir,
            tmp: tmp.to_path_buf(),
        })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    pub fn has(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    pub fn read(&self, digest: &Digest) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(digest))
    }

    /// Keeps `bytes` when they hash to `digest`; `Err(actual)` when they do not.
    pub fn put(&self, digest: &Digest, bytes: &[u8]) -> Result<(), BlobError> {
        let actual = Digest::of(bytes);
        if &actual != digest {
            return Err(BlobError::Mismatch {
                expected: digest.clone(),
                actual,
            });
        }
        if self.has(digest) {
            return Ok(());
        }
        let mut writer = self.writer()?;
        writer.write_all(bytes)?;
        writer.commit(Some(digest)).map(drop)
    }

    /// A writer of a blob whose digest is known only at its end.
    pub fn writer(&self) -> io::Result<BlobWriter> {
        let path = self.tmp.join(format!("blob-{}", uuid::Uuid::new_v4()));
        Ok(BlobWriter {
            file: io::BufWriter::with_capacity(256 << 10, File::create(&path)?),
            path: Some(path),
            hash: Sha256::new(),
            size: 0,
            dir: self.dir.clone(),
        })
    }

    pub fn remove(&self, digest: &Digest) {
        if let Err(e) = std::fs::remove_file(self.path(digest))
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(blob = %digest, error = %e, "cannot delete a blob");
        }
    }

    /// Every blob's digest.
    pub fn list(&self) -> Vec<Digest> {
        Digest::named_in(&self.dir)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the content does not match its digest: expected {expected}, got {actual}")]
    Mismatch { expected: Digest, actual: Digest },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A blob being written; deleted unless committed.
pub struct BlobWriter {
    file: io::BufWriter<File>,
    path: Option<PathBuf>,
    hash: Sha256,
    size: u64,
    dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// The digest and size of what was written so far.
    pub fn digest(&self) -> (Digest, u64) {
        (
            Digest::from_sha256(self.hash.clone().finalize().into()),
            self.size,
        )
    }

    /// Renames the blob into place when its digest is `expected` (or anything, when `None`);
    /// returns its digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), BlobError> {
        let (actual, size) = self.digest();
        if let Some(expected) = expected
            && expected != &actual
        {
            return Err(BlobError::Mismatch {
                expected: expected.clone(),
                actual,
            });
        }
        self.file.flush()?;
        let path = self.path.take().expect("a blob is committed once");
        std::fs::rename(&path, self.dir.join(actual.hex())).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        Ok((actual, size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}
