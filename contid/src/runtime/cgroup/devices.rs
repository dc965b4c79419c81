//! The device allow-list: which device nodes a container's processes may create (`mknod`), read
//! and write, enforced by the devices controller of cgroup v1 (hybrid hosts too).
//!
//! A cgroup v2-only host would need a BPF device program (`BPF_PROG_TYPE_CGROUP_DEVICE`) attached
//! to the container's cgroup; Conti does not load one yet, so there the list is not enforced by
//! the kernel (the container still has only the default nodes in `/dev`, and no CAP_SYS_ADMIN to
//! mount others).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CgroupError;
use super::cgroupfs::write_limit;

/// What a container may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceAccess {
    /// [`DEFAULT_DEVICES`] only.
    Default,
    /// Every device (privileged).
    All,
}

/// `devices.allow` rules of the default list (Docker's, plus `full` and the pty devices):
/// null, zero, full, random, urandom, tty, ptmx, and every pts.
pub const DEFAULT_DEVICES: [&str; 8] = [
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

const LIMIT: &str = "devices";

/// Writes the allow-list into the container's v1 devices cgroup `dir`: deny everything, then
/// allow the list (or allow everything).
pub(super) fn restrict_v1(dir: &Path, access: DeviceAccess) -> Result<(), CgroupError> {
    match access {
        DeviceAccess::All => write_limit(dir, "devices.allow", "a", LIMIT),
        DeviceAccess::Default => {
            write_limit(dir, "devices.deny", "a", LIMIT)?;
            DEFAULT_DEVICES
                .iter()
                .try_for_each(|rule| write_limit(dir, "devices.allow", rule, LIMIT))
        }
    }
}
