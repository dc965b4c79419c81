//! Confinement: what narrows a container's processes and protects the host from them — the
//! capabilities, the seccomp filter, no_new_privileges and the user to run as (applied just before
//! `execve`, to the init and every exec), the masked kernel paths, and the sealed copy of the
//! daemon's binary that a container cannot overwrite.
//!
//! It may import `cgroup` (the device allow-list a container's security names) and the layer's
//! shared types; never `container` or `process`, which apply it.
//!
//! What narrows a container's process just before `execve`: no_new_privileges, capabilities and
//! the seccomp filter, in the order the kernel allows.
//!
//! Installing a seccomp filter needs no_new_privileges or CAP_SYS_ADMIN. With no_new_privileges
//! (the default) the filter comes last, after the capabilities are dropped, so that it need not
//! allow `capset`. Without it the filter is installed while CAP_SYS_ADMIN is still held, and the
//! capabilities are dropped under it (as runc does): a profile must then allow `capset` and
//! `prctl`, which the default profile does. A user other than root is switched to between
//! dropping the bounding set and narrowing the other sets (with `PR_SET_KEEPCAPS`): after its
//! `execve` it holds no capability, as with Docker.

pub mod capabilities;
pub mod masked_paths;
pub mod sealed_exe;
pub mod seccomp;
mod user;

use conti_proto::{Seccomp, SecurityOptions};
use serde::{Deserialize, Serialize};

use self::capabilities::CapabilitySet;
use self::seccomp::SeccompFilters;
use self::user::{ResolvedUser, resolve_user};
use crate::runtime::ContainerSecurity;
use crate::runtime::cgroup::DeviceAccess;
use crate::runtime::child_failure::{ChildFailure, StepResult};

/// How a container's processes (its init and every exec) are confined; filled by the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessConfinement {
    pub capabilities: CapabilitySet,
    pub no_new_privileges: bool,
    /// The profile compiled by the daemon; `None`: no filter (unconfined, privileged).
    pub seccomp: Option<SeccompFilters>,
    /// `NAME|UID[:GROUP|GID]` to run as, looked up in the container; `None`: root.
    pub user: Option<String>,
    /// Supplementary groups besides the user's, `NAME` (looked up in the container) or `GID`.
    #[serde(default)]
    pub group_add: Vec<String>,
}

impl ContainerSecurity {
    /// What a container's security options mean for its processes, the seccomp profile
    /// compiled (the default one is compiled once per capability set). Fails (with a message
    /// for the caller) on an unknown capability or a profile that does not compile.
    pub fn from_options(options: &SecurityOptions) -> Result<ContainerSecurity, String> {
        let capabilities =
            CapabilitySet::resolve(options.privileged, &options.cap_add, &options.cap_drop)?;
        let seccomp = match (&options.seccomp, options.privileged) {
            (_, true) | (Seccomp::Unconfined, _) => None,
            (Seccomp::Default, false) => Some(seccomp::default_filters(capabilities)),
            (Seccomp::Profile { profile }, false) => Some(seccomp::compile(profile, capabilities)),
        }
        .transpose()
        .map_err(|e| e.to_string())?;
        Ok(ContainerSecurity {
            confinement: ProcessConfinement {
                capabilities,
                no_new_privileges: options.no_new_privileges,
                seccomp,
                user: None,
                group_add: Vec::new(),
            },
            mask_kernel_paths: !options.privileged,
            devices: if options.privileged {
                DeviceAccess::All
            } else {
                DeviceAccess::Default
            },
            read_only_rootfs: options.read_only_rootfs,
            userns: None,
        })
    }
}

/// A [`ProcessConfinement`] ready to apply: the user looked up.
pub(super) struct CompiledConfinement {
    capabilities: CapabilitySet,
    no_new_privileges: bool,
    seccomp: Option<SeccompFilters>,
    user: Option<ResolvedUser>,
}

impl ProcessConfinement {
    /// Looks the user up in the container's files (so: in the child, once inside its root).
    /// The profile came compiled.
    pub(super) fn compile(&self) -> Result<CompiledConfinement, ChildFailure> {
        // Extra groups need a switch of groups, so a user: root's when there is none.
        let user = match (self.user.as_deref(), self.group_add.is_empty()) {
            (None, true) => None,
            (user, _) => Some(resolve_user(user.unwrap_or("0"), &self.group_add)?),
        };
        Ok(CompiledConfinement {
            capabilities: self.capabilities,
            no_new_privileges: self.no_new_privileges,
            seccomp: self.seccomp.clone(),
            user,
        })
    }
}

impl CompiledConfinement {
    /// The uid and gid the process runs as (root's without a user).
    pub(super) fn ids(&self) -> (u32, u32) {
        self.user
            .as_ref()
            .map_or((0, 0), |user| (user.uid, user.gid))
    }

    /// Applies everything to the calling single-threaded process; the next thing it does should
    /// be `execve`.
    pub(super) fn apply(&self) -> Result<(), ChildFailure> {
        if self.no_new_privileges {
            nix::sys::prctl::set_no_new_privs()
                .step("no_new_privileges", || "PR_SET_NO_NEW_PRIVS".into())?;
        } else {
            self.apply_seccomp()?;
        }
        self.capabilities.drop_bounding()?;
        if let Some(user) = &self.user {
            user.switch_to()?;
        }
        self.capabilities.narrow()?;
        if self.no_new_privileges {
            self.apply_seccomp()?;
        }
        Ok(())
    }

    /// `env` with `HOME` added when it has none: the user's home from `/etc/passwd`, `/root`
    /// for root.
    pub(super) fn environment(&self, env: &[String]) -> Vec<String> {
        let mut env = env.to_vec();
        if !env.iter().any(|entry| entry.starts_with("HOME=")) {
            let home = self
                .user
                .as_ref()
                .map_or("/root", |user| user.home.as_str());
            env.push(format!("HOME={home}"));
        }
        env
    }

    fn apply_seccomp(&self) -> Result<(), ChildFailure> {
        match &self.seccomp {
            Some(filters) => filters.apply(),
            None => Ok(()),
        }
    }
}
