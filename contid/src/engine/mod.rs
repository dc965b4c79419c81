//! The engine: the container table, lifecycle rules, state on disk, and the supervisor that talks
//! to the helper. No HTTP here, and no raw system calls: those live in [`crate::runtime`].

mod attach;
mod container;
mod error;
mod events;
mod exec;
mod images;
mod ipam;
mod logs;
mod networking;
mod networks;
mod resources;
mod spec;
mod stats;
mod store;
mod supervisor;
mod time_window;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use conti_proto::EventType;
use conti_proto::{
    ContainerCounts, ContainerInfo, ContainerSpec, ContainerState, CreatedContainer, DaemonInfo,
    ExecResult, ExecSpec, ImageInfo, SecurityOptions,
};
use futures_util::{Stream, StreamExt};
use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tracing::Instrument;

use crate::runtime::cgroup::{CgroupError, CgroupManager, HostCapacity};
use crate::runtime::network::firewall::FirewallPlan;
use crate::runtime::userns::IdMapping;
use crate::runtime::{
    ContainerLaunch, ContainerSecurity, ExecLaunch, ExecStatus, ExitRecord, FailureKind,
    HelperClient, LaunchReport, ProcessHandle,
};

pub use attach::{
    AttachEnd, AttachOptions, AttachSession, ClientSocket, DEFAULT_DETACH_KEYS, parse_detach_keys,
    window_size,
};
pub use container::{Container, ContainerConfig, ContainerStatus, short_id};
pub use error::{EngineError, EngineResult};
pub use events::{EVENT_HISTORY, EventBus, EventDetails, EventStream, EventsLost};
pub use exec::ExecStream;
pub use logs::LogFollower;
pub use networks::NetworkDefaults;
pub use spec::DEFAULT_PATH;
pub use time_window::TimeWindow;

use images::ImageStore;
use networking::NetworkTable;
use networks::{Network, NetworkStore};
use store::ContainerStore;
use supervisor::{InitHandle, exit_record_or_vanished, watch_monitor};

/// A running container's first process (when it could be opened) and its exit notification.
type RunningHandles = (Option<InitHandle>, watch::Receiver<Option<i32>>);

/// How long `delete --force` and the end of `stop` wait for a killed container to be gone.
const KILL_GRACE: Duration = Duration::from_secs(30);
/// How long a start waits for the previous run's monitor to let go of the old root.
const MONITOR_GONE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of each output stream a buffered exec returns; the rest is read and dropped.
const EXEC_OUTPUT_LIMIT: u64 = 16 * 1024 * 1024;
/// How long, and for how many containers, the exit code of a deleted container is remembered.
const REMOVED_MEMORY: Duration = Duration::from_secs(300);
const REMOVED_MEMORY_ENTRIES: usize = 4096;

pub use crate::runtime::now_rfc3339;

/// What the engine is built from.
pub struct EngineConfig {
    pub root: PathBuf,
    pub socket: PathBuf,
    pub log_max_bytes: u64,
    /// Whether the host's `/` may be a volume's source.
    pub allow_root_bind: bool,
    /// Where `--userns` containers' ids go (`--userns-remap`); `None`: they are refused.
    pub userns_remap: Option<IdMapping>,
    pub cgroups: CgroupManager,
    pub helper: HelperClient,
    pub network_defaults: NetworkDefaults,
}

/// Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    socket: PathBuf,
    log_max_bytes: u64,
    allow_root_bind: bool,
    userns_remap: Option<IdMapping>,
    cgroups: CgroupManager,
    /// The CPUs and memory nodes limits are checked against.
    host: HostCapacity,
    helper: Arc<HelperClient>,
    store: ContainerStore,
    images: ImageStore,
    table: Mutex<Table>,
    /// Attaches and terminal sizes waiting for a container's start.
    early_attaches: attach::EarlyAttaches,
    execs: exec::ExecTable,
    events: EventBus,
    network_defaults: NetworkDefaults,
    network_store: NetworkStore,
    networks: Mutex<NetworkTable>,
    /// The firewall plan last applied; serialises applying them.
    firewall: tokio::sync::Mutex<Option<FirewallPlan>>,
    /// A [`CgroupManager::prepay_migration`] is under way.
    prepaying_migration: AtomicBool,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Names taken by creates still writing their files.
    reserved_names: HashSet<String>,
    /// Addresses (by network) handed to creates still writing their files.
    reserved_addresses: HashSet<(String, Ipv4Addr)>,
    /// Exit codes of recently deleted containers, by id, so that a client waiting on an
    /// auto-removed container (`run --rm`) still learns how it ended.
    removed: HashMap<String, (i32, std::time::Instant)>,
}

struct Entry {
    container: Container,
    /// Serialises start, stop, kill-on-delete and delete of this container.
    lifecycle: Arc<tokio::sync::Mutex<()>>,
    /// `Some(exit code)` once exited; dropped when the container is deleted.
    exit: watch::Sender<Option<i32>>,
    /// The container's first process while it runs, for signals.
    init: Option<InitHandle>,
    /// Held by the watcher of the container's monitor until that process is gone: it still
    /// unmounts the container's root after its exit is recorded, and a new start waits for it.
    monitor_slot: Arc<tokio::sync::Mutex<()>>,
}

impl Entry {
    fn new(container: Container) -> Entry {
        let (exit, _) = watch::channel(container.status.exit_code());
        Entry {
            container,
            lifecycle: Arc::new(tokio::sync::Mutex::new(())),
            exit,
            init: None,
            monitor_slot: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

impl Table {
    /// Exact id, then exact name, then a unique id prefix (dashes optional).
    fn resolve(&self, reference: &str) -> EngineResult<String> {
        if self.entries.contains_key(reference) {
            return Ok(reference.to_string());
        }
        if let Some(entry) = self
            .entries
            .values()
            .find(|e| e.container.config.name == reference)
        {
            return Ok(entry.container.config.id.clone());
        }
        let wanted: String = reference.chars().filter(|c| *c != '-').collect();
        if wanted.is_empty() || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(EngineError::ContainerNotFound(reference.to_string()));
        }
        let mut matches = self
            .entries
            .keys()
            .filter(|id| id.replace('-', "").starts_with(&wanted));
        match (matches.next(), matches.next()) {
            (Some(id), None) => Ok(id.clone()),
            (Some(_), Some(_)) => Err(EngineError::AmbiguousReference {
                reference: reference.to_string(),
            }),
            _ => Err(EngineError::ContainerNotFound(reference.to_string())),
        }
    }

    fn entry(&self, id: &str) -> EngineResult<&Entry> {
        self.entries
            .get(id)
            .ok_or_else(|| EngineError::ContainerNotFound(id.to_string()))
    }

    fn entry_mut(&mut self, id: &str) -> EngineResult<&mut Entry> {
        self.entries
            .get_mut(id)
            .ok_or_else(|| EngineError::ContainerNotFound(id.to_string()))
    }

    fn remember_removed(&mut self, id: &str, exit_code: Option<i32>) {
        self.removed
            .retain(|_, (_, when)| when.elapsed() < REMOVED_MEMORY);
        if let Some(code) = exit_code
            && self.removed.len() < REMOVED_MEMORY_ENTRIES
        {
            self.removed
                .insert(id.to_string(), (code, std::time::Instant::now()));
        }
    }

    fn name_taken(&self, name: &str) -> bool {
        self.reserved_names.contains(name)
            || self
                .entries
                .values()
                .any(|e| e.container.config.name == name)
    }
}

/// Runs blocking work (fsync, helper calls, unpacking) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> EngineResult<T> + Send + 'static,
) -> EngineResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EngineError::internal("blocking task", e))?
}

impl Engine {
    /// Opens the state folder and re-adopts every container found there: running ones are
    /// watched again, ones that ended while the daemon was down get their recorded exit code
    /// (255 when nothing was recorded). Must be called inside the tokio runtime.
    pub fn load(config: EngineConfig) -> EngineResult<Engine> {
        let store = ContainerStore::open(&config.root)?;
        let images = ImageStore::open(&config.root)?;
        let network_store = NetworkStore::open(&config.root)?;
        let mut networks = NetworkTable::default();
        let default = Network::default_network(&config.network_defaults, now_rfc3339())?;
        networks.networks.insert(default.name.clone(), default);
        for network in network_store.load_all()? {
            networks.networks.insert(network.name.clone(), network);
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                root: config.root,
                socket: config.socket,
                log_max_bytes: config.log_max_bytes,
                allow_root_bind: config.allow_root_bind,
                userns_remap: config.userns_remap,
                cgroups: config.cgroups,
                host: HostCapacity::detect(),
                helper: Arc::new(config.helper),
                store,
                images,
                table: Mutex::new(Table::default()),
                early_attaches: attach::EarlyAttaches::default(),
                execs: exec::ExecTable::default(),
                events: EventBus::new(),
                network_defaults: config.network_defaults,
                network_store,
                networks: Mutex::new(networks),
                firewall: tokio::sync::Mutex::new(None),
                prepaying_migration: AtomicBool::new(false),
            }),
        };
        for container in engine.inner.store.load_all()? {
            engine.adopt(container)?;
        }
        // Re-adopt the table (replaced whole) for the containers found, or remove a stale one.
        engine.spawn_firewall_sync();
        Ok(engine)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A poisoned lock means a panic while holding it; the table itself is still consistent
        // because every critical section only swaps whole values.
        self.inner
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn adopt(&self, container: Container) -> EngineResult<()> {
        let id = container.config.id.clone();
        let span = tracing::info_span!("adopt", container = %id);
        let _enter = span.enter();
        let mut monitor = None;
        let mut init = None;
        let mut container = container;
        if let ContainerStatus::Running {
            monitor_pid,
            monitor_start_time,
            init_pid,
            init_start_time,
            ..
        } = container.status
        {
            monitor = ProcessHandle::open(monitor_pid, monitor_start_time)?;
            match monitor {
                Some(_) => {
                    init = ProcessHandle::open(init_pid, init_start_time)?.map(Arc::new);
                    tracing::info!("re-adopted running container");
                }
                None => {
                    let record = exit_record_or_vanished(&self.inner.store.container_dir(&id));
                    tracing::info!(
                        exit_code = record.exit_code,
                        "container ended while the daemon was down"
                    );
                    if let Err(err) = self
                        .inner
                        .cgroups
                        .kill_all(&id)
                        .and_then(|_| self.inner.cgroups.remove(&id))
                    {
                        tracing::warn!(%err, "cannot clean up the cgroup of an ended container");
                    }
                    container.status = exited_status(&container.status, &record);
                    self.inner.store.save(&container)?;
                }
            }
        }
        let auto_remove = container.config.auto_remove && container.status.exit_code().is_some();
        let mut entry = Entry::new(container);
        entry.init = init;
        let slot = entry.monitor_slot.clone();
        self.table().entries.insert(id.clone(), entry);
        if let Some(monitor) = monitor {
            let slot = slot
                .try_lock_owned()
                .expect("a new entry's monitor slot is free");
            watch_monitor(self.clone(), id.clone(), monitor, None, slot);
        }
        if auto_remove {
            self.spawn_auto_remove(id);
        }
        Ok(())
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.inner.store.container_dir(id)
    }

    /// The container's monitor slot, once the monitor of its previous run is gone: it may still
    /// be unmounting the old root (which can wait for the disk). One stuck for longer than
    /// [`MONITOR_GONE_TIMEOUT`] is left to finish alone: the new run gets a slot of its own.
    async fn monitor_slot(&self, id: &str) -> EngineResult<tokio::sync::OwnedMutexGuard<()>> {
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
    fn prepay_cgroup_migration(&self) {
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

    /// The id a reference names, and the lock that serialises its lifecycle.
    fn lifecycle_of(&self, reference: &str) -> EngineResult<(String, Arc<tokio::sync::Mutex<()>>)> {
        let table = self.table();
        let id = table.resolve(reference)?;
        let lock = table.entry(&id)?.lifecycle.clone();
        Ok((id, lock))
    }

    // ----- queries -----

    pub fn get(&self, reference: &str) -> EngineResult<ContainerInfo> {
        let table = self.table();
        let id = table.resolve(reference)?;
        Ok(table.entry(&id)?.container.info())
    }

    pub fn list(&self, all: bool) -> Vec<ContainerInfo> {
        let mut infos: Vec<ContainerInfo> = self
            .table()
            .entries
            .values()
            .filter(|e| all || e.container.status.is_running())
            .map(|e| e.container.info())
            .collect();
        infos.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        infos
    }

    pub fn info(&self) -> DaemonInfo {
        let mut counts = ContainerCounts::default();
        for entry in self.table().entries.values() {
            counts.total += 1;
            match entry.container.status.state() {
                ContainerState::Created => counts.created += 1,
                ContainerState::Running => counts.running += 1,
                ContainerState::Exited => counts.exited += 1,
            }
        }
        DaemonInfo {
            root: self.inner.root.display().to_string(),
            socket: self.inner.socket.display().to_string(),
            cgroup_layout: self.inner.cgroups.layout().as_str().to_string(),
            cgroup_parent: self.inner.cgroups.parent().to_string(),
            containers: counts,
            images: self.inner.images.list().len(),
            kernel: crate::runtime::kernel_release(),
            log_max_bytes: self.inner.log_max_bytes,
        }
    }

    // ----- containers -----

    #[tracing::instrument(skip_all, fields(container))]
    pub async fn create(&self, spec: ContainerSpec) -> EngineResult<CreatedContainer> {
        spec::validate_container_spec(&spec)?;
        networking::validate_ports(&spec.ports)?;
        resources::validate(&spec.resources, &self.inner.host)?;
        volumes::validate(&spec.volumes, self.inner.allow_root_bind)?;
        self.userns_mapping(&spec.security)?;
        if !self.inner.images.exists(&spec.image) {
            return Err(EngineError::ImageNotFound(spec.image));
        }
        // A start usually follows.
        self.prepay_cgroup_migration();
        let id = uuid::Uuid::new_v4().to_string();
        tracing::Span::current().record("container", id.as_str());
        let short = short_id(&id);
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("conti-{short}"));
        let (network, endpoint) = {
            let mut table = self.table();
            if table.name_taken(&name) {
                return Err(EngineError::NameInUse(name));
            }
            let attached = self.attach_at_create(&mut table, &spec.network, &spec.ports)?;
            table.reserved_names.insert(name.clone());
            attached
        };
        let config = ContainerConfig {
            id: id.clone(),
            name: name.clone(),
            image: spec.image,
            cmd: spec.cmd,
            env: spec.env,
            cwd: spec.cwd.unwrap_or_else(|| "/".to_string()),
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
            user: spec.user,
            volumes: spec.volumes,
        };
        let container = Container {
            config,
            status: ContainerStatus::Created,
        };
        let store = self.inner.store.clone();
        let stored = container.clone();
        let root = self.inner.root.clone();
        let result = blocking(move || {
            volumes::create_named(&root, &stored.config.volumes)?;
            store.create(&stored)
        })
        .await;
        {
            let mut table = self.table();
            table.reserved_names.remove(&name);
            if let Some(endpoint) = &endpoint {
                table
                    .reserved_addresses
                    .remove(&(endpoint.network.clone(), endpoint.address));
            }
            result?;
            table.entries.insert(id.clone(), Entry::new(container));
        }
        if let Some(endpoint) = &endpoint {
            self.refresh_hosts(&endpoint.network).await;
        }
        tracing::info!(%name, "created");
        self.emit_named(EventType::Create, &id, &name, EventDetails::default());
        Ok(CreatedContainer { id, name })
    }

    pub async fn start(&self, reference: &str) -> EngineResult<()> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let span = tracing::info_span!("start", container = %id);
        async {
            let _guard = lifecycle.lock().await;
            let config = {
                let table = self.table();
                let entry = table.entry(&id)?;
                entry.container.can_start()?;
                entry.container.config.clone()
            };
            self.prepay_cgroup_migration();
            let slot = self.monitor_slot(&id).await?;
            let mut launch = self.launch_for(&config).await?;
            let (attached, window_size) = self.inner.early_attaches.take(&id);
            launch.window_size = window_size;
            let state_dir = launch.state_dir.clone();
            let helper = self.inner.helper.clone();
            let (report, exit_pipe) = blocking(move || {
                ExitRecord::remove(&state_dir)
                    .map_err(|e| EngineError::internal("clear the previous exit record", e))?;
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
                    self.set_status(&id, status, |entry| {
                        entry.init = init;
                        entry.exit.send_replace(None);
                    })?;
                    tracing::info!(pid = init_pid, "started");
                    if !config.ports.is_empty() {
                        self.sync_firewall().await?;
                    }
                    self.emit(EventType::Start, &id, EventDetails::default());
                    match monitor {
                        Some(monitor) => {
                            watch_monitor(self.clone(), id.clone(), monitor, Some(exit_pipe), slot)
                        }
                        // It has already been and gone: what it left is the exit record.
                        None => self.collect_exit(&id),
                    }
                    Ok(())
                }
                LaunchReport::Failed { failure } => {
                    tracing::info!(%failure, step = %failure.step, "start failed");
                    let record = ExitRecord::from_failure(&failure);
                    // The stored status is still `created` (or an earlier exit): write this one.
                    self.record_exit(&id, &record, true);
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
                        FailureKind::InvalidVolume => {
                            EngineError::InvalidVolume(failure.to_string())
                        }
                        FailureKind::UnsupportedLimit => {
                            EngineError::UnsupportedLimit(failure.to_string())
                        }
                        FailureKind::PortInUse => EngineError::PortInUse(failure.to_string()),
                        FailureKind::NetworkContainerGone => {
                            EngineError::ContainerNotRunning(failure.to_string())
                        }
                        FailureKind::Setup => EngineError::Internal(format!(
                            "starting the container failed at {}: {failure}",
                            failure.step
                        )),
                    })
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn launch_for(&self, config: &ContainerConfig) -> EngineResult<ContainerLaunch> {
        Ok(ContainerLaunch {
            id: config.id.clone(),
            state_dir: self.container_dir(&config.id),
            image_rootfs: self.inner.images.rootfs(&config.image),
            hostname: config.hostname.clone(),
            network: self.network_setup(config).await?,
            ports: networking::published_ports(&config.ports),
            hosts: self.hosts_entries(config),
            argv: config.cmd.clone(),
            env: spec::merge_env(&config.hostname, [config.env.as_slice()]),
            cwd: config.cwd.clone(),
            log_max_bytes: self.inner.log_max_bytes,
            init: config.init,
            tty: config.tty,
            open_stdin: config.open_stdin,
            window_size: None,
            limits: resources::to_cgroup_limits(&config.resources),
            security: ContainerSecurity {
                userns: self.userns_mapping(&config.security)?,
                ..spec::container_security(&config.security, config.user.as_deref())?
            },
            volumes: volumes::bind_mounts(
                &self.inner.root,
                &config.volumes,
                self.inner.allow_root_bind,
            ),
        })
    }

    /// The id range of a container's user namespace: `None` without `--userns`; 400 when the
    /// daemon has none to give (no `--userns-remap`, also after a restart without it) or with
    /// `privileged`.
    fn userns_mapping(&self, security: &SecurityOptions) -> EngineResult<Option<IdMapping>> {
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
    fn set_status(
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

    /// Called when a container's monitor is gone: records how the container ended. The monitor
    /// wrote `exit.json` (or nothing, and the container counts as vanished); a reload derives
    /// the same from the stored `running` status, so nothing more is written here.
    fn collect_exit(&self, id: &str) {
        let record = exit_record_or_vanished(&self.container_dir(id));
        self.record_exit(id, &record, false);
    }

    fn record_exit(&self, id: &str, record: &ExitRecord, persist: bool) {
        let span = tracing::info_span!("exit", container = %id);
        let _enter = span.enter();
        let auto_remove = {
            let mut table = self.table();
            let Ok(entry) = table.entry_mut(id) else {
                return;
            };
            let status = exited_status(&entry.container.status, record);
            entry.container.status = status;
            if persist && let Err(err) = self.inner.store.save(&entry.container) {
                tracing::error!(%err, "cannot persist the exit");
            }
            entry.init = None;
            let name = &entry.container.config.name;
            if record.oom_killed {
                self.emit_named(EventType::Oom, id, name, EventDetails::default());
            }
            let details = EventDetails::exit(record.exit_code, record.signal);
            self.emit_named(EventType::Die, id, &entry.container.config.name, details);
            entry.exit.send_replace(Some(record.exit_code));
            if !entry.container.config.ports.is_empty() {
                // Its port forwards go with it.
                self.spawn_firewall_sync();
            }
            entry.container.config.auto_remove
        };
        tracing::info!(exit_code = record.exit_code, "exited");
        if auto_remove {
            self.spawn_auto_remove(id.to_string());
        }
    }

    fn spawn_auto_remove(&self, id: String) {
        let engine = self.clone();
        tokio::spawn(async move {
            match engine.delete(&id, true).await {
                Ok(()) | Err(EngineError::ContainerNotFound(_)) => {}
                Err(err) => {
                    tracing::error!(container = %id, %err, "auto-remove failed");
                    // It stays: waiters holding out for its removal get the exit code now.
                    if let Ok(entry) = engine.table().entry_mut(&id) {
                        entry.container.config.auto_remove = false;
                        entry.exit.send_modify(|_| {});
                    }
                }
            }
        });
    }

    /// Waits for the exit code, however long it takes; for an auto-removed container, until it
    /// is removed too. A container deleted a moment ago still answers by its full id.
    pub async fn wait(&self, reference: &str) -> EngineResult<i32> {
        let (id, mut exit) = {
            let table = self.table();
            match table.resolve(reference) {
                Ok(id) => {
                    let exit = table.entry(&id)?.exit.subscribe();
                    (id, exit)
                }
                Err(err) => {
                    return table
                        .removed
                        .get(reference)
                        .map(|(code, _)| *code)
                        .ok_or(err);
                }
            }
        };
        loop {
            let exited = *exit.borrow_and_update();
            // An auto-removed container answers once it is gone, so that a client whose wait
            // returns (`run --rm`) never finds it listed any more.
            let being_removed = || {
                self.table()
                    .entry(&id)
                    .is_ok_and(|e| e.container.config.auto_remove)
            };
            if let Some(code) = exited
                && !being_removed()
            {
                return Ok(code);
            }
            if exit.changed().await.is_err() {
                // Deleted while we waited: an auto-removed container left its exit code.
                return self
                    .table()
                    .removed
                    .get(&id)
                    .map(|(code, _)| *code)
                    .ok_or_else(|| EngineError::ContainerNotFound(reference.to_string()));
            }
        }
    }

    /// The running container's first process and a receiver for its exit, or `None` when it
    /// does not run.
    fn running_handles(&self, id: &str) -> EngineResult<Option<RunningHandles>> {
        let table = self.table();
        let entry = table.entry(id)?;
        Ok(entry
            .container
            .status
            .is_running()
            .then(|| (entry.init.clone(), entry.exit.subscribe())))
    }

    /// SIGTERM, then SIGKILL after `timeout`. A container that does not run is left as it is.
    pub async fn stop(&self, reference: &str, timeout: Duration) -> EngineResult<()> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let _guard = lifecycle
            .lock()
            .instrument(tracing::info_span!("stop", container = %id))
            .await;
        let Some((init, mut exit)) = self.running_handles(&id)? else {
            return Ok(());
        };
        if let Some(init) = &init {
            init.signal(Signal::SIGTERM)?;
            self.emit(EventType::Kill, &id, EventDetails::signal(Signal::SIGTERM));
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

    async fn kill_and_wait(
        &self,
        id: &str,
        init: Option<InitHandle>,
        mut exit: watch::Receiver<Option<i32>>,
    ) -> EngineResult<()> {
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
        let signal = parse_signal(signal)?;
        let table = self.table();
        let id = table.resolve(reference)?;
        let entry = table.entry(&id)?;
        entry.container.can_kill()?;
        match &entry.init {
            Some(init) => init.signal(signal)?,
            None => return Err(EngineError::ContainerNotRunning(id)),
        }
        let details = EventDetails::signal(signal);
        self.emit_named(EventType::Kill, &id, &entry.container.config.name, details);
        Ok(())
    }

    pub async fn delete(&self, reference: &str, force: bool) -> EngineResult<()> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let span = tracing::info_span!("delete", container = %id);
        async {
            let _guard = lifecycle.lock().await;
            self.table().entry(&id)?.container.can_delete(force)?;
            self.check_namespace_not_shared(&id)?;
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
            let endpoint = {
                let mut table = self.table();
                let entry = table.entries.remove(&id);
                entry.and_then(|entry| {
                    table.remember_removed(&id, entry.container.status.exit_code());
                    let name = &entry.container.config.name;
                    self.emit_named(EventType::Destroy, &id, name, EventDetails::default());
                    entry.container.config.endpoint
                })
            };
            tracing::info!("deleted");
            if let Some(endpoint) = endpoint {
                self.refresh_hosts(&endpoint.network).await;
                self.sync_firewall().await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Changes a container's limits: the update is merged into what it has and checked whole,
    /// written into the cgroup when it runs (put back as they were when the kernel refuses one),
    /// and stored, so that the next start applies it too.
    pub async fn update(
        &self,
        reference: &str,
        update: conti_proto::Resources,
    ) -> EngineResult<ContainerInfo> {
        let (id, lifecycle) = self.lifecycle_of(reference)?;
        let _guard = lifecycle
            .lock()
            .instrument(tracing::info_span!("update", container = %id))
            .await;
        let (mut container, running) = {
            let table = self.table();
            let entry = table.entry(&id)?;
            (entry.container.clone(), entry.container.status.is_running())
        };
        let previous = container.config.resources.clone();
        let merged = previous.merged(&update);
        resources::validate(&merged, &self.inner.host)?;
        if running {
            let cgroups = self.inner.cgroups.clone();
            let cgroup_id = id.clone();
            let (new, old) = (
                resources::to_cgroup_limits(&merged),
                resources::to_cgroup_limits(&previous),
            );
            blocking(move || {
                cgroups.apply(&cgroup_id, &new).map_err(|err| {
                    if let Err(undo) = cgroups.apply(&cgroup_id, &old) {
                        tracing::warn!(%undo, "cannot put the previous limits back");
                    }
                    limit_error(err)
                })
            })
            .await?;
        }
        container.config.resources = merged;
        let mut table = self.table();
        let entry = table.entry_mut(&id)?;
        // The status may have moved on (an exit) while we wrote: keep it, change the config.
        container.status = entry.container.status.clone();
        self.inner.store.save(&container)?;
        entry.container = container;
        tracing::info!("limits updated");
        Ok(entry.container.info())
    }

    pub fn logs(
        &self,
        reference: &str,
        follow: bool,
        tail: Option<usize>,
        window: TimeWindow,
    ) -> EngineResult<LogFollower> {
        let table = self.table();
        let id = table.resolve(reference)?;
        let exit = table.entry(&id)?.exit.subscribe();
        LogFollower::open(&self.container_dir(&id), follow, tail, window, exit)
    }

    /// What the helper needs to run `spec` in a running container: its namespaces (through its
    /// init), its environment with the exec's on top, its working directory unless the exec
    /// names one.
    fn exec_launch(&self, reference: &str, spec: &ExecSpec) -> EngineResult<ExecLaunch> {
        spec::validate_exec_spec(spec)?;
        let table = self.table();
        let id = table.resolve(reference)?;
        let entry = table.entry(&id)?;
        entry.container.can_exec()?;
        let ContainerStatus::Running { init_pid, .. } = entry.container.status else {
            return Err(EngineError::ContainerNotRunning(id));
        };
        let config = &entry.container.config;
        Ok(ExecLaunch {
            container_id: id.clone(),
            init_pid,
            argv: spec.cmd.clone(),
            env: spec::merge_env(
                &config.hostname,
                [config.env.as_slice(), spec.env.as_slice()],
            ),
            cwd: spec.cwd.clone().unwrap_or_else(|| config.cwd.clone()),
            tty: spec.tty,
            stdin: spec.stdin,
            window_size: None,
            confinement: spec::container_security(
                &config.security,
                spec.user.as_deref().or(config.user.as_deref()),
            )?
            .confinement,
        })
    }

    pub async fn exec(&self, reference: &str, spec: ExecSpec) -> EngineResult<ExecResult> {
        let launch = self.exec_launch(reference, &spec)?;
        let span = tracing::info_span!("exec", container = %launch.container_id);
        let container_id = launch.container_id.clone();
        let helper = self.inner.helper.clone();
        let handle = blocking(move || Ok(helper.spawn_exec(&launch)?))
            .instrument(span.clone())
            .await?;
        self.emit(EventType::ExecStart, &container_id, EventDetails::default());
        let pipe = |fd| {
            tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
                .map_err(|e| EngineError::internal("exec pipe", e))
        };
        let (stdout, stderr, status) = (
            pipe(handle.stdout)?,
            pipe(handle.stderr)?,
            pipe(handle.status)?,
        );
        let (stdout, stderr, status) = tokio::join!(
            read_capped(stdout),
            read_capped(stderr),
            read_capped(status)
        );
        let status =
            ExecStatus::parse(&status.map_err(|e| EngineError::internal("exec status", e))?)?;
        let details = EventDetails::exec_exit(None, status.exit_code);
        self.emit(EventType::ExecDie, &container_id, details);
        let mut stderr =
            String::from_utf8_lossy(&stderr.map_err(|e| EngineError::internal("exec stderr", e))?)
                .into_owned();
        let stdout =
            String::from_utf8_lossy(&stdout.map_err(|e| EngineError::internal("exec stdout", e))?)
                .into_owned();
        if let Some(failure) = status.failure {
            match failure.kind() {
                FailureKind::CommandNotFound | FailureKind::CommandNotExecutable => {
                    stderr.push_str(&format!("conti: {failure}\n"))
                }
                FailureKind::BadWorkingDirectory => {
                    return Err(EngineError::InvalidCwd(failure.to_string()));
                }
                FailureKind::UnknownUser => {
                    return Err(EngineError::UnknownUser(failure.to_string()));
                }
                FailureKind::Setup
                | FailureKind::UnsupportedLimit
                | FailureKind::PortInUse
                | FailureKind::NetworkContainerGone
                | FailureKind::InvalidVolume => {
                    return Err(EngineError::Internal(format!(
                        "exec failed at {}: {failure}",
                        failure.step
                    )));
                }
            }
        }
        span.in_scope(|| tracing::debug!(exit_code = status.exit_code, "exec finished"));
        Ok(ExecResult {
            exit_code: status.exit_code,
            stdout,
            stderr,
        })
    }

    // ----- images -----

    pub async fn import_image<S, E>(&self, name: &str, mut body: S) -> EngineResult<ImageInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        spec::validate_image_name(name)?;
        if self.inner.images.exists(name) {
            return Err(EngineError::ImageExists(name.to_string()));
        }
        let upload = self.inner.images.upload_path();
        let result = async {
            let mut file = tokio::fs::File::create(&upload)
                .await
                .map_err(|e| EngineError::internal("create upload file", e))?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|e| EngineError::InvalidArchive(format!("upload interrupted: {e}")))?;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| EngineError::internal("write upload file", e))?;
            }
            file.flush()
                .await
                .map_err(|e| EngineError::internal("write upload file", e))?;
            let images = self.inner.images.clone();
            let (name, path) = (name.to_string(), upload.clone());
            blocking(move || images.import(&name, &path)).await
        }
        .await;
        let _ = tokio::fs::remove_file(&upload).await;
        if let Ok(image) = &result {
            tracing::info!(image = %image.name, size = image.size, "image imported");
        }
        result
    }

    pub fn images(&self) -> Vec<ImageInfo> {
        self.inner.images.list()
    }

    pub async fn delete_image(&self, name: &str) -> EngineResult<()> {
        self.inner.images.get(name)?;
        if let Some(user) = self
            .table()
            .entries
            .values()
            .find(|e| e.container.config.image == name)
        {
            return Err(EngineError::ImageInUse {
                image: name.to_string(),
                container: user.container.config.name.clone(),
            });
        }
        let images = self.inner.images.clone();
        let name = name.to_string();
        blocking(move || images.remove(&name)).await
    }
}

fn exited_status(previous: &ContainerStatus, record: &ExitRecord) -> ContainerStatus {
    let started = match previous {
        ContainerStatus::Running { started, .. } => Some(started.clone()),
        ContainerStatus::Exited { started, .. } => started.clone(),
        ContainerStatus::Created => None,
    };
    ContainerStatus::Exited {
        started,
        finished: record.finished.clone(),
        exit_code: record.exit_code,
        error: record.error.clone(),
        oom_killed: record.oom_killed,
    }
}

/// A cgroup error while changing limits, in the caller's terms.
fn limit_error(err: CgroupError) -> EngineError {
    match err {
        CgroupError::Unsupported { .. } => EngineError::UnsupportedLimit(err.to_string()),
        CgroupError::Rejected { .. } => EngineError::LimitRejected(err.to_string()),
        other => EngineError::internal("write the container's limits", other),
    }
}

async fn wait_exit(exit: &mut watch::Receiver<Option<i32>>) {
    // An Err means the container was deleted, which also ends it.
    let _ = exit.wait_for(|code| code.is_some()).await;
}

/// Reads a pipe to its end, keeping at most `EXEC_OUTPUT_LIMIT` bytes.
async fn read_capped(mut pipe: impl AsyncRead + Unpin) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    (&mut pipe)
        .take(EXEC_OUTPUT_LIMIT)
        .read_to_end(&mut kept)
        .await?;
    tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await?;
    Ok(kept)
}

/// `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(text: &str) -> EngineResult<Signal> {
    let invalid = || EngineError::InvalidSignal(text.to_string());
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| invalid());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_or_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("SIG42").is_err());
        assert!(parse_signal("").is_err());
    }
}
