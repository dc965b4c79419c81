//! Linux capabilities of a container's processes: Docker's default set, `cap_add`/`cap_drop`,
//! and dropping the rest in the last steps before `execve`.
//!
//! The set kept goes into the bounding, permitted and effective sets; inheritable and ambient are
//! emptied (as moby does). A root process keeps exactly this set across `execve` (the kernel
//! gives root the bounding set); another user keeps none of it after `execve`.

use std::collections::BTreeSet;

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use crate::runtime::child_failure::ChildFailure;

/// Docker's default capabilities (moby `daemon/pkg/oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// The capabilities a container's processes keep, as a bit mask (bit N = capability N). Every
/// bit set means "all the kernel supports" (privileged, or `cap_add: ["ALL"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CapabilitySet(u64);

impl CapabilitySet {
    pub const ALL: CapabilitySet = CapabilitySet(u64::MAX);

    pub fn default_set() -> CapabilitySet {
        CapabilitySet::from_caps(DEFAULT_CAPABILITIES)
    }

    fn from_caps(caps: impl IntoIterator<Item = Capability>) -> CapabilitySet {
        CapabilitySet(caps.into_iter().fold(0, |mask, cap| mask | cap.bitmask()))
    }

    /// The set a spec asks for. `privileged` wins over everything; `ALL` in `drop` empties the
    /// default set before `add` is applied, `ALL` in `add` fills it before `drop` is.
    pub fn resolve(privileged: bool, add: &[String], drop: &[String]) -> Result<Self, String> {
        let add = parse_names(add)?;
        let drop = parse_names(drop)?;
        if privileged {
            return Ok(CapabilitySet::ALL);
        }
        let mut mask = match (&add, &drop) {
            (Names::All, _) => u64::MAX,
            (_, Names::All) => 0,
            _ => CapabilitySet::default_set().0,
        };
        if let Names::Some(add) = &add {
            mask |= CapabilitySet::from_caps(add.iter().copied()).0;
        }
        if let Names::Some(drop) = &drop {
            mask &= !CapabilitySet::from_caps(drop.iter().copied()).0;
        }
        Ok(CapabilitySet(mask))
    }

    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bitmask() != 0
    }

    /// The capabilities of the set this kernel supports.
    fn supported(self) -> CapsHashSet {
        caps::runtime::thread_all_supported()
            .into_iter()
            .filter(|cap| self.contains(*cap))
            .collect()
    }

    /// What of the set the calling process holds (a daemon started without some capability
    /// cannot give it to its containers): one `capget`.
    fn held(self) -> Result<CapsHashSet, caps::errors::CapsError> {
        let permitted = caps::read(None, CapSet::Permitted)?;
        Ok(permitted
            .into_iter()
            .filter(|cap| self.contains(*cap))
            .collect())
    }

    /// Names (`CAP_…`) of the capabilities in the set that this kernel supports.
    pub fn names(self) -> BTreeSet<String> {
        self.supported().iter().map(|cap| cap.to_string()).collect()
    }

    /// Removes from the bounding set what is not in this set (it needs CAP_SETPCAP, still
    /// held): first of the two steps that narrow the calling single-threaded process. The
    /// bounding set is read once (it holds only what the kernel supports) and only what it
    /// holds is dropped.
    pub(super) fn drop_bounding(self) -> Result<(), ChildFailure> {
        let bounding =
            caps::read(None, CapSet::Bounding).map_err(|e| failure("read the bounding set", e))?;
        for cap in bounding {
            if !self.contains(cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| failure("drop from the bounding set", e))?;
            }
        }
        Ok(())
    }

    /// The second step (after a change of user, if any): ambient and inheritable emptied,
    /// effective and permitted set to what the process holds of this set.
    pub(super) fn narrow(self) -> Result<(), ChildFailure> {
        let keep = self
            .held()
            .map_err(|e| failure("read the permitted set", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| failure("clear the ambient set", e))?;
        caps::clear(None, CapSet::Inheritable)
            .map_err(|e| failure("clear the inheritable set", e))?;
        caps::set(None, CapSet::Effective, &keep)
            .map_err(|e| failure("set the effective set", e))?;
        caps::set(None, CapSet::Permitted, &keep).map_err(|e| failure("set the permitted set", e))
    }
}

fn failure(what: &str, error: caps::errors::CapsError) -> ChildFailure {
    ChildFailure::new("capabilities", Errno::last(), format!("{what}: {error}"))
}

enum Names {
    All,
    Some(Vec<Capability>),
}

/// `CHOWN`, `cap_chown`, `CAP_CHOWN`: one capability; `ALL`: every one.
fn parse_names(names: &[String]) -> Result<Names, String> {
    let mut caps = Vec::new();
    for name in names {
        let upper = name.to_ascii_uppercase();
        if upper == "ALL" {
            return Ok(Names::All);
        }
        let canonical = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let cap = canonical
            .parse::<Capability>()
            .map_err(|_| format!("unknown capability {name:?}"))?;
        caps.push(cap);
    }
    Ok(Names::Some(caps))
}

/// A capability name as a profile's `includes.caps` writes it (`CAP_SYS_ADMIN`), parsed.
pub fn parse_capability(name: &str) -> Option<Capability> {
    match parse_names(std::slice::from_ref(&name.to_string())) {
        Ok(Names::Some(caps)) => caps.first().copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_default_is_dockers_fourteen() {
        let set = CapabilitySet::resolve(false, &[], &[]).unwrap();
        assert_eq!(set, CapabilitySet::default_set());
        assert!(set.contains(Capability::CAP_CHOWN));
        assert!(!set.contains(Capability::CAP_SYS_ADMIN));
        assert_eq!(set.0.count_ones(), 14);
    }

    #[test]
    fn add_and_drop_change_the_default() {
        let set =
            CapabilitySet::resolve(false, &names(&["sys_admin"]), &names(&["CAP_CHOWN"])).unwrap();
        assert!(set.contains(Capability::CAP_SYS_ADMIN));
        assert!(!set.contains(Capability::CAP_CHOWN));
        assert_eq!(set.0.count_ones(), 14);
    }

    #[test]
    fn all_empties_or_fills_the_set() {
        let none = CapabilitySet::resolve(false, &[], &names(&["ALL"])).unwrap();
        assert_eq!(none.0, 0);
        let one = CapabilitySet::resolve(false, &names(&["KILL"]), &names(&["all"])).unwrap();
        assert_eq!(one.0, Capability::CAP_KILL.bitmask());
        let all_but = CapabilitySet::resolve(false, &names(&["ALL"]), &names(&["MKNOD"])).unwrap();
        assert!(!all_but.contains(Capability::CAP_MKNOD));
        assert!(all_but.contains(Capability::CAP_SYS_ADMIN));
        let privileged = CapabilitySet::resolve(true, &[], &names(&["ALL"])).unwrap();
        assert_eq!(privileged, CapabilitySet::ALL);
    }

    #[test]
    fn unknown_names_are_refused() {
        let error = CapabilitySet::resolve(false, &names(&["CAP_FLY"]), &[]).unwrap_err();
        assert_eq!(error, "unknown capability \"CAP_FLY\"");
        assert!(CapabilitySet::resolve(false, &[], &names(&[""])).is_err());
    }
}
