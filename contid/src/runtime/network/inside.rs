//! The container's side of its network, done by its init: joining another container's network
//! namespace, or bringing up `lo` and configuring `eth0` (address, up, default route).

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::libc;
use nix::sched::CloneFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{AddressMessageBuilder, LinkUnspec, RouteMessageBuilder};

use super::super::NetworkSetup;
use super::super::child_failure::{ChildFailure, STEP_NETWORK as STEP, StepResult};
use super::super::sys::process::start_time;
use super::BridgeEndpoint;
use super::netlink::{NLM_F_CREATE, NLM_F_EXCL, Netlink};
use super::veth::CONTAINER_INTERFACE;

/// Per network namespace sysctls every container with a namespace of its own gets, as Docker
/// (since 20.10) and podman set them: any port may be bound and any group may open ICMP echo
/// ("ping") sockets. The namespace belongs to the host's user namespace (it is made before the
/// init joins a `--userns` one), so the container's `NET_BIND_SERVICE` and `NET_RAW` would not
/// count there; and without a user namespace the capabilities made these limits moot anyway.
const NETWORK_SYSCTLS: [(&str, &str); 2] = [
    ("net/ipv4/ip_unprivileged_port_start", "0"),
    ("net/ipv4/ping_group_range", "0 2147483647"),
];

/// Runs in the init before its root filesystem is built (the host's `/proc` is still there):
/// joins another container's network namespace (whose sysctls stay its owner's), or brings up
/// `lo` in its own and sets [`NETWORK_SYSCTLS`] there.
pub fn enter_container_network(network: &NetworkSetup) -> Result<(), ChildFailure> {
    match network {
        NetworkSetup::Host => Ok(()),
        NetworkSetup::Isolated | NetworkSetup::Bridge(_) => {
            bring_up_loopback()?;
            set_network_sysctls()
        }
        NetworkSetup::Joined {
            init_pid,
            init_start_time,
        } => join_network_namespace(*init_pid, *init_start_time),
    }
}

/// In a new network namespace `lo` exists but is down.
fn bring_up_loopback() -> Result<(), ChildFailure> {
    const STEP: &str = "loopback_up";
    let socket = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .step(STEP, || "socket for interface ioctls".into())?;
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface name from and writes its flags into `request`,
    // which lives for the whole call.
    let res = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    Errno::result(res).step(STEP, || "get flags of lo".into())?;
    // SAFETY: the kernel just filled `ifru_flags`; the union field is a c_short either way.
    unsafe { request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `request`, which lives for the whole call.
    let res = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    Errno::result(res)
        .step(STEP, || "bring lo up".into())
        .map(drop)
}

/// Writes [`NETWORK_SYSCTLS`] through the host's `/proc` (not yet read-only, the init still the
/// host's root): `/proc/sys/net` shows the writer's network namespace, which is the container's
/// own here, never the host's.
fn set_network_sysctls() -> Result<(), ChildFailure> {
    for (name, value) in NETWORK_SYSCTLS {
        std::fs::write(format!("/proc/sys/{name}"), value)
            .step(STEP, || format!("set {name} to {value:?}"))?;
    }
    Ok(())
}

/// Runs in the init once the monitor said "go": on a bridge, `eth0` is there by then.
pub fn configure_container_interface(network: &NetworkSetup) -> Result<(), ChildFailure> {
    match network {
        NetworkSetup::Bridge(endpoint) => {
            configure_eth0(endpoint).step(STEP, || format!("configure {CONTAINER_INTERFACE}"))
        }
        NetworkSetup::Host | NetworkSetup::Isolated | NetworkSetup::Joined { .. } => Ok(()),
    }
}

/// `setns` into the network namespace of another container's init, checked to be that process
/// (not one that reused its pid) after the namespace file is open.
fn join_network_namespace(pid: i32, expected_start_time: u64) -> Result<(), ChildFailure> {
    let path = format!("/proc/{pid}/ns/net");
    let gone = || {
        ChildFailure::new(
            STEP,
            Errno::ESRCH,
            format!("the container whose network is shared (pid {pid}) is not running"),
        )
    };
    let namespace = File::open(&path).map_err(|_| gone())?;
    if start_time(pid) != Some(expected_start_time) {
        return Err(gone());
    }
    nix::sched::setns(&namespace, CloneFlags::CLONE_NEWNET)
        .step(STEP, || format!("join the network namespace of pid {pid}"))
}

fn configure_eth0(endpoint: &BridgeEndpoint) -> std::io::Result<()> {
    let mut netlink = Netlink::open()?;
    let index = netlink.link_index(CONTAINER_INTERFACE)?.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "eth0 was not moved in")
    })?;
    let address = AddressMessageBuilder::<Ipv4Addr>::new()
        .index(index)
        .address(endpoint.address, endpoint.prefix_len)
        .build();
    netlink.request(
        RouteNetlinkMessage::NewAddress(address),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    netlink.set_link(LinkUnspec::new_with_index(index).up().build())?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(endpoint.gateway)
        .output_interface(index)
        .build();
    netlink
        .request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
}
