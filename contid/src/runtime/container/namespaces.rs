//! Namespaces: creating them (the flags the container's init is cloned with, through
//! `sys::clone`), finishing them from inside (cgroup namespace, hostname) and joining them (exec;
//! the user namespace of `--userns` last).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};

use crate::runtime::NetworkSetup;
use crate::runtime::child_failure::{ChildFailure, StepResult};

/// Namespaces the init is cloned into. The cgroup namespace comes later, from inside, once the
/// monitor has put the init into its cgroup (its root is then the container's cgroup).
pub(crate) fn init_clone_flags(network: &NetworkSetup) -> CloneFlags {
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID;
    if network.new_namespace() {
        flags | CloneFlags::CLONE_NEWNET
    } else {
        flags
    }
}

/// A cgroup namespace rooted at the cgroup the init sits in now.
pub(super) fn enter_cgroup_namespace() -> Result<(), ChildFailure> {
    nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
        .step("unshare_cgroupns", || "unshare cgroup namespace".into())
}

pub(super) fn set_hostname(hostname: &str) -> Result<(), ChildFailure> {
    nix::unistd::sethostname(hostname).step("sethostname", || format!("set hostname {hostname:?}"))
}

/// The namespaces an exec'd command joins, in `setns` order: the mount namespace last, since
/// after it `/proc` is the container's and nothing of the host can be opened any more.
const EXEC_NAMESPACES: [(&str, CloneFlags); 6] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Opened namespaces of a container's init, joined in two steps: [`ContainerNamespaces::join_pid`] by the exec waiter, [`ContainerNamespaces::join_all_but_pid`] by the command.
pub(crate) struct ContainerNamespaces {
    files: Vec<(File, &'static str, CloneFlags)>,
    /// The init's user namespace when it is not ours (`--userns`): joined after all the others.
    user: Option<File>,
}

impl ContainerNamespaces {
    /// Opens all of them first: once in the container's mount namespace the host's `/proc` is gone.
    pub fn open(init_pid: i32) -> Result<ContainerNamespaces, ChildFailure> {
        let files = EXEC_NAMESPACES
            .iter()
            .map(|&(name, flag)| {
                let path = format!("/proc/{init_pid}/ns/{name}");
                match File::open(&path) {
                    Ok(file) => Ok((file, name, flag)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ChildFailure::new(
                        "open_namespace",
                        Errno::ESRCH,
                        format!("the container's init (pid {init_pid}) is not running"),
                    )),
                    Err(e) => Err(e).step("open_namespace", || format!("open {path}")),
                }
            })
            .collect::<Result<_, _>>()?;
        let user = File::open(format!("/proc/{init_pid}/ns/user"))
            .and_then(|user| Ok((is_own_user_namespace(&user)?, user)))
            .step("open_namespace", || {
                "open the container's user namespace".into()
            })?;
        Ok(ContainerNamespaces {
            files,
            user: (!user.0).then_some(user.1),
        })
    }

    /// `setns` into the pid namespace, which applies to children only: fork after this.
    pub fn join_pid(&self) -> Result<(), ChildFailure> {
        self.join_where(|flag| flag == CloneFlags::CLONE_NEWPID)
    }

    /// `setns` into every other one, the mount namespace last but for the user namespace.
    pub fn join_all_but_pid(&self) -> Result<(), ChildFailure> {
        self.join_where(|flag| flag != CloneFlags::CLONE_NEWPID)?;
        match &self.user {
            Some(user) => join_user_namespace(user.as_fd()),
            None => Ok(()),
        }
    }

    fn join_where(&self, wanted: impl Fn(CloneFlags) -> bool) -> Result<(), ChildFailure> {
        for (file, name, flag) in self.files.iter().filter(|(_, _, flag)| wanted(*flag)) {
            nix::sched::setns(file, *flag)
                .step("setns", || format!("join the container's {name} namespace"))?;
        }
        Ok(())
    }
}

/// Joins the user namespace of `userns` (the last namespace joined: the others are owned by the
/// host's, and joining them needs the host's privileges) and becomes its root: until `setresuid`
/// the process still has the host's root ids, which the namespace does not map.
pub(super) fn join_user_namespace(userns: BorrowedFd<'_>) -> Result<(), ChildFailure> {
    const STEP: &str = "join_userns";
    nix::sched::setns(userns, CloneFlags::CLONE_NEWUSER)
        .step(STEP, || "join the container's user namespace".into())?;
    let root_gid = Gid::from_raw(0);
    nix::unistd::setgroups(&[]).step(STEP, || "setgroups".into())?;
    nix::unistd::setresgid(root_gid, root_gid, root_gid).step(STEP, || "setgid 0".into())?;
    let root_uid = Uid::from_raw(0);
    nix::unistd::setresuid(root_uid, root_uid, root_uid).step(STEP, || "setuid 0".into())
}

/// Whether `namespace` is the caller's own user namespace (same inode of nsfs).
fn is_own_user_namespace(namespace: &File) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata("/proc/self/ns/user")?;
    let theirs = namespace.metadata()?;
    Ok((own.dev(), own.ino()) == (theirs.dev(), theirs.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_network_keeps_the_host_network_namespace() {
        assert!(init_clone_flags(&NetworkSetup::Isolated).contains(CloneFlags::CLONE_NEWNET));
        assert!(!init_clone_flags(&NetworkSetup::Host).contains(CloneFlags::CLONE_NEWNET));
        assert!(
            init_clone_flags(&NetworkSetup::Host)
                .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS)
        );
    }
}
