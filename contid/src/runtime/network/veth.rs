//! A container's veth pair. The monitor creates it with the container's end already in the
//! init's network namespace, named `eth0` (no temporary name, no rename), and plugs the host's
//! end into the bridge; the init then gives `eth0` its address and route from inside
//! (`inside`). The pair dies with the container's network namespace.

use std::io;

use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{InfoData, InfoPortKind, InfoVeth};
use rtnetlink::{LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::BridgeEndpoint;
use super::netlink::{NLM_F_CREATE, NLM_F_EXCL, Netlink};

/// Name of the container's end inside its network namespace.
pub const CONTAINER_INTERFACE: &str = "eth0";

/// Creates the pair for `endpoint`: `eth0` (with the endpoint's MAC) in the network namespace of
/// `init_pid`, the host end on the bridge, up.
pub fn create_veth_pair(endpoint: &BridgeEndpoint, init_pid: i32) -> io::Result<()> {
    let mut netlink = Netlink::open()?;
    let bridge = netlink.link_index(&endpoint.bridge)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("bridge {} does not exist", endpoint.bridge),
        )
    })?;
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(CONTAINER_INTERFACE)
        .address(endpoint.mac.to_vec())
        .setns_by_pid(init_pid as u32)
        .build();
    // One message: the pair, the host end on the bridge and up, the peer in the init's netns.
    let pair = LinkVeth::new(&endpoint.host_interface, CONTAINER_INTERFACE)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .controller(bridge)
        .up()
        .build();
    let create = |netlink: &mut Netlink| {
        netlink.request(
            RouteNetlinkMessage::NewLink(pair.clone()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    };
    match create(&mut netlink) {
        // The previous run's pair, whose namespace the kernel is still tearing down: the name is
        // this container's, so the link is too.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            netlink.delete_link(&endpoint.host_interface)?;
            create(&mut netlink)?;
        }
        other => other.map(drop)?,
    }
    // Hairpin: a container's connection to a port it publishes, through its gateway, comes
    // back out of the port it went in by. Bridge port options can only be set once it is one,
    // and only by RTM_NEWLINK on the existing link (the kernel's RTM_SETLINK ignores them).
    let hairpin = LinkMessageBuilder::<LinkBridgePort>::default()
        .name(endpoint.host_interface.clone())
        .set_port_kind(InfoPortKind::Bridge)
        .hairpin(true)
        .build();
    netlink
        .request(RouteNetlinkMessage::NewLink(hairpin), 0)
        .map(drop)
}
