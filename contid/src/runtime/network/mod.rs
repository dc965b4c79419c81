//! Container networking on the host and in the container: bridges, veth pairs, addresses and
//! routes over netlink (no `ip` binary), the Conti-owned nftables tables and their port guards,
//! the sockets that reserve published ports, and the freebind sockets the networks' resolvers
//! listen on.
//!
//! Who does what: the helper ensures a network's bridge and applies the firewall plan (shared,
//! idempotent); the monitor creates each container's veth pair between clone and "go" and holds
//! its published ports; the init configures `eth0` from inside. Addresses are chosen by the
//! engine (IPAM), which also computes the firewall plan. `interface_counters` reads a
//! container's traffic for `stats`.
//!
//! It may import `sys` and the layer's shared types only.

pub mod bridge;
pub mod firewall;
pub mod freebind;
mod inside;
pub mod interface_counters;
mod netlink;
mod nft_elements;
pub mod port_guard;
pub mod ports;
pub mod routes;
mod veth;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use inside::{configure_container_interface, enter_container_network};
pub use veth::{CONTAINER_INTERFACE, create_veth_pair};

/// A container's attachment to a bridge, as the engine decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeEndpoint {
    /// The network's bridge on the host.
    pub bridge: String,
    /// Name of the host's end of the veth pair.
    pub host_interface: String,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
}

/// The host's end of a container's veth pair: `vc` and 12 hex digits of its id (15 bytes at
/// most, the kernel's limit for interface names).
pub fn host_interface_name(container_id: &str) -> String {
    let digits: String = container_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("vc{digits}")
}

/// A locally administered unicast MAC derived from the address (as Docker does), so that an
/// address always comes with the same MAC and neighbours' caches stay right.
pub fn mac_for(address: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = address.octets();
    [0x02, 0x42, a, b, c, d]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        let name = host_interface_name("0f3a9c2e-1b4d-4e8f-9a0b-1c2d3e4f5a6b");
        assert_eq!(name, "vc0f3a9c2e1b4d");
        assert!(name.len() <= 15);
    }

    #[test]
    fn macs_are_local_unicast_and_follow_the_address() {
        let mac = mac_for(Ipv4Addr::new(10, 88, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:0a:58:00:02");
        assert_eq!(mac[0] & 0x01, 0, "unicast");
        assert_eq!(mac[0] & 0x02, 0x02, "locally administered");
    }
}
