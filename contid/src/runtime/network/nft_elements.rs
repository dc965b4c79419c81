//! Elements of an nftables set, added and removed over netlink (`NETLINK_NETFILTER`) in one
//! transaction: what `nft add element` does, without starting a process (about 4 ms each) on
//! every container's create and delete. The sets themselves are made by `nft` (`firewall`).
//!
//! A transaction is a batch: `BATCH_BEGIN`, the `NEWSETELEM`/`DELSETELEM` messages, `BATCH_END`,
//! sent as one datagram. The kernel handles it while `send` runs and queues one answer per
//! message that asked for one (`NLM_F_ACK`): an error aborts the whole batch.

use std::io;
use std::sync::{Mutex, PoisonError};

use nix::libc;
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

/// `NFPROTO_BRIDGE`: the `bridge` family.
pub const NFPROTO_BRIDGE: u8 = 7;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NLMSG_ERROR: u16 = 2;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_HEADER: usize = 16;

/// A `NETLINK_NETFILTER` socket kept open from one transaction to the next: closing one makes
/// nf_tables wait for the release of what the last transaction deleted (an RCU grace period,
/// about 10 ms that every container's delete paid when each transaction had its own socket).
#[derive(Default)]
pub struct NfTablesSocket {
    socket: Mutex<Option<Socket>>,
}

impl NfTablesSocket {
    /// Runs `batch`; the first error the kernel reports is the result. After an error the
    /// socket is closed, and the next transaction opens a new one.
    pub fn commit(&self, batch: ElementBatch) -> io::Result<()> {
        let mut socket = self.socket.lock().unwrap_or_else(PoisonError::into_inner);
        let open = match socket.take() {
            Some(open) => open,
            None => {
                let mut new = Socket::new(NETLINK_NETFILTER)?;
                new.bind_auto()?;
                new.connect(&SocketAddr::new(0, 0))?;
                new
            }
        };
        let result = batch.commit(&open);
        if result.is_ok() {
            *socket = Some(open);
        }
        result
    }
}

/// One transaction on the sets of one table.
pub struct ElementBatch {
    family: u8,
    table: String,
    bytes: Vec<u8>,
    sequence: u32,
    /// Messages that asked for an answer.
    acked: Vec<u32>,
}

impl ElementBatch {
    pub fn new(family: u8, table: &str) -> ElementBatch {
        let mut batch = ElementBatch {
            family,
            table: table.to_string(),
            bytes: Vec::new(),
            sequence: 0,
            acked: Vec::new(),
        };
        batch.control(NFNL_MSG_BATCH_BEGIN);
        batch
    }

    /// Adds `keys` to `set` (one already there is kept).
    pub fn add(&mut self, set: &str, keys: &[Vec<u8>]) {
        self.elements(NFT_MSG_NEWSETELEM, NLM_F_CREATE, set, keys);
    }

    /// Removes `keys` from `set`, whether they are there or not: each is added, then deleted (a
    /// delete alone fails the batch on a key that is not there).
    pub fn remove(&mut self, set: &str, keys: &[Vec<u8>]) {
        self.add(set, keys);
        self.elements(NFT_MSG_DELSETELEM, 0, set, keys);
    }

    /// Sends the batch on `socket`; the first error the kernel reports is the result.
    fn commit(mut self, socket: &Socket) -> io::Result<()> {
        if self.acked.is_empty() {
            return Ok(());
        }
        self.control(NFNL_MSG_BATCH_END);
        socket.send(&self.bytes, 0)?;
        let mut answered = Vec::new();
        loop {
            let mut datagram = Vec::with_capacity(64 * 1024);
            match socket.recv(&mut datagram, libc::MSG_DONTWAIT) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            for (sequence, error) in errors(&datagram) {
                if error != 0 {
                    return Err(io::Error::from_raw_os_error(-error));
                }
                answered.push(sequence);
            }
        }
        match self
            .acked
            .iter()
            .all(|sequence| answered.contains(sequence))
        {
            true => Ok(()),
            false => Err(io::Error::other(
                "nf_tables did not acknowledge every set element message",
            )),
        }
    }

    /// `BATCH_BEGIN` or `BATCH_END` of the nf_tables subsystem.
    fn control(&mut self, kind: u16) {
        let start = self.header(kind, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
        self.set_length(start);
    }

    fn elements(&mut self, command: u16, flags: u16, set: &str, keys: &[Vec<u8>]) {
        if keys.is_empty() {
            return;
        }
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | command;
        let start = self.header(kind, NLM_F_REQUEST | NLM_F_ACK | flags, self.family, 0);
        self.acked.push(self.sequence);
        let table = self.table.clone();
        self.string(NFTA_SET_ELEM_LIST_TABLE, &table);
        self.string(NFTA_SET_ELEM_LIST_SET, set);
        let list = self.begin_nested(NFTA_SET_ELEM_LIST_ELEMENTS);
        for key in keys {
            let element = self.begin_nested(NFTA_LIST_ELEM);
            let key_attribute = self.begin_nested(NFTA_SET_ELEM_KEY);
            self.attribute(NFTA_DATA_VALUE, key);
            self.end_nested(key_attribute);
            self.end_nested(element);
        }
        self.end_nested(list);
        self.set_length(start);
    }

    /// `nlmsghdr` (its length filled in by [`Self::set_length`]) and `nfgenmsg`; returns where the
    /// message starts.
    fn header(&mut self, kind: u16, flags: u16, family: u8, resource: u16) -> usize {
        self.sequence += 1;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&self.sequence.to_ne_bytes());
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version (NFNETLINK_V0), resource id in network order.
        self.bytes.extend_from_slice(&[family, 0]);
        self.bytes.extend_from_slice(&resource.to_be_bytes());
        start
    }

    fn attribute(&mut self, kind: u16, value: &[u8]) {
        let length = u16::try_from(4 + value.len()).expect("a small attribute");
        self.bytes.extend_from_slice(&length.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        self.pad();
    }

    fn string(&mut self, kind: u16, value: &str) {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attribute(kind, &bytes);
    }

    fn begin_nested(&mut self, kind: u16) -> usize {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&0u16.to_ne_bytes());
        self.bytes
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        start
    }

    fn end_nested(&mut self, start: usize) {
        let length = u16::try_from(self.bytes.len() - start).expect("a small attribute");
        self.bytes[start..start + 2].copy_from_slice(&length.to_ne_bytes());
    }

    /// The length of the message that starts at `start` (a `u32`).
    fn set_length(&mut self, start: usize) {
        let length = u32::try_from(self.bytes.len() - start).expect("a small message");
        self.bytes[start..start + 4].copy_from_slice(&length.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

/// `(sequence, error)` of each `NLMSG_ERROR` in a datagram (an error of 0 is an acknowledgement).
fn errors(datagram: &[u8]) -> Vec<(u32, i32)> {
    let mut found = Vec::new();
    let mut offset = 0;
    while offset + NLMSG_HEADER + 4 <= datagram.len() {
        let word = |at: usize| {
            u32::from_ne_bytes(datagram[offset + at..offset + at + 4].try_into().unwrap())
        };
        let length = word(0) as usize;
        let kind = u16::from_ne_bytes([datagram[offset + 4], datagram[offset + 5]]);
        if length < NLMSG_HEADER || offset + length > datagram.len() {
            break;
        }
        if kind == NLMSG_ERROR {
            found.push((word(8), word(NLMSG_HEADER) as i32));
        }
        offset += length.next_multiple_of(4);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_frames_its_messages_and_nests_its_attributes() {
        let mut batch = ElementBatch::new(NFPROTO_BRIDGE, "conti");
        batch.add("ports", &[b"vc1".to_vec()]);
        batch.control(NFNL_MSG_BATCH_END);
        let bytes = &batch.bytes;
        // BATCH_BEGIN: 16 bytes of header, 4 of nfgenmsg with the subsystem in network order.
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 20);
        assert_eq!(&bytes[16..20], &[0, 0, 0, 10]);
        let message = &bytes[20..];
        let length = u32::from_ne_bytes(message[0..4].try_into().unwrap()) as usize;
        assert_eq!(
            u16::from_ne_bytes([message[4], message[5]]),
            (10 << 8) | NFT_MSG_NEWSETELEM
        );
        assert_eq!(message[16], NFPROTO_BRIDGE);
        // table "conti\0" (4 + 6, padded to 12), set "ports\0" (12), then the nested list:
        // list (4) > element (4) > key (4) > value (4 + 3, padded to 8).
        assert_eq!(length, 20 + 12 + 12 + 4 + 4 + 4 + 8);
        assert_eq!(&message[20..30], b"\x0a\x00\x01\x00conti\0");
        let list = &message[44..];
        assert_eq!(u16::from_ne_bytes([list[0], list[1]]), 20);
        assert_eq!(
            u16::from_ne_bytes([list[2], list[3]]),
            NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED
        );
        assert_eq!(&list[12..19], b"\x07\x00\x01\x00vc1");
        assert_eq!(bytes.len(), 20 + length + 20, "BATCH_END follows");
        assert_eq!(batch.acked, [2]);
    }

    #[test]
    fn errors_are_read_from_each_message_of_a_datagram() {
        let message = |sequence: u32, error: i32| {
            let mut bytes = 36u32.to_ne_bytes().to_vec();
            bytes.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            bytes.extend_from_slice(&0u16.to_ne_bytes());
            bytes.extend_from_slice(&sequence.to_ne_bytes());
            bytes.extend_from_slice(&0u32.to_ne_bytes());
            bytes.extend_from_slice(&error.to_ne_bytes());
            bytes.extend_from_slice(&[0; 16]);
            bytes
        };
        let mut datagram = message(2, 0);
        datagram.extend(message(3, -2));
        assert_eq!(errors(&datagram), [(2, 0), (3, -2)]);
    }
}
