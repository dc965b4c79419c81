//! A network's bridge on the host: created when first needed, re-adopted when it exists (after a
//! daemon restart), removed with its network.

use std::io;
use std::net::Ipv4Addr;

use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{AddressMessageBuilder, LinkBridge, LinkUnspec};

use super::mac_for;
use super::netlink::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Netlink};

/// The bridge `name` exists, holds `gateway/prefix_len` and is up; forwarding is on, and the
/// bridge routes 127.0.0.0/8 (so that ports published on the host's loopback reach containers;
/// the firewall's input chain keeps containers off the host's loopback).
/// Idempotent: what exists is kept, nothing is made twice.
///
/// The bridge's MAC is set, from the gateway's address as containers' are from theirs: a bridge
/// left to choose takes the lowest of its ports', which changes as containers come and go, and
/// every container's neighbour entry for its gateway goes stale each time.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
    let mut netlink = Netlink::open()?;
    let index = match netlink.link_index(name)? {
        Some(index) => index,
        None => {
            let bridge = LinkBridge::new(name).build();
            match netlink.request(
                RouteNetlinkMessage::NewLink(bridge),
                NLM_F_CREATE | NLM_F_EXCL,
            ) {
                // Made by someone else in the meantime: adopt it.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                other => other.map(drop)?,
            }
            netlink
                .link_index(name)?
                .ok_or_else(|| io::Error::other(format!("bridge {name} vanished")))?
        }
    };
    let address = AddressMessageBuilder::<Ipv4Addr>::new()
        .index(index)
        .address(gateway, prefix_len)
        .build();
    netlink.request(
        RouteNetlinkMessage::NewAddress(address),
        NLM_F_CREATE | NLM_F_REPLACE,
    )?;
    let link = LinkUnspec::new_with_index(index)
        .address(mac_for(gateway).to_vec())
        .up()
        .build();
    netlink.set_link(link)?;
    write_sysctl(&format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"))?;
    write_sysctl("/proc/sys/net/ipv4/ip_forward")
}

/// Removes the bridge `name` (its ports go with it); one that is not there is fine.
pub fn remove_bridge(name: &str) -> io::Result<()> {
    Netlink::open()?.delete_link(name)
}

/// Sets a boolean sysctl to 1 unless it is already.
fn write_sysctl(path: &str) -> io::Result<()> {
    if std::fs::read_to_string(path)?.trim() == "1" {
        return Ok(());
    }
    std::fs::write(path, "1")
}
