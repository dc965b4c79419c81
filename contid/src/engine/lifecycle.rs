//! Create, start, stop, kill and delete: the verbs that move a container through its states.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use conti_proto::{ContainerSpec, CreatedContainer, EventType, SecurityOptions};
use nix::sys::signal::Signal;
use tokio::sync::watch;
use tracing::Instrument;

use crate::runtime::container::userns::IdMapping;
use crate::runtime::process::run_record::RunRecord;
use crate::runtime::sys::atomic_file::Durability;
use crate::runtime::{
    ContainerLaunch, ContainerSecurity, ExitRecord, FailureKind, LaunchReport, ProcessHandle,
};

use super::restarts::{RestartState, StartCause, order_for};
use super::supervisor::{InitHandle, watch_monitor};
use super::{
    Container, ContainerConfig, ContainerStatus, Engine, EngineError, EngineResult, Entry,
    EventDetails, blocking, health, name_options, networking, now_rfc3339, parse_signal, resources,
    restarts, short_id, spec, store, tmpfs, volumes,
};

/// How long `delete --force` and the end of `stop` wait for a killed container to be gone.
const KILL_GRACE: Duration = Duration::from_secs(30);
/// How long a start waits for the previous run's monitor to let go of the old root.
const MONITOR_GONE_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// The container's monitor slot, once the monitor of its previous run is gone: it may still
    /// be unmounting the old root (which can wait for the disk). One stuck for longer than
    /// [`MONITOR_GONE_TIMEOUT`] is left to finish alone: the new run gets a slot of its own.
    pub(super) async fn monitor_slot(
        &self,
        id: &str,
    ) -> EngineResult<tokio::sync::OwnedMutexGuard<()>> {
        let slot = self.table().entry(id)?.monitor_slot.clone();
        if let Ok(guard) = tokio::time::timeout(MONITOR_GONE_TIMEOUT, slot.lock_owned()).await {
            return Ok(guard);
        }
        tracing::warn!(
            "the monitor of the previous run still holds the old root after {}s; starting anyway",
            MONITOR_GONE_TIMEOUT.as_secs()
        );
        let fresh = Arc::new(tokio::sync::Mutex::new(()));
        self.table().entry_mut(id)?.monitor_slot = fresh.clone();
        Ok(fresh.try_lock_owned().expect("a new monitor slot is free"))
    }

    /// Starts [`CgroupManager::prepay_migration`] in a blocking thread unless one is under way,
    /// so that the init's move into its cgroup, later in the start, finds the grace period
    /// passed or passing.
    pub(super) fn prepay_cgroup_migration(&self) {
        if self.inner.prepaying_migration.swap(true, Ordering::AcqRel) {
            return;
        }
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(err) = engine.inner.cgroups.prepay_migration() {
                tracing::debug!(%err, "cannot prepay the cgroup migration");
            }
            engine
                .inner
                .prepaying_migration
                .store(false, Ordering::Release);
        });
    }

    // ----- containers -----

    #[tracing::instrument(skip_all, fields(container))]
    pub async fn create(&self, spec: ContainerSpec) -> EngineResult<CreatedContainer> {
        self.timed("create", self.create_untimed(spec)).await
    }

    async fn create_untimed(&self, spec: ContainerSpec) -> EngineResult<CreatedContainer> {
        spec::validate_container_spec(&spec)?;
        networking::validate_ports(&spec.ports)?;
        resources::validate(&spec.resources, &self.inner.host)?;
        volumes::validate(&spec.volumes, self.inner.allow_root_bind)?;
        tmpfs::validate(&spec.tmpfs, spec.shm_size)?;
        name_options::validate(&spec)?;
        restarts::validate(&spec)?;
        self.userns_mapping(&spec.security)?;
        let image = self.find_image(&spec.image)?;
        let defaults = image.config.defaults();
        let argv = spec::container_argv(&spec, &defaults)?;
        let healthcheck =
            health::resolve(spec.healthcheck.as_ref(), defaults.healthcheck.as_ref())?;
        // A start usually follows.
        self.prepay_cgroup_migration();
        let id = uuid::Uuid::new_v4().to_string();
        tracing::Span::current().record("container", id.as_str());
        let short = short_id(&id);
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("conti-{short}"));
        let tmpfs_targets: Vec<&str> = spec.tmpfs.iter().map(|t| t.target.as_str()).collect();
        let (container_volumes, anonymous_volumes) =
            volumes::with_anonymous(spec.volumes.clone(), &defaults.volumes, &tmpfs_targets)?;
        let named_volumes: Vec<String> = volumes::named_sources(&container_volumes)
            .map(str::to_string)
            .collect();
        let (network, endpoint) = {
            let mut table = self.table();
            if table.name_taken(&name) {
                return Err(EngineError::NameInUse(name));
            }
            let attached = self.attach_at_create(&mut table, &spec.network, &spec.ports)?;
            table.reserved_names.insert(name.clone());
            table.reserved_volumes.extend(named_volumes.iter().cloned());
            attached
        };
        let config = ContainerConfig {
            id: id.clone(),
            name: name.clone(),
            image: spec.image,
            image_id: image.id().to_string(),
            cmd: argv,
            // The image's environment, the create's entries winning (PATH too).
            env: spec::merge_env_entries(&defaults.env, &spec.env),
            cwd: spec
                .cwd
                .or(defaults.working_dir)
                .unwrap_or_else(|| "/".to_string()),
            stop_signal: spec.stop_signal.or(defaults.stop_signal),
            stop_timeout: spec.stop_timeout,
            log_limits: spec.log_limits,
            hostname: spec.hostname.unwrap_or(short),
            network,
            auto_remove: spec.auto_remove,
            created: now_rfc3339(),
            init: spec.init,
            tty: spec.tty,
            open_stdin: spec.open_stdin,
            resources: spec.resources,
            endpoint: endpoint.clone(),
            ports: spec.ports,
            security: spec.security,
            user: spec.user.or(defaults.user),
            volumes: container_volumes,
            restart_policy: spec.restart_policy,
            healthcheck,
            // The image's labels, the create's winning, as Docker merges them.
            labels: defaults.labels.into_iter().chain(spec.labels).collect(),
            network_aliases: spec.network_aliases,
            tmpfs: spec.tmpfs,
            shm_size: spec.shm_size,
            extra_hosts: spec.extra_hosts,
            dns: spec.dns,
            dns_search: spec.dns_search,
            dns_options: spec.dns_options,
            group_add: spec.group_add,
        };
        let container = Container {
            config,
            status: ContainerStatus::Created,
            restarts: RestartState::default(),
        };
        let (engine, stored, ensured) = (self.clone(), container.clone(), named_volumes.clone());
        let anonymous = anonymous_volumes.clone();
        let result = blocking(move || {
            engine.ensure_volumes(&ensured, &anonymous)?;
            engine.inner.store.create(&stored)
        })
        .await;
        {
            let mut table = self.table();
            table.reserved_names.remove(&name);
            for volume in &named_volumes {
                if let Some(at) = table.reserved_volumes.iter().position(|v| v == volume) {
                    table.reserved_volumes.swap_remove(at);
                }
            }
            if let Some(endpoint) = &endpoint {
                table
                    .reserved_addresses
                    .remove(&(endpoint.network.clone(), endpoint.address));
            }
            if result.is_ok() {
                self.name_on_network(&container.config);
                table.entries.insert(id.clone(), Entry::new(container));
            }
        }
        if let Err(err) = result {
            // What this create made for itself goes with it.
            self.remove_anonymous_volumes(anonymous_volumes).await;
            return Err(err);
        }
        if endpoint.is_some() {
            // Its port guard, so that the start need not wait for it (which retries it).
            if let Err(err) = self.sync_firewall().await {
                tracing::warn!(%err, "cannot update the firewall");
            }
        }
        tracing::info!(%name, "created");
        self.emit_named(EventType::Create, &id, &name, EventDetails::default());
        Ok(CreatedContainer { id, name })
    }

    pub async fn start(&self, reference: &str) -> EngineResult<()> {
        self.timed("start", self.start_untimed(reference, StartCause::Request))
            .await
    }

    pub(super) async fn start_untimed(
        &self,
        reference: &str,
        cause: StartCause,
    ) -> EngineResult<()> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let span = tracing::info_span!("start", container = %id);
        async {
            let _guard = lifecycle.lock().await;
            self.end_interrupted_start(&id, "a new start ended what the previous one left")
                .await?;
            let (config, restarts, first_start) = {
                let table = self.table();
                let entry = table.entry(&id)?;
                entry.container.can_start()?;
                // Never started: its volumes are filled from the image (where empty).
                let first_start = matches!(
                    entry.container.status,
                    ContainerStatus::Created | ContainerStatus::Starting
                );
                // A person's start counts from 0; the policy's goes on counting.
                let restarts = match cause {
                    StartCause::Request => RestartState::default(),
                    StartCause::Policy => RestartState {
                        count: entry.container.restarts.count + 1,
                        ..entry.container.restarts.clone()
                    },
                };
                (entry.container.config.clone(), restarts, first_start)
            };
            self.prepay_cgroup_migration();
            let slot = self.monitor_slot(&id).await?;
            let mut launch = self.launch_for(&config, first_start).await?;
            launch.restart_count = restarts.count;
            let (attached, window_size) = self.inner.early_attaches.take(&id);
            launch.window_size = window_size;
            let order = order_for(&Container {
                config: config.clone(),
                status: ContainerStatus::Starting,
                restarts: restarts.clone(),
            });
            // The intent first: a daemon that does not see this start through finds it.
            let (engine, state_dir, starting) =
                (self.clone(), launch.state_dir.clone(), id.clone());
            blocking(move || {
                ExitRecord::remove(&state_dir)
                    .and_then(|()| RunRecord::remove(&state_dir))
                    .map_err(|e| EngineError::io("clear the previous exit record", &e))?;
                order
                    .write(&state_dir)
                    .map_err(|e| EngineError::io("write the restart order", &e))?;
                engine.table().entry_mut(&starting)?.container.restarts = restarts;
                engine.set_status(&starting, ContainerStatus::Starting, |entry| {
                    entry.told_exit = None;
                })
            })
            .await?;
            if cause == StartCause::Policy {
                let count = self.table().entry(&id)?.container.restarts.count;
                self.emit(EventType::Restart, &id, EventDetails::restart(count));
            }
            let launched = self.launch(&id, &config, launch, attached, slot).await;
            if let Err(err) = &launched {
                // Whatever the launch left goes, and the container counts as exited; a start
                // that ended with a report has its status already.
                let why = format!("the start failed: {err}");
                if let Err(left) = self.end_interrupted_start(&id, &why).await {
                    tracing::error!(%left, "cannot end what the failed start left");
                }
            }
            launched
        }
        .instrument(span)
        .await
    }

    /// The launch proper, once `starting` is stored: the helper forks the monitor, whose report
    /// says whether the command runs. An error before the outcome is recorded leaves the
    /// container `starting`.
    async fn launch(
        &self,
        id: &str,
        config: &ContainerConfig,
        launch: ContainerLaunch,
        attached: Vec<std::os::fd::OwnedFd>,
        slot: tokio::sync::OwnedMutexGuard<()>,
    ) -> EngineResult<()> {
        let helper = self.inner.helper.clone();
        let (report, exit_pipe) = blocking(move || {
            Ok(helper
                .launch_container_attached(&launch, &attached)?
                .wait_report()?)
        })
        .await?;
        match report {
            LaunchReport::Started {
                monitor_pid,
                monitor_start_time,
                init_pid,
                init_start_time,
            } => {
                let status = ContainerStatus::Running {
                    started: now_rfc3339(),
                    monitor_pid,
                    monitor_start_time,
                    init_pid,
                    init_start_time,
                };
                let monitor = ProcessHandle::open(monitor_pid, monitor_start_time)?;
                let init = ProcessHandle::open(init_pid, init_start_time)?.map(Arc::new);
                self.set_status(id, status, |entry| {
                    entry.init = init;
                    entry.exit.send_replace(None);
                })?;
                tracing::info!(pid = init_pid, "started");
                self.emit(EventType::Start, id, EventDetails::default());
                self.start_health_checks(id);
                match monitor {
                    Some(monitor) => {
                        watch_monitor(self.clone(), id.to_string(), monitor, Some(exit_pipe), slot)
                    }
                    // It has already been and gone: what it left is the exit record.
                    None => {
                        self.collect_exit(id);
                        self.store_seen_exit(id);
                    }
                }
                if !config.ports.is_empty()
                    && let Err(err) = self.sync_firewall().await
                {
                    // Its ports cannot be published: the start fails, and it does not run on.
                    if let Some((init, exit)) = self.running_handles(id)? {
                        self.kill_and_wait(id, init, exit).await?;
                    }
                    return Err(err);
                }
                Ok(())
            }
            LaunchReport::Failed { failure } => {
                tracing::info!(%failure, step = %failure.step, "start failed");
                let record = ExitRecord::from_failure(&failure);
                self.record_exit(id, &record, Some(Durability::Durable));
                Err(match failure.kind() {
                    FailureKind::CommandNotFound => {
                        EngineError::CommandNotFound(failure.to_string())
                    }
                    FailureKind::CommandNotExecutable => {
                        EngineError::CommandNotExecutable(failure.to_string())
                    }
                    FailureKind::BadWorkingDirectory => {
                        EngineError::InvalidCwd(failure.to_string())
                    }
                    FailureKind::UnknownUser => EngineError::UnknownUser(failure.to_string()),
                    FailureKind::InvalidVolume => EngineError::InvalidVolume(failure.to_string()),
                    FailureKind::BrokenRootfs => EngineError::BrokenRootfs(failure.to_string()),
                    FailureKind::UnsupportedLimit => {
                        EngineError::UnsupportedLimit(failure.to_string())
                    }
                    FailureKind::PortInUse => EngineError::PortInUse(failure.to_string()),
                    FailureKind::NetworkContainerGone => {
                        EngineError::ContainerNotRunning(failure.to_string())
                    }
                    FailureKind::NoSpace => EngineError::no_space(
                        &format!("starting the container, at {}", failure.step),
                        &failure,
                    ),
                    FailureKind::Setup => EngineError::Internal(format!(
                        "starting the container failed at {}: {failure}",
                        failure.step
                    )),
                })
            }
        }
    }

    /// What the helper needs to start the container; `first_start`: it never ran (its volumes
    /// are filled from the image where they are empty).
    pub(super) async fn launch_for(
        &self,
        config: &ContainerConfig,
        first_start: bool,
    ) -> EngineResult<ContainerLaunch> {
        Ok(ContainerLaunch {
            id: config.id.clone(),
            state_dir: self.container_dir(&config.id),
            // One layer, the imported root filesystem.
            image_layers: self.image_layers(&config.image_id)?,
            hostname: config.hostname.clone(),
            network: self.network_setup(config).await?,
            ports: networking::published_ports(&config.ports),
            resolv_conf: self.resolv_conf_for(config),
            argv: config.cmd.clone(),
            env: spec::merge_env(&config.hostname, config.tty, [config.env.as_slice()]),
            cwd: config.cwd.clone(),
            log_max_bytes: config
                .log_limits
                .max_size
                .unwrap_or(self.inner.log_max_bytes),
            log_max_files: config
                .log_limits
                .max_files
                .unwrap_or(self.inner.log_max_files),
            init: config.init,
            tty: config.tty,
            open_stdin: config.open_stdin,
            window_size: None,
            limits: resources::to_cgroup_limits(&config.resources),
            security: ContainerSecurity {
                userns: self.userns_mapping(&config.security)?,
                ..spec::container_security(
                    &config.security,
                    config.user.as_deref(),
                    &config.group_add,
                )?
            },
            volumes: volumes::bind_mounts(
                &self.inner.root,
                &config.volumes,
                self.inner.allow_root_bind,
                first_start,
            ),
            restart_count: 0,
            tmpfs: tmpfs::mounts(&config.tmpfs)?,
            shm_size: tmpfs::shm_size(config.shm_size),
            extra_hosts: name_options::host_entries(&config.extra_hosts, config.endpoint.as_ref())?,
        })
    }

    /// The id range of a container's user namespace: `None` without `--userns`; 400 when the
    /// daemon has none to give (no `--userns-remap`, also after a restart without it) or with
    /// `privileged`.
    pub(super) fn userns_mapping(
        &self,
        security: &SecurityOptions,
    ) -> EngineResult<Option<IdMapping>> {
        if !security.userns {
            return Ok(None);
        }
        if security.privileged {
            return Err(EngineError::InvalidSpec(
                "security: userns and privileged exclude each other".into(),
            ));
        }
        match self.inner.userns_remap {
            Some(mapping) => Ok(Some(mapping)),
            None => Err(EngineError::InvalidSpec(
                "security: userns needs the daemon started with --userns-remap USER".into(),
            )),
        }
    }

    /// Replaces a container's status on disk and in memory, then lets `update` adjust its entry.
    pub(super) fn set_status(
        &self,
        id: &str,
        status: ContainerStatus,
        update: impl FnOnce(&mut Entry),
    ) -> EngineResult<()> {
        let mut table = self.table();
        let entry = table.entry_mut(id)?;
        let mut container = entry.container.clone();
        container.status = status;
        self.inner.store.save(&container)?;
        entry.container = container;
        update(entry);
        Ok(())
    }

    /// The signal that asks the container to stop: its image's `StopSignal`, else SIGTERM.
    fn stop_signal_of(&self, id: &str) -> Signal {
        self.table()
            .entries
            .get(id)
            .and_then(|e| e.container.config.stop_signal.clone())
            .and_then(|name| super::parse_signal(&name).ok())
            .unwrap_or(Signal::SIGTERM)
    }

    /// The stop signal (SIGTERM unless the create or the image says otherwise), then SIGKILL
    /// after `timeout` (none: the container's stop timeout, 10 s unless its create said). A
    /// container that does not run is left as it is.
    pub async fn stop(&self, reference: &str, timeout: Option<Duration>) -> EngineResult<()> {
        self.timed("stop", self.stop_untimed(reference, timeout))
            .await
    }

    pub(super) async fn stop_untimed(
        &self,
        reference: &str,
        timeout: Option<Duration>,
    ) -> EngineResult<()> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let timeout = match timeout {
            Some(timeout) => timeout,
            None => Duration::from_secs(self.get(&id)?.stop_timeout),
        };
        let _guard = lifecycle
            .lock()
            .instrument(tracing::info_span!("stop", container = %id))
            .await;
        self.end_interrupted_start(&id, "stopped while its start was cut short")
            .await?;
        let Some((init, mut exit)) = self.running_handles(&id)? else {
            return Ok(());
        };
        self.hold_restarts(&id)?;
        if let Some(init) = &init {
            let signal = self.stop_signal_of(&id);
            init.signal(signal)?;
            self.emit(EventType::Kill, &id, EventDetails::signal(signal));
        }
        if tokio::time::timeout(timeout, wait_exit(&mut exit))
            .await
            .is_err()
        {
            tracing::info!(container = %id, "did not stop in time; killing it");
            self.kill_and_wait(&id, init, exit).await?;
        }
        self.emit(EventType::Stop, &id, EventDetails::default());
        Ok(())
    }

    pub(super) async fn kill_and_wait(
        &self,
        id: &str,
        init: Option<InitHandle>,
        mut exit: watch::Receiver<Option<i32>>,
    ) -> EngineResult<()> {
        self.hold_restarts(id)?;
        if let Some(init) = &init {
            init.signal(Signal::SIGKILL)?;
            self.emit(EventType::Kill, id, EventDetails::signal(Signal::SIGKILL));
        }
        // The pid namespace dies with its first process; the cgroup catches anything else.
        let cgroups = self.inner.cgroups.clone();
        let cgroup_id = id.to_string();
        blocking(move || {
            cgroups
                .kill_all(&cgroup_id)
                .map_err(|e| EngineError::internal("kill the container's processes", e))
        })
        .await?;
        tokio::time::timeout(KILL_GRACE, wait_exit(&mut exit))
            .await
            .map_err(|_| {
                EngineError::Internal(format!(
                    "container {id} did not exit {}s after SIGKILL",
                    KILL_GRACE.as_secs()
                ))
            })
    }

    pub fn kill(&self, reference: &str, signal: &str) -> EngineResult<()> {
        let started = std::time::Instant::now();
        let result = self.kill_untimed(reference, signal);
        self.observe("kill", started.elapsed(), result.is_ok());
        result
    }

    /// A signal to the container's first process. SIGKILL, or its stop signal, is a person
    /// stopping it (as Docker takes it): its restart policy does not undo it.
    fn kill_untimed(&self, reference: &str, signal: &str) -> EngineResult<()> {
        let signal = parse_signal(signal)?;
        let (id, init) = {
            let table = self.table();
            let id = table.resolve(reference)?;
            let entry = table.entry(&id)?;
            entry.container.can_kill()?;
            match &entry.init {
                Some(init) => (id, init.clone()),
                None => return Err(EngineError::ContainerNotRunning(id)),
            }
        };
        if signal == Signal::SIGKILL || signal == self.stop_signal_of(&id) {
            self.hold_restarts(&id)?;
        }
        init.signal(signal)?;
        self.emit(EventType::Kill, &id, EventDetails::signal(signal));
        Ok(())
    }

    /// Deletes a container (`force`: killing it first if it runs); `remove_volumes`: with its
    /// anonymous volumes that no other container uses, as Docker's `rm -v`.
    pub async fn delete(
        &self,
        reference: &str,
        force: bool,
        remove_volumes: bool,
    ) -> EngineResult<()> {
        self.timed(
            "delete",
            self.delete_untimed(reference, force, remove_volumes),
        )
        .await
    }

    async fn delete_untimed(
        &self,
        reference: &str,
        force: bool,
        remove_volumes: bool,
    ) -> EngineResult<()> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let span = tracing::info_span!("delete", container = %id);
        async {
            let _guard = lifecycle.lock().await;
            self.table().entry(&id)?.container.can_delete(force)?;
            self.check_namespace_not_shared(&id)?;
            self.end_interrupted_start(&id, "removed while its start was cut short")
                .await?;
            if let Some((init, exit)) = self.running_handles(&id)? {
                self.kill_and_wait(&id, init, exit).await?;
            }
            let cgroups = self.inner.cgroups.clone();
            let store = self.inner.store.clone();
            let doomed = id.clone();
            let trashed = blocking(move || {
                cgroups
                    .remove(&doomed)
                    .map_err(|e| EngineError::internal("remove the container's cgroup", e))?;
                store.remove(&doomed)
            })
            .await?;
            if let Some(trashed) = trashed {
                tokio::task::spawn_blocking(move || store::purge(&trashed));
            }
            // Dropping the entry drops its exit sender: waiters and log followers end; its
            // address goes back to its network.
            let mut named_volumes = Vec::new();
            let endpoint = {
                let mut table = self.table();
                let entry = table.entries.remove(&id);
                entry.and_then(|entry| {
                    named_volumes = volumes::named_sources(&entry.container.config.volumes)
                        .map(str::to_string)
                        .collect();
                    if let Some(code) = entry.container.status.exit_code() {
                        table.removed.remember(&id, code);
                    }
                    let name = &entry.container.config.name;
                    self.emit_named(EventType::Destroy, &id, name, EventDetails::default());
                    let endpoint = entry.container.config.endpoint;
                    if let Some(endpoint) = &endpoint {
                        self.unname(endpoint);
                    }
                    endpoint
                })
            };
            tracing::info!("deleted");
            if remove_volumes {
                self.remove_anonymous_volumes(named_volumes).await;
            }
            if endpoint.is_some() {
                self.sync_firewall().await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

async fn wait_exit(exit: &mut watch::Receiver<Option<i32>>) {
    // An Err means the container was deleted, which also ends it.
    let _ = exit.wait_for(|code| code.is_some()).await;
}
