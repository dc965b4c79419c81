//! `--user`: the user and groups a container's processes run as, looked up in the container's
//! own `/etc/passwd` and `/etc/group` (after `pivot_root`, or after an exec joined the mount
//! namespace), as Docker does.
//!
//! `NAME` or `UID`, optionally `:GROUP` or `:GID`. A name must be in `/etc/passwd` (a group name
//! in `/etc/group`); a number need not be. Without a group, the user's primary group from
//! `/etc/passwd` (0 for a uid it does not list). The supplementary groups are those of
//! `/etc/group` that list the user's name.

use std::io::Read;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::runtime::child_failure::{ChildFailure, STEP_RESOLVE_USER, StepResult};

/// Larger account files are refused rather than read (the container writes them).
const MAX_DB_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// The home folder of its `/etc/passwd` entry; `/` without one.
    pub home: String,
}

/// Looks `user` up in the container's account files, with `extra_groups` (names or GIDs) added
/// to its supplementary groups.
pub(super) fn resolve_user(
    user: &str,
    extra_groups: &[String],
) -> Result<ResolvedUser, ChildFailure> {
    let passwd = read_db("/etc/passwd")?;
    let group = read_db("/etc/group")?;
    let not_found = |message| ChildFailure::new(STEP_RESOLVE_USER, Errno::ENOENT, message);
    let mut resolved = resolve(user, &passwd, &group).map_err(not_found)?;
    for extra in extra_groups {
        resolved
            .groups
            .push(group_id(extra, &group).map_err(not_found)?);
    }
    resolved.groups.sort_unstable();
    resolved.groups.dedup();
    Ok(resolved)
}

/// A group's id: a number as it is, a name from `/etc/group`.
fn group_id(group: &str, group_db: &str) -> Result<u32, String> {
    match group.parse::<u32>() {
        Ok(gid) => Ok(gid),
        Err(_) => entries(group_db)
            .find(|fields| fields.len() >= 3 && fields[0] == group)
            .and_then(|fields| fields[2].parse().ok())
            .ok_or_else(|| {
                format!("unable to find group {group}: no matching entries in group file")
            }),
    }
}

impl ResolvedUser {
    /// Becomes the user, keeping the permitted capabilities (narrowed right after).
    pub(super) fn switch_to(&self) -> Result<(), ChildFailure> {
        const STEP: &str = "switch_user";
        nix::sys::prctl::set_keepcaps(true).step(STEP, || "PR_SET_KEEPCAPS".into())?;
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&groups).step(STEP, || "setgroups".into())?;
        let gid = Gid::from_raw(self.gid);
        nix::unistd::setresgid(gid, gid, gid).step(STEP, || format!("setgid {}", self.gid))?;
        let uid = Uid::from_raw(self.uid);
        nix::unistd::setresuid(uid, uid, uid).step(STEP, || format!("setuid {}", self.uid))?;
        nix::sys::prctl::set_keepcaps(false).step(STEP, || "PR_SET_KEEPCAPS".into())
    }
}

/// An account file of the container; empty when it has none. Only a regular file is read (a
/// FIFO there must not block the start).
fn read_db(path: &str) -> Result<String, ChildFailure> {
    let fd = match nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(String::new()),
        Err(errno) => {
            return Err(ChildFailure::new(
                STEP_RESOLVE_USER,
                errno,
                format!("open {path}"),
            ));
        }
    };
    let stat =
        nix::sys::stat::fstat(fd.as_fd()).step(STEP_RESOLVE_USER, || format!("stat {path}"))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG
        || stat.st_size as u64 > MAX_DB_BYTES
    {
        return Err(ChildFailure::new(
            STEP_RESOLVE_USER,
            Errno::EINVAL,
            format!("{path} is not a regular file of at most {MAX_DB_BYTES} bytes"),
        ));
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_DB_BYTES)
        .read_to_string(&mut text)
        .step(STEP_RESOLVE_USER, || format!("read {path}"))?;
    Ok(text)
}

/// `name:...` lines split on `:`, comments and blank lines skipped.
fn entries(db: &str) -> impl Iterator<Item = Vec<&str>> {
    db.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').collect::<Vec<_>>())
}

fn resolve(spec: &str, passwd: &str, group_db: &str) -> Result<ResolvedUser, String> {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    // (name, uid, gid, home) of the passwd entry.
    let entry = entries(passwd)
        .filter(|fields| fields.len() >= 4)
        .find(|fields| match user.parse::<u32>() {
            Ok(uid) => fields[2].parse() == Ok(uid),
            Err(_) => fields[0] == user,
        })
        .and_then(|fields| {
            let home = fields
                .get(5)
                .filter(|home| !home.is_empty())
                .unwrap_or(&"/");
            Some((
                fields[0],
                fields[2].parse::<u32>().ok()?,
                fields[3].parse::<u32>().ok()?,
                home.to_string(),
            ))
        });
    let (name, uid, primary_gid, home) = match (user.parse::<u32>(), entry) {
        (_, Some((name, uid, gid, home))) => (Some(name), uid, gid, home),
        (Ok(uid), None) => (None, uid, 0, "/".to_string()),
        (Err(_), None) => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ));
        }
    };
    let gid = match group {
        None => primary_gid,
        Some(group) => group_id(group, group_db)?,
    };
    let mut groups: Vec<u32> = name
        .map(|name| {
            entries(group_db)
                .filter(|fields| {
                    fields.len() >= 4 && fields[3].split(',').any(|member| member == name)
                })
                .filter_map(|fields| fields[2].parse().ok())
                .collect()
        })
        .unwrap_or_default();
    groups.sort_unstable();
    groups.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # a comment\n\
                          alice:x:1000:1000::/home/alice:/bin/sh\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:bob\n\
                         video:x:44:alice\n";

    fn user(uid: u32, gid: u32, groups: &[u32]) -> ResolvedUser {
        let home = match uid {
            1000 => "/home/alice",
            65534 => "/nonexistent",
            _ => "/",
        };
        ResolvedUser {
            uid,
            gid,
            groups: groups.to_vec(),
            home: home.into(),
        }
    }

    #[test]
    fn names_and_numbers_resolve_through_the_files() {
        assert_eq!(
            resolve("alice", PASSWD, GROUP),
            Ok(user(1000, 1000, &[10, 44]))
        );
        assert_eq!(
            resolve("1000", PASSWD, GROUP),
            Ok(user(1000, 1000, &[10, 44]))
        );
        assert_eq!(
            resolve("nobody", PASSWD, GROUP),
            Ok(user(65534, 65534, &[]))
        );
        assert_eq!(
            resolve("alice:audio", PASSWD, GROUP),
            Ok(user(1000, 29, &[10, 44]))
        );
        assert_eq!(
            resolve("alice:7", PASSWD, GROUP),
            Ok(user(1000, 7, &[10, 44]))
        );
    }

    #[test]
    fn a_uid_without_an_entry_gets_group_0() {
        assert_eq!(resolve("4242", PASSWD, GROUP), Ok(user(4242, 0, &[])));
        assert_eq!(resolve("4242:4243", "", ""), Ok(user(4242, 4243, &[])));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve("mallory", PASSWD, GROUP).unwrap_err(),
            "unable to find user mallory: no matching entries in passwd file"
        );
        assert!(resolve("alice:nogroup", PASSWD, GROUP).is_err());
    }
}
