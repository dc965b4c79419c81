//! The container's root filesystem, built by its init inside its own mount namespace: an
//! overlayfs over the image's layers, `/proc`, `/sys`, a minimal `/dev`, the `/etc` files, then
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
use super::{tmpfs, volumes};
use crate::runtime::ContainerLaunch;
use crate::runtime::child_failure::{ChildFailure, STEP_MOUNT_POINT, StepResult};

/// Folders of the state folder: overlayfs upper and work layers, and the mount point.
pub(crate) const UPPER_DIR: &str = "upper";
pub(crate) const WORK_DIR: &str = "work";
pub(crate) const ROOTFS_DIR: &str = "rootfs";
/// With `--userns`: where the image's layers are mounted idmapped, one folder per layer
/// (`lower/<n>`, counted from the base), as the overlay's lower layers.
pub(crate) const LOWER_DIR: &str = "lower";
/// Short names of the overlay's lower layers (`l/<n>`, symlinks to them), made when their full
/// paths would not fit in the mount's data (see [`overlay_options`]), as Docker's overlay2 does.
pub(crate) const SHORT_LINKS_DIR: &str = "l";

/// The kernel copies one page of mount data, its closing NUL included, and cuts what goes past.
const MOUNT_DATA_MAX: usize = 4095;

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

/// The overlay's lower layers.
pub(super) enum ImageLayers<'a> {
    /// These folders as they are, base first: the image's layers, or their copies shifted into a
    /// user namespace's ids.
    Plain(&'a [PathBuf]),
    /// The image's layers, each mounted idmapped through this user namespace.
    Idmapped(BorrowedFd<'a>),
}

/// Builds the root filesystem at `<state_dir>/rootfs` over the image's layers and returns its
/// path.
pub(super) fn build_rootfs(
    launch: &ContainerLaunch,
    image: ImageLayers<'_>,
) -> Result<PathBuf, ChildFailure> {
    let rootfs = launch.state_dir.join(ROOTFS_DIR);
    make_mounts_private()?;
    let lowers = lower_layers(launch, image)?;
    mount_overlay(&lowers, &launch.state_dir, &rootfs)?;
    mount_proc(&rootfs)?;
    mount_sysfs(&rootfs)?;
    mount_dev(&rootfs, launch.shm_size)?;
    bind_etc_files(&launch.state_dir, &rootfs)?;
    volumes::mount_volumes(&rootfs, &launch.volumes)?;
    tmpfs::mount_tmpfs(&rootfs, &launch.tmpfs)?;
    Ok(rootfs)
}

/// Where layer `n` of the image (counted from the base) is mounted idmapped.
pub(crate) fn idmapped_layer_dir(state_dir: &Path, n: usize) -> PathBuf {
    state_dir.join(LOWER_DIR).join(n.to_string())
}

/// The folders the overlay stacks, base first; idmapped layers are mounted at `lower/<n>` first.
fn lower_layers(
    launch: &ContainerLaunch,
    image: ImageLayers<'_>,
) -> Result<Vec<PathBuf>, ChildFailure> {
    match image {
        ImageLayers::Plain(layers) => Ok(layers.to_vec()),
        ImageLayers::Idmapped(userns) => launch
            .image_layers
            .iter()
            .enumerate()
            .map(|(n, layer)| {
                let lower = idmapped_layer_dir(&launch.state_dir, n);
                mount_idmapped(layer, &lower, userns)?;
                Ok(lower)
            })
            .collect(),
    }
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

/// Mounts the overlay of `lowers` (base first) under the state folder's upper and work layers
/// at `rootfs`. When the full paths do not fit in a page the layers are named by short links in
/// the state folder, relative to it: the init then works from the state folder (as it may: it is
/// single-threaded and leaves for the new root next).
fn mount_overlay(lowers: &[PathBuf], state_dir: &Path, rootfs: &Path) -> Result<(), ChildFailure> {
    const STEP: &str = "mount_overlay";
    let options = overlay_options(lowers, state_dir)
        .map_err(|message| ChildFailure::new(STEP, Errno::EINVAL, message))?;
    if options.short_links {
        link_short_names(lowers, state_dir)?;
        nix::unistd::chdir(state_dir).step(STEP, || format!("chdir {}", state_dir.display()))?;
    }
    mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(&options.data),
    )
    .step(STEP, || {
        let image = match lowers {
            [layer] => layer.display().to_string(),
            _ => format!("{} layers", lowers.len()),
        };
        format!("mount overlay of {image} on {}", rootfs.display())
    })
}

/// The overlay's mount data, and how it names the lower layers.
#[derive(Debug, PartialEq, Eq)]
struct OverlayOptions {
    /// `lowerdir=top:…:base,upperdir=…,workdir=…`.
    data: String,
    /// The layers are named `l/<n>` and the upper and work layers by their names, all relative
    /// to the state folder: the mount is made from there, over the short links.
    short_links: bool,
}

/// The overlay's mount data over `lowers` (base first), with full paths when they fit in a page
/// and with short names otherwise. The option syntax has no reliable escape for `,` and `:`, so
/// paths holding them are refused rather than misread (whatever the form: the short links lead to
/// the same paths).
fn overlay_options(lowers: &[PathBuf], state_dir: &Path) -> Result<OverlayOptions, String> {
    if lowers.is_empty() {
        return Err("the image has no layer".into());
    }
    let upper = state_dir.join(UPPER_DIR);
    let work = state_dir.join(WORK_DIR);
    let mut full_lowers = Vec::with_capacity(lowers.len());
    // Top first: overlayfs looks in the leftmost layer first.
    for lower in lowers.iter().rev() {
        full_lowers.push(option_path("lowerdir", lower)?);
    }
    let full = format!(
        "lowerdir={},upperdir={},workdir={}",
        full_lowers.join(":"),
        option_path("upperdir", &upper)?,
        option_path("workdir", &work)?,
    );
    if full.len() <= MOUNT_DATA_MAX {
        return Ok(OverlayOptions {
            data: full,
            short_links: false,
        });
    }
    let short_lowers: Vec<String> = (0..lowers.len())
        .rev()
        .map(|n| format!("{SHORT_LINKS_DIR}/{n}"))
        .collect();
    let short = format!(
        "lowerdir={},upperdir={UPPER_DIR},workdir={WORK_DIR}",
        short_lowers.join(":")
    );
    if short.len() > MOUNT_DATA_MAX {
        return Err(format!(
            "{} image layers are too many for one overlay mount",
            lowers.len()
        ));
    }
    Ok(OverlayOptions {
        data: short,
        short_links: true,
    })
}

/// `path` as it may stand in the overlay's options.
fn option_path<'a>(key: &str, path: &'a Path) -> Result<&'a str, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("overlay {key} {path:?} is not UTF-8"))?;
    if text.contains([',', ':']) {
        return Err(format!("overlay {key} {path:?} holds a ',' or ':'"));
    }
    Ok(text)
}

/// `<state_dir>/l/<n>` -> layer `n` of `lowers` (counted from the base), replacing the links of
/// an earlier start.
fn link_short_names(lowers: &[PathBuf], state_dir: &Path) -> Result<(), ChildFailure> {
    const STEP: &str = "mount_overlay";
    let links = state_dir.join(SHORT_LINKS_DIR);
    if let Err(errno) = mkdir(&links)
        && errno != Errno::EEXIST
    {
        return Err(ChildFailure::new(
            STEP,
            errno,
            format!("mkdir {}", links.display()),
        ));
    }
    for (n, lower) in lowers.iter().enumerate() {
        let link = links.join(n.to_string());
        if let Err(errno) = nix::unistd::unlink(&link)
            && errno != Errno::ENOENT
        {
            return Err(ChildFailure::new(
                STEP,
                errno,
                format!("remove {}", link.display()),
            ));
        }
        std::os::unix::fs::symlink(lower, &link)
            .step(STEP, || format!("symlink {}", link.display()))?;
    }
    Ok(())
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

/// A tmpfs `/dev` with the usual devices, a private devpts, shm of `shm_size` bytes and mqueue.
fn mount_dev(rootfs: &Path, shm_size: u64) -> Result<(), ChildFailure> {
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
        Some(format!("mode=1777,size={shm_size}").as_str()),
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
    use super::super::shifted_rootfs::{OPAQUE_XATTR, shifted_layer};
    use super::super::userns::{IdMapping, MAPPED_IDS, supports_idmapped_mount};
    use super::*;
    use nix::sched::CloneFlags;
    use std::os::fd::AsFd;

    fn paths(paths: &[&str]) -> Vec<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn overlay_options_name_the_layers_top_first() {
        let options = overlay_options(
            &paths(&["/layers/base/fs", "/layers/mid/fs", "/layers/top/fs"]),
            Path::new("/s"),
        )
        .unwrap();
        assert_eq!(
            options,
            OverlayOptions {
                data: "lowerdir=/layers/top/fs:/layers/mid/fs:/layers/base/fs,\
                       upperdir=/s/upper,workdir=/s/work"
                    .into(),
                short_links: false,
            }
        );
        let one = overlay_options(&paths(&["/img/rootfs"]), Path::new("/s")).unwrap();
        assert_eq!(
            one.data,
            "lowerdir=/img/rootfs,upperdir=/s/upper,workdir=/s/work"
        );
    }

    #[test]
    fn overlay_options_past_a_page_name_the_layers_by_their_short_links() {
        let state_dir = Path::new("/var/lib/conti/containers/0123456789abcdef");
        let lowers: Vec<PathBuf> = (0..60)
            .map(|n| PathBuf::from(format!("/var/lib/conti/layers/{n:064}/fs")))
            .collect();
        let options = overlay_options(&lowers, state_dir).unwrap();
        let short_lowers: Vec<String> = (0..60).rev().map(|n| format!("l/{n}")).collect();
        assert_eq!(
            options,
            OverlayOptions {
                data: format!(
                    "lowerdir={},upperdir=upper,workdir=work",
                    short_lowers.join(":")
                ),
                short_links: true,
            }
        );
    }

    #[test]
    fn overlay_options_keep_full_paths_up_to_the_last_byte_of_the_page() {
        let state_dir = Path::new("/s");
        let around = overlay_options(&paths(&["/"]), state_dir)
            .unwrap()
            .data
            .len()
            - 1;
        let lower = |len: usize| vec![PathBuf::from(format!("/{}", "a".repeat(len - 1)))];
        let fits = overlay_options(&lower(MOUNT_DATA_MAX - around), state_dir).unwrap();
        assert_eq!((fits.data.len(), fits.short_links), (MOUNT_DATA_MAX, false));
        let one_more = overlay_options(&lower(MOUNT_DATA_MAX - around + 1), state_dir).unwrap();
        assert_eq!(one_more.data, "lowerdir=l/0,upperdir=upper,workdir=work");
    }

    #[test]
    fn overlay_options_refuse_separators_no_layer_and_too_many_layers() {
        let state_dir = Path::new("/s");
        assert!(overlay_options(&paths(&["/img,x"]), state_dir).is_err());
        assert!(overlay_options(&paths(&["/base", "/top:2"]), state_dir).is_err());
        assert!(overlay_options(&paths(&["/img"]), Path::new("/s:2")).is_err());
        // Even where short links would stand for them.
        let mut long: Vec<PathBuf> = (0..60)
            .map(|n| PathBuf::from(format!("/layers/{n:064}/fs")))
            .collect();
        long[7] = PathBuf::from(format!("/layers/{:064},x/fs", 7));
        assert!(overlay_options(&long, state_dir).is_err());
        assert_eq!(
            overlay_options(&[], state_dir).unwrap_err(),
            "the image has no layer"
        );
        let many: Vec<PathBuf> = (0..1000)
            .map(|n| PathBuf::from(format!("/l/{n}")))
            .collect();
        assert!(
            overlay_options(&many, state_dir)
                .unwrap_err()
                .contains("too many")
        );
    }

    // ----- real mounts (as root; without root a test says so and passes) -----

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Runs `body` in a thread with a mount namespace and a working directory of its own, as the
    /// init has them: its mounts and its `chdir` touch nothing else, and go with it.
    fn in_own_mount_namespace<T: Send>(body: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS).unwrap();
                    make_mounts_private().unwrap();
                    body()
                })
                .join()
                .unwrap()
        })
    }

    /// `count` image layers laid out as the image store keeps them (`layers/<id>/fs`), base
    /// first. Layer `n` has `f<n>` and its own `shared`; the base has `gone`, `d/old` and
    /// `kept/a`; the middle layer deletes `gone` (a whiteout) and makes `d` opaque with `d/new`.
    fn make_layers(root: &Path, count: usize) -> Vec<PathBuf> {
        (0..count)
            .map(|n| {
                let layer = root.join(format!("layers/{n:064}/fs"));
                std::fs::create_dir_all(&layer).unwrap();
                std::fs::write(layer.join(format!("f{n}")), n.to_string()).unwrap();
                std::fs::write(layer.join("shared"), n.to_string()).unwrap();
                if n == 0 {
                    std::fs::write(layer.join("gone"), b"").unwrap();
                    std::fs::create_dir_all(layer.join("d")).unwrap();
                    std::fs::write(layer.join("d/old"), b"").unwrap();
                    std::fs::create_dir_all(layer.join("kept")).unwrap();
                    std::fs::write(layer.join("kept/a"), b"").unwrap();
                }
                if n == count / 2 {
                    nix::sys::stat::mknod(&layer.join("gone"), SFlag::S_IFCHR, Mode::empty(), 0)
                        .unwrap();
                    std::fs::create_dir(layer.join("d")).unwrap();
                    rustix::fs::lsetxattr(
                        layer.join("d"),
                        OPAQUE_XATTR,
                        b"y",
                        rustix::fs::XattrFlags::empty(),
                    )
                    .unwrap();
                    std::fs::write(layer.join("d/new"), b"").unwrap();
                }
                layer
            })
            .collect()
    }

    /// A container's state folder with a path as long as the engine's
    /// (`containers/<64 hex>`), prepared as the monitor does.
    fn make_state_dir(root: &Path, layers: usize) -> PathBuf {
        let state_dir = root.join(format!("containers/{:064x}", 0xc0ffee));
        for sub in [UPPER_DIR, WORK_DIR, ROOTFS_DIR] {
            std::fs::create_dir_all(state_dir.join(sub)).unwrap();
        }
        for n in 0..layers {
            std::fs::create_dir_all(idmapped_layer_dir(&state_dir, n)).unwrap();
        }
        state_dir
    }

    /// What the layers of [`make_layers`] show, stacked, at `rootfs`.
    fn assert_layers_stacked(rootfs: &Path, count: usize) {
        for n in 0..count {
            assert!(rootfs.join(format!("f{n}")).is_file(), "f{n} is missing");
        }
        let top = std::fs::read_to_string(rootfs.join("shared")).unwrap();
        assert_eq!(top, (count - 1).to_string());
        assert!(!rootfs.join("gone").exists(), "the whiteout was ignored");
        assert!(
            !rootfs.join("d/old").exists(),
            "the opaque folder was ignored"
        );
        assert!(rootfs.join("d/new").is_file());
        assert!(rootfs.join("kept/a").is_file());
    }

    /// The owner of `path` as the host sees it.
    fn owner(path: &Path) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::symlink_metadata(path).unwrap();
        (metadata.uid(), metadata.gid())
    }

    const MAPPING: IdMapping = IdMapping {
        host_uid: 200_000,
        host_gid: 300_000,
        idmapped_mounts: true,
    };

    /// A user namespace with `mapping`, held by a `sleep` spawned into it (std's spawn: this test
    /// process has threads, so no bare clone) and killed once the namespace is open.
    fn user_namespace(mapping: IdMapping) -> OwnedFd {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("sleep");
        command.arg("60");
        // SAFETY: the closure runs between fork and exec and only makes one system call.
        unsafe {
            command.pre_exec(|| {
                nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn().unwrap();
        for (file, host) in [("uid_map", mapping.host_uid), ("gid_map", mapping.host_gid)] {
            std::fs::write(
                format!("/proc/{}/{file}", child.id()),
                format!("0 {host} {MAPPED_IDS}\n"),
            )
            .unwrap();
        }
        let userns = std::fs::File::open(format!("/proc/{}/ns/user", child.id())).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        userns.into()
    }

    #[test]
    fn a_few_layers_are_mounted_by_their_full_paths() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layers = make_layers(dir.path(), 3);
        let state_dir = make_state_dir(dir.path(), 0);
        let rootfs = state_dir.join(ROOTFS_DIR);
        in_own_mount_namespace(|| {
            mount_overlay(&layers, &state_dir, &rootfs).unwrap();
            assert_layers_stacked(&rootfs, 3);
        });
        assert!(!state_dir.join(SHORT_LINKS_DIR).exists());
    }

    #[test]
    fn sixty_layers_past_a_page_are_mounted_through_short_links() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layers = make_layers(dir.path(), 60);
        let state_dir = make_state_dir(dir.path(), 0);
        let rootfs = state_dir.join(ROOTFS_DIR);
        let full: usize = layers.iter().map(|l| l.as_os_str().len() + 1).sum();
        assert!(full > MOUNT_DATA_MAX, "the layers' paths fit in a page");
        in_own_mount_namespace(|| {
            mount_overlay(&layers, &state_dir, &rootfs).unwrap();
            assert_layers_stacked(&rootfs, 60);
            // A second start finds the links of the first and makes them anew.
            nix::mount::umount(&rootfs).unwrap();
            mount_overlay(&layers, &state_dir, &rootfs).unwrap();
            assert_layers_stacked(&rootfs, 60);
        });
        assert_eq!(
            std::fs::read_link(state_dir.join("l/0")).unwrap(),
            layers[0]
        );
    }

    #[test]
    fn sixty_idmapped_layers_are_stacked_and_owned_by_the_container_root() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layers = make_layers(dir.path(), 60);
        let state_dir = make_state_dir(dir.path(), 60);
        let rootfs = state_dir.join(ROOTFS_DIR);
        let userns = user_namespace(MAPPING);
        if !supports_idmapped_mount(&layers[0], userns.as_fd()).unwrap() {
            eprintln!("skipped: no idmapped mounts here");
            return;
        }
        let launch = ContainerLaunch {
            image_layers: layers.clone(),
            ..ContainerLaunch::for_tests("c1", &state_dir, &["true"])
        };
        in_own_mount_namespace(|| {
            let lowers = lower_layers(&launch, ImageLayers::Idmapped(userns.as_fd())).unwrap();
            assert_eq!(lowers[59], state_dir.join("lower/59"));
            mount_overlay(&lowers, &state_dir, &rootfs).unwrap();
            assert_layers_stacked(&rootfs, 60);
            assert_eq!(
                owner(&rootfs.join("f0")),
                (MAPPING.host_uid, MAPPING.host_gid)
            );
            assert_eq!(
                owner(&rootfs.join("d")),
                (MAPPING.host_uid, MAPPING.host_gid)
            );
        });
        assert_eq!(
            std::fs::read_link(state_dir.join("l/59")).unwrap(),
            state_dir.join("lower/59")
        );
    }

    #[test]
    fn shifted_copies_of_sixty_layers_keep_deletions_deleted() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layers = make_layers(dir.path(), 60);
        let state_dir = make_state_dir(dir.path(), 0);
        let rootfs = state_dir.join(ROOTFS_DIR);
        let copies: Vec<PathBuf> = layers
            .iter()
            .map(|layer| shifted_layer(layer, MAPPING).unwrap())
            .collect();
        assert_eq!(
            copies[3],
            layers[3].with_file_name(format!("rootfs-{}-{}", MAPPING.host_uid, MAPPING.host_gid))
        );
        in_own_mount_namespace(|| {
            mount_overlay(&copies, &state_dir, &rootfs).unwrap();
            assert_layers_stacked(&rootfs, 60);
            assert_eq!(
                owner(&rootfs.join("f0")),
                (MAPPING.host_uid, MAPPING.host_gid)
            );
        });
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
