//! The container table: each container's entry (its model, lifecycle lock, exit notification,
//! init handle, monitor slot), looked up by id, name or id prefix.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::supervisor::InitHandle;
use super::{Container, EngineError, EngineResult};

/// How long, and for how many containers, the exit code of a deleted container is remembered.
const REMOVED_MEMORY: Duration = Duration::from_secs(300);
const REMOVED_MEMORY_ENTRIES: usize = 4096;

#[derive(Default)]
pub(super) struct Table {
    pub(super) entries: HashMap<String, Entry>,
    /// Names taken by creates still writing their files.
    pub(super) reserved_names: HashSet<String>,
    /// Addresses (by network) handed to creates still writing their files.
    pub(super) reserved_addresses: HashSet<(String, Ipv4Addr)>,
    /// Exit codes of recently deleted containers, by id, so that a client waiting on an
    /// auto-removed container (`run --rm`) still learns how it ended.
    pub(super) removed: HashMap<String, (i32, std::time::Instant)>,
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
        }
    }
}

impl Table {
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

    pub(super) fn remember_removed(&mut self, id: &str, exit_code: Option<i32>) {
        self.removed
            .retain(|_, (_, when)| when.elapsed() < REMOVED_MEMORY);
        if let Some(code) = exit_code
            && self.removed.len() < REMOVED_MEMORY_ENTRIES
        {
            self.removed
                .insert(id.to_string(), (code, std::time::Instant::now()));
        }
    }

    pub(super) fn name_taken(&self, name: &str) -> bool {
        self.reserved_names.contains(name)
            || self
                .entries
                .values()
                .any(|e| e.container.config.name == name)
    }
}
