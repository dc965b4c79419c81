//! Networks: the default bridge network (`bridge`, from the daemon's flags, never stored) and the
//! ones made through the API, stored as `<root>/networks/<name>.json` (written atomically).
//! A network's bridge is created on the host when a container on it first starts.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use conti_proto::{DEFAULT_NETWORK, NetworkInfo, NetworkMember, NetworkSpec};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::runtime::network::firewall::BridgeNetwork;
use crate::runtime::network::routes::HostRoute;
use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};

use super::error::{EngineError, EngineResult};
use super::labels::validate_labels;
use super::spec::validate_container_name;

/// Where user networks get their subnet when they do not name one: the first free /24.
const AUTO_SUBNET_POOL: &str = "10.90.0.0/16";
const AUTO_SUBNET_PREFIX: u8 = 24;
/// Smallest and largest subnets a network may have.
const MIN_PREFIX: u8 = 8;
const MAX_PREFIX: u8 = 30;

/// The daemon's networking settings (its flags).
#[derive(Debug, Clone)]
pub struct NetworkDefaults {
    /// The default network's bridge (`--bridge`, default `conti0`).
    pub bridge: String,
    /// The default network's subnet (`--default-subnet`, default `10.88.0.0/16`).
    pub subnet: Ipv4Net,
    /// The default network's gateway, the bridge's address (`--default-gateway`, default: the
    /// subnet's first address).
    pub gateway: Option<Ipv4Addr>,
    /// Conti's nftables table (`--firewall-table`, family `ip`, default `conti`).
    pub firewall_table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    pub created: String,
    /// `NetworkSpec.labels` (absent in files written before they existed).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The predefined network, made from the flags.
    #[serde(skip)]
    pub default: bool,
}

impl Network {
    pub fn default_network(defaults: &NetworkDefaults, created: String) -> EngineResult<Network> {
        let subnet = parse_subnet(&defaults.subnet.to_string())?;
        let gateway = match defaults.gateway {
            Some(gateway) => parse_gateway(&gateway.to_string(), &subnet)?,
            None => subnet.hosts().next().ok_or_else(|| {
                EngineError::InvalidSpec(format!(
                    "default subnet {} has no host address",
                    defaults.subnet
                ))
            })?,
        };
        Ok(Network {
            id: DEFAULT_NETWORK.to_string(),
            name: DEFAULT_NETWORK.to_string(),
            subnet,
            gateway,
            bridge: defaults.bridge.clone(),
            created,
            labels: BTreeMap::new(),
            default: true,
        })
    }

    pub fn info(&self, members: Vec<NetworkMember>) -> NetworkInfo {
        NetworkInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            subnet: self.subnet.to_string(),
            gateway: self.gateway.to_string(),
            bridge: self.bridge.clone(),
            default: self.default,
            created: self.created.clone(),
            labels: self.labels.clone(),
            containers: members,
        }
    }

    pub fn firewall_entry(&self) -> BridgeNetwork {
        BridgeNetwork {
            bridge: self.bridge.clone(),
            subnet: self.subnet.network(),
            prefix_len: self.subnet.prefix_len(),
            gateway: self.gateway,
        }
    }
}

/// Checks a `POST /v1/networks` body against the networks there are and the host's routes
/// (`routes`: another bridge, another engine's, a VPN...), and makes the network.
pub fn new_network(
    spec: &NetworkSpec,
    existing: &BTreeMap<String, Network>,
    routes: &[HostRoute],
    id: String,
    created: String,
) -> EngineResult<Network> {
    validate_network_name(&spec.name)?;
    validate_labels(&spec.labels)?;
    if existing.contains_key(&spec.name) {
        return Err(EngineError::NetworkExists(spec.name.clone()));
    }
    let subnet = match &spec.subnet {
        Some(text) => parse_subnet(text)?,
        None => free_subnet(existing, routes)?,
    };
    if let Some(other) = existing.values().find(|n| overlaps(&n.subnet, &subnet)) {
        return Err(EngineError::SubnetInUse(format!(
            "subnet {subnet} overlaps {} of network {:?}",
            other.subnet, other.name
        )));
    }
    if let Some(route) = routes.iter().find(|r| overlaps(&r.destination, &subnet)) {
        return Err(EngineError::SubnetInUse(format!(
            "subnet {subnet} overlaps the host's route to {route}"
        )));
    }
    let gateway = match &spec.gateway {
        Some(text) => parse_gateway(text, &subnet)?,
        None => subnet.hosts().next().ok_or_else(|| {
            EngineError::InvalidSpec(format!("subnet {subnet} has no host address"))
        })?,
    };
    let bridge = format!(
        "ct-{}",
        id.chars()
            .filter(char::is_ascii_hexdigit)
            .take(11)
            .collect::<String>()
    );
    Ok(Network {
        id,
        name: spec.name.clone(),
        subnet,
        gateway,
        bridge,
        created,
        labels: spec.labels.clone(),
        default: false,
    })
}

fn validate_network_name(name: &str) -> EngineResult<()> {
    validate_container_name(name)
        .map_err(|e| EngineError::InvalidSpec(format!("network name: {e}")))?;
    if matches!(name, DEFAULT_NETWORK | "none" | "host" | "default")
        || name.starts_with("container:")
    {
        return Err(EngineError::InvalidSpec(format!(
            "network name {name:?} is reserved"
        )));
    }
    Ok(())
}

/// A CIDR whose host bits are zero, with a prefix length a bridge network can use.
pub fn parse_subnet(text: &str) -> EngineResult<Ipv4Net> {
    let subnet: Ipv4Net = text.parse().map_err(|_| {
        EngineError::InvalidSpec(format!(
            "invalid subnet {text:?}: expected IPv4 CIDR like 10.90.1.0/24"
        ))
    })?;
    if !(MIN_PREFIX..=MAX_PREFIX).contains(&subnet.prefix_len()) {
        return Err(EngineError::InvalidSpec(format!(
            "invalid subnet {text:?}: the prefix length must be {MIN_PREFIX}-{MAX_PREFIX}"
        )));
    }
    if subnet.trunc() != subnet {
        return Err(EngineError::InvalidSpec(format!(
            "invalid subnet {text:?}: host bits are set (did you mean {}?)",
            subnet.trunc()
        )));
    }
    Ok(subnet)
}

fn parse_gateway(text: &str, subnet: &Ipv4Net) -> EngineResult<Ipv4Addr> {
    let gateway: Ipv4Addr = text.parse().map_err(|_| {
        EngineError::InvalidSpec(format!(
            "invalid gateway {text:?}: expected an IPv4 address"
        ))
    })?;
    if !subnet.hosts().any(|host| host == gateway) {
        return Err(EngineError::InvalidSpec(format!(
            "gateway {gateway} is not a host address of subnet {subnet}"
        )));
    }
    Ok(gateway)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn free_subnet(
    existing: &BTreeMap<String, Network>,
    routes: &[HostRoute],
) -> EngineResult<Ipv4Net> {
    let pool: Ipv4Net = AUTO_SUBNET_POOL.parse().expect("a valid constant");
    pool.subnets(AUTO_SUBNET_PREFIX)
        .expect("a valid constant")
        .find(|candidate| {
            !existing.values().any(|n| overlaps(&n.subnet, candidate))
                && !routes.iter().any(|r| overlaps(&r.destination, candidate))
        })
        .ok_or_else(|| {
            EngineError::SubnetInUse(format!(
                "every /24 of {AUTO_SUBNET_POOL} is taken; name a subnet"
            ))
        })
}

/// The default network's subnet may overlap no route of the host but the ones through its own
/// bridge (there since an earlier run): contid refuses to start otherwise.
pub fn check_default_subnet(network: &Network, routes: &[HostRoute]) -> EngineResult<()> {
    match routes
        .iter()
        .find(|r| r.interface != network.bridge && overlaps(&r.destination, &network.subnet))
    {
        Some(route) => Err(EngineError::SubnetInUse(format!(
            "the default network's subnet {} overlaps the host's route to {route}; choose \
             another with --default-subnet",
            network.subnet
        ))),
        None => Ok(()),
    }
}

/// User networks on disk.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    dir: PathBuf,
}

impl NetworkStore {
    pub fn open(root: &Path) -> EngineResult<NetworkStore> {
        let dir = root.join("networks");
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::internal(&format!("create {}", dir.display()), e))?;
        Ok(NetworkStore { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn save(&self, network: &Network) -> EngineResult<()> {
        write_json_atomic(&self.path(&network.name), network, Durability::Durable)
            .map_err(|e| EngineError::io(&format!("store network {}", network.name), &e))
    }

    pub fn remove(&self, name: &str) -> EngineResult<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(EngineError::internal(&format!("remove network {name}"), e))
            }
            _ => Ok(()),
        }
    }

    pub fn load_all(&self) -> EngineResult<Vec<Network>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| EngineError::internal(&format!("read {}", self.dir.display()), e))?;
        let mut networks = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue; // `.name.json.tmp` of an interrupted write
            }
            let text = std::fs::read(&path)
                .map_err(|e| EngineError::internal(&format!("read {}", path.display()), e))?;
            match serde_json::from_slice::<Network>(&text) {
                Ok(network) => networks.push(network),
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "skipping an unreadable network")
                }
            }
        }
        Ok(networks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, subnet: Option<&str>, gateway: Option<&str>) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            subnet: subnet.map(Into::into),
            gateway: gateway.map(Into::into),
            labels: BTreeMap::new(),
        }
    }

    fn make(spec: &NetworkSpec, existing: &BTreeMap<String, Network>) -> EngineResult<Network> {
        new_network(spec, existing, &[], "0123456789abcdef".into(), "t".into())
    }

    fn route(destination: &str, interface: &str) -> HostRoute {
        HostRoute {
            destination: destination.parse().unwrap(),
            interface: interface.into(),
        }
    }

    #[test]
    fn a_network_gets_its_subnet_gateway_and_bridge() {
        let network = make(&spec("front", Some("10.90.7.0/24"), None), &BTreeMap::new()).unwrap();
        assert_eq!(network.gateway, Ipv4Addr::new(10, 90, 7, 1));
        assert_eq!(network.bridge, "ct-0123456789a");
        assert!(network.bridge.len() <= 15);
        let network = make(
            &spec("back", Some("10.91.0.0/16"), Some("10.91.3.4")),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(network.gateway, Ipv4Addr::new(10, 91, 3, 4));
    }

    #[test]
    fn a_network_keeps_its_labels_and_refuses_an_empty_key() {
        let mut labelled = spec("front", Some("10.90.7.0/24"), None);
        labelled
            .labels
            .insert("com.example.team".into(), "a".into());
        let network = make(&labelled, &BTreeMap::new()).unwrap();
        assert_eq!(network.info(Vec::new()).labels, labelled.labels);
        let stored: Network =
            serde_json::from_str(&serde_json::to_string(&network).unwrap()).unwrap();
        assert_eq!(stored.labels, labelled.labels);
        labelled.labels.insert(String::new(), "b".into());
        assert!(matches!(
            make(&labelled, &BTreeMap::new()),
            Err(EngineError::InvalidSpec(_))
        ));
    }

    #[test]
    fn bad_subnets_and_gateways_are_invalid() {
        let none = BTreeMap::new();
        for (subnet, gateway) in [
            ("10.90.0.0", None),
            ("10.90.0.0/33", None),
            ("banana", None),
            ("10.90.0.1/24", None),
            ("10.0.0.0/4", None),
            ("10.90.0.0/31", None),
            ("10.90.0.0/24", Some("10.91.0.1")),
            ("10.90.0.0/24", Some("10.90.0.255")),
            ("10.90.0.0/24", Some("x")),
        ] {
            let result = make(&spec("n", Some(subnet), gateway), &none);
            assert!(
                matches!(result, Err(EngineError::InvalidSpec(_))),
                "{subnet} {gateway:?}: {result:?}"
            );
        }
        for name in ["bridge", "host", "none", "", "a/b"] {
            assert!(matches!(
                make(&spec(name, None, None), &none),
                Err(EngineError::InvalidSpec(_))
            ));
        }
    }

    #[test]
    fn overlapping_subnets_and_taken_names_conflict() {
        let mut existing = BTreeMap::new();
        let first = make(&spec("a", Some("10.90.0.0/16"), None), &existing).unwrap();
        existing.insert(first.name.clone(), first);
        assert!(matches!(
            make(&spec("b", Some("10.90.5.0/24"), None), &existing),
            Err(EngineError::SubnetInUse(_))
        ));
        assert!(matches!(
            make(&spec("b", Some("10.0.0.0/8"), None), &existing),
            Err(EngineError::SubnetInUse(_))
        ));
        assert!(matches!(
            make(&spec("a", Some("10.95.0.0/24"), None), &existing),
            Err(EngineError::NetworkExists(_))
        ));
        assert!(make(&spec("b", Some("10.91.0.0/24"), None), &existing).is_ok());
    }

    #[test]
    fn without_a_subnet_the_first_free_one_is_taken() {
        let mut existing = BTreeMap::new();
        let first = make(&spec("a", None, None), &existing).unwrap();
        assert_eq!(first.subnet.to_string(), "10.90.0.0/24");
        existing.insert(first.name.clone(), first);
        let second = make(&spec("b", None, None), &existing).unwrap();
        assert_eq!(second.subnet.to_string(), "10.90.1.0/24");
    }

    #[test]
    fn a_subnet_overlapping_a_host_route_conflicts_and_is_skipped_when_chosen() {
        let routes = [
            route("10.90.0.0/24", "br-other"),
            route("192.168.0.0/16", ""),
        ];
        let none = BTreeMap::new();
        let make = |subnet: Option<&str>| {
            new_network(
                &spec("n", subnet, None),
                &none,
                &routes,
                "0a".into(),
                "t".into(),
            )
        };
        for subnet in [
            "10.90.0.0/24",
            "10.90.0.128/25",
            "10.0.0.0/8",
            "192.168.7.0/24",
        ] {
            match make(Some(subnet)) {
                Err(EngineError::SubnetInUse(message)) => {
                    assert!(message.contains("the host's route to"), "{message}")
                }
                other => panic!("{subnet}: {other:?}"),
            }
        }
        match make(Some("10.90.0.0/24")) {
            Err(EngineError::SubnetInUse(message)) => assert_eq!(
                message,
                "subnet 10.90.0.0/24 overlaps the host's route to 10.90.0.0/24 (dev br-other)"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(make(None).unwrap().subnet.to_string(), "10.90.1.0/24");
        assert!(make(Some("10.91.0.0/24")).is_ok());
    }

    #[test]
    fn the_default_subnet_may_overlap_only_its_own_bridges_routes() {
        let defaults = NetworkDefaults {
            bridge: "conti0".into(),
            subnet: "10.88.0.0/16".parse().unwrap(),
            gateway: None,
            firewall_table: "conti".into(),
        };
        let network = Network::default_network(&defaults, "t".into()).unwrap();
        assert!(check_default_subnet(&network, &[route("10.88.0.0/16", "conti0")]).is_ok());
        assert!(check_default_subnet(&network, &[route("10.89.0.0/16", "eth1")]).is_ok());
        assert!(matches!(
            check_default_subnet(&network, &[route("10.88.3.0/24", "docker0")]),
            Err(EngineError::SubnetInUse(_))
        ));
    }
}
