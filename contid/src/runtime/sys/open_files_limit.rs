//! The open-file limit (`RLIMIT_NOFILE`). contid holds a few fds per running container (pidfds,
//! report pipes), and the helper and monitors their own, so the daemon raises its soft limit to
//! the hard one at start: a shell's 1,024 would stop it at a few hundred containers. Every process
//! it forks inherits that; containers and exec'd commands must not, unknowingly: just before
//! `execve` they get back the limits contid was started with (under the shipped systemd unit,
//! `LimitNOFILE=1048576`, both are 1048576, as Docker's containers had; from a shell, the shell's).

use std::sync::OnceLock;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The limits contid was started with, once [`raise`] has run (in `main`, before the helper is
/// forked, so that the helper and every process it forks have the same copy).
static STARTED_WITH: OnceLock<(u64, u64)> = OnceLock::new();

/// What [`raise`] did: the soft limit before and after (the hard one does not change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaisedLimit {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit to the hard one and remembers what it was. Call it once, from the
/// process that stays contid, before it forks anything.
pub fn raise() -> nix::Result<RaisedLimit> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let _ = STARTED_WITH.set((soft, hard));
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(RaisedLimit {
        soft_before: soft,
        soft: hard,
        hard,
    })
}

/// In a child about to exec the container's command: the limits contid was started with.
pub(crate) fn restore_for_container() -> nix::Result<()> {
    match STARTED_WITH.get() {
        Some(&(soft, hard)) => setrlimit(Resource::RLIMIT_NOFILE, soft, hard),
        None => Ok(()),
    }
}
