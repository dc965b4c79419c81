//! Bind mounts into the container (`-v HOST:CONTAINER[:ro]` and named volumes), made by its init
//! before `pivot_root`.
//!
//! The container path is resolved inside the container's root with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`: a symlink in the image or in the container's upper layer (`/data` →
//! `/etc` on the host, say) resolves as it would inside the container, never outside it. Missing
//! components are created one at a time relative to their parent's fd, and the last one is
//! opened with `RESOLVE_NO_SYMLINKS`, so a swap for a symlink in between fails instead of
//! redirecting the mount (CVE-2021-30465 class). The mount goes from and onto `/proc/self/fd/N`.
//! Targets on procfs or sysfs are refused, and so is a target that resolves to the container's
//! root itself. The source is checked on the opened fd too: whatever path led there (a symlink,
//! `..`, one swapped in after the daemon looked), the host's `/` is bound only when allowed.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use serde::{Deserialize, Serialize};

use crate::runtime::child_failure::{ChildFailure, STEP_VOLUMES as STEP, StepResult};
/// `PROC_SUPER_MAGIC` and `SYSFS_MAGIC`.
const KERNEL_FILESYSTEMS: [i64; 2] = [0x9fa0, 0x6265_6572];

/// One bind mount, as the engine resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// Absolute host path (a named volume's folder under the daemon's root).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
    /// The source may be the host's `/` (`contid --allow-root-bind`).
    #[serde(default)]
    pub may_be_host_root: bool,
    /// Fill the source, when it is an empty folder, with what the container's root has at the
    /// target (Docker's copy-up of a volume's first use).
    #[serde(default)]
    pub copy_up: bool,
}

/// Mounts every volume into `rootfs` (the container's root, not yet pivoted into).
pub(super) fn mount_volumes(rootfs: &Path, mounts: &[BindMount]) -> Result<(), ChildFailure> {
    if mounts.is_empty() {
        return Ok(());
    }
    let roots = open_root(rootfs)?;
    mounts.iter().try_for_each(|mount| mount_one(&roots, mount))
}

/// The container's root (opened) and the identities of both roots: the host's (still our `/`
/// before `pivot_root`) and the container's.
pub(super) struct Roots {
    root: OwnedFd,
    host: FileIdentity,
    container: FileIdentity,
}

/// Opens the container's root filesystem at `rootfs` for mounts into it.
pub(super) fn open_root(rootfs: &Path) -> Result<Roots, ChildFailure> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failure(e, format!("open the root {}", rootfs.display())))?;
    Ok(Roots {
        host: identity(&rustix::fs::stat("/"), "/")?,
        container: identity(&rustix::fs::fstat(&root), "the container's /")?,
        root,
    })
}

/// The mount point `path` inside the container's root, made where missing (a folder, or with
/// `folder: false` an empty file); neither the root itself nor in `/proc` or `/sys`.
fn open_mount_point(roots: &Roots, path: &str, folder: bool) -> Result<OwnedFd, ChildFailure> {
    let make = Make {
        folder,
        owner: None,
    };
    let target = open_in_root(&roots.root, path, Some(make))?;
    if identity(&rustix::fs::fstat(&target), path)? == roots.container {
        return Err(ChildFailure::new(
            STEP,
            Errno::ELOOP,
            format!("{path} resolves to the container's / (through a symlink)"),
        ));
    }
    refuse_kernel_filesystem(&target, path)?;
    Ok(target)
}

/// A folder to mount on (see [`open_mount_point`]).
pub(super) fn open_folder_in_root(roots: &Roots, path: &str) -> Result<OwnedFd, ChildFailure> {
    open_mount_point(roots, path, true)
}

/// Device and inode: the same file whatever path or bind mount shows it.
type FileIdentity = (u64, u64);

fn identity(
    stat: &Result<rustix::fs::Stat, rustix::io::Errno>,
    what: &str,
) -> Result<FileIdentity, ChildFailure> {
    match stat {
        Ok(stat) => Ok((stat.st_dev, stat.st_ino)),
        Err(e) => Err(failure(*e, format!("stat {what}"))),
    }
}

fn mount_one(roots: &Roots, mount: &BindMount) -> Result<(), ChildFailure> {
    let source = rustix::fs::open(&mount.source, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| failure(e, format!("open volume source {}", mount.source.display())))?;
    let source_stat = rustix::fs::fstat(&source);
    if !mount.may_be_host_root
        && identity(&source_stat, &mount.source.display().to_string())? == roots.host
    {
        return Err(ChildFailure::new(
            STEP,
            Errno::EACCES,
            format!(
                "volume source {} is the host's / (contid --allow-root-bind allows it)",
                mount.source.display()
            ),
        ));
    }
    let is_dir = source_stat.is_ok_and(|stat| stat.st_mode & 0o170000 == 0o040000);
    let root = &roots.root;
    if mount.copy_up && is_dir {
        fill_from_image(roots, mount, &source)?;
    }
    let target = open_mount_point(roots, &mount.target, is_dir)?;
    nix::mount::mount(
        Some(&through_fd(&source)),
        &through_fd(&target),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .step(STEP, || {
        format!("bind {} on {}", mount.source.display(), mount.target)
    })?;
    if mount.read_only {
        // The fd still names what was under the new mount: resolve the path again.
        let bound = open_in_root(root, &mount.target, None)?;
        nix::mount::mount(
            None::<&str>,
            &through_fd(&bound),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .step(STEP, || format!("remount {} read-only", mount.target))?;
    }
    Ok(())
}

/// Docker's copy-up (see `copy_up`): what the container's root has at the target, when it is
/// a folder there, into the volume when the volume is empty.
fn fill_from_image(roots: &Roots, mount: &BindMount, volume: &OwnedFd) -> Result<(), ChildFailure> {
    let image_dir =
        match openat2_in_root(&roots.root, &mount.target, OFlags::PATH | OFlags::CLOEXEC) {
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            result => {
                result.map_err(|e| failure(e, format!("open {} in the container", mount.target)))?
            }
        };
    let is_dir = rustix::fs::fstat(&image_dir)
        .map_err(|e| failure(e, format!("stat {} in the container", mount.target)))?
        .st_mode
        & 0o170000
        == 0o040000;
    if !is_dir || identity(&rustix::fs::fstat(&image_dir), &mount.target)? == roots.container {
        return Ok(());
    }
    super::copy_up::copy_up(&image_dir, volume, &mount.target)
}

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// How often an `openat2` that met a concurrent rename or mount (`EAGAIN`: the kernel can't
/// vouch for a `..` then) is tried again before giving up.
const RESOLVE_ATTEMPTS: usize = 128;

/// `openat2(root, path, IN_ROOT)`, tried again while renames or mounts elsewhere race with it.
fn openat2_in_root(
    root: &OwnedFd,
    path: &str,
    flags: OFlags,
) -> Result<OwnedFd, rustix::io::Errno> {
    let mut attempts = 1;
    loop {
        match rustix::fs::openat2(root, path, flags, Mode::empty(), IN_ROOT) {
            Err(rustix::io::Errno::AGAIN) if attempts < RESOLVE_ATTEMPTS => attempts += 1,
            result => return result,
        }
    }
}

/// What [`open_in_root`] makes where the path is missing: folders for all components but the
/// last, and for the last a folder or (`folder: false`) an empty file.
#[derive(Debug, Clone, Copy)]
struct Make {
    folder: bool,
    /// Host uid and gid given what it makes; `None`: ours.
    owner: Option<(u32, u32)>,
}

/// `path` inside `root`, opened `O_PATH`; with `make`, what is missing is made first.
fn open_in_root(root: &OwnedFd, path: &str, make: Option<Make>) -> Result<OwnedFd, ChildFailure> {
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let make = match (openat2_in_root(root, path, flags), make) {
        (Err(rustix::io::Errno::NOENT), Some(make)) => make,
        (Err(rustix::io::Errno::AGAIN), _) => {
            return Err(ChildFailure::new(
                STEP,
                Errno::EAGAIN,
                format!("open {path} in the container: its path kept changing (racing renames)"),
            ));
        }
        (result, _) => {
            return result.map_err(|e| failure(e, format!("open {path} in the container")));
        }
    };
    let trimmed = path.trim_end_matches('/');
    let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    if name.is_empty() || name == "." || name == ".." {
        return Err(ChildFailure::new(
            STEP,
            Errno::EINVAL,
            format!("cannot create {path} in the container"),
        ));
    }
    let parent = open_in_root(
        root,
        if parent.is_empty() { "/" } else { parent },
        Some(Make {
            folder: true,
            ..make
        }),
    )?;
    let mode = Mode::from_raw_mode(0o755);
    let made = if make.folder {
        rustix::fs::mkdirat(&parent, name, mode)
    } else {
        rustix::fs::openat(
            &parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop)
    };
    match (made, make.owner) {
        (Ok(()), Some((uid, gid))) => rustix::fs::chownat(
            &parent,
            name,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| failure(e, format!("chown {path} in the container to {uid}:{gid}")))?,
        (Ok(()), None) | (Err(rustix::io::Errno::EXIST), _) => {}
        (Err(e), _) => return Err(failure(e, format!("create {path} in the container"))),
    }
    let opened = rustix::fs::openat2(
        &parent,
        name,
        flags | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| failure(e, format!("open {path} in the container")))?;
    // O_PATH|O_NOFOLLOW opens a symlink itself: one that leads nowhere inside the root.
    let is_symlink = rustix::fs::fstat(&opened)
        .map_err(|e| failure(e, format!("stat {path} in the container")))?
        .st_mode
        & 0o170000
        == 0o120000;
    if is_symlink {
        return Err(ChildFailure::new(
            STEP,
            Errno::ELOOP,
            format!("{path} is a symlink that leads nowhere inside the container"),
        ));
    }
    Ok(opened)
}

/// The folder `path` inside `root` (see [`open_in_root`]), made where missing, each folder it
/// makes owned by `owner` (host ids), mode 0755.
pub(super) fn make_folder_in_root(
    root: &OwnedFd,
    path: &str,
    owner: (u32, u32),
) -> Result<OwnedFd, ChildFailure> {
    let make = Make {
        folder: true,
        owner: Some(owner),
    };
    open_in_root(root, path, Some(make))
}

fn refuse_kernel_filesystem(target: &OwnedFd, path: &str) -> Result<(), ChildFailure> {
    let fs = rustix::fs::fstatfs(target).map_err(|e| failure(e, format!("statfs {path}")))?;
    if KERNEL_FILESYSTEMS.contains(&(fs.f_type as i64)) {
        return Err(ChildFailure::new(
            STEP,
            Errno::EXDEV,
            format!("{path} is in /proc or /sys: not a volume target"),
        ));
    }
    Ok(())
}

pub(super) fn through_fd(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

fn failure(error: rustix::io::Errno, what: String) -> ChildFailure {
    ChildFailure::new(STEP, Errno::from_raw(error.raw_os_error()), what)
}
