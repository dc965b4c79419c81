//! A DNS server the test owns, on a loopback address of its own (`127.x.y.z:53`, UDP), to stand
//! for the host's upstream nameserver: it answers the A records it is given, NXDOMAIN for any
//! other name, and remembers what it was asked. No query ever leaves the machine.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

pub struct TestUpstream {
    pub address: Ipv4Addr,
    asked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestUpstream {
    /// Serves `records` (lower-case names without the final dot → address) until dropped.
    pub fn start(records: &[(&str, Ipv4Addr)]) -> TestUpstream {
        let records: HashMap<String, Ipv4Addr> = records
            .iter()
            .map(|(name, address)| (name.to_ascii_lowercase(), *address))
            .collect();
        let (socket, address) = bind_unique_loopback();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (asked, stop) = (asked.clone(), stop.clone());
            std::thread::spawn(move || serve(&socket, &records, &asked, &stop))
        };
        TestUpstream {
            address,
            asked,
            stop,
            thread: Some(thread),
        }
    }

    /// The names asked so far, lower case, without the final dot.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    /// A resolv.conf line naming it.
    pub fn nameserver_line(&self) -> String {
        format!("nameserver {}\n", self.address)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bind_unique_loopback() -> (UdpSocket, Ipv4Addr) {
    for _ in 0..50 {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        // Never 127.0.0.x, where the host's own resolvers live.
        let address = Ipv4Addr::new(127, 1 + bytes[0] % 250, bytes[1], 1 + bytes[2] % 250);
        if let Ok(socket) = UdpSocket::bind(SocketAddr::from((address, 53))) {
            return (socket, address);
        }
    }
    panic!("no free 127.x.y.z:53 for the test's upstream DNS server (is port 53 bound on 0.0.0.0?)")
}

fn serve(
    socket: &UdpSocket,
    records: &HashMap<String, Ipv4Addr>,
    asked: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buffer[..length]) else {
            continue;
        };
        if query.metadata.message_type != MessageType::Query {
            continue;
        }
        let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.queries = query.queries.clone();
        let Some(question) = query.queries.first() else {
            continue;
        };
        let name = question.name().to_lowercase().to_ascii();
        let name = name.trim_end_matches('.').to_string();
        asked.lock().unwrap().push(name.clone());
        match records.get(&name) {
            Some(address) if question.query_type() == RecordType::A => {
                reply.answers.push(Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::A(A(*address)),
                ));
            }
            Some(_) => {}
            None => reply.metadata.response_code = ResponseCode::NXDomain,
        }
        if let Ok(bytes) = reply.to_vec() {
            let _ = socket.send_to(&bytes, peer);
        }
    }
}
