//! The root folder's lock: one daemon per `--root`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Held for the daemon's life; the kernel releases it when the process dies.
pub struct RootLock {
    _lock: Flock<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another contid (pid {holder}) is already running on {root}")]
    Held { root: String, holder: String },
    #[error("cannot open lock file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl RootLock {
    pub fn acquire(root: &Path) -> Result<RootLock, LockError> {
        let path = root.join("contid.lock");
        let io_err = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        // std opens files with O_CLOEXEC, so the lock never reaches a child that execs.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let _ = file.as_fd();
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                lock.set_len(0).map_err(io_err)?;
                lock.rewind().map_err(io_err)?;
                write!(lock, "{}", std::process::id()).map_err(io_err)?;
                Ok(RootLock { _lock: lock })
            }
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() {
                    "unknown".to_string()
                } else {
                    holder.trim().to_string()
                };
                Err(LockError::Held {
                    root: root.display().to_string(),
                    holder,
                })
            }
        }
    }
}
