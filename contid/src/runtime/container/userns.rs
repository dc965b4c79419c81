//! User namespaces (`--userns`): the container's root is an unprivileged range of host ids,
//! taken from `/etc/subuid` and `/etc/subgid` for the daemon's `--userns-remap` user (one range
//! shared by every such container, as Docker's userns-remap does).
//!
//! The init builds the container as the host's root (mounts, devices, network) in namespaces the
//! host's user namespace owns, and joins the container's user namespace last, just before its
//! confinement; every exec joins it last too. The image is shown with the right owners through an
//! idmapped mount of each of its layers (the overlay's lower layers): host root's files are the
//! container root's (where the kernel can't, through shifted copies: `shifted_rootfs`). The
//! user namespace itself is made by the monitor before the clone, through a
//! short-lived child whose maps it writes.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{Gid, Uid};
use serde::{Deserialize, Serialize};

use super::child::exit_now;
use crate::runtime::child_failure::{ChildFailure, StepResult};
use crate::runtime::sys::clone::{CloneResult, clone_process};

/// Ids a container's user namespace maps, from 0 inside.
pub const MAPPED_IDS: u32 = 65536;

/// Where ids 0..[`MAPPED_IDS`] of a container land on the host.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdMapping {
    pub host_uid: u32,
    pub host_gid: u32,
    /// Show the image through an idmapped mount where the kernel can; `false`
    /// (`--userns-no-idmap`): always through a shifted copy (see `shifted_rootfs`).
    #[serde(default = "enabled")]
    pub idmapped_mounts: bool,
}

fn enabled() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum SubIdError {
    #[error("read {path}: {source}")]
    Read {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} has no range of at least {MAPPED_IDS} ids for {user:?}")]
    NoRange { path: &'static str, user: String },
}

impl IdMapping {
    /// The first range of at least [`MAPPED_IDS`] ids `user` has in `/etc/subuid` and
    /// `/etc/subgid`.
    pub fn for_user(user: &str) -> Result<IdMapping, SubIdError> {
        let range = |path: &'static str| {
            let contents = std::fs::read_to_string(path)
                .map_err(|source| SubIdError::Read { path, source })?;
            subid_range(&contents, user).ok_or_else(|| SubIdError::NoRange {
                path,
                user: user.to_string(),
            })
        };
        Ok(IdMapping {
            host_uid: range("/etc/subuid")?,
            host_gid: range("/etc/subgid")?,
            idmapped_mounts: true,
        })
    }

    /// The container's root on the host.
    pub fn root(&self) -> (Uid, Gid) {
        (Uid::from_raw(self.host_uid), Gid::from_raw(self.host_gid))
    }

    /// A uid and gid of the container as the host sees them.
    pub fn host_ids(&self, (uid, gid): (u32, u32)) -> (u32, u32) {
        (
            self.host_uid.saturating_add(uid),
            self.host_gid.saturating_add(gid),
        )
    }
}

/// The start of the first `user:start:count` line with `count >= MAPPED_IDS` (comments and
/// malformed lines skipped).
fn subid_range(contents: &str, user: &str) -> Option<u32> {
    contents
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (name, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            let start: u32 = start.parse().ok()?;
            let count: u32 = count.parse().ok()?;
            (name == user && count >= MAPPED_IDS && start.checked_add(MAPPED_IDS).is_some())
                .then_some(start)
        })
        .next()
}

/// A user namespace with `mapping` (runs in the single-threaded monitor): a child is cloned into
/// a new one and waits on a pipe while its maps are written and the namespace opened, then exits.
pub(crate) fn create_user_namespace(mapping: IdMapping) -> Result<File, ChildFailure> {
    const STEP: &str = "userns";
    let (hold_r, hold_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).step(STEP, || "pipe for the userns child".into())?;
    let child = match clone_process(CloneFlags::CLONE_NEWUSER, None)
        .step(STEP, || "clone into a new user namespace".into())?
    {
        CloneResult::Child => {
            drop(hold_w);
            let mut byte = [0u8; 1];
            // Returns at EOF, when the monitor is done (or gone).
            while let Err(Errno::EINTR) = nix::unistd::read(&hold_r, &mut byte) {}
            exit_now(0)
        }
        CloneResult::Parent { child } => child,
    };
    drop(hold_r);
    let opened = write_maps(child.as_raw(), mapping).and_then(|()| {
        File::open(format!("/proc/{child}/ns/user"))
            .step(STEP, || "open the new user namespace".into())
    });
    drop(hold_w);
    while let Err(Errno::EINTR) = waitpid(child, None) {}
    opened
}

fn write_maps(pid: i32, mapping: IdMapping) -> Result<(), ChildFailure> {
    for (file, host) in [("uid_map", mapping.host_uid), ("gid_map", mapping.host_gid)] {
        std::fs::write(
            format!("/proc/{pid}/{file}"),
            format!("0 {host} {MAPPED_IDS}\n"),
        )
        .step("userns", || format!("write {file}"))?;
    }
    Ok(())
}

/// Whether `source` can be mounted idmapped through `userns` here: `false` when the kernel or
/// the filesystem says it can't.
pub(crate) fn supports_idmapped_mount(
    source: &Path,
    userns: BorrowedFd<'_>,
) -> Result<bool, ChildFailure> {
    let tree = open_detached_tree(source)?;
    match set_idmap(tree.as_fd(), userns) {
        Ok(()) => Ok(true),
        Err(Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOSYS | Errno::EPERM) => Ok(false),
        Err(errno) => Err(errno).step("idmapped_mount", || format!("idmap {}", source.display())),
    }
}

fn open_detached_tree(source: &Path) -> Result<OwnedFd, ChildFailure> {
    use rustix::mount::{OpenTreeFlags, open_tree};
    open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(rustix_errno)
    .step("idmapped_mount", || {
        format!("open_tree {}", source.display())
    })
}

/// Mounts `source` at `target` (in the caller's mount namespace) with its owners shifted by the
/// mapping of `userns`: what host root owns, the container's root owns.
pub(super) fn mount_idmapped(
    source: &Path,
    target: &Path,
    userns: BorrowedFd<'_>,
) -> Result<(), ChildFailure> {
    const STEP: &str = "idmapped_mount";
    use rustix::mount::{MoveMountFlags, move_mount};
    let tree = open_detached_tree(source)?;
    set_idmap(tree.as_fd(), userns).step(STEP, || {
        format!(
            "idmap {} (the kernel or its filesystem may not support idmapped mounts)",
            source.display()
        )
    })?;
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(rustix_errno)
    .step(STEP, || format!("move_mount onto {}", target.display()))
}

fn rustix_errno(error: rustix::io::Errno) -> Errno {
    Errno::from_raw(error.raw_os_error())
}

/// `struct mount_attr` of `mount_setattr(2)` (`linux/mount.h`, `MOUNT_ATTR_SIZE_VER0`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `linux/mount.h`.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

fn set_idmap(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `mount_setattr(fd, "", AT_EMPTY_PATH, &attr, size)` reads `attr` (alive for the
    // call, its size passed with it) and the empty C string; it writes nothing.
    let res = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(res).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_large_enough_range_of_the_user_is_taken() {
        let contents = "# comment\nother:100000:65536\nconti:200000:1000\nbroken\nconti:x:65536\nconti:300000:65536\nconti:400000:65536\n";
        assert_eq!(subid_range(contents, "conti"), Some(300000));
        assert_eq!(subid_range(contents, "other"), Some(100000));
        assert_eq!(subid_range(contents, "nobody"), None);
    }

    #[test]
    fn a_range_past_the_end_of_the_id_space_is_refused() {
        assert_eq!(subid_range("conti:4294967295:65536\n", "conti"), None);
    }
}
