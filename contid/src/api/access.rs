//! Who may use the API: root, and the members of one group. The socket file's owner and mode
//! say so to the kernel (root:GROUP 0660, or root 0600 without a group); the daemon checks the
//! peer's credentials again on every connection and answers 403 `forbidden` to anyone else, so
//! a socket made too open (or reached through another path) still gives nothing away.
//!
//! Access to the socket is root-equivalent: a member of the group can run anything as root.

use crate::runtime::sys::peer_credentials::PeerCredentials;

/// The group used when `--group` is not given, if it exists.
pub const DEFAULT_GROUP: &str = "conti";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAccess {
    /// Name and gid of the group whose members may connect besides root.
    group: Option<(String, u32)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("group {0} (--group, or `group` in the configuration file): no such group")]
    NoSuchGroup(String),
    #[error("looking up group {name}: {source}")]
    Lookup { name: String, source: nix::Error },
}

impl SocketAccess {
    /// Root only.
    pub fn root_only() -> SocketAccess {
        SocketAccess { group: None }
    }

    /// `--group NAME` (which must exist), or [`DEFAULT_GROUP`] when it exists, or root only.
    pub fn from_flag(group: Option<&str>) -> Result<SocketAccess, AccessError> {
        let name = group.unwrap_or(DEFAULT_GROUP);
        let found = match nix::unistd::Group::from_name(name) {
            Ok(found) => found,
            // A system without a group database (no /etc/group) has no such group either.
            Err(nix::errno::Errno::ENOENT) => None,
            Err(source) => {
                return Err(AccessError::Lookup {
                    name: name.to_string(),
                    source,
                });
            }
        };
        match (found, group) {
            (Some(found), _) => Ok(SocketAccess {
                group: Some((found.name, found.gid.as_raw())),
            }),
            (None, Some(name)) => Err(AccessError::NoSuchGroup(name.to_string())),
            (None, None) => Ok(SocketAccess::root_only()),
        }
    }

    /// Gid the socket file belongs to (root's without a group).
    pub fn socket_gid(&self) -> u32 {
        self.group.as_ref().map_or(0, |(_, gid)| *gid)
    }

    /// Mode of the socket file.
    pub fn socket_mode(&self) -> u32 {
        if self.group.is_some() { 0o660 } else { 0o600 }
    }

    pub fn group_name(&self) -> Option<&str> {
        self.group.as_ref().map(|(name, _)| name.as_str())
    }

    pub fn allows(&self, peer: &PeerCredentials) -> bool {
        peer.uid == 0
            || self
                .group
                .as_ref()
                .is_some_and(|(_, gid)| peer.gid == *gid || peer.groups.contains(gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> PeerCredentials {
        PeerCredentials {
            pid: 1,
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn root_and_group_members_are_allowed() {
        let access = SocketAccess {
            group: Some(("conti".into(), 990)),
        };
        assert!(access.allows(&peer(0, 0, &[])));
        assert!(access.allows(&peer(1000, 990, &[])));
        assert!(access.allows(&peer(1000, 1000, &[27, 990])));
        assert!(!access.allows(&peer(1000, 1000, &[27])));
        assert_eq!((access.socket_gid(), access.socket_mode()), (990, 0o660));
    }

    #[test]
    fn without_a_group_only_root_is() {
        let access = SocketAccess::root_only();
        assert!(access.allows(&peer(0, 5, &[])));
        assert!(!access.allows(&peer(1000, 0, &[0])));
        assert_eq!((access.socket_gid(), access.socket_mode()), (0, 0o600));
    }

    #[test]
    fn a_named_group_must_exist() {
        assert!(matches!(
            SocketAccess::from_flag(Some("no-such-group-conti-test")),
            Err(AccessError::NoSuchGroup(_))
        ));
        assert_eq!(
            SocketAccess::from_flag(Some("root")).unwrap().socket_gid(),
            0
        );
    }
}
