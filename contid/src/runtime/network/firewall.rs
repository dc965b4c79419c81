//! Conti's nftables table: outbound NAT for each network's subnet, isolation between networks,
//! and the DNAT rules of published ports.
//!
//! Everything lives in one table of family `ip` that Conti owns (`--firewall-table`, default
//! `conti`); nobody else's table or rule is read or touched. The table is replaced whole in one
//! transaction (`add table; delete table; add table ...` in a single `nft -j -f -` run), so
//! applying the same plan twice, or after a daemon restart, re-adopts instead of duplicating.
//! An empty plan deletes the table.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{
    CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde::{Deserialize, Serialize};

/// What Conti's table must hold, computed by the engine from its networks and containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallPlan {
    /// Name of the table (family `ip`).
    pub table: String,
    /// Networks with containers on them.
    pub networks: Vec<BridgeNetwork>,
    /// Published ports of running containers.
    pub ports: Vec<PortForward>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeNetwork {
    pub bridge: String,
    pub subnet: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    /// `0.0.0.0` for every local address of the host.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub transport: Transport,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

const FAMILY: NfFamily = NfFamily::IP;
/// Where each network's resolver listens on its gateway.
const DNS_PORT: u16 = 53;

/// Replaces Conti's table with what `plan` says, or deletes it when the plan is empty.
pub fn apply(plan: &FirewallPlan) -> Result<(), nftables::helper::NftablesError> {
    nftables::helper::apply_ruleset(&ruleset(plan))
}

/// The whole transaction for `plan`.
pub fn ruleset(plan: &FirewallPlan) -> Nftables<'static> {
    let mut batch = Batch::new();
    let table = Table {
        family: FAMILY,
        name: Cow::Owned(plan.table.clone()),
        handle: None,
    };
    // `add` first, so that `delete` never fails on a table that is not there.
    batch.add(NfListObject::Table(table.clone()));
    batch.delete(NfListObject::Table(table.clone()));
    if plan.networks.is_empty() && plan.ports.is_empty() {
        return batch.to_nftables();
    }
    batch.add(NfListObject::Table(table));
    let mut builder = Builder {
        table: plan.table.clone(),
        batch,
    };
    builder.chain("forward", NfChainType::Filter, NfHook::Forward, 0);
    builder.chain("postrouting", NfChainType::NAT, NfHook::Postrouting, 100);
    builder.chain("prerouting", NfChainType::NAT, NfHook::Prerouting, -100);
    builder.chain("output", NfChainType::NAT, NfHook::Output, -100);
    for network in &plan.networks {
        // Containers of one network talk to each other; to other networks they cannot.
        builder.rule(
            "forward",
            vec![
                matches(meta(MetaKey::Iifname), text(&network.bridge)),
                matches(meta(MetaKey::Oifname), text(&network.bridge)),
                Statement::Accept(None),
            ],
        );
        for other in plan.networks.iter().filter(|o| o.bridge != network.bridge) {
            builder.rule(
                "forward",
                vec![
                    matches(meta(MetaKey::Iifname), text(&network.bridge)),
                    matches(meta(MetaKey::Oifname), text(&other.bridge)),
                    Statement::Drop(None),
                ],
            );
        }
        // The network's resolver (contid, on the gateway's port 53) answers its containers'
        // queries even when a port 53 is published on 127.0.0.1, whose DNAT below would
        // otherwise send them to that container.
        for transport in [Transport::Udp, Transport::Tcp] {
            builder.rule(
                "prerouting",
                vec![
                    matches(meta(MetaKey::Iifname), text(&network.bridge)),
                    matches(field("ip", "daddr"), text(&network.gateway.to_string())),
                    matches(field(transport.as_str(), "dport"), number(DNS_PORT)),
                    Statement::Accept(None),
                ],
            );
        }
        // Outbound NAT: what leaves the subnet through another interface.
        builder.rule(
            "postrouting",
            vec![
                matches(
                    field("ip", "saddr"),
                    prefix(network.subnet, network.prefix_len),
                ),
                not_matches(meta(MetaKey::Oifname), text(&network.bridge)),
                Statement::Masquerade(None),
            ],
        );
        // The host's own connections to a port published on 127.0.0.1 leave with a loopback
        // source, which the container could not answer.
        builder.rule(
            "postrouting",
            vec![
                matches(meta(MetaKey::Oifname), text(&network.bridge)),
                matches(field("ip", "saddr"), prefix(Ipv4Addr::new(127, 0, 0, 0), 8)),
                Statement::Masquerade(None),
            ],
        );
        // A container reaching a published port through its gateway may be sent back to
        // itself (hairpin) or to a neighbour, which would answer directly and bypass the
        // un-DNAT: such connections leave with the gateway's address.
        builder.rule(
            "postrouting",
            vec![
                matches(meta(MetaKey::Oifname), text(&network.bridge)),
                matches(
                    field("ip", "saddr"),
                    prefix(network.subnet, network.prefix_len),
                ),
                Statement::Match(Match {
                    left: Expression::Named(NamedExpression::CT(CT {
                        key: Cow::Borrowed("status"),
                        family: None,
                        dir: None,
                    })),
                    right: text("dnat"),
                    op: Operator::IN,
                }),
                Statement::Masquerade(None),
            ],
        );
    }
    let gateways: Vec<Ipv4Addr> = plan.networks.iter().map(|n| n.gateway).collect();
    for port in &plan.ports {
        for destination in destinations(port, &gateways) {
            let rule = |destination: Statement<'static>| {
                vec![
                    destination,
                    matches(
                        field(port.transport.as_str(), "dport"),
                        number(port.host_port),
                    ),
                    Statement::DNAT(Some(NAT {
                        addr: Some(text(&port.container_ip.to_string())),
                        family: Some(NATFamily::IP),
                        port: Some(number(port.container_port)),
                        flags: None,
                    })),
                ]
            };
            builder.rule("prerouting", rule(destination.clone()));
            builder.rule("output", rule(destination));
        }
    }
    builder.batch.to_nftables()
}

/// Which destination addresses a published port answers on: the named host address (and, for
/// a loopback one, the networks' gateways, so that other containers reach it too), or every
/// local address for `0.0.0.0`.
fn destinations(port: &PortForward, gateways: &[Ipv4Addr]) -> Vec<Statement<'static>> {
    if port.host_ip.is_unspecified() {
        let fib = Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        }));
        return vec![matches(fib, text("local"))];
    }
    let mut addresses = vec![port.host_ip];
    if port.host_ip.is_loopback() {
        addresses.extend(gateways);
    }
    addresses
        .into_iter()
        .map(|address| matches(field("ip", "daddr"), text(&address.to_string())))
        .collect()
}

struct Builder {
    table: String,
    batch: Batch<'static>,
}

impl Builder {
    fn chain(&mut self, name: &'static str, kind: NfChainType, hook: NfHook, priority: i32) {
        self.batch.add(NfListObject::Chain(Chain {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Borrowed(name),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(priority),
            // Never drop what we do not know about: other tables decide for other traffic.
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
    }

    fn rule(&mut self, chain: &'static str, statements: Vec<Statement<'static>>) {
        self.batch.add(NfListObject::Rule(Rule {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Borrowed(chain),
            expr: Cow::Owned(statements),
            ..Rule::default()
        }));
    }
}

fn matches(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn not_matches(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::NEQ,
    })
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn field(protocol: &'static str, name: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(name),
        },
    )))
}

fn prefix(address: Ipv4Addr, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(text(&address.to_string())),
        len: u32::from(len),
    }))
}

fn text(value: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(value.to_string()))
}

fn number(value: u16) -> Expression<'static> {
    Expression::Number(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_plan_only_deletes_the_table() {
        let json = serde_json::to_string(&ruleset(&FirewallPlan {
            table: "conti_t".into(),
            ..Default::default()
        }))
        .unwrap();
        assert!(json.contains("\"delete\""));
        assert!(!json.contains("chain"));
    }

    #[test]
    fn queries_to_a_networks_resolver_are_never_dnat_ed() {
        let plan = FirewallPlan {
            table: "conti_t".into(),
            networks: vec![BridgeNetwork {
                bridge: "br-a".into(),
                subnet: Ipv4Addr::new(10, 1, 1, 0),
                prefix_len: 24,
                gateway: Ipv4Addr::new(10, 1, 1, 1),
            }],
            ports: vec![PortForward {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 53,
                transport: Transport::Udp,
                container_ip: Ipv4Addr::new(10, 1, 1, 2),
                container_port: 53,
            }],
        };
        let json = serde_json::to_value(ruleset(&plan)).unwrap();
        let prerouting: Vec<String> = json["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["add"]["rule"]["chain"] == "prerouting")
            .map(|o| o["add"]["rule"]["expr"].to_string())
            .collect();
        let accept = prerouting
            .iter()
            .position(|r| r.contains("accept") && r.contains("udp") && r.contains("10.1.1.1"))
            .expect("an accept for the resolver's UDP");
        let dnat = prerouting
            .iter()
            .position(|r| r.contains("dnat") && r.contains("10.1.1.1"))
            .expect("the published port's DNAT on the gateway");
        assert!(accept < dnat, "{prerouting:#?}");
        assert!(
            prerouting
                .iter()
                .any(|r| r.contains("accept") && r.contains("tcp"))
        );
    }

    #[test]
    fn two_networks_are_isolated_and_masqueraded() {
        let network = |bridge: &str, third: u8| BridgeNetwork {
            bridge: bridge.into(),
            subnet: Ipv4Addr::new(10, 1, third, 0),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 1, third, 1),
        };
        let plan = FirewallPlan {
            table: "conti_t".into(),
            networks: vec![network("br-a", 1), network("br-b", 2)],
            ports: vec![PortForward {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8080,
                transport: Transport::Tcp,
                container_ip: Ipv4Addr::new(10, 1, 1, 2),
                container_port: 80,
            }],
        };
        let json = serde_json::to_value(ruleset(&plan)).unwrap();
        let text = json.to_string();
        assert_eq!(text.matches("\"drop\"").count(), 2, "a→b and b→a");
        // Outbound, loopback sources and hairpin, per network.
        assert_eq!(text.matches("\"masquerade\"").count(), 6, "{text}");
        // 127.0.0.1 and both gateways, in prerouting and output.
        assert_eq!(text.matches("\"dnat\":{").count(), 6, "{text}");
    }
}
