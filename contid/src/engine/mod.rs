//! The engine: the container table, lifecycle rules, state on disk, and the supervisor that talks
//! to the helper. No HTTP here, and no raw system calls: those live in [`crate::runtime`].

mod adoption;
mod attach;
mod container;
mod container_filter;
mod disk_usage;
mod error;
mod events;
mod exec;
mod exits;
mod health;
mod images;
mod interrupted_start;
mod ipam;
mod labels;
mod lifecycle;
mod logs;
mod metrics;
mod name_options;
mod named_volumes;
mod networking;
mod networks;
mod prune;
mod quarantine;
mod rename;
mod resources;
mod restarts;
mod run_watch;
mod spec;
mod stats;
mod store;
mod supervisor;
mod table;
mod time_window;
mod tmpfs;
mod update;
mod upload;
mod volume_store;
mod volumes;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use conti_proto::{ContainerCounts, ContainerInfo, ContainerState, DaemonInfo};
use nix::sys::signal::Signal;

use crate::dns::Resolver;
use crate::runtime::HelperClient;
use crate::runtime::cgroup::{CgroupManager, HostCapacity};
use crate::runtime::container::userns::IdMapping;
use crate::runtime::network::firewall::FirewallPlan;
use crate::runtime::network::port_guard::PortGuards;
use crate::runtime::network::routes::host_routes;

pub use attach::{
    AttachEnd, AttachOptions, AttachSession, ClientSocket, DEFAULT_DETACH_KEYS, parse_detach_keys,
    window_size,
};
pub use container::{Container, ContainerConfig, ContainerStatus, short_id};
pub use container_filter::ContainerFilter;
pub use error::{EngineError, EngineResult};
pub use events::{EVENT_HISTORY, EventBus, EventDetails, EventStream, EventsLost};
pub use exec::ExecStream;
pub use exits::{WaitCondition, Waiter};
pub use labels::LabelFilter;
pub use logs::{FRAME_HEADER_LEN, LogFollower, LogRecord, LogStream, stream_frame_header};
pub use networks::NetworkDefaults;
pub use prune::PruneFilter;
pub use spec::{DEFAULT_PATH, MAX_STOP_TIMEOUT_SECS};
pub use table::REMOVED_EXITS_MEMORY;
pub use time_window::TimeWindow;

use crate::images::ImageStore;
use crate::registry::{Registry, RegistrySettings};
use named_volumes::VolumeTable;
use networking::NetworkTable;
use networks::{Network, NetworkStore, check_default_subnet};
use store::ContainerStore;
use table::{Entry, Table};
use volume_store::VolumeStore;

pub use crate::runtime::now_rfc3339;

/// What the engine is built from.
pub struct EngineConfig {
    pub root: PathBuf,
    pub socket: PathBuf,
    pub log_max_bytes: u64,
    /// Files a container's log keeps when its create does not say.
    pub log_max_files: u32,
    /// Whether the host's `/` may be a volume's source.
    pub allow_root_bind: bool,
    /// Where `--userns` containers' ids go (`--userns-remap`); `None`: they are refused.
    pub userns_remap: Option<IdMapping>,
    pub cgroups: CgroupManager,
    pub helper: HelperClient,
    pub network_defaults: NetworkDefaults,
    /// For how many deleted containers a `wait` that comes after the deletion still gets the
    /// exit code ([`REMOVED_EXITS_MEMORY`] by default); a waiter already there always does.
    pub removed_exits_memory: usize,
    /// The host's resolver configuration (`--resolv-conf`): where names the networks' resolvers
    /// do not know are forwarded, and what containers' `/etc/resolv.conf` is made from.
    pub resolv_conf: PathBuf,
    /// CA folders, insecure registries and the credentials file of pulls and logins.
    pub registry: RegistrySettings,
    /// Told how many containers the state folder holds, before they are adopted (the daemon
    /// says so while a long adoption runs).
    pub on_adopting: Box<dyn FnOnce(usize) + Send>,
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
    log_max_files: u32,
    allow_root_bind: bool,
    userns_remap: Option<IdMapping>,
    cgroups: CgroupManager,
    /// The CPUs and memory nodes limits are checked against.
    host: HostCapacity,
    helper: Arc<HelperClient>,
    store: ContainerStore,
    images: ImageStore,
    registry: Registry,
    table: Mutex<Table>,
    /// Attaches and terminal sizes waiting for a container's start.
    early_attaches: attach::EarlyAttaches,
    execs: exec::ExecTable,
    events: EventBus,
    metrics: metrics::Metrics,
    /// The host's name, CPUs, memory and OS, read once at the start (not under the table's lock
    /// at every `info`).
    host_facts: crate::runtime::HostFacts,
    network_defaults: NetworkDefaults,
    network_store: NetworkStore,
    networks: Mutex<NetworkTable>,
    /// The networks' embedded DNS resolver.
    resolver: Resolver,
    /// The firewall plan last applied; serialises applying them.
    firewall: tokio::sync::Mutex<Option<FirewallPlan>>,
    /// Changes the containers' port guards between whole rewrites of the tables.
    port_guards: Arc<PortGuards>,
    /// A [`CgroupManager::prepay_migration`] is under way.
    prepaying_migration: AtomicBool,
    /// The folders of containers whose monitors may restart them.
    runs: run_watch::RunWatch,
    volume_store: VolumeStore,
    /// Locked after the container table when both are.
    volumes: Mutex<VolumeTable>,
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
    /// (255 when nothing was recorded), starts under way are adopted or ended, folders that cannot
    /// be read are quarantined; then those whose restart policy says so are started again (see
    /// `restarts`). Must be called inside the tokio runtime.
    pub fn load(config: EngineConfig) -> EngineResult<Engine> {
        let store = ContainerStore::open(&config.root)?;
        let images = ImageStore::open(&config.root)?;
        let registry = Registry::new(config.registry);
        let network_store = NetworkStore::open(&config.root)?;
        let mut networks = NetworkTable::default();
        let default = Network::default_network(&config.network_defaults, now_rfc3339())?;
        let routes =
            host_routes().map_err(|e| EngineError::internal("read the host's routes", e))?;
        check_default_subnet(&default, &routes)?;
        networks.networks.insert(default.name.clone(), default);
        for network in network_store.load_all()? {
            networks.networks.insert(network.name.clone(), network);
        }
        let volume_store = VolumeStore::open(&config.root)?;
        let volumes = volume_store
            .load_all()?
            .into_iter()
            .map(|volume| (volume.name.clone(), volume))
            .collect();
        let engine = Engine {
            inner: Arc::new(Inner {
                root: config.root,
                socket: config.socket,
                log_max_bytes: config.log_max_bytes,
                log_max_files: config.log_max_files,
                allow_root_bind: config.allow_root_bind,
                userns_remap: config.userns_remap,
                cgroups: config.cgroups,
                host: HostCapacity::detect(),
                helper: Arc::new(config.helper),
                store,
                images,
                registry,
                table: Mutex::new(Table::new(config.removed_exits_memory)),
                early_attaches: attach::EarlyAttaches::default(),
                execs: exec::ExecTable::default(),
                events: EventBus::new(),
                metrics: metrics::Metrics::new(),
                host_facts: crate::runtime::host_facts(),
                network_defaults: config.network_defaults,
                network_store,
                networks: Mutex::new(networks),
                resolver: Resolver::new(config.resolv_conf),
                firewall: tokio::sync::Mutex::new(None),
                port_guards: Arc::default(),
                prepaying_migration: AtomicBool::new(false),
                runs: run_watch::RunWatch::new()?,
                volume_store,
                volumes: Mutex::new(volumes),
            }),
        };
        engine.spawn_run_watch();
        let settle_until = std::time::Instant::now() + interrupted_start::SETTLE_TIMEOUT;
        let (containers, unreadable) = engine.inner.store.load_all()?;
        (config.on_adopting)(containers.len());
        for container in containers {
            engine.adopt(container, settle_until)?;
        }
        for folder in unreadable {
            engine.quarantine(folder);
        }
        engine.serve_names();
        // Re-adopt the table (replaced whole) for the containers found, or remove a stale one.
        engine.spawn_firewall_sync();
        engine.start_by_policy();
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

    fn container_dir(&self, id: &str) -> PathBuf {
        self.inner.store.container_dir(id)
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
        Ok(table.entry(&id)?.info())
    }

    /// How many containers run.
    pub fn count_running(&self) -> usize {
        self.table()
            .entries
            .values()
            .filter(|e| e.container.status.is_running())
            .count()
    }

    pub fn info(&self) -> DaemonInfo {
        let mut counts = ContainerCounts::default();
        let table = self.table();
        for entry in table.entries.values() {
            counts.total += 1;
            match entry.container.status.state() {
                ContainerState::Created => counts.created += 1,
                ContainerState::Running => counts.running += 1,
                ContainerState::Exited => counts.exited += 1,
            }
        }
        let host = &self.inner.host_facts;
        DaemonInfo {
            root: self.inner.root.display().to_string(),
            socket: self.inner.socket.display().to_string(),
            cgroup_layout: self.inner.cgroups.layout().as_str().to_string(),
            cgroup_parent: self.inner.cgroups.parent().to_string(),
            containers: counts,
            images: self.inner.images.count(),
            kernel: crate::runtime::kernel_release(),
            hostname: host.hostname.clone(),
            cpus: host.cpus,
            memory_bytes: host.memory_bytes,
            operating_system: host.operating_system.clone(),
            log_max_bytes: self.inner.log_max_bytes,
            log_max_files: self.inner.log_max_files,
            quarantined: table.quarantined.iter().map(|q| q.info.clone()).collect(),
        }
    }
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
