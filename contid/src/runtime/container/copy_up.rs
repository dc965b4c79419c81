//! Docker's copy-up: the first time a container uses a volume that is empty, what the image has
//! at the volume's target (through the container's root, all layers merged) is copied into it,
//! owners, modes and times kept, so that `-v data:/var/lib/app` starts with the image's files.
//!
//! The image is untrusted: every step is relative to an opened folder, nothing is followed
//! through a symlink (symlinks are copied as symlinks), and the depth is bounded.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps};

use crate::runtime::child_failure::{ChildFailure, STEP_VOLUMES as STEP};

/// Folders deeper than this are refused (an image can hold anything).
const MAX_DEPTH: usize = 128;

/// Copies the folder `image_dir` (opened in the container's root, `O_PATH` is enough) into the
/// folder `volume` when `volume` is empty; the volume's root takes the image folder's owner and
/// mode. `target` names it in errors.
pub(super) fn copy_up(
    image_dir: &impl AsFd,
    volume: &impl AsFd,
    target: &str,
) -> Result<(), ChildFailure> {
    let open_dir = |fd: &dyn AsFd, what: &str| {
        rustix::fs::openat(
            fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| failure(e, format!("open {what} for the copy-up of {target}")))
    };
    let source = open_dir(image_dir, "the image's folder")?;
    let destination = open_dir(volume, "the volume")?;
    if !is_empty(&destination).map_err(|e| failure(e, format!("read the volume of {target}")))? {
        return Ok(());
    }
    copy_folder(&source, &destination, 0)
        .and_then(|()| copy_attributes(&source, &destination))
        .map_err(|(e, what)| {
            failure(
                e,
                format!("copy {target} of the image into its volume: {what}"),
            )
        })
}

type CopyResult = Result<(), (rustix::io::Errno, String)>;

fn is_empty(folder: &OwnedFd) -> Result<bool, rustix::io::Errno> {
    for entry in rustix::fs::Dir::read_from(folder)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

fn copy_folder(source: &OwnedFd, destination: &OwnedFd, depth: usize) -> CopyResult {
    if depth > MAX_DEPTH {
        return Err((
            rustix::io::Errno::LOOP,
            format!("deeper than {MAX_DEPTH} folders"),
        ));
    }
    let entries = rustix::fs::Dir::read_from(source).map_err(|e| (e, "read a folder".into()))?;
    for entry in entries {
        let entry = entry.map_err(|e| (e, "read a folder".into()))?;
        let name = entry.file_name().to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        let shown = name.to_string_lossy().into_owned();
        copy_entry(source, destination, &name, depth).map_err(|(e, what)| {
            match what.is_empty() {
                true => (e, shown),
                false => (e, format!("{shown}/{what}")),
            }
        })?;
    }
    Ok(())
}

/// One entry of a folder, by type; an empty message in the error names the entry itself.
fn copy_entry(
    source: &OwnedFd,
    destination: &OwnedFd,
    name: &std::ffi::CStr,
    depth: usize,
) -> CopyResult {
    let here = |e| (e, String::new());
    let stat = rustix::fs::statat(source, name, AtFlags::SYMLINK_NOFOLLOW).map_err(here)?;
    let no_follow = OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => {
            rustix::fs::mkdirat(destination, name, Mode::from_raw_mode(0o700)).map_err(here)?;
            let open = |fd: &OwnedFd| {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | no_follow;
                rustix::fs::openat(fd, name, flags, Mode::empty())
            };
            let (from, to) = (
                open(source).map_err(here)?,
                open(destination).map_err(here)?,
            );
            copy_folder(&from, &to, depth + 1)?;
            copy_attributes(&from, &to)
        }
        FileType::RegularFile => {
            let from = rustix::fs::openat(source, name, OFlags::RDONLY | no_follow, Mode::empty())
                .map_err(here)?;
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | no_follow;
            let to = rustix::fs::openat(destination, name, flags, Mode::from_raw_mode(0o600))
                .map_err(here)?;
            let (mut reader, mut writer) = (std::fs::File::from(from), std::fs::File::from(to));
            std::io::copy(&mut reader, &mut writer).map_err(|e| {
                let errno = rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO);
                (errno, String::new())
            })?;
            copy_attributes(&reader, &writer)
        }
        FileType::Symlink => {
            let link = rustix::fs::readlinkat(source, name, Vec::new()).map_err(here)?;
            rustix::fs::symlinkat(link.as_c_str(), destination, name).map_err(here)?;
            rustix::fs::chownat(
                destination,
                name,
                Some(rustix::fs::Uid::from_raw(stat.st_uid)),
                Some(rustix::fs::Gid::from_raw(stat.st_gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(here)
        }
        kind @ (FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice) => {
            let mode = Mode::from_raw_mode(stat.st_mode & 0o7777);
            rustix::fs::mknodat(destination, name, kind, mode, stat.st_rdev).map_err(here)?;
            let to = rustix::fs::openat(destination, name, OFlags::PATH | no_follow, Mode::empty())
                .map_err(here)?;
            rustix::fs::chownat(
                &to,
                "",
                Some(rustix::fs::Uid::from_raw(stat.st_uid)),
                Some(rustix::fs::Gid::from_raw(stat.st_gid)),
                AtFlags::EMPTY_PATH,
            )
            .map_err(here)
        }
        // Sockets are made by whoever listens on them, not copied.
        _ => Ok(()),
    }
}

/// Owner, then mode (a chown clears setuid bits), then times, from one open file to another.
fn copy_attributes(from: &impl AsFd, to: &impl AsFd) -> CopyResult {
    let here = |e| (e, String::new());
    let stat = rustix::fs::fstat(from).map_err(here)?;
    rustix::fs::fchown(
        to,
        Some(rustix::fs::Uid::from_raw(stat.st_uid)),
        Some(rustix::fs::Gid::from_raw(stat.st_gid)),
    )
    .map_err(here)?;
    rustix::fs::fchmod(to, Mode::from_raw_mode(stat.st_mode & 0o7777)).map_err(here)?;
    let times = Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: stat.st_atime,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: stat.st_mtime,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    };
    rustix::fs::futimens(to, &times).map_err(here)
}

fn failure(error: rustix::io::Errno, what: String) -> ChildFailure {
    ChildFailure::new(STEP, Errno::from_raw(error.raw_os_error()), what)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn open(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn a_tree_is_copied_with_modes_and_symlinks_and_only_into_an_empty_folder() {
        let image = tempfile::tempdir().unwrap();
        let volume = tempfile::tempdir().unwrap();
        std::fs::create_dir(image.path().join("sub")).unwrap();
        std::fs::write(image.path().join("sub/file"), "hello").unwrap();
        std::fs::set_permissions(
            image.path().join("sub/file"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::fs::set_permissions(image.path(), std::fs::Permissions::from_mode(0o751)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", image.path().join("link")).unwrap();
        copy_up(&open(image.path()), &open(volume.path()), "/data").unwrap();
        let copied = volume.path().join("sub/file");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "hello");
        assert_eq!(std::fs::metadata(&copied).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(
            std::fs::metadata(volume.path()).unwrap().mode() & 0o7777,
            0o751
        );
        assert_eq!(
            std::fs::read_link(volume.path().join("link")).unwrap(),
            std::path::Path::new("/etc/passwd")
        );
        // Not empty any more: a second copy-up changes nothing.
        std::fs::write(image.path().join("new"), "x").unwrap();
        copy_up(&open(image.path()), &open(volume.path()), "/data").unwrap();
        assert!(!volume.path().join("new").exists());
    }
}
