//! The host's IPv4 routes, read over netlink: a network's subnet must not overlap one of them
//! (another engine's bridge, a VPN, the LAN), or two interfaces would claim the same addresses
//! and traffic would go to whichever route the kernel prefers.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_core::NLM_F_DUMP;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage};

use super::netlink::Netlink;

/// A route of the host's main table to a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    pub destination: Ipv4Net,
    /// The interface it leaves by; empty when it names none (multipath, blackhole...).
    pub interface: String,
}

impl std::fmt::Display for HostRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.interface.as_str() {
            "" => write!(f, "{}", self.destination),
            interface => write!(f, "{} (dev {interface})", self.destination),
        }
    }
}

/// Every IPv4 route of the main table but the default one (which covers everything and says
/// nothing about who holds an address).
pub fn host_routes() -> io::Result<Vec<HostRoute>> {
    let mut netlink = Netlink::open()?;
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let routes = netlink.request(RouteNetlinkMessage::GetRoute(query), NLM_F_DUMP)?;
    let names = interface_names(&mut netlink)?;
    Ok(routes
        .into_iter()
        .filter_map(|reply| match reply {
            RouteNetlinkMessage::NewRoute(route) => main_table_route(&route, &names),
            _ => None,
        })
        .collect())
}

fn main_table_route(route: &RouteMessage, names: &HashMap<u32, String>) -> Option<HostRoute> {
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(table) => Some(*table),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table));
    let prefix_len = route.header.destination_prefix_length;
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || prefix_len == 0 {
        return None;
    }
    let address = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(address)) => Some(*address),
        _ => None,
    })?;
    let interface = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(index) => names.get(index).cloned(),
        _ => None,
    });
    Some(HostRoute {
        destination: Ipv4Net::new(address, prefix_len).ok()?.trunc(),
        interface: interface.unwrap_or_default(),
    })
}

fn interface_names(netlink: &mut Netlink) -> io::Result<HashMap<u32, String>> {
    let links = netlink.request(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        NLM_F_DUMP,
    )?;
    Ok(links
        .into_iter()
        .filter_map(|reply| match reply {
            RouteNetlinkMessage::NewLink(link) => {
                let name = link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(name) => Some(name.clone()),
                    _ => None,
                })?;
                Some((link.header.index, name))
            }
            _ => None,
        })
        .collect())
}
