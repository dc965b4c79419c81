//! Forwarding a query the resolver does not answer itself to the host's nameservers, in their
//! order, as the container sent it (its id, flags and EDNS options unchanged), and the first
//! answer back as the nameserver sent it. contid runs in the host's network namespace, so a
//! nameserver on the host's loopback (systemd-resolved's 127.0.0.53) is reachable.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one nameserver has to answer before the next is asked. The container's stub gives
/// up after 5 s (glibc's default), so two nameservers get their chance.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Over UDP, from a fresh socket on a random port for each query (connected: only the
/// nameserver's answers reach it); an answer must carry the query's id.
pub async fn over_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    let id = query.get(..2)?;
    for upstream in upstreams {
        let attempt = async {
            let socket = UdpSocket::bind(unspecified(upstream)).await.ok()?;
            socket.connect(upstream).await.ok()?;
            socket.send(query).await.ok()?;
            let mut buffer = vec![0u8; 65535];
            loop {
                let length = socket.recv(&mut buffer).await.ok()?;
                if buffer.get(..2) == Some(id) && length >= 12 {
                    buffer.truncate(length);
                    return Some(buffer);
                }
            }
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(Some(answer)) => return Some(answer),
            _ => tracing::debug!(%upstream, "no answer over UDP"),
        }
    }
    None
}

/// Over TCP (a query that came over TCP, usually after a truncated answer over UDP): one
/// connection per query.
pub async fn over_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for upstream in upstreams {
        let attempt = async {
            let mut stream = TcpStream::connect(upstream).await.ok()?;
            write_framed(&mut stream, query).await?;
            read_framed(&mut stream).await
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
            Ok(Some(answer)) if answer.get(..2) == query.get(..2) => return Some(answer),
            _ => tracing::debug!(%upstream, "no answer over TCP"),
        }
    }
    None
}

/// One DNS message over TCP: a 16-bit big-endian length, then the message.
pub async fn read_framed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let length = stream.read_u16().await.ok()?;
    let mut message = vec![0u8; usize::from(length)];
    stream.read_exact(&mut message).await.ok()?;
    Some(message)
}

pub async fn write_framed(stream: &mut TcpStream, message: &[u8]) -> Option<()> {
    let length = u16::try_from(message.len()).ok()?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed).await.ok()
}

fn unspecified(upstream: &SocketAddr) -> SocketAddr {
    match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A nameserver on the loopback that answers each query with its own bytes reversed after
    /// the id (enough to tell its answer from anything else).
    async fn echo_server() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = [0u8; 512];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                let mut answer = buffer[..length].to_vec();
                answer[2..].reverse();
                let _ = socket.send_to(&answer, peer).await;
            }
        });
        address
    }

    #[tokio::test]
    async fn a_silent_nameserver_is_skipped_for_the_next() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let answering = echo_server().await;
        let query: Vec<u8> = (0u8..20).collect();
        let answer = over_udp(&query, &[silent.local_addr().unwrap(), answering])
            .await
            .expect("the second answers");
        assert_eq!(&answer[..2], &query[..2]);
        assert_eq!(answer[2], 19);
        assert!(over_udp(&query, &[]).await.is_none());
    }
}
