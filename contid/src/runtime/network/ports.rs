//! Published ports are reserved on the host by a socket bound to `host_ip:host_port`, held by the
//! container's monitor for the container's life (as docker-proxy does): nothing else on the host
//! can take the port meanwhile, and a port already taken is refused before the container runs.
//! The socket never listens; the traffic itself goes through the DNAT rules (`firewall`).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, socket};

use serde::{Deserialize, Serialize};

use super::firewall::Transport;

/// A published port's host side, as the monitor reserves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub transport: Transport,
}

impl std::fmt::Display for PublishedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        write!(f, "{}:{}/{transport}", self.host_ip, self.host_port)
    }
}

/// Binds a close-on-exec socket to the port; `EADDRINUSE` when something holds it.
pub fn reserve_port(port: PublishedPort) -> io::Result<OwnedFd> {
    let kind = match port.transport {
        Transport::Tcp => SockType::Stream,
        Transport::Udp => SockType::Datagram,
    };
    let socket = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None)?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&socket),
        &SockaddrIn::from(SocketAddrV4::new(port.host_ip, port.host_port)),
    )?;
    Ok(socket)
}
