//! Who is on the other end of an API connection: `SO_PEERCRED` (uid, gid, pid) and
//! `SO_PEERGROUPS` (supplementary groups), both as the kernel recorded them at `connect()`.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{getsockopt, sockopt};

/// `SO_PEERGROUPS` (Linux 4.13); the libc crate does not name it.
const SO_PEERGROUPS: libc::c_int = 59;
/// More supplementary groups than Linux allows (`NGROUPS_MAX` is 65536): never truncated.
const MAX_GROUPS: usize = 65536;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCredentials {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups; empty when the kernel cannot tell them.
    pub groups: Vec<u32>,
}

/// The credentials of the process that connected `socket`.
pub fn peer_credentials(socket: BorrowedFd<'_>) -> nix::Result<PeerCredentials> {
    let cred = getsockopt(&socket, sockopt::PeerCredentials)?;
    Ok(PeerCredentials {
        pid: cred.pid(),
        uid: cred.uid(),
        gid: cred.gid(),
        groups: peer_groups(socket).unwrap_or_default(),
    })
}

fn peer_groups(socket: BorrowedFd<'_>) -> nix::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = libc::socklen_t::try_from(groups.len() * size_of::<libc::gid_t>())
            .map_err(|_| Errno::EOVERFLOW)?;
        // SAFETY: `groups` has room for `len` bytes, and the kernel writes at most `len` bytes
        // and stores the size it needs (or used) in `len`.
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let count = len as usize / size_of::<libc::gid_t>();
        match Errno::result(result) {
            Ok(_) => {
                groups.truncate(count);
                return Ok(groups);
            }
            Err(Errno::ERANGE) if count > groups.len() && count <= MAX_GROUPS => {
                groups.resize(count, 0);
            }
            Err(errno) => return Err(errno),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn the_peer_of_a_socketpair_is_this_process() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let peer = peer_credentials(a.as_fd()).unwrap();
        assert_eq!(peer.pid, std::process::id() as i32);
        assert_eq!(peer.uid, nix::unistd::getuid().as_raw());
        assert_eq!(peer.gid, nix::unistd::getgid().as_raw());
        let mut groups: Vec<u32> = nix::unistd::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        let mut seen = peer.groups.clone();
        groups.sort_unstable();
        seen.sort_unstable();
        assert_eq!(seen, groups);
    }
}
