//! The container table: each container's entry (its model, lifecycle lock, exit notification,
//! init handle, monitor slot, health), looked up by id, name or id prefix.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conti_proto::{ContainerInfo, Health};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::quarantine::Quarantined;
use super::supervisor::InitHandle;
use super::{Container, EngineError, EngineResult};

/// How long the exit code of a deleted container is remembered (for at most
/// `EngineConfig::removed_exits_memory` containers: past that the oldest are forgotten first).
const REMOVED_MEMORY: Duration = Duration::from_secs(300);
/// The default of `EngineConfig::removed_exits_memory`.
pub const REMOVED_EXITS_MEMORY: usize = 4096;

pub(super) struct Table {
    pub(super) entries: HashMap<String, Entry>,
    /// Names taken by creates still writing their files.
    pub(super) reserved_names: HashSet<String>,
    /// Addresses (by network) handed to creates still writing their files.
    pub(super) reserved_addresses: HashSet<(String, Ipv4Addr)>,
    /// Named volumes of creates still writing their files (once per create that names one).
    pub(super) reserved_volumes: Vec<String>,
    /// Exit codes of recently deleted containers, for a `wait` that comes after the removal (a
    /// waiter already there learns the code from the container's exit channel).
    pub(super) removed: RemovedExits,
    /// Container folders that could not be read at load (see `quarantine`).
    pub(super) quarantined: Vec<Quarantined>,
}

/// Exit codes of deleted containers by id, bounded in age and in number: the oldest make room.
pub(super) struct RemovedExits {
    codes: HashMap<String, (i32, Instant)>,
    /// Ids in the order they were remembered.
    order: VecDeque<String>,
    capacity: usize,
}

impl RemovedExits {
    fn with_capacity(capacity: usize) -> Self {
        RemovedExits {
            codes: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(super) fn remember(&mut self, id: &str, code: i32) {
        if self.capacity == 0 {
            return;
        }
        if let Some(known) = self.codes.get_mut(id) {
            *known = (code, Instant::now());
            return;
        }
        while let Some(oldest) = self.order.front() {
            let expired = self
                .codes
                .get(oldest)
                .is_none_or(|(_, when)| when.elapsed() >= REMOVED_MEMORY);
            if !expired && self.order.len() < self.capacity {
                break;
            }
            self.codes.remove(oldest);
            self.order.pop_front();
        }
        self.codes.insert(id.to_string(), (code, Instant::now()));
        self.order.push_back(id.to_string());
    }

    pub(super) fn get(&self, id: &str) -> Option<i32> {
        self.codes
            .get(id)
            .filter(|(_, when)| when.elapsed() < REMOVED_MEMORY)
            .map(|(code, _)| *code)
    }
}

pub(super) struct Entry {
    pub(super) container: Container,
    /// Serialises start, stop, kill-on-delete and delete of this container.
    pub(super) lifecycle: Arc<tokio::sync::Mutex<()>>,
    /// `Some(exit code)` once exited; dropped when the container is deleted.
    pub(super) exit: watch::Sender<Option<i32>>,
    /// The container's first process while it runs, for signals.
    pub(super) init: Option<InitHandle>,
    /// Held by the watcher of the container's monitor until that process is gone: it still
    /// unmounts the container's root after its exit is recorded, and a new start waits for it.
    pub(super) monitor_slot: Arc<tokio::sync::Mutex<()>>,
    /// What its health checks found in its current (or last) run (see `health`).
    pub(super) health: Option<Health>,
    /// The task that runs its health checks while it runs.
    pub(super) health_checks: Option<AbortHandle>,
    /// When the last run whose end was told (a `die` event) ended, as the monitor wrote it: the
    /// same end is not told twice (see `run_watch`).
    pub(super) told_exit: Option<String>,
}

impl Entry {
    pub(super) fn new(container: Container) -> Entry {
        let (exit, _) = watch::channel(container.status.exit_code());
        Entry {
            container,
            lifecycle: Arc::new(tokio::sync::Mutex::new(())),
            exit,
            init: None,
            monitor_slot: Arc::new(tokio::sync::Mutex::new(())),
            health: None,
            health_checks: None,
            told_exit: None,
        }
    }

    /// The container as inspect shows it.
    pub(super) fn info(&self) -> ContainerInfo {
        ContainerInfo {
            health: self.health.clone(),
            ..self.container.info()
        }
    }
}

impl Table {
    /// An empty table that remembers the exit codes of at most `removed_exits` deleted containers.
    pub(super) fn new(removed_exits: usize) -> Table {
        Table {
            entries: HashMap::new(),
            reserved_names: HashSet::new(),
            reserved_addresses: HashSet::new(),
            reserved_volumes: Vec::new(),
            removed: RemovedExits::with_capacity(removed_exits),
            quarantined: Vec::new(),
        }
    }

    /// Exact id, then exact name, then a unique id prefix (dashes optional).
    pub(super) fn resolve(&self, reference: &str) -> EngineResult<String> {
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

    pub(super) fn entry(&self, id: &str) -> EngineResult<&Entry> {
        self.entries
            .get(id)
            .ok_or_else(|| EngineError::ContainerNotFound(id.to_string()))
    }

    pub(super) fn entry_mut(&mut self, id: &str) -> EngineResult<&mut Entry> {
        self.entries
            .get_mut(id)
            .ok_or_else(|| EngineError::ContainerNotFound(id.to_string()))
    }

    pub(super) fn name_taken(&self, name: &str) -> bool {
        self.reserved_names.contains(name)
            || self
                .entries
                .values()
                .any(|e| e.container.config.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_exits_make_room_by_forgetting_the_oldest() {
        let mut removed = RemovedExits::with_capacity(3);
        for (n, id) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            removed.remember(id, n as i32);
        }
        assert_eq!(removed.get("a"), None);
        assert_eq!(removed.get("b"), None);
        assert_eq!(
            ["c", "d", "e"].map(|id| removed.get(id)),
            [Some(2), Some(3), Some(4)]
        );
        assert_eq!(removed.order.len(), 3);
        // The same id again takes no second place.
        removed.remember("e", 9);
        assert_eq!((removed.get("e"), removed.order.len()), (Some(9), 3));
        let mut nothing = RemovedExits::with_capacity(0);
        nothing.remember("a", 1);
        assert_eq!((nothing.get("a"), nothing.codes.len()), (None, 0));
    }
}
