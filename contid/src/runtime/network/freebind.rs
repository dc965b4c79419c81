//! Sockets bound with `IP_FREEBIND`, to an address no interface has yet: a network's resolver
//! listens on the network's gateway from the moment the network exists, before its bridge (which
//! gets that address) is made at the first container's start, and goes on listening when the
//! bridge is deleted and made again. Both are non-blocking and close-on-exec.

use std::net::{SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, listen, setsockopt, socket, sockopt,
};

/// Connections the kernel queues before `accept`.
const BACKLOG: i32 = 128;

/// A UDP socket bound to `address`.
pub fn udp_socket(address: SocketAddrV4) -> std::io::Result<UdpSocket> {
    Ok(UdpSocket::from(bound(SockType::Datagram, address)?))
}

/// A TCP socket bound to `address` and listening. `SO_REUSEADDR`, as every TCP server has, so
/// that a restarted daemon binds again while the old connections are in `TIME_WAIT`.
pub fn tcp_listener(address: SocketAddrV4) -> std::io::Result<TcpListener> {
    let fd = bound(SockType::Stream, address)?;
    listen(&fd, nix::sys::socket::Backlog::new(BACKLOG)?)?;
    Ok(TcpListener::from(fd))
}

fn bound(kind: SockType, address: SocketAddrV4) -> std::io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Inet,
        kind,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::IpFreebind, &true)?;
    if kind == SockType::Stream {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(fd.as_raw_fd(), &SockaddrIn::from(address))?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn binds_an_address_no_interface_has() {
        // TEST-NET-3, never configured here; port 0 lets the kernel choose.
        let address = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 77), 0);
        let udp = udp_socket(address).expect("freebind lets UDP bind");
        assert_eq!(udp.local_addr().unwrap().ip(), *address.ip());
        tcp_listener(address).expect("and TCP");
    }
}
