//! Free space of the target's filesystem, checked as the archive unpacks: an archive may declare
//! far more than it weighs (a gzip bomb), and the state disk must keep room for the containers.

use std::os::fd::BorrowedFd;

use rustix::fs::StatVfs;

/// What is kept free: 5% of the filesystem, at most 1 GiB (and as many inodes, at most 64k).
const RESERVE_SHARE: u64 = 20;
const RESERVE_MAX_BYTES: u64 = 1 << 30;
const RESERVE_MAX_INODES: u64 = 1 << 16;
/// Others write to the same disk meanwhile: the free space is looked at again after this much.
const RECHECK_BYTES: u64 = 64 << 20;
/// What one file or folder costs besides its data, roughly (a block for a folder's entries).
const BLOCK: u64 = 4096;

/// The space the unpack may still use before it looks again.
pub(super) struct SpaceBudget {
    bytes: u64,
    inodes: u64,
}

/// The filesystem has no room for what the archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom {
    /// Bytes the entry that did not fit needs.
    pub needed: u64,
    /// Bytes free for the unpack, the reserve left out.
    pub available: u64,
    /// Bytes kept free for everything else.
    pub reserve: u64,
}

impl SpaceBudget {
    pub(super) fn new() -> SpaceBudget {
        SpaceBudget {
            bytes: 0,
            inodes: 0,
        }
    }

    /// Takes room for `data` bytes in one new file (or folder, link, node) of the filesystem
    /// `dir` is on.
    pub(super) fn take(&mut self, dir: BorrowedFd<'_>, data: u64) -> Result<(), SpaceError> {
        let needed = data.div_ceil(BLOCK).saturating_add(1).saturating_mul(BLOCK);
        if needed > self.bytes || self.inodes == 0 {
            let stat = rustix::fs::fstatvfs(dir).map_err(SpaceError::Stat)?;
            let free = Free::of(&stat);
            if needed > free.bytes || free.inodes == 0 {
                return Err(SpaceError::NoRoom(NoRoom {
                    needed,
                    available: free.bytes,
                    reserve: free.reserve,
                }));
            }
            self.bytes = free.bytes.min(needed.max(RECHECK_BYTES));
            self.inodes = free.inodes;
        }
        self.bytes -= needed;
        self.inodes -= 1;
        Ok(())
    }
}

#[derive(Debug)]
pub(super) enum SpaceError {
    NoRoom(NoRoom),
    Stat(rustix::io::Errno),
}

/// Bytes and inodes free for the unpack: what an unprivileged writer could use, less the reserve.
struct Free {
    bytes: u64,
    inodes: u64,
    reserve: u64,
}

impl Free {
    fn of(stat: &StatVfs) -> Free {
        let reserve =
            (stat.f_blocks.saturating_mul(stat.f_frsize) / RESERVE_SHARE).min(RESERVE_MAX_BYTES);
        let reserve_inodes = (stat.f_files / RESERVE_SHARE).min(RESERVE_MAX_INODES);
        // Filesystems without an inode count (btrfs, tmpfs with nr_inodes=0) say 0 files.
        let inodes = if stat.f_files == 0 {
            u64::MAX
        } else {
            stat.f_favail.saturating_sub(reserve_inodes)
        };
        Free {
            bytes: stat
                .f_bavail
                .saturating_mul(stat.f_frsize)
                .saturating_sub(reserve),
            inodes,
            reserve,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statvfs(blocks: u64, available: u64, files: u64, files_free: u64) -> StatVfs {
        StatVfs {
            f_bsize: 4096,
            f_frsize: 4096,
            f_blocks: blocks,
            f_bfree: available,
            f_bavail: available,
            f_files: files,
            f_ffree: files_free,
            f_favail: files_free,
            f_fsid: 0,
            f_flag: rustix::fs::StatVfsMountFlags::empty(),
            f_namemax: 255,
        }
    }

    #[test]
    fn the_reserve_is_five_percent_up_to_one_gib() {
        // 100 MiB filesystem, 50 MiB free: 5 MiB kept.
        let free = Free::of(&statvfs(25_600, 12_800, 1000, 500));
        assert_eq!(free.reserve, 5 * 1024 * 1024);
        assert_eq!(free.bytes, 45 * 1024 * 1024);
        assert_eq!(free.inodes, 450);
        // 1 TiB filesystem: 1 GiB kept.
        let free = Free::of(&statvfs(1 << 28, 1 << 27, 0, 0));
        assert_eq!(free.reserve, 1 << 30);
        assert_eq!(free.inodes, u64::MAX);
        // Less free than the reserve: nothing to use.
        assert_eq!(Free::of(&statvfs(25_600, 100, 1000, 10)).bytes, 0);
    }
}
