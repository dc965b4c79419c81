//! The container's root filesystem, built by its init inside its own mount namespace: an
//! overlayfs over the image, `/proc`, `/sys`, a minimal `/dev`, the `/etc` files, then
//! `pivot_root`. Every mount lives only in that namespace, so nothing is left on the host when
//! the container's last process exits.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

use super::etc_files::ETC_FILES;
use super::userns::mount_idmapped;
use super::volumes;
use crate::runtime::ContainerLaunch;
use crate::runtime::child_failure::{ChildFailure, STEP_MOUNT_POINT, StepResult};

/// Folders of the state folder: overlayfs upper and work layers, and the mount point.
pub(crate) const UPPER_DIR: &str = "upper";
pub(crate) const WORK_DIR: &str = "work";
pub(crate) const ROOTFS_DIR: &str = "rootfs";
/// With `--userns`: where the image's rootfs is mounted idmapped, as the overlay's lower layer.
pub(crate) const LOWER_DIR: &str = "lower";

/// Character devices every container gets: (name, major, minor).
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks in `/dev`: (name, target).
const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The overlay's lower layer.
pub(super) enum ImageLayer<'a> {
    /// This folder as it is: the image's rootfs, or its copy shifted into a user namespace's ids.
    Plain(&'a Path),
    /// The image's rootfs mounted idmapped through this user namespace.
    Idmapped(BorrowedFd<'a>),
}

/// Builds the root filesystem at `<state_dir>/rootfs` over `image` and returns its path.
pub(super) fn build_rootfs(
    launch: &ContainerLaunch,
    image: ImageLayer<'_>,
) -> Result<PathBuf, ChildFailure> {
    let rootfs = launch.state_dir.join(ROOTFS_DIR);
    make_mounts_private()?;
    let lower = match image {
        ImageLayer::Idmapped(userns) => {
            let lower = launch.state_dir.join(LOWER_DIR);
            mount_idmapped(&launch.image_rootfs, &lower, userns)?;
            lower
        }
        ImageLayer::Plain(folder) => folder.to_path_buf(),
    };
    mount_overlay(&lower, &launch.state_dir, &rootfs)?;
    mount_proc(&rootfs)?;
    mount_sysfs(&rootfs)?;
    mount_dev(&rootfs)?;
    bind_etc_files(&launch.state_dir, &rootfs)?;
    volumes::mount_volumes(&rootfs, &launch.volumes)?;
    Ok(rootfs)
}

/// Nothing mounted from now on propagates back to the host, and `pivot_root` accepts the tree.
fn make_mounts_private() -> Result<(), ChildFailure> {
    mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .step("make_mounts_private", || {
        "make / recursively private".into()
    })
}

fn mount_overlay(image_rootfs: &Path, state_dir: &Path, rootfs: &Path) -> Result<(), ChildFailure> {
    const STEP: &str = "mount_overlay";
    let options = overlay_options(
        image_rootfs,
        &state_dir.join(UPPER_DIR),
        &state_dir.join(WORK_DIR),
    )
    .map_err(|message| ChildFailure::new(STEP, Errno::EINVAL, message))?;
    mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(&options),
    )
    .step(STEP, || {
        format!(
            "mount overlay of {} on {}",
            image_rootfs.display(),
            rootfs.display()
        )
    })
}

/// `lowerdir=…,upperdir=…,workdir=…`. The option syntax has no reliable escape for `,` and `:`,
/// so paths holding them are refused rather than misread.
fn overlay_options(lower: &Path, upper: &Path, work: &Path) -> Result<String, String> {
    let mut options = String::new();
    for (key, path) in [("lowerdir", lower), ("upperdir", upper), ("workdir", work)] {
        let path = path
            .to_str()
            .ok_or_else(|| format!("overlay {key} {path:?} is not UTF-8"))?;
        if path.contains([',', ':']) {
            return Err(format!("overlay {key} {path:?} holds a ',' or ':'"));
        }
        if !options.is_empty() {
            options.push(',');
        }
        options.push_str(&format!("{key}={path}"));
    }
    Ok(options)
}

fn mount_proc(rootfs: &Path) -> Result<(), ChildFailure> {
    let target = mount_point(rootfs, "proc")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mount(Some("proc"), &target, Some("proc"), flags, None)
        .step("mount_proc", || "mount /proc".into())
}

fn mount_sysfs(rootfs: &Path) -> Result<(), ChildFailure> {
    let target = mount_point(rootfs, "sys")?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mount(Some("sysfs"), &target, Some("sysfs"), flags, None)
        .step("mount_sysfs", || "mount /sys".into())
}

/// A tmpfs `/dev` with the usual devices, a private devpts, shm and mqueue.
fn mount_dev(rootfs: &Path) -> Result<(), ChildFailure> {
    let dev = mount_point(rootfs, "dev")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        flags,
        Some("mode=755,size=65536k"),
    )
    .step("mount_dev", || "mount tmpfs on /dev".into())?;
    make_devices(&dev)?;
    // From here on `dev` is our fresh tmpfs: no path in it can be a symlink planted by the image.
    let in_dev = |name: &str| dev.join(name);
    let no_exec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mkdir(&in_dev("pts")).step("mount_devpts", || "mkdir /dev/pts".into())?;
    mount(
        Some("devpts"),
        &in_dev("pts"),
        Some("devpts"),
        no_exec,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )
    .step("mount_devpts", || "mount devpts on /dev/pts".into())?;
    mkdir(&in_dev("shm")).step("mount_shm", || "mkdir /dev/shm".into())?;
    mount(
        Some("shm"),
        &in_dev("shm"),
        Some("tmpfs"),
        no_exec | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )
    .step("mount_shm", || "mount tmpfs on /dev/shm".into())?;
    mkdir(&in_dev("mqueue")).step("mount_mqueue", || "mkdir /dev/mqueue".into())?;
    mount(
        Some("mqueue"),
        &in_dev("mqueue"),
        Some("mqueue"),
        no_exec | MsFlags::MS_NODEV,
        None,
    )
    .step("mount_mqueue", || "mount mqueue on /dev/mqueue".into())?;
    for (name, target) in DEV_SYMLINKS {
        std::os::unix::fs::symlink(target, in_dev(name))
            .step("dev_symlinks", || format!("symlink /dev/{name}"))?;
    }
    Ok(())
}

fn make_devices(dev: &Path) -> Result<(), ChildFailure> {
    const STEP: &str = "make_devices";
    let mode = Mode::from_bits_truncate(0o666);
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        nix::sys::stat::mknod(
            &path,
            SFlag::S_IFCHR,
            mode,
            nix::sys::stat::makedev(major, minor),
        )
        .step(STEP, || format!("mknod /dev/{name}"))?;
        // mknod applies the umask.
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &path,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .step(STEP, || format!("chmod /dev/{name}"))?;
    }
    Ok(())
}

/// Bind-mounts the state folder's `hostname`, `hosts` and `resolv.conf` over the container's.
/// Each target is opened with O_NOFOLLOW under a descriptor of `/etc` and the mount goes onto
/// that very file (through its `/proc/self/fd` link): nothing can redirect the mount, or the
/// file's creation, with a symlink. A symlink there (`resolv.conf` leading to a resolver's file,
/// as systemd images have) is replaced by an empty file in the container's own layer, as a mount
/// point: what the container sees there is Conti's file either way.
fn bind_etc_files(state_dir: &Path, rootfs: &Path) -> Result<(), ChildFailure> {
    const STEP: &str = "bind_etc_files";
    let etc = mount_point(rootfs, "etc")?;
    let etc = nix::fcntl::open(
        &etc,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(STEP_MOUNT_POINT, || "open /etc".into())?;
    for name in ETC_FILES {
        let file = open_etc_file(&etc, name)?;
        let through_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let source = state_dir.join(name);
        let source = source.to_str().ok_or_else(|| {
            ChildFailure::new(STEP, Errno::EINVAL, "state folder path is not UTF-8")
        })?;
        mount(Some(source), &through_fd, None, MsFlags::MS_BIND, None)
            .step(STEP, || format!("bind-mount /etc/{name}"))?;
    }
    Ok(())
}

/// `/etc/<name>` as a file to mount on, opened without following a symlink: created when
/// missing, a symlink replaced by an empty file; a folder there is refused (EISDIR).
fn open_etc_file(etc: &OwnedFd, name: &str) -> Result<OwnedFd, ChildFailure> {
    let flags = OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mode = Mode::from_bits_truncate(0o644);
    let open = || nix::fcntl::openat(etc, name, flags, mode);
    match open() {
        Err(Errno::ELOOP) => {
            nix::unistd::unlinkat(etc, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
                .step(STEP_MOUNT_POINT, || {
                    format!("remove the symlink /etc/{name}")
                })?;
            open()
        }
        opened => opened,
    }
    .map_err(|errno| {
        let what = if errno == Errno::EISDIR {
            format!("/etc/{name} in the container's filesystem is a folder")
        } else {
            format!("open /etc/{name}")
        };
        ChildFailure::new(STEP_MOUNT_POINT, errno, what)
    })
}

/// `<rootfs>/<name>` as a directory to mount on: created when the container's filesystem lacks
/// it; refused when it is a symlink (it would point the mount, or the mkdir, at the host) or a
/// file.
fn mount_point(rootfs: &Path, name: &str) -> Result<PathBuf, ChildFailure> {
    const STEP: &str = STEP_MOUNT_POINT;
    let path = rootfs.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Ok(path),
        Ok(metadata) if metadata.is_symlink() => Err(ChildFailure::new(
            STEP,
            Errno::ELOOP,
            format!("/{name} in the container's filesystem is a symlink"),
        )),
        Ok(_) => Err(ChildFailure::new(
            STEP,
            Errno::ENOTDIR,
            format!("/{name} in the container's filesystem is not a folder"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            mkdir(&path).step(STEP, || format!("mkdir /{name}"))?;
            Ok(path)
        }
        Err(e) => Err(e).step(STEP, || format!("stat /{name}")),
    }
}

/// Makes `rootfs` the root: the old root is stacked under it by `pivot_root(".", ".")` and
/// detached at once.
pub(super) fn pivot_into(rootfs: &Path) -> Result<(), ChildFailure> {
    const STEP: &str = "pivot_root";
    nix::unistd::chdir(rootfs).step(STEP, || format!("chdir {}", rootfs.display()))?;
    nix::unistd::pivot_root(".", ".").step(STEP, || "pivot_root".into())?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).step(STEP, || "detach the old root".into())?;
    nix::unistd::chdir("/").step(STEP, || "chdir /".into())
}

/// `--read-only`: the root mount (the overlay) becomes read-only; the mounts on it (`/proc`,
/// `/dev`, the `/etc` files) keep their own flags.
pub(super) fn make_root_read_only() -> Result<(), ChildFailure> {
    mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
    )
    .step("read_only_rootfs", || "remount / read-only".into())
}

fn mkdir(path: &Path) -> nix::Result<()> {
    nix::unistd::mkdir(path, Mode::from_bits_truncate(0o755))
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_name_the_three_layers() {
        let options = overlay_options(
            Path::new("/img/rootfs"),
            Path::new("/s/upper"),
            Path::new("/s/work"),
        )
        .unwrap();
        assert_eq!(
            options,
            "lowerdir=/img/rootfs,upperdir=/s/upper,workdir=/s/work"
        );
    }

    #[test]
    fn overlay_options_refuse_separators_in_paths() {
        assert!(overlay_options(Path::new("/img,x"), Path::new("/u"), Path::new("/w")).is_err());
        assert!(overlay_options(Path::new("/img"), Path::new("/u:2"), Path::new("/w")).is_err());
    }

    #[test]
    fn a_symlinked_mount_point_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join("sys"), b"").unwrap();
        assert_eq!(
            mount_point(dir.path(), "proc").unwrap_err().errno,
            Errno::ELOOP as i32
        );
        assert_eq!(
            mount_point(dir.path(), "sys").unwrap_err().errno,
            Errno::ENOTDIR as i32
        );
        assert_eq!(
            mount_point(dir.path(), "dev").unwrap(),
            dir.path().join("dev")
        );
        assert!(dir.path().join("dev").is_dir());
    }
}
