//! Folders watched for files renamed into them (inotify): how a process learns at once that
//! another replaced a file atomically (a temporary file renamed into place).
//!
//! One inotify instance holds any number of watches: the kernel limits instances per user (128
//! by default) far more than watches.

use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// A watched folder, as the kernel names it in its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WatchId(i32);

/// An inotify instance, non-blocking: poll its fd for readability, then take its events.
#[derive(Debug)]
pub struct DirWatch {
    fd: OwnedFd,
}

impl DirWatch {
    pub fn new() -> std::io::Result<DirWatch> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        Ok(DirWatch { fd })
    }

    /// Watches `dir` for files renamed into it. The same folder twice is the same watch.
    pub fn add(&self, dir: &Path) -> std::io::Result<WatchId> {
        let id = inotify::add_watch(&self.fd, dir, WatchFlags::MOVED_TO | WatchFlags::ONLYDIR)?;
        Ok(WatchId(id))
    }

    /// Stops watching; a folder already gone (its watch went with it) is fine.
    pub fn remove(&self, id: WatchId) {
        let _ = inotify::remove_watch(&self.fd, id.0);
    }

    /// The files renamed into watched folders since the last call, by watch and name; empty
    /// when there are none.
    pub fn take_events(&self) -> std::io::Result<Vec<(WatchId, OsString)>> {
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buffer);
        let mut events = Vec::new();
        loop {
            match reader.next() {
                Ok(event) => {
                    if let Some(name) = event.file_name() {
                        let name = std::ffi::OsStr::from_bytes(name.to_bytes()).to_os_string();
                        events.push((WatchId(event.wd()), name));
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(events),
                Err(rustix::io::Errno::INTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
    }
}

impl AsFd for DirWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for DirWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_renamed_into_a_watched_folder_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let watch = DirWatch::new().unwrap();
        let id = watch.add(dir.path()).unwrap();
        assert_eq!(watch.add(dir.path()).unwrap(), id, "one watch per folder");
        assert!(watch.take_events().unwrap().is_empty());
        std::fs::write(dir.path().join(".runs.json.tmp"), "{}").unwrap();
        std::fs::rename(
            dir.path().join(".runs.json.tmp"),
            dir.path().join("runs.json"),
        )
        .unwrap();
        assert_eq!(
            watch.take_events().unwrap(),
            [(id, OsString::from("runs.json"))]
        );
        watch.remove(id);
        std::fs::write(dir.path().join("a"), "").unwrap();
        std::fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
        // Removing a watch queues IN_IGNORED, which names no file.
        assert!(watch.take_events().unwrap().is_empty());
        assert!(watch.add(&dir.path().join("b")).is_err(), "not a folder");
    }
}
