//! Port guards: a container's port on a bridge carries only the addresses the container was
//! given. Without them a container holding CAP_NET_RAW (Docker's default set, which Conti keeps
//! for busybox's `ping` and for what people run) can claim its gateway's or a neighbour's IPv4
//! address with a gratuitous ARP, send from another's address, or take another's MAC in the
//! bridge's forwarding table.
//!
//! Conti's table of family `bridge` (named like the `ip` one) filters what enters a bridge from
//! a port it guards, before the bridge learns or forwards anything:
//!
//! ```text
//! iifname != @ports accept                                  # not a container's port
//! iifname . ether saddr . ip saddr @addresses accept        # IPv4 from its MAC and address
//! iifname . ether saddr . arp saddr ip @addresses
//!     iifname . arp saddr ether . arp saddr ip @addresses accept   # ARP saying the same
//! drop                                                      # anything else (IPv6 included)
//! ```
//!
//! Containers get no address by DHCP and Conti's networks are IPv4 only, so nothing else is
//! needed: IPv6 on a port (link-local, which the kernel starts on its own) goes nowhere, as on
//! Docker's IPv4-only networks. A guard is one element in each set, added when the container gets
//! its address and removed when it gives it back ([`PortGuards::update`], over netlink); while the
//! container does not run, its port does not exist and the elements match nothing. The table is
//! rebuilt whole with every guard ([`replace_table`]) when the daemon starts and when networks
//! come or go.

use std::borrow::Cow;
use std::io;
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{Expression, MetaKey, NamedExpression};
use nftables::schema::{NfListObject, Set, SetType, SetTypeValue};
use nftables::stmt::Statement;
use nftables::types::{NfChainType, NfFamily, NfHook};
use serde::{Deserialize, Serialize};

use super::firewall::{self, Builder, FirewallPlan, field, matches, meta, not_matches, text};
use super::format_mac;
use super::nft_elements::{ElementBatch, NFPROTO_BRIDGE, NfTablesSocket};

/// A container's port on a bridge (the host's end of its veth) and the addresses it was given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GuardedPort {
    pub interface: String,
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
}

const FAMILY: NfFamily = NfFamily::Bridge;
/// The guarded ports (`ifname`).
const PORTS: &str = "ports";
/// What each may send from (`ifname . ether_addr . ipv4_addr`).
const ADDRESSES: &str = "addresses";
/// The kernel's interface names: 15 bytes and a NUL, compared as 16 bytes.
const IFNAMSIZ: usize = 16;

/// Adds to `batch` the replacement of the `bridge` table: deleted, and made anew with every guard
/// of `plan` when it has networks.
pub fn replace_table(batch: &mut Batch<'static>, plan: &FirewallPlan) {
    if !firewall::replace_table(batch, FAMILY, &plan.table, !plan.networks.is_empty()) {
        return;
    }
    let set = |name: &'static str, set_type, elements: Vec<Expression<'static>>| {
        NfListObject::Set(Box::new(Set {
            family: FAMILY,
            table: Cow::Owned(plan.table.clone()),
            name: Cow::Borrowed(name),
            set_type,
            elem: (!elements.is_empty()).then(|| Cow::Owned(elements)),
            ..Set::default()
        }))
    };
    batch.add(set(
        PORTS,
        SetTypeValue::Single(SetType::Ifname),
        plan.guards.iter().map(|g| text(&g.interface)).collect(),
    ));
    batch.add(set(
        ADDRESSES,
        SetTypeValue::Concatenated(Cow::Borrowed(&[
            SetType::Ifname,
            SetType::EtherAddr,
            SetType::Ipv4Addr,
        ])),
        plan.guards
            .iter()
            .map(|g| {
                concat([
                    text(&g.interface),
                    text(&format_mac(&g.mac)),
                    text(&g.address.to_string()),
                ])
            })
            .collect(),
    ));
    let mut builder = Builder {
        family: FAMILY,
        table: plan.table.clone(),
        batch,
    };
    // Before the bridge learns the frame's source MAC (which it does once prerouting let it in).
    builder.chain("prerouting", NfChainType::Filter, NfHook::Prerouting, -200);
    let iifname = || meta(MetaKey::Iifname);
    let addresses = || text(&format!("@{ADDRESSES}"));
    builder.rule(
        "prerouting",
        vec![
            not_matches(iifname(), text(&format!("@{PORTS}"))),
            Statement::Accept(None),
        ],
    );
    builder.rule(
        "prerouting",
        vec![
            matches(
                concat([iifname(), field("ether", "saddr"), field("ip", "saddr")]),
                addresses(),
            ),
            Statement::Accept(None),
        ],
    );
    builder.rule(
        "prerouting",
        vec![
            matches(
                concat([iifname(), field("ether", "saddr"), field("arp", "saddr ip")]),
                addresses(),
            ),
            matches(
                concat([
                    iifname(),
                    field("arp", "saddr ether"),
                    field("arp", "saddr ip"),
                ]),
                addresses(),
            ),
            Statement::Accept(None),
        ],
    );
    builder.rule("prerouting", vec![Statement::Drop(None)]);
}

/// Adds and removes guards in the `bridge` tables [`replace_table`] made, each change in one
/// transaction, through one netlink socket kept for the daemon's life.
#[derive(Default)]
pub struct PortGuards {
    socket: NfTablesSocket,
}

impl PortGuards {
    /// Idempotent: adding a guard that is there, or removing one that is not, is fine.
    pub fn update(
        &self,
        table: &str,
        added: &[GuardedPort],
        removed: &[GuardedPort],
    ) -> io::Result<()> {
        let mut batch = ElementBatch::new(NFPROTO_BRIDGE, table);
        for (guards, present) in [(removed, false), (added, true)] {
            if guards.is_empty() {
                continue;
            }
            let ports = guards
                .iter()
                .map(port_key)
                .collect::<io::Result<Vec<_>>>()?;
            let addresses = guards
                .iter()
                .map(address_key)
                .collect::<io::Result<Vec<_>>>()?;
            for (set, keys) in [(PORTS, ports), (ADDRESSES, addresses)] {
                match present {
                    true => batch.add(set, &keys),
                    false => batch.remove(set, &keys),
                }
            }
        }
        self.socket.commit(batch)
    }
}

fn concat<const N: usize>(parts: [Expression<'static>; N]) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(parts.into()))
}

/// An `ifname` as the kernel compares it: the name, zero-padded to 16 bytes.
fn port_key(guard: &GuardedPort) -> io::Result<Vec<u8>> {
    let name = guard.interface.as_bytes();
    if name.is_empty() || name.len() >= IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} is not an interface name", guard.interface),
        ));
    }
    let mut key = name.to_vec();
    key.resize(IFNAMSIZ, 0);
    Ok(key)
}

/// `ifname . ether_addr . ipv4_addr`: each part padded to a multiple of 4 bytes, as nftables
/// lays out a concatenation in its registers.
fn address_key(guard: &GuardedPort) -> io::Result<Vec<u8>> {
    let mut key = port_key(guard)?;
    key.extend_from_slice(&guard.mac);
    key.extend_from_slice(&[0, 0]);
    key.extend_from_slice(&guard.address.octets());
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_nftables_compares_them() {
        let guard = GuardedPort {
            interface: "vcabc".into(),
            mac: [0x02, 0x42, 0x0a, 0x58, 0x00, 0x02],
            address: Ipv4Addr::new(10, 88, 0, 2),
        };
        // What `nft --debug=netlink` shows for "vcabc" . 02:42:0a:58:00:02 . 10.88.0.2.
        let mut expected = b"vcabc".to_vec();
        expected.resize(16, 0);
        expected.extend_from_slice(&[2, 0x42, 10, 0x58, 0, 2, 0, 0, 10, 0x58, 0, 2]);
        assert_eq!(address_key(&guard).unwrap(), expected);
        assert_eq!(port_key(&guard).unwrap(), expected[..16]);
        let too_long = GuardedPort {
            interface: "a-name-of-16-byt".into(),
            ..guard
        };
        assert!(port_key(&too_long).is_err());
    }
}
