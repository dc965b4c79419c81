//! Masked and read-only paths of `/proc` and `/sys`, applied by the container's init after
//! `pivot_root` (so `/proc` and `/sys` are the container's fresh mounts).
//!
//! Everything goes through file descriptors (the CVE-2025-31133 class, where runc bind-mounted
//! a `/dev/null` that the container had swapped for a symlink to a procfs file): `/dev/null` is
//! opened `O_PATH` and must be the character device 1:3; each target is opened
//! `O_PATH|O_NOFOLLOW` and the mount goes onto `/proc/self/fd/N`, never onto a path string.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::sys::statfs::{PROC_SUPER_MAGIC, SYSFS_MAGIC, fstatfs};

use crate::runtime::child_failure::{ChildFailure, StepResult};

/// Hidden: files get `/dev/null` bound over them, folders an empty read-only tmpfs (moby's
/// list, `daemon/pkg/oci/defaults.go`).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Bind-mounted over themselves read-only.
pub const READ_ONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const STEP: &str = "masked_paths";

/// Masks [`MASKED_PATHS`] and makes [`READ_ONLY_PATHS`] read-only. Paths this kernel lacks are
/// skipped.
pub(crate) fn mask_kernel_paths() -> Result<(), ChildFailure> {
    let null = open_dev_null()?;
    for path in MASKED_PATHS {
        if let Some(target) = open_kernel_path(path)? {
            mask(path, &target, &null)?;
        }
    }
    for path in READ_ONLY_PATHS {
        if let Some(target) = open_kernel_path(path)? {
            make_read_only(path, &target)?;
        }
    }
    Ok(())
}

/// `/dev/null`, checked to be the null device itself and not something put in its place.
fn open_dev_null() -> Result<OwnedFd, ChildFailure> {
    let null = open(
        "/dev/null",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(STEP, || "open /dev/null".into())?;
    let stat = fstat(&null).step(STEP, || "stat /dev/null".into())?;
    let is_char = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_char || stat.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(ChildFailure::new(
            STEP,
            Errno::EINVAL,
            "/dev/null is not the null device (1:3)",
        ));
    }
    Ok(null)
}

/// The path opened `O_PATH|O_NOFOLLOW`, when it exists, checked to be on procfs or sysfs.
fn open_kernel_path(path: &str) -> Result<Option<OwnedFd>, ChildFailure> {
    let fd = match open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(errno) => return Err(ChildFailure::new(STEP, errno, format!("open {path}"))),
    };
    let fs = fstatfs(&fd).step(STEP, || format!("statfs {path}"))?;
    if fs.filesystem_type() != PROC_SUPER_MAGIC && fs.filesystem_type() != SYSFS_MAGIC {
        return Err(ChildFailure::new(
            STEP,
            Errno::EXDEV,
            format!("{path} is not on procfs or sysfs"),
        ));
    }
    Ok(Some(fd))
}

fn through_fd(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn mask(path: &str, target: &OwnedFd, null: &OwnedFd) -> Result<(), ChildFailure> {
    let stat = fstat(target).step(STEP, || format!("stat {path}"))?;
    let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    if is_dir {
        mount(
            Some("tmpfs"),
            &through_fd(target),
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=0,nr_inodes=1"),
        )
        .step(STEP, || format!("mask {path} with an empty tmpfs"))
    } else {
        mount(
            Some(&through_fd(null)),
            &through_fd(target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .step(STEP, || format!("bind /dev/null over {path}"))
    }
}

/// Bind-mounts the path over itself, then remounts that new mount read-only. The remount goes
/// through a fresh `O_PATH` fd: the first one still names the mount underneath (all of `/proc`).
fn make_read_only(path: &str, target: &OwnedFd) -> Result<(), ChildFailure> {
    let fd_path = through_fd(target);
    mount(
        Some(&fd_path),
        &fd_path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .step(STEP, || format!("bind {path} over itself"))?;
    let Some(bound) = open_kernel_path(path)? else {
        return Err(ChildFailure::new(
            STEP,
            Errno::ENOENT,
            format!("{path} vanished"),
        ));
    };
    mount(
        None::<&str>,
        &through_fd(&bound),
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .step(STEP, || format!("remount {path} read-only"))
}
