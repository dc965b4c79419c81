//! The device allow-list: which device nodes a container's processes may create (`mknod`), read
//! and write. One list of typed rules ([`DEFAULT_DEVICES`]) is enforced two ways:
//! - cgroup v1 (hybrid hosts too): written into the devices controller, `devices.deny` `a`, then
//!   one `devices.allow` line per rule;
//! - cgroup v2: compiled into a `BPF_PROG_TYPE_CGROUP_DEVICE` program (`device_program`) that
//!   allows what a rule matches and denies everything else, attached to the container's cgroup
//!   before any of its processes exists there. The attachment holds the program: removing the
//!   cgroup frees it, so a failed start leaves nothing behind.
//!
//! A privileged container ([`DeviceAccess::All`]) gets `devices.allow a` on v1 and no program on
//! v2. A v2 host whose kernel cannot load the program (no `CONFIG_CGROUP_BPF`, no privilege for
//! bpf(2)) fails the start with the reason, as runc and crun do: the list is never silently
//! dropped.

use std::fmt;
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

/// The kind of device node a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
    /// Both kinds.
    Any,
}

/// What a rule allows on the devices it matches; the bits are the kernel's `BPF_DEVCG_ACC_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceOps(u8);

impl DeviceOps {
    pub const MKNOD: DeviceOps = DeviceOps(1);
    pub const READ: DeviceOps = DeviceOps(1 << 1);
    pub const WRITE: DeviceOps = DeviceOps(1 << 2);
    /// `rwm`: everything.
    pub const ALL: DeviceOps = DeviceOps(Self::MKNOD.0 | Self::READ.0 | Self::WRITE.0);

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, other: DeviceOps) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for DeviceOps {
    type Output = DeviceOps;

    fn bitor(self, other: DeviceOps) -> DeviceOps {
        DeviceOps(self.0 | other.0)
    }
}

/// One allow rule: a kind, a major and a minor (`None`: any), what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub ops: DeviceOps,
}

impl DeviceRule {
    /// Everything on the character device `major:minor` (`minor` `None`: every minor).
    pub const fn char(major: u32, minor: Option<u32>) -> DeviceRule {
        DeviceRule {
            kind: DeviceKind::Char,
            major: Some(major),
            minor,
            ops: DeviceOps::ALL,
        }
    }
}

/// The v1 `devices.allow` syntax: `c 1:3 rwm`, `c 136:* rwm`, `a *:* rwm`.
impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
            DeviceKind::Any => 'a',
        };
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        write!(f, "{kind} {}:{} ", number(self.major), number(self.minor))?;
        for (op, letter) in [
            (DeviceOps::READ, 'r'),
            (DeviceOps::WRITE, 'w'),
            (DeviceOps::MKNOD, 'm'),
        ] {
            if self.ops.contains(op) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// The default list (Docker's, plus `full` and the pty devices): null, zero, full, random,
/// urandom, tty, ptmx, and every pts.
pub const DEFAULT_DEVICES: [DeviceRule; 8] = [
    DeviceRule::char(1, Some(3)),
    DeviceRule::char(1, Some(5)),
    DeviceRule::char(1, Some(7)),
    DeviceRule::char(1, Some(8)),
    DeviceRule::char(1, Some(9)),
    DeviceRule::char(5, Some(0)),
    DeviceRule::char(5, Some(2)),
    DeviceRule::char(136, None),
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
                .try_for_each(|rule| write_limit(dir, "devices.allow", &rule.to_string(), LIMIT))
        }
    }
}
