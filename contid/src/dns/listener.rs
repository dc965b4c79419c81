//! A network's resolver on its gateway, port 53, UDP and TCP, in the host's network namespace:
//! two sockets served by tasks of the daemon's runtime (no process, no thread of its own).
//! Dropping the listener ends the tasks and closes the sockets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::runtime::network::freebind;

use super::Shared;
use super::answer::{self, Decision, UDP_PAYLOAD};
use super::forward;

/// The DNS port.
const PORT: u16 = 53;
/// A TCP connection that sends no query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// The largest DNS message over TCP.
const TCP_PAYLOAD: usize = 65535;

pub struct Listener {
    pub gateway: Ipv4Addr,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Listener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Listener {
    /// Binds `gateway:53` (UDP and TCP) and serves the members of `network` on it. Must be
    /// called inside the tokio runtime.
    pub fn bind(network: &str, gateway: Ipv4Addr, shared: Arc<Shared>) -> std::io::Result<Self> {
        let address = SocketAddrV4::new(gateway, PORT);
        let udp = UdpSocket::from_std(freebind::udp_socket(address)?)?;
        let tcp = TcpListener::from_std(freebind::tcp_listener(address)?)?;
        let udp_task = tokio::spawn(serve_udp(
            Arc::new(udp),
            network.to_string(),
            shared.clone(),
        ));
        let tcp_task = tokio::spawn(serve_tcp(tcp, network.to_string(), shared));
        Ok(Listener {
            gateway,
            tasks: [udp_task, tcp_task],
        })
    }
}

/// What to do with the bytes of one query.
enum Step {
    Reply(Vec<u8>),
    /// To the asker's own upstreams (empty: the host's nameservers).
    Forward(Message, Vec<SocketAddr>),
    Ignore,
}

/// Answers what can be answered at once; a query from outside `network` is refused (the resolver
/// is not an open forwarder, and a container learns only the names of its own networks).
fn first_step(shared: &Shared, network: &str, source: IpAddr, bytes: &[u8], limit: usize) -> Step {
    let Ok(query) = Message::from_vec(bytes) else {
        return Step::Ignore;
    };
    if query.metadata.message_type != MessageType::Query {
        return Step::Ignore;
    }
    let (decision, upstreams) = {
        let names = shared.names();
        let (networks, upstreams) = match source {
            IpAddr::V4(address) => (names.networks_of(address), names.upstreams_of(address)),
            IpAddr::V6(_) => (Vec::new(), &[][..]),
        };
        if !networks.contains(&network) {
            tracing::debug!(%source, network, "query from outside the network refused");
            let refused = answer::reply(&query, ResponseCode::Refused);
            (Decision::Answer(refused), Vec::new())
        } else {
            (
                answer::decide(&query, &names, &networks),
                upstreams.to_vec(),
            )
        }
    };
    match decision {
        Decision::Answer(message) => {
            answer::encode(&message, limit).map_or(Step::Ignore, Step::Reply)
        }
        Decision::Forward => Step::Forward(query, upstreams),
    }
}

/// The upstream's answer, or SERVFAIL when none came (or too many are under way). `upstreams`:
/// the asker's own; empty, the host's nameservers.
async fn forwarded(
    shared: &Shared,
    query: &Message,
    upstreams: Vec<SocketAddr>,
    bytes: &[u8],
    tcp: bool,
) -> Option<Vec<u8>> {
    let answer = match shared.forwards.try_acquire() {
        Ok(_permit) => {
            let upstreams = match upstreams.is_empty() {
                true => shared.host.current().upstreams(),
                false => upstreams,
            };
            match tcp {
                true => forward::over_tcp(bytes, &upstreams).await,
                false => forward::over_udp(bytes, &upstreams).await,
            }
        }
        Err(_) => {
            tracing::debug!("too many queries being forwarded");
            None
        }
    };
    answer.or_else(|| answer::encode(&answer::reply(query, ResponseCode::ServFail), UDP_PAYLOAD))
}

async fn serve_udp(socket: Arc<UdpSocket>, network: String, shared: Arc<Shared>) {
    let mut buffer = vec![0u8; TCP_PAYLOAD];
    loop {
        let (length, peer) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(err) => {
                // ICMP errors of earlier sends surface here; the socket itself is fine.
                tracing::debug!(%err, network, "receiving a query");
                continue;
            }
        };
        let bytes = &buffer[..length];
        match first_step(&shared, &network, peer.ip(), bytes, UDP_PAYLOAD) {
            Step::Reply(reply) => send(&socket, &reply, peer).await,
            Step::Forward(query, upstreams) => {
                let (socket, shared, bytes) = (socket.clone(), shared.clone(), bytes.to_vec());
                tokio::spawn(async move {
                    if let Some(reply) = forwarded(&shared, &query, upstreams, &bytes, false).await
                    {
                        send(&socket, &reply, peer).await;
                    }
                });
            }
            Step::Ignore => {}
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(err) = socket.send_to(reply, peer).await {
        tracing::debug!(%err, %peer, "sending an answer");
    }
}

async fn serve_tcp(listener: TcpListener, network: String, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, say: wait a moment instead of spinning.
                tracing::warn!(%err, network, "accepting a DNS connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = shared.tcp_connections.clone().try_acquire_owned() else {
            continue; // Too many open: this one is closed.
        };
        let (network, shared) = (network.clone(), shared.clone());
        tokio::spawn(async move {
            serve_connection(stream, peer.ip(), &network, &shared).await;
            drop(permit);
        });
    }
}

/// Queries one after the other on one connection until the peer closes it or goes idle.
async fn serve_connection(mut stream: TcpStream, peer: IpAddr, network: &str, shared: &Shared) {
    while let Ok(Some(bytes)) =
        tokio::time::timeout(TCP_IDLE, forward::read_framed(&mut stream)).await
    {
        let reply = match first_step(shared, network, peer, &bytes, TCP_PAYLOAD) {
            Step::Reply(reply) => Some(reply),
            Step::Forward(query, upstreams) => {
                forwarded(shared, &query, upstreams, &bytes, true).await
            }
            Step::Ignore => None,
        };
        let Some(reply) = reply else { return };
        if forward::write_framed(&mut stream, &reply).await.is_none() {
            return;
        }
    }
}
