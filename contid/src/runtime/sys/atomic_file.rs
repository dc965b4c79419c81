//! Files replaced atomically: write a temporary file, rename it over the target. A crash leaves
//! either the old or the new content, never half of one.
//!
//! [`Durability::Durable`] fsyncs the temporary file before the rename, so the new content also
//! survives a power cut. [`Durability::UntilReboot`] skips that flush for facts that mean nothing
//! after a reboot anyway (pids of running processes): a daemon restart still finds them, since
//! they sit in the page cache, and the flush would put a disk round-trip on every container
//! start — the place where containerd and crun keep such state is a tmpfs under /run.
//! The folder is not fsynced: a power cut may bring back the previous version, which is
//! consistent. Such files are read back whole ([`read_json`]).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Flushed to disk before it replaces the old file.
    Durable,
    /// Atomic, but not flushed: survives a daemon restart, not necessarily a power cut.
    UntilReboot,
}

pub fn write_atomic(path: &Path, contents: &[u8], durability: Durability) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent folder"))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", file_name.to_string_lossy()));
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        if durability == Durability::Durable {
            file.sync_all()?;
        }
        Ok(())
    });
    // A write that failed (a full disk) leaves no half-written temporary file behind.
    let result = written.and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `write_atomic` of a value as pretty JSON.
pub fn write_json_atomic<T: serde::Serialize>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes, durability)
}

/// A JSON file written by [`write_json_atomic`]; `Ok(None)` when there is none.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file; one that is not there is fine.
pub fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one", Durability::Durable).unwrap();
        write_atomic(&path, b"two", Durability::UntilReboot).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn json_reads_back_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.json");
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), None);
        write_json_atomic(&path, &[1, 2], Durability::UntilReboot).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2]));
        assert!(read_json::<String>(&path).is_err(), "not what it holds");
        remove_if_present(&path).unwrap();
        remove_if_present(&path).unwrap();
        assert!(!path.exists());
    }
}
