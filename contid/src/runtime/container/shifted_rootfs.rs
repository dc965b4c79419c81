//! The fallback of `--userns` where idmapped mounts are missing (kernels before 5.12, overlayfs
//! over an idmapped layer before 5.19, filesystems without support) or turned off
//! (`contid --userns-no-idmap`): a copy of the image's rootfs whose owners are shifted into the
//! range, made once per image and range next to the image's rootfs (`rootfs-<uid>-<gid>`, gone
//! with the image), as Docker's userns-remap does. Hard links become separate files; extended
//! attributes (file capabilities included) and times are not copied.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag};

use super::userns::{IdMapping, MAPPED_IDS};
use crate::runtime::child_failure::{ChildFailure, io_errno};

const STEP: &str = "shifted_rootfs";

/// The shifted copy of `image_rootfs` for `mapping`, made now unless it exists. Made under a
/// temporary name and renamed into place: two starts racing both end with the one copy.
pub(crate) fn shifted_rootfs(
    image_rootfs: &Path,
    mapping: IdMapping,
) -> Result<PathBuf, ChildFailure> {
    let name = format!("rootfs-{}-{}", mapping.host_uid, mapping.host_gid);
    let target = image_rootfs.with_file_name(&name);
    if target.is_dir() {
        return Ok(target);
    }
    let staging = image_rootfs.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let copied = copy_shifted(image_rootfs, &staging, mapping)
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
                    image_rootfs.display()
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
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_shifted(&entry.path(), &target.join(entry.file_name()), mapping)?;
        }
    } else if file_type.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(source)?, target)?;
    } else if file_type.is_file() {
        std::fs::copy(source, target)?;
    } else {
        // Devices, fifos and sockets, as they are.
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
}
