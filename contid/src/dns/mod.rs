//! The embedded DNS resolver, as Podman's aardvark-dns: on each network's gateway, port 53 (UDP
//! and TCP), in the host's network namespace, it answers the names of the containers on the
//! asker's networks (found by the asking address) and forwards every other query to the host's
//! nameservers (`--resolv-conf`). A container on a network gets `nameserver <gateway>` in its
//! `/etc/resolv.conf`, so a create or delete changes one entry here instead of every member's
//! `/etc/hosts`.
//!
//! The engine drives it: a network is served from its creation (or the daemon's start) to its
//! removal, a container is a member from its create to its delete. While contid is down nothing
//! answers, and names (container names and forwarded ones) do not resolve in containers on
//! networks; the listeners are back when it starts again.
//!
//! Its own layer beside the engine: async (tokio sockets and tasks), no knowledge of containers
//! beyond addresses and names; the sockets come from `runtime::network::freebind`.

mod answer;
mod forward;
mod listener;
mod names;
mod resolv_conf;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use tokio::sync::Semaphore;

pub use names::Member;

use listener::Listener;
use names::NameTable;
use resolv_conf::HostResolvConf;

/// Queries forwarded at once (each holds a socket until its answer); more get SERVFAIL.
const MAX_FORWARDS: usize = 1024;
/// TCP connections open at once over all networks; more are closed at once.
const MAX_TCP_CONNECTIONS: usize = 128;

/// Where a container's network namespace is, for its `/etc/resolv.conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerDns<'a> {
    /// The host's: the host's file as it is.
    HostNetwork,
    /// A namespace of its own without a resolver (network `none`): the host's file without the
    /// nameservers on the host's loopback.
    OwnNamespace,
    /// On this network: its resolver when it is served, else as `OwnNamespace`.
    OnNetwork(&'a str),
}

/// What a container's create asked of its `/etc/resolv.conf` (`--dns`, `--dns-search`,
/// `--dns-option`); each, when given, replaces the host's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// On a network with a resolver: where it forwards this container's queries; elsewhere the
    /// file's nameservers.
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// What the listeners share.
pub(crate) struct Shared {
    names: RwLock<NameTable>,
    host: HostResolvConf,
    forwards: Semaphore,
    tcp_connections: Arc<Semaphore>,
}

impl Shared {
    fn names(&self) -> RwLockReadGuard<'_, NameTable> {
        self.names.read().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Resolver {
    shared: Arc<Shared>,
    /// By network name.
    listeners: Mutex<HashMap<String, Listener>>,
    /// Networks whose last bind failed (warned about once until one succeeds).
    failed: Mutex<HashSet<String>>,
}

impl Resolver {
    /// A resolver with no network yet, forwarding to the nameservers of `resolv_conf`.
    pub fn new(resolv_conf: PathBuf) -> Resolver {
        Resolver {
            shared: Arc::new(Shared {
                names: RwLock::new(NameTable::default()),
                host: HostResolvConf::new(resolv_conf),
                forwards: Semaphore::new(MAX_FORWARDS),
                tcp_connections: Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS)),
            }),
            listeners: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashSet::new()),
        }
    }

    /// Serves `network` on `gateway:53` unless it already is; whether it is now. A port 53
    /// taken on that address (another DNS server bound to it, or to every address) is a
    /// warning, not an error: the network works without names, and the next call tries again.
    /// Must be called inside the tokio runtime.
    pub fn serve(&self, network: &str, gateway: Ipv4Addr) -> bool {
        let mut listeners = lock(&self.listeners);
        if listeners.get(network).is_some_and(|l| l.gateway == gateway) {
            return true;
        }
        match Listener::bind(network, gateway, self.shared.clone()) {
            Ok(listener) => {
                listeners.insert(network.to_string(), listener);
                if lock(&self.failed).remove(network) {
                    tracing::info!(network, %gateway, "resolver listening after all");
                } else {
                    tracing::debug!(network, %gateway, "resolver listening");
                }
                true
            }
            Err(err) => {
                if lock(&self.failed).insert(network.to_string()) {
                    tracing::warn!(
                        network, %gateway, %err,
                        "cannot serve DNS on {gateway}:53; containers on this network get the \
                         host's nameservers and do not find each other by name"
                    );
                }
                false
            }
        }
    }

    /// Stops serving `network` (it is being removed).
    pub fn stop(&self, network: &str) {
        lock(&self.listeners).remove(network);
        lock(&self.failed).remove(network);
    }

    /// The container at `address` answers to `member`'s names on its network.
    pub fn add(&self, address: Ipv4Addr, member: Member) {
        self.shared
            .names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add(address, member);
    }

    /// The container at `address` is gone.
    pub fn remove(&self, address: Ipv4Addr) {
        self.shared
            .names
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(address);
    }

    /// The contents of a container's `/etc/resolv.conf`, from the host's file as it is now
    /// with what the container's create asked for over it.
    pub fn resolv_conf(&self, dns: ContainerDns, settings: &DnsSettings) -> String {
        let host = self.shared.host.current().with_settings(settings);
        match dns {
            ContainerDns::HostNetwork => host.text.clone(),
            ContainerDns::OwnNamespace => host.without_local_nameservers(),
            ContainerDns::OnNetwork(network) => match lock(&self.listeners).get(network) {
                Some(listener) => host.for_resolver(listener.gateway),
                None => host.without_local_nameservers(),
            },
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
