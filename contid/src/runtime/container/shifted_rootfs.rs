//! The fallback of `--userns` where idmapped mounts are missing (kernels before 5.12, overlayfs
//! over an idmapped layer before 5.19, filesystems without support) or turned off
//! (`contid --userns-no-idmap`): a copy of each of the image's layers whose owners are shifted
//! into the range, made once per layer and range next to the layer (`rootfs-<uid>-<gid>` beside
//! `<image>/rootfs` or `<layer>/fs`, gone with it), as Docker's userns-remap does. Hard links
//! become separate files; times and extended attributes (file capabilities included) are not
//! copied, but for the overlay's own marks: whiteouts (0:0 character devices, copied as devices)
//! and the opaque mark of folders (`trusted.overlay.opaque`), so that what an upper layer deleted
//! stays deleted.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag};
use rustix::fs::XattrFlags;

use super::userns::{IdMapping, MAPPED_IDS};
use crate::runtime::child_failure::{ChildFailure, io_errno};

const STEP: &str = "shifted_rootfs";

/// The mark overlayfs reads on a folder of a lower layer: `y`, the folder hides the layers below.
pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The shifted copy of the image layer at `layer` for `mapping`, made now unless it exists. Made
/// under a temporary name and renamed into place: two starts racing both end with the one copy.
pub(crate) fn shifted_layer(layer: &Path, mapping: IdMapping) -> Result<PathBuf, ChildFailure> {
    let name = format!("rootfs-{}-{}", mapping.host_uid, mapping.host_gid);
    let target = layer.with_file_name(&name);
    if target.is_dir() {
        return Ok(target);
    }
    let staging = layer.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let copied = copy_shifted(layer, &staging, mapping)
        .and_then(|()| match std::fs::rename(&staging, &target) {
            // Another start published it first.
            Err(_) if target.is_dir() => Ok(()),
            renamed => renamed,
        })
        .map_err(|e| {
            ChildFailure::new(
                STEP,
                io_errno(&e),
                format!(
                    "copy {} shifted into the user namespace's range: {e}",
                    layer.display()
                ),
            )
        });
    let _ = std::fs::remove_dir_all(&staging);
    copied.map(|()| target)
}

/// Copies `source` to `target` (which must not exist), every owner shifted by `mapping`.
fn copy_shifted(source: &Path, target: &Path, mapping: IdMapping) -> std::io::Result<()> {
    let metadata = std::fs::symlink_metadata(source)?;
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        std::fs::create_dir(target)?;
        copy_opaque_mark(source, target)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_shifted(&entry.path(), &target.join(entry.file_name()), mapping)?;
        }
    } else if file_type.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(source)?, target)?;
    } else if file_type.is_file() {
        std::fs::copy(source, target)?;
    } else {
        // Devices (overlay whiteouts among them), fifos and sockets, as they are.
        let kind = SFlag::from_bits_truncate(metadata.mode() & SFlag::S_IFMT.bits());
        nix::sys::stat::mknod(target, kind, Mode::empty(), metadata.rdev())?;
    }
    std::os::unix::fs::lchown(
        target,
        Some(shift(metadata.uid(), mapping.host_uid)),
        Some(shift(metadata.gid(), mapping.host_gid)),
    )?;
    if !file_type.is_symlink() {
        // After the chown, which clears setuid and setgid bits.
        std::fs::set_permissions(
            target,
            std::fs::Permissions::from_mode(metadata.mode() & 0o7777),
        )?;
    }
    Ok(())
}

/// The folder `source`'s overlay opaque mark, if it has one: in a lower layer it hides what the
/// layers below hold at that path.
fn copy_opaque_mark(source: &Path, target: &Path) -> std::io::Result<()> {
    let mut value = [0u8; 16];
    match rustix::fs::lgetxattr(source, OPAQUE_XATTR, &mut value) {
        Ok(len) => {
            rustix::fs::lsetxattr(target, OPAQUE_XATTR, &value[..len], XattrFlags::empty())?;
            Ok(())
        }
        // No mark, or a filesystem without extended attributes.
        Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

/// An id of the image as the host sees it in the copy: those the namespace maps move into the
/// range; the others stay (and show as `nobody` inside).
fn shift(id: u32, base: u32) -> u32 {
    if id < MAPPED_IDS { base + id } else { id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ids_move_into_the_range_and_others_stay() {
        assert_eq!(shift(0, 100_000), 100_000);
        assert_eq!(shift(65_535, 100_000), 165_535);
        assert_eq!(shift(65_536, 100_000), 65_536);
    }

    #[test]
    fn whiteouts_and_opaque_marks_are_copied_with_their_owners_shifted() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer-id/fs");
        std::fs::create_dir_all(layer.join("opaque")).unwrap();
        std::fs::create_dir_all(layer.join("plain")).unwrap();
        nix::sys::stat::mknod(&layer.join("deleted"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        rustix::fs::lsetxattr(
            layer.join("opaque"),
            OPAQUE_XATTR,
            b"y",
            XattrFlags::empty(),
        )
        .unwrap();
        let mapping = IdMapping {
            host_uid: 100_000,
            host_gid: 200_000,
            idmapped_mounts: false,
        };
        let copy = shifted_layer(&layer, mapping).unwrap();
        assert_eq!(copy, dir.path().join("layer-id/rootfs-100000-200000"));

        let whiteout = std::fs::symlink_metadata(copy.join("deleted")).unwrap();
        assert_eq!(
            whiteout.mode() & SFlag::S_IFMT.bits(),
            SFlag::S_IFCHR.bits()
        );
        assert_eq!(whiteout.rdev(), 0);
        assert_eq!((whiteout.uid(), whiteout.gid()), (100_000, 200_000));
        let mut value = [0u8; 4];
        let len = rustix::fs::lgetxattr(copy.join("opaque"), OPAQUE_XATTR, &mut value).unwrap();
        assert_eq!(&value[..len], b"y");
        assert_eq!(
            rustix::fs::lgetxattr(copy.join("plain"), OPAQUE_XATTR, &mut value),
            Err(rustix::io::Errno::NODATA)
        );
        // Made once: the next start takes it as it is.
        assert_eq!(shifted_layer(&layer, mapping).unwrap(), copy);
    }
}
