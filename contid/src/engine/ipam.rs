//! IP address management: which address of a network's subnet a new container gets.
//!
//! The allocations themselves are the containers' endpoints (stored in each `container.json`),
//! so they survive a daemon restart with the containers and go away with them: there is no
//! second copy that could disagree. This module is the pure choice.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The lowest address of `subnet` that is a host address, not the gateway and not taken; `None`
/// when the subnet is full. Freed addresses are handed out again, lowest first.
pub fn allocate(subnet: Ipv4Net, gateway: Ipv4Addr, taken: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    subnet
        .hosts()
        .find(|address| *address != gateway && !taken.contains(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(cidr: &str) -> Ipv4Net {
        cidr.parse().unwrap()
    }

    #[test]
    fn hands_out_distinct_addresses_skipping_the_gateway() {
        let subnet = net("10.1.0.0/24");
        let gateway = Ipv4Addr::new(10, 1, 0, 1);
        let mut taken = HashSet::new();
        for _ in 0..100 {
            let address = allocate(subnet, gateway, &taken).unwrap();
            assert!(subnet.contains(&address));
            assert_ne!(address, gateway);
            assert!(taken.insert(address), "{address} handed out twice");
        }
        assert_eq!(taken.len(), 100);
    }

    #[test]
    fn reuses_freed_addresses_lowest_first() {
        let subnet = net("10.1.0.0/24");
        let gateway = Ipv4Addr::new(10, 1, 0, 1);
        let mut taken: HashSet<_> = (2..=10).map(|d| Ipv4Addr::new(10, 1, 0, d)).collect();
        taken.remove(&Ipv4Addr::new(10, 1, 0, 5));
        assert_eq!(
            allocate(subnet, gateway, &taken),
            Some(Ipv4Addr::new(10, 1, 0, 5))
        );
    }

    #[test]
    fn a_full_subnet_has_nothing_left() {
        // A /30 has two host addresses; one is the gateway.
        let subnet = net("10.1.0.0/30");
        let gateway = Ipv4Addr::new(10, 1, 0, 1);
        let taken = HashSet::from([Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(allocate(subnet, gateway, &taken), None);
        // Never the network or broadcast address.
        assert_eq!(
            allocate(subnet, Ipv4Addr::new(10, 1, 0, 2), &HashSet::new()),
            Some(Ipv4Addr::new(10, 1, 0, 1))
        );
    }

    #[test]
    fn a_gateway_elsewhere_in_the_subnet_is_skipped() {
        let subnet = net("10.1.0.0/29");
        let gateway = Ipv4Addr::new(10, 1, 0, 6);
        let mut taken = HashSet::new();
        while let Some(address) = allocate(subnet, gateway, &taken) {
            taken.insert(address);
        }
        assert_eq!(taken.len(), 5);
        assert!(!taken.contains(&gateway));
    }
}
