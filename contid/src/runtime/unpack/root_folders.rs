//! The folders a container's start mounts on (`/proc`, `/sys`, `/dev`, `/etc`) must be folders
//! of the image itself: the start refuses a symlink there (following it would point the mount,
//! or the files created for it, wherever the image likes), so an image with one is refused when
//! it is imported, not at every start with a 500.

use std::path::Path;

use super::UnpackError;

/// The root's folders that get mounts or bind-mounted files at start.
const MOUNT_POINTS: [&str; 4] = ["proc", "sys", "dev", "etc"];

/// Checks that each of `/proc`, `/sys`, `/dev` and `/etc` of an unpacked root filesystem is a
/// folder or absent (the start creates it then).
pub fn check_root_folders(root: &Path) -> Result<(), UnpackError> {
    for name in MOUNT_POINTS {
        let path = root.join(name);
        let metadata = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => other.map_err(|source| UnpackError::Io {
                context: format!("stat /{name} of the image"),
                source,
            })?,
        };
        let what = if metadata.is_dir() {
            continue;
        } else if metadata.is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            format!("a symlink (to {})", target.display())
        } else {
            "not a folder".to_string()
        };
        return Err(UnpackError::Refused {
            entry: name.to_string(),
            reason: format!(
                "/{name} is {what}: a container's start mounts on /{name}, which must be a \
                 folder of the image"
            ),
        });
    }
    Ok(())
}
