//! The container model: what was asked for (config), where it is in its life (status), and the
//! rules for moving between states. Illegal transitions become a 409 from here, in one place.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use conti_proto::{
    ContainerInfo, ContainerNetwork, ContainerState, HealthcheckSpec, LogLimits, NetworkMode,
    PortBinding, Resources, RestartPolicy, SecurityOptions, TmpfsSpec, VolumeSpec,
};
use serde::{Deserialize, Serialize};

use super::error::{EngineError, EngineResult};
use super::restarts::RestartState;

/// What a container was created with. Stored with its state; only `resources` and
/// `restart_policy` change after create (`PATCH /v1/containers/{ref}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub id: String,
    pub name: String,
    /// The image as the create named it.
    pub image: String,
    /// Its id at create: the container's layers are that image's.
    #[serde(default)]
    pub image_id: String,
    /// What runs: the entrypoint and the command, combined at create.
    pub cmd: Vec<String>,
    /// The image's environment with the caller's entries over it (defaults are added at start).
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub network: NetworkMode,
    pub auto_remove: bool,
    pub created: String,
    /// Run the command under the tiny init. Absent in configs written before it existed.
    #[serde(default)]
    pub init: bool,
    /// A terminal as stdio (absent in configs written before it existed).
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    /// Limits for its cgroup, as last updated (absent in configs written before they existed).
    #[serde(default)]
    pub resources: Resources,
    /// Its address on its network (bridge modes only): the IPAM's allocation, made at create and
    /// freed when the container is deleted.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// Published ports (bridge modes only).
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// Privileges and confinement (absent in configs written before they existed: the secure
    /// defaults then apply).
    #[serde(default)]
    pub security: SecurityOptions,
    /// `ContainerSpec.user` (absent: root).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// The signal `stop` sends first (the create's, else the image's `StopSignal`; SIGTERM when
    /// absent).
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// The health check in force: the create's over the image's, every field filled in (see
    /// `health`); `None` without one.
    #[serde(default)]
    pub healthcheck: Option<HealthcheckSpec>,
    /// Seconds a `stop` without a timeout of its own waits (absent: 10).
    #[serde(default)]
    pub stop_timeout: Option<u64>,
    /// `ContainerSpec.log_limits` (absent in configs written before they existed).
    #[serde(default)]
    pub log_limits: LogLimits,
    /// `ContainerSpec.labels` over the image's.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Names it also answers to on its network (a user network only).
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// `ContainerSpec.tmpfs`, checked.
    #[serde(default)]
    pub tmpfs: Vec<TmpfsSpec>,
    /// `ContainerSpec.shm_size` (absent: the default).
    #[serde(default)]
    pub shm_size: Option<u64>,
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    #[serde(default)]
    pub group_add: Vec<String>,
}

/// A container's place on a network. The network's subnet and gateway never change, so they are
/// kept here too, and inspect needs nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

impl Endpoint {
    pub fn mac(&self) -> [u8; 6] {
        crate::runtime::network::mac_for(self.address)
    }

    pub fn info(&self) -> ContainerNetwork {
        ContainerNetwork {
            network: self.network.clone(),
            ip_address: self.address.to_string(),
            prefix_len: self.prefix_len,
            mac_address: crate::runtime::network::format_mac(&self.mac()),
            gateway: self.gateway.to_string(),
        }
    }
}

/// Where a container is in its life. Stored with its config in `container.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    /// A start whose outcome is not recorded yet: stored before its monitor is forked, so that a
    /// daemon that did not see the start through (killed meanwhile, or failing on its side)
    /// adopts or ends what it left (see `interrupted_start`). Shown as `created`.
    Starting,
    Running {
        started: String,
        /// The monitor and the container's first process, named by pid and start time so that a
        /// restarted daemon finds them again without being fooled by pid reuse.
        monitor_pid: i32,
        monitor_start_time: u64,
        init_pid: i32,
        init_start_time: u64,
    },
    /// Its first process exited, and its monitor starts it again after a pause (its restart
    /// policy; see `restarts`). Shown as `running`, as Docker does, with `restarting`.
    Restarting {
        /// The last run's start and end.
        #[serde(default)]
        started: Option<String>,
        finished: String,
        exit_code: i32,
        monitor_pid: i32,
        monitor_start_time: u64,
    },
    Exited {
        #[serde(default)]
        started: Option<String>,
        finished: String,
        exit_code: i32,
        #[serde(default)]
        error: Option<String>,
        /// The kernel killed a process of the container for lack of memory.
        #[serde(default)]
        oom_killed: bool,
    },
}

impl ContainerStatus {
    pub fn state(&self) -> ContainerState {
        match self {
            ContainerStatus::Created | ContainerStatus::Starting => ContainerState::Created,
            ContainerStatus::Running { .. } | ContainerStatus::Restarting { .. } => {
                ContainerState::Running
            }
            ContainerStatus::Exited { .. } => ContainerState::Exited,
        }
    }

    /// Its monitor runs it: a process of it runs, or is about to be started again.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            ContainerStatus::Running { .. } | ContainerStatus::Restarting { .. }
        )
    }

    /// The monitor of a running (or restarting) container, by pid and start time.
    pub fn monitor(&self) -> Option<(i32, u64)> {
        match self {
            ContainerStatus::Running {
                monitor_pid,
                monitor_start_time,
                ..
            }
            | ContainerStatus::Restarting {
                monitor_pid,
                monitor_start_time,
                ..
            } => Some((*monitor_pid, *monitor_start_time)),
            _ => None,
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ContainerStatus::Exited { exit_code, .. } => Some(*exit_code),
            _ => None,
        }
    }
}

/// A container as the engine holds it.
#[derive(Debug, Clone)]
pub struct Container {
    pub config: ContainerConfig,
    pub status: ContainerStatus,
    pub restarts: RestartState,
}

impl Container {
    pub fn can_start(&self) -> EngineResult<()> {
        match self.status {
            ContainerStatus::Running { .. } => {
                Err(EngineError::ContainerRunning(self.config.id.clone()))
            }
            ContainerStatus::Starting => Err(EngineError::ContainerRunning(format!(
                "{} (it is starting)",
                self.config.id
            ))),
            ContainerStatus::Restarting { .. } => Err(EngineError::ContainerRunning(format!(
                "{} (it is restarting; stop it first)",
                self.config.id
            ))),
            ContainerStatus::Created | ContainerStatus::Exited { .. } => Ok(()),
        }
    }

    pub fn can_exec(&self) -> EngineResult<()> {
        self.require_running()
    }

    pub fn can_kill(&self) -> EngineResult<()> {
        self.require_running()
    }

    pub fn can_delete(&self, force: bool) -> EngineResult<()> {
        if self.status.is_running() && !force {
            return Err(EngineError::ContainerRunning(format!(
                "{} (stop it first, or force the removal)",
                self.config.id
            )));
        }
        Ok(())
    }

    fn require_running(&self) -> EngineResult<()> {
        match self.status {
            ContainerStatus::Running { .. } => Ok(()),
            ContainerStatus::Restarting { .. } => Err(EngineError::ContainerNotRunning(format!(
                "{} (it is restarting: wait until it runs, or stop it)",
                self.config.id
            ))),
            _ => Err(EngineError::ContainerNotRunning(self.config.id.clone())),
        }
    }

    pub fn info(&self) -> ContainerInfo {
        let c = &self.config;
        let (pid, exit_code, error, started, finished) = match &self.status {
            ContainerStatus::Created | ContainerStatus::Starting => (None, None, None, None, None),
            ContainerStatus::Running {
                started, init_pid, ..
            } => (Some(*init_pid), None, None, Some(started.clone()), None),
            ContainerStatus::Restarting {
                started,
                finished,
                exit_code,
                ..
            } => (
                None,
                Some(*exit_code),
                None,
                started.clone(),
                Some(finished.clone()),
            ),
            ContainerStatus::Exited {
                started,
                finished,
                exit_code,
                error,
                ..
            } => (
                None,
                Some(*exit_code),
                error.clone(),
                started.clone(),
                Some(finished.clone()),
            ),
        };
        let oom_killed = matches!(
            self.status,
            ContainerStatus::Exited {
                oom_killed: true,
                ..
            }
        );
        ContainerInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            image_id: c.image_id.clone(),
            cmd: c.cmd.clone(),
            env: c.env.clone(),
            cwd: c.cwd.clone(),
            state: self.status.state(),
            pid,
            exit_code,
            error,
            created: c.created.clone(),
            started,
            finished,
            hostname: c.hostname.clone(),
            network: c.network.clone(),
            networks: c.endpoint.iter().map(Endpoint::info).collect(),
            ports: c.ports.clone(),
            auto_remove: c.auto_remove,
            init: c.init,
            tty: c.tty,
            open_stdin: c.open_stdin,
            resources: c.resources.clone(),
            oom_killed,
            security: c.security.clone(),
            user: c.user.clone(),
            volumes: c.volumes.clone(),
            restart_policy: c.restart_policy,
            restart_count: self.restarts.count,
            restarting: matches!(self.status, ContainerStatus::Restarting { .. }),
            healthcheck: c.healthcheck.clone(),
            health: None,
            labels: c.labels.clone(),
            network_aliases: c.network_aliases.clone(),
            stop_signal: c
                .stop_signal
                .clone()
                .unwrap_or_else(|| "SIGTERM".to_string()),
            stop_timeout: c
                .stop_timeout
                .unwrap_or(conti_proto::DEFAULT_STOP_TIMEOUT_SECS),
            log_limits: c.log_limits,
            tmpfs: c.tmpfs.clone(),
            shm_size: super::tmpfs::shm_size(c.shm_size),
            extra_hosts: c.extra_hosts.clone(),
            dns: c.dns.clone(),
            dns_search: c.dns_search.clone(),
            dns_options: c.dns_options.clone(),
            group_add: c.group_add.clone(),
        }
    }
}

/// A config with nothing set, for the engine's tests.
#[cfg(test)]
pub(super) fn test_config() -> ContainerConfig {
    ContainerConfig {
        id: "0123".into(),
        name: "n".into(),
        image: "i".into(),
        image_id: String::new(),
        cmd: vec!["true".into()],
        env: vec![],
        cwd: "/".into(),
        hostname: "h".into(),
        network: NetworkMode::None,
        auto_remove: false,
        created: "t".into(),
        init: false,
        tty: false,
        open_stdin: false,
        resources: Resources::default(),
        endpoint: None,
        ports: vec![],
        security: Default::default(),
        user: None,
        volumes: Vec::new(),
        stop_signal: None,
        labels: BTreeMap::new(),
        network_aliases: Vec::new(),
        restart_policy: RestartPolicy::No,
        healthcheck: None,
        stop_timeout: None,
        log_limits: LogLimits::default(),
        tmpfs: Vec::new(),
        shm_size: None,
        extra_hosts: Vec::new(),
        dns: Vec::new(),
        dns_search: Vec::new(),
        dns_options: Vec::new(),
        group_add: Vec::new(),
    }
}

/// The first 12 hex digits of an id: the default hostname and what people type.
pub fn short_id(id: &str) -> String {
    id.chars().filter(|c| *c != '-').take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(status: ContainerStatus) -> Container {
        Container {
            config: test_config(),
            status,
            restarts: RestartState::default(),
        }
    }

    fn running() -> ContainerStatus {
        ContainerStatus::Running {
            started: "t".into(),
            monitor_pid: 1,
            monitor_start_time: 1,
            init_pid: 2,
            init_start_time: 2,
        }
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        let exited = ContainerStatus::Exited {
            started: None,
            finished: "t".into(),
            exit_code: 0,
            error: None,
            oom_killed: false,
        };
        assert!(container(ContainerStatus::Created).can_start().is_ok());
        assert!(container(ContainerStatus::Starting).can_start().is_err());
        assert!(container(ContainerStatus::Starting).can_kill().is_err());
        assert_eq!(
            container(ContainerStatus::Starting).status.state(),
            ContainerState::Created
        );
        assert!(container(exited.clone()).can_start().is_ok());
        assert!(matches!(
            container(running()).can_start(),
            Err(EngineError::ContainerRunning(_))
        ));
        assert!(matches!(
            container(ContainerStatus::Created).can_exec(),
            Err(EngineError::ContainerNotRunning(_))
        ));
        assert!(container(running()).can_kill().is_ok());
        assert!(container(running()).can_delete(false).is_err());
        assert!(container(running()).can_delete(true).is_ok());
        assert!(container(exited).can_delete(false).is_ok());
        let restarting = ContainerStatus::Restarting {
            started: Some("t".into()),
            finished: "t".into(),
            exit_code: 1,
            monitor_pid: 1,
            monitor_start_time: 1,
        };
        assert_eq!(restarting.state(), ContainerState::Running);
        assert!(container(restarting.clone()).can_start().is_err());
        assert!(container(restarting.clone()).can_kill().is_err());
        assert!(container(restarting.clone()).can_exec().is_err());
        assert!(container(restarting.clone()).can_delete(false).is_err());
        let info = container(restarting).info();
        assert!(info.restarting);
        assert_eq!((info.pid, info.exit_code), (None, Some(1)));
    }

    #[test]
    fn short_id_skips_dashes() {
        assert_eq!(
            short_id("0f8fad5b-d9cb-469f-a165-70867728950e"),
            "0f8fad5bd9cb"
        );
    }
}
