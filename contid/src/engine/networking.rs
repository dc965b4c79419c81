//! The engine's side of container networking: networks and their members, address allocation,
//! the names the networks' resolver answers, the firewall plan, and what a container's launch
//! needs.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};

use conti_proto::{
    NetworkInfo, NetworkMember, NetworkMode, NetworkSpec, PortBinding, PortProtocol,
};

use crate::dns::{ContainerDns, Member};
use crate::runtime::network::firewall::{
    FirewallChange, FirewallPlan, PortForward, Rewrite, Transport,
};
use crate::runtime::network::port_guard::GuardedPort;
use crate::runtime::network::ports::reserve_port;
use crate::runtime::network::routes::host_routes;
use crate::runtime::network::{BridgeEndpoint, format_mac, host_interface_name};
use crate::runtime::{NetworkSetup, PublishedPort};

use super::container::short_id;
use super::container::{ContainerConfig, ContainerStatus, Endpoint};
use super::error::{EngineError, EngineResult};
use super::networks::{Network, new_network};
use super::{Engine, Table, blocking, ipam, name_options, now_rfc3339};

/// The networks the engine knows, and the bridges ensured on the host since the daemon started
/// (their rules stay in the firewall table until the network is removed).
#[derive(Default)]
pub(super) struct NetworkTable {
    pub networks: BTreeMap<String, Network>,
    pub ensured_bridges: HashSet<String>,
}

impl Engine {
    pub(super) fn networks(&self) -> std::sync::MutexGuard<'_, NetworkTable> {
        self.inner
            .networks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn network(&self, name: &str) -> EngineResult<Network> {
        self.networks()
            .networks
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::NetworkNotFound(name.to_string()))
    }

    // ----- networks API -----

    pub async fn create_network(&self, spec: NetworkSpec) -> EngineResult<NetworkInfo> {
        let routes = blocking(|| {
            host_routes().map_err(|e| EngineError::internal("read the host's routes", e))
        })
        .await?;
        let network = {
            let mut table = self.networks();
            let network = new_network(
                &spec,
                &table.networks,
                &routes,
                uuid::Uuid::new_v4().simple().to_string(),
                now_rfc3339(),
            )?;
            self.inner.network_store.save(&network)?;
            table.networks.insert(network.name.clone(), network.clone());
            network
        };
        self.inner.resolver.serve(&network.name, network.gateway);
        tracing::info!(network = %network.name, subnet = %network.subnet, "network created");
        Ok(network.info(Vec::new()))
    }

    pub fn list_networks(&self) -> Vec<NetworkInfo> {
        let networks: Vec<Network> = self.networks().networks.values().cloned().collect();
        let table = self.table();
        networks
            .iter()
            .map(|network| network.info(members(&table, &network.name)))
            .collect()
    }

    pub fn inspect_network(&self, name: &str) -> EngineResult<NetworkInfo> {
        let network = self.network(name)?;
        Ok(network.info(members(&self.table(), name)))
    }

    /// Removes a network nobody is on: its bridge, its file, its rules.
    pub async fn delete_network(&self, name: &str) -> EngineResult<()> {
        let network = self.network(name)?;
        if network.default {
            return Err(EngineError::NetworkInUse(format!(
                "{name:?} is the predefined default network and cannot be removed"
            )));
        }
        {
            // Both locks, so that no create can join it in between.
            let table = self.table();
            let mut networks = self.networks();
            if let Some(member) = members(&table, name).first() {
                return Err(EngineError::NetworkInUse(format!(
                    "network {name:?} is used by container {}",
                    member.name
                )));
            }
            if let Some(address) = table.quarantined_addresses(name).next() {
                return Err(EngineError::NetworkInUse(format!(
                    "network {name:?} is used by a quarantined container ({address}; see /v1/info)"
                )));
            }
            networks.networks.remove(name);
            networks.ensured_bridges.remove(&network.bridge);
        }
        self.inner.resolver.stop(name);
        let helper = self.inner.helper.clone();
        let (store, bridge) = (self.inner.network_store.clone(), network.bridge.clone());
        let stored_name = name.to_string();
        blocking(move || {
            helper.remove_bridge(&bridge)?;
            store.remove(&stored_name)
        })
        .await?;
        self.sync_firewall().await?;
        tracing::info!(network = %name, "network removed");
        Ok(())
    }

    // ----- containers -----

    /// At create: the container's address on its network (reserved in `table` until the create
    /// is done), after checking its ports and the container it shares a namespace with. The
    /// network mode comes back with a container reference resolved to its id.
    pub(super) fn attach_at_create(
        &self,
        table: &mut Table,
        mode: &NetworkMode,
        ports: &[PortBinding],
    ) -> EngineResult<(NetworkMode, Option<Endpoint>)> {
        let Some(name) = mode.network_name() else {
            if !ports.is_empty() {
                return Err(EngineError::InvalidSpec(format!(
                    "ports can only be published on a bridge network, not with network {mode}"
                )));
            }
            return Ok(match mode {
                NetworkMode::Container(reference) => {
                    (NetworkMode::Container(table.resolve(reference)?), None)
                }
                other => (other.clone(), None),
            });
        };
        let network = self.network(name)?;
        check_ports_free(ports)?;
        let taken: HashSet<Ipv4Addr> = table
            .entries
            .values()
            .filter_map(|e| e.container.config.endpoint.as_ref())
            .filter(|endpoint| endpoint.network == network.name)
            .map(|endpoint| endpoint.address)
            .chain(
                table
                    .reserved_addresses
                    .iter()
                    .filter(|(n, _)| *n == network.name)
                    .map(|(_, address)| *address),
            )
            .chain(table.quarantined_addresses(&network.name))
            .collect();
        let address = ipam::allocate(network.subnet, network.gateway, &taken)
            .ok_or_else(|| EngineError::NetworkFull(network.name.clone()))?;
        table
            .reserved_addresses
            .insert((network.name.clone(), address));
        Ok((
            mode.clone(),
            Some(Endpoint {
                network: network.name.clone(),
                address,
                prefix_len: network.subnet.prefix_len(),
                gateway: network.gateway,
            }),
        ))
    }

    /// A container whose network namespace a running container shares cannot be deleted: its
    /// address would go back to the network while its veth lives on in that namespace.
    pub(super) fn check_namespace_not_shared(&self, id: &str) -> EngineResult<()> {
        let table = self.table();
        let sharer = table.entries.values().find(|e| {
            e.container.status.is_running()
                && e.container.config.network == NetworkMode::Container(id.to_string())
        });
        match sharer {
            Some(entry) => Err(EngineError::NetworkInUse(format!(
                "container {} shares the network namespace of {id}: stop it first",
                entry.container.config.name
            ))),
            None => Ok(()),
        }
    }

    /// How the container's network is set up at its start; for a bridge, its bridge is made
    /// sure of first.
    pub(super) async fn network_setup(
        &self,
        config: &ContainerConfig,
    ) -> EngineResult<NetworkSetup> {
        let endpoint = match &config.network {
            NetworkMode::None => return Ok(NetworkSetup::Isolated),
            NetworkMode::Host => return Ok(NetworkSetup::Host),
            NetworkMode::Container(reference) => {
                let table = self.table();
                let id = table.resolve(reference)?;
                return match table.entry(&id)?.container.status {
                    ContainerStatus::Running {
                        init_pid,
                        init_start_time,
                        ..
                    } => Ok(NetworkSetup::Joined {
                        init_pid,
                        init_start_time,
                    }),
                    _ => Err(EngineError::ContainerNotRunning(format!(
                        "{id} (its network namespace is to be shared)"
                    ))),
                };
            }
            NetworkMode::Bridge | NetworkMode::Network(_) => {
                config.endpoint.as_ref().ok_or_else(|| {
                    EngineError::Internal(format!(
                        "container {} has no address on its network",
                        config.id
                    ))
                })?
            }
        };
        let network = self.network(&endpoint.network)?;
        self.ensure_bridge(&network).await?;
        // Listening since the network exists, unless port 53 was taken then: tried again.
        self.inner.resolver.serve(&network.name, network.gateway);
        // The network's rules are in place before its container runs (nothing is run when they
        // already are).
        self.sync_firewall().await?;
        Ok(NetworkSetup::Bridge(BridgeEndpoint {
            bridge: network.bridge,
            host_interface: host_interface_name(&config.id),
            address: endpoint.address,
            prefix_len: endpoint.prefix_len,
            gateway: endpoint.gateway,
            mac: endpoint.mac(),
        }))
    }

    async fn ensure_bridge(&self, network: &Network) -> EngineResult<()> {
        if self.networks().ensured_bridges.contains(&network.bridge) {
            return Ok(());
        }
        let helper = self.inner.helper.clone();
        let (bridge, gateway, prefix_len) = (
            network.bridge.clone(),
            network.gateway,
            network.subnet.prefix_len(),
        );
        blocking(move || Ok(helper.ensure_bridge(&bridge, gateway, prefix_len)?)).await?;
        self.networks()
            .ensured_bridges
            .insert(network.bridge.clone());
        Ok(())
    }

    /// At load: every network served by the resolver, every container with an address named
    /// on its network.
    pub(super) fn serve_names(&self) {
        let networks: Vec<Network> = self.networks().networks.values().cloned().collect();
        for network in networks {
            self.inner.resolver.serve(&network.name, network.gateway);
        }
        let table = self.table();
        for entry in table.entries.values() {
            self.name_on_network(&entry.container.config);
        }
    }

    /// The resolver answers the container's name and aliases on its network (from its create;
    /// called with the table locked, so that an address handed out again is never unnamed by a
    /// late delete of its previous owner).
    pub(super) fn name_on_network(&self, config: &ContainerConfig) {
        if let Some(endpoint) = &config.endpoint {
            let upstreams = name_options::dns_settings(&config.dns, &[], &[])
                .nameservers
                .into_iter()
                .map(|address| SocketAddr::new(address, 53))
                .collect();
            let member = Member {
                network: endpoint.network.clone(),
                upstreams,
                // As Docker's: also its short id (Compose checks that alias is there).
                names: [config.name.clone(), short_id(&config.id)]
                    .into_iter()
                    .chain(config.network_aliases.iter().cloned())
                    .collect(),
            };
            self.inner.resolver.add(endpoint.address, member);
        }
    }

    /// The container's address goes back to its network (at its delete, table locked).
    pub(super) fn unname(&self, endpoint: &Endpoint) {
        self.inner.resolver.remove(endpoint.address);
    }

    /// The container's `/etc/resolv.conf`: its network's resolver, the host's file with network
    /// `host`, the host's nameservers that it can reach otherwise. A container sharing another's
    /// network namespace gets what that one has.
    pub(super) fn resolv_conf_for(&self, config: &ContainerConfig) -> String {
        let settings = |config: &ContainerConfig| {
            name_options::dns_settings(&config.dns, &config.dns_search, &config.dns_options)
        };
        let (mode, endpoint, settings) = match &config.network {
            NetworkMode::Container(reference) => {
                let table = self.table();
                match table.resolve(reference).and_then(|id| table.entry(&id)) {
                    Ok(entry) => (
                        entry.container.config.network.clone(),
                        entry.container.config.endpoint.clone(),
                        settings(&entry.container.config),
                    ),
                    Err(_) => (NetworkMode::None, None, settings(config)),
                }
            }
            other => (other.clone(), config.endpoint.clone(), settings(config)),
        };
        let dns = match (&mode, &endpoint) {
            (NetworkMode::Host, _) => ContainerDns::HostNetwork,
            (_, Some(endpoint)) => ContainerDns::OnNetwork(&endpoint.network),
            _ => ContainerDns::OwnNamespace,
        };
        self.inner.resolver.resolv_conf(dns, &settings)
    }

    /// Brings Conti's nftables tables in line with the networks in use, the ports of running
    /// containers and the containers' port guards; nothing is run when they already are, and
    /// containers coming and going only add or remove their guards.
    pub(super) async fn sync_firewall(&self) -> EngineResult<()> {
        let mut applied = self.inner.firewall.lock().await;
        let plan = self.firewall_plan();
        let change = FirewallChange::between(applied.as_ref(), &plan);
        if change.is_empty() {
            return Ok(());
        }
        let whole = matches!(change.rewrite, Some(Rewrite::Tables(_)));
        let mut result = self.apply_firewall_change(change).await;
        if let Err(err) = &result
            && !whole
        {
            // The tables are not what was applied last (someone deleted one): rebuild them.
            tracing::warn!(%err, "updating the firewall failed; rebuilding its tables");
            result = self
                .apply_firewall_change(FirewallChange::between(None, &plan))
                .await;
        }
        // After a failure nothing is known: the next sync rebuilds everything.
        *applied = result.is_ok().then_some(plan);
        result
    }

    async fn apply_firewall_change(&self, change: FirewallChange) -> EngineResult<()> {
        if let Some(rewrite) = change.rewrite {
            let helper = self.inner.helper.clone();
            blocking(move || Ok(helper.apply_firewall(&rewrite)?)).await?;
        }
        if change.added.is_empty() && change.removed.is_empty() {
            return Ok(());
        }
        let table = self.inner.network_defaults.firewall_table.clone();
        let guards = self.inner.port_guards.clone();
        blocking(move || {
            guards
                .update(&table, &change.added, &change.removed)
                .map_err(|e| EngineError::internal("update the port guards", e))
        })
        .await
    }

    /// Like [`Engine::sync_firewall`], in the background, for callers that cannot fail.
    pub(super) fn spawn_firewall_sync(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(err) = engine.sync_firewall().await {
                tracing::error!(%err, "cannot update the firewall");
            }
        });
    }

    fn firewall_plan(&self) -> FirewallPlan {
        let table = self.table();
        let networks = self.networks();
        let configs = || {
            table
                .entries
                .values()
                .map(|e| (&e.container.config, &e.container.status))
        };
        // A network's rules stay while its bridge is up or a container is on it, so that
        // containers coming and going do not rewrite the table each time.
        let in_use: HashSet<&str> = configs()
            .filter_map(|(c, _)| c.endpoint.as_ref())
            .map(|e| e.network.as_str())
            .collect();
        let wanted = |n: &Network| {
            in_use.contains(n.name.as_str()) || networks.ensured_bridges.contains(&n.bridge)
        };
        let mut ports: Vec<PortForward> = configs()
            .filter(|(_, status)| status.is_running())
            .filter_map(|(c, _)| Some((c.endpoint.as_ref()?, &c.ports)))
            .flat_map(|(endpoint, ports)| {
                ports.iter().map(|port| PortForward {
                    host_ip: host_ip(port),
                    host_port: port.host_port,
                    transport: transport(port.protocol),
                    container_ip: endpoint.address,
                    container_port: port.container_port,
                })
            })
            .collect();
        ports.sort();
        // Every container on a network has its guard, running or not: it gets its address at
        // create and keeps it until it is deleted, and a port that does not exist matches
        // nothing. So the guard is in place before the container first starts, and starting
        // and stopping change nothing.
        let guards = configs()
            .filter_map(|(c, _)| {
                let endpoint = c.endpoint.as_ref()?;
                Some(GuardedPort {
                    interface: host_interface_name(&c.id),
                    mac: endpoint.mac(),
                    address: endpoint.address,
                })
            })
            .collect();
        FirewallPlan {
            table: self.inner.network_defaults.firewall_table.clone(),
            networks: networks
                .networks
                .values()
                .filter(|n| wanted(n))
                .map(Network::firewall_entry)
                .collect(),
            ports,
            guards,
        }
    }
}

/// The members of a network, from the container table.
fn members(table: &Table, network: &str) -> Vec<NetworkMember> {
    let mut members: Vec<NetworkMember> = table
        .entries
        .values()
        .map(|e| &e.container.config)
        .filter_map(|c| {
            let endpoint = c.endpoint.as_ref().filter(|e| e.network == network)?;
            Some(NetworkMember {
                id: c.id.clone(),
                name: c.name.clone(),
                ip_address: endpoint.address.to_string(),
                mac_address: format_mac(&endpoint.mac()),
            })
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    members
}

/// Published ports as the monitor reserves them.
pub(super) fn published_ports(ports: &[PortBinding]) -> Vec<PublishedPort> {
    ports
        .iter()
        .map(|port| PublishedPort {
            host_ip: host_ip(port),
            host_port: port.host_port,
            transport: transport(port.protocol),
        })
        .collect()
}

/// Checked at create (`validate_ports`), so it parses.
fn host_ip(port: &PortBinding) -> Ipv4Addr {
    port.host_ip.parse().unwrap_or(Ipv4Addr::LOCALHOST)
}

fn transport(protocol: PortProtocol) -> Transport {
    match protocol {
        PortProtocol::Tcp => Transport::Tcp,
        PortProtocol::Udp => Transport::Udp,
    }
}

/// Ports must be free now: not published by another running container (whose monitor holds
/// them) and not taken by anything else on the host, checked by binding them for a moment.
fn check_ports_free(ports: &[PortBinding]) -> EngineResult<()> {
    for port in published_ports(ports) {
        if let Err(e) = reserve_port(port) {
            return Err(match e.raw_os_error() {
                Some(nix::libc::EADDRINUSE) => {
                    EngineError::PortInUse(format!("port {port} is already in use on the host"))
                }
                Some(nix::libc::EADDRNOTAVAIL) => EngineError::InvalidSpec(format!(
                    "cannot publish {port}: {} is not an address of this host",
                    port.host_ip
                )),
                _ => EngineError::internal(&format!("check port {port}"), e),
            });
        }
    }
    Ok(())
}

/// Ports of a spec: in range, a host IPv4 address, no port twice.
pub(super) fn validate_ports(ports: &[PortBinding]) -> EngineResult<()> {
    let mut seen = HashSet::new();
    for port in ports {
        if port.host_port == 0 || port.container_port == 0 {
            return Err(EngineError::InvalidSpec(format!(
                "invalid port mapping {}:{}: ports must be 1-65535",
                port.host_port, port.container_port
            )));
        }
        let address: Ipv4Addr = port.host_ip.parse().map_err(|_| {
            EngineError::InvalidSpec(format!(
                "invalid host_ip {:?}: expected an IPv4 address",
                port.host_ip
            ))
        })?;
        if !seen.insert((address, port.host_port, port.protocol)) {
            return Err(EngineError::InvalidSpec(format!(
                "host port {}:{}/{} is published twice",
                address,
                port.host_port,
                port.protocol.as_str()
            )));
        }
    }
    Ok(())
}
