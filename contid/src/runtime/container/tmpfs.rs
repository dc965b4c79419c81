//! tmpfs mounts of a container (`--tmpfs`, `--mount type=tmpfs`), made by its init before
//! `pivot_root`, after the volumes. The target is resolved inside the container's root as a
//! volume's is (see `volumes`): no symlink of the image leads the mount outside it.

use std::path::Path;

use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};

use super::volumes::{open_folder_in_root, open_root, through_fd};
use crate::runtime::child_failure::{ChildFailure, STEP_VOLUMES as STEP, StepResult};

/// One tmpfs, as the engine checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsMount {
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
    pub no_exec: bool,
    pub no_suid: bool,
    pub no_dev: bool,
    /// tmpfs's own options (`mode=1777,size=67108864`...).
    pub data: String,
}

impl TmpfsMount {
    fn flags(&self) -> MsFlags {
        [
            (self.read_only, MsFlags::MS_RDONLY),
            (self.no_exec, MsFlags::MS_NOEXEC),
            (self.no_suid, MsFlags::MS_NOSUID),
            (self.no_dev, MsFlags::MS_NODEV),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(MsFlags::empty(), |flags, (_, flag)| flags | flag)
    }
}

/// Mounts every tmpfs into `rootfs` (the container's root, not yet pivoted into).
pub(super) fn mount_tmpfs(rootfs: &Path, mounts: &[TmpfsMount]) -> Result<(), ChildFailure> {
    if mounts.is_empty() {
        return Ok(());
    }
    let roots = open_root(rootfs)?;
    for mount in mounts {
        let target = open_folder_in_root(&roots, &mount.target)?;
        nix::mount::mount(
            Some("tmpfs"),
            &through_fd(&target),
            Some("tmpfs"),
            mount.flags(),
            Some(mount.data.as_str()),
        )
        .step(STEP, || format!("mount tmpfs on {}", mount.target))?;
    }
    Ok(())
}
