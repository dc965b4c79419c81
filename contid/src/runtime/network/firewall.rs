//! Conti's nftables tables: outbound NAT for each network's subnet, isolation between networks,
//! the DNAT rules of published ports and the loopback guard (family `ip`), and the port guards
//! of the bridges (family `bridge`, `port_guard`).
//!
//! Both tables are named by `--firewall-table` (default `conti`), one per family; nobody else's
//! table or rule is read or touched. A table is replaced whole in one transaction (`add table;
//! delete table; add table ...` in a single `nft -j -f -` run), so applying the same plan twice,
//! or after a daemon restart, re-adopts instead of duplicating; a plan without networks deletes
//! them. Containers coming and going change only the port guards' set elements, one by one
//! ([`FirewallChange`]): no table is rewritten for them.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;

use nftables::batch::Batch;
use nftables::expr::{
    BinaryOperation, CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression,
    Payload, PayloadField, Prefix,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde::{Deserialize, Serialize};

use super::port_guard::{self, GuardedPort};

/// What Conti's tables must hold, computed by the engine from its networks and containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallPlan {
    /// Name of the tables (families `ip` and `bridge`).
    pub table: String,
    /// Networks with containers on them.
    pub networks: Vec<BridgeNetwork>,
    /// Published ports of running containers, sorted (so that equal plans compare equal).
    pub ports: Vec<PortForward>,
    /// The bridge ports of the containers on those networks and the addresses each may use.
    pub guards: BTreeSet<GuardedPort>,
}

/// What one `nft` transaction replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rewrite {
    /// Both tables, the `bridge` one with every guard of the plan.
    Tables(FirewallPlan),
    /// The `ip` table only (published ports changed); the plan carries no guards.
    Rules(FirewallPlan),
}

/// How to go from the plan last applied to the next one: what `nft` must rewrite, then the
/// guards to add and remove one by one ([`port_guard::update`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FirewallChange {
    pub rewrite: Option<Rewrite>,
    pub added: Vec<GuardedPort>,
    pub removed: Vec<GuardedPort>,
}

impl FirewallChange {
    /// Everything is rewritten when nothing is known to be applied (a daemon that just started:
    /// what the tables hold is rebuilt from what exists) or when the networks changed; the
    /// `ip` table alone when only the published ports did; containers that came or went are
    /// guards added or removed.
    pub fn between(applied: Option<&FirewallPlan>, plan: &FirewallPlan) -> FirewallChange {
        let Some(applied) =
            applied.filter(|a| a.table == plan.table && a.networks == plan.networks)
        else {
            return FirewallChange {
                rewrite: Some(Rewrite::Tables(plan.clone())),
                ..FirewallChange::default()
            };
        };
        FirewallChange {
            rewrite: (applied.ports != plan.ports).then(|| {
                Rewrite::Rules(FirewallPlan {
                    guards: BTreeSet::new(),
                    ..plan.clone()
                })
            }),
            added: plan.guards.difference(&applied.guards).cloned().collect(),
            removed: applied.guards.difference(&plan.guards).cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rewrite.is_none() && self.added.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeNetwork {
    pub bridge: String,
    pub subnet: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

/// Runs `rewrite` with `nft`, in one transaction.
pub fn apply(rewrite: &Rewrite) -> Result<(), nftables::helper::NftablesError> {
    nftables::helper::apply_ruleset(&ruleset(rewrite))
}

/// The whole transaction for `rewrite`.
pub fn ruleset(rewrite: &Rewrite) -> Nftables<'static> {
    let mut batch = Batch::new();
    let plan = match rewrite {
        Rewrite::Tables(plan) => {
            port_guard::replace_table(&mut batch, plan);
            plan
        }
        Rewrite::Rules(plan) => plan,
    };
    if replace_table(&mut batch, FAMILY, &plan.table, !plan.networks.is_empty()) {
        add_rules(&mut batch, plan);
    }
    batch.to_nftables()
}

/// Deletes the table `name` of `family` (`add` first, so that `delete` never fails on a table
/// that is not there), and adds it anew, empty, when `wanted`; returns `wanted`.
pub(super) fn replace_table(
    batch: &mut Batch<'static>,
    family: NfFamily,
    name: &str,
    wanted: bool,
) -> bool {
    let table = Table {
        family,
        name: Cow::Owned(name.to_string()),
        handle: None,
    };
    batch.add(NfListObject::Table(table.clone()));
    batch.delete(NfListObject::Table(table.clone()));
    if wanted {
        batch.add(NfListObject::Table(table));
    }
    wanted
}

/// The `ip` table's chains and rules.
fn add_rules(batch: &mut Batch<'static>, plan: &FirewallPlan) {
    let mut builder = Builder {
        family: FAMILY,
        table: plan.table.clone(),
        batch,
    };
    builder.chain("input", NfChainType::Filter, NfHook::Input, 0);
    builder.chain("forward", NfChainType::Filter, NfHook::Forward, 0);
    builder.chain("postrouting", NfChainType::NAT, NfHook::Postrouting, 100);
    builder.chain("prerouting", NfChainType::NAT, NfHook::Prerouting, -100);
    builder.chain("output", NfChainType::NAT, NfHook::Output, -100);
    for network in &plan.networks {
        // The bridge routes 127.0.0.0/8 (`route_localnet`, for the host's connections to ports
        // published on its loopback), so a frame sent to it with a loopback destination would
        // reach the host's loopback-only services (CVE-2020-8558): only what a published port
        // DNATed, or the replies of such connections, may come in that way.
        builder.rule(
            "input",
            vec![
                matches(meta(MetaKey::Iifname), text(&network.bridge)),
                matches(field("ip", "daddr"), prefix(Ipv4Addr::new(127, 0, 0, 0), 8)),
                matches(
                    Expression::BinaryOperation(Box::new(BinaryOperation::AND(
                        ct_status(),
                        text("dnat"),
                    ))),
                    Expression::Number(0),
                ),
                Statement::Drop(None),
            ],
        );
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
                    left: ct_status(),
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

/// Adds the chains and rules of one table to a batch.
pub(super) struct Builder<'b> {
    pub family: NfFamily,
    pub table: String,
    pub batch: &'b mut Batch<'static>,
}

impl Builder<'_> {
    pub fn chain(&mut self, name: &'static str, kind: NfChainType, hook: NfHook, priority: i32) {
        self.batch.add(NfListObject::Chain(Chain {
            family: self.family,
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

    pub fn rule(&mut self, chain: &'static str, statements: Vec<Statement<'static>>) {
        self.batch.add(NfListObject::Rule(Rule {
            family: self.family,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Borrowed(chain),
            expr: Cow::Owned(statements),
            ..Rule::default()
        }));
    }
}

pub(super) fn matches(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

pub(super) fn not_matches(
    left: Expression<'static>,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::NEQ,
    })
}

pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

pub(super) fn field(protocol: &'static str, name: &'static str) -> Expression<'static> {
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

fn ct_status() -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed("status"),
        family: None,
        dir: None,
    }))
}

pub(super) fn text(value: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(value.to_string()))
}

fn number(value: u16) -> Expression<'static> {
    Expression::Number(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(bridge: &str, third: u8) -> BridgeNetwork {
        BridgeNetwork {
            bridge: bridge.into(),
            subnet: Ipv4Addr::new(10, 1, third, 0),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 1, third, 1),
        }
    }

    fn guard(last: u8) -> GuardedPort {
        GuardedPort {
            interface: format!("vc{last:012}"),
            mac: [0x02, 0x42, 10, 1, 1, last],
            address: Ipv4Addr::new(10, 1, 1, last),
        }
    }

    fn published(host_port: u16) -> PortForward {
        PortForward {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port,
            transport: Transport::Tcp,
            container_ip: Ipv4Addr::new(10, 1, 1, 2),
            container_port: 80,
        }
    }

    #[test]
    fn an_empty_plan_only_deletes_the_tables() {
        let json = serde_json::to_string(&ruleset(&Rewrite::Tables(FirewallPlan {
            table: "conti_t".into(),
            ..Default::default()
        })))
        .unwrap();
        assert_eq!(
            json.matches("\"delete\"").count(),
            2,
            "ip and bridge: {json}"
        );
        assert!(!json.contains("chain"));
    }

    #[test]
    fn two_networks_are_isolated_masqueraded_and_guard_the_loopback() {
        let plan = FirewallPlan {
            table: "conti_t".into(),
            networks: vec![network("br-a", 1), network("br-b", 2)],
            ports: vec![published(8080)],
            guards: BTreeSet::from([guard(2)]),
        };
        let json = serde_json::to_value(ruleset(&Rewrite::Tables(plan))).unwrap();
        let text = json.to_string();
        // a→b and b→a; 127.0.0.0/8 from each bridge; anything a guarded port may not send.
        assert_eq!(text.matches("\"drop\"").count(), 5, "{text}");
        assert_eq!(text.matches("\"chain\":\"input\"").count(), 2, "{text}");
        // Outbound, loopback sources and hairpin, per network.
        assert_eq!(text.matches("\"masquerade\"").count(), 6, "{text}");
        // 127.0.0.1 and both gateways, in prerouting and output.
        assert_eq!(text.matches("\"dnat\":{").count(), 6, "{text}");
        assert!(text.contains("vc000000000002"), "{text}");
    }

    #[test]
    fn queries_to_a_networks_resolver_are_never_dnat_ed() {
        let plan = FirewallPlan {
            table: "conti_t".into(),
            networks: vec![network("br-a", 1)],
            ports: vec![PortForward {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 53,
                transport: Transport::Udp,
                container_ip: Ipv4Addr::new(10, 1, 1, 2),
                container_port: 53,
            }],
            guards: BTreeSet::new(),
        };
        let json = serde_json::to_value(ruleset(&Rewrite::Tables(plan))).unwrap();
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
    fn the_ip_table_alone_is_rewritten_when_ports_change() {
        let plan = FirewallPlan {
            table: "conti_t".into(),
            networks: vec![network("br-a", 1)],
            ports: vec![published(8080)],
            guards: BTreeSet::from([guard(2)]),
        };
        let json = serde_json::to_string(&ruleset(&Rewrite::Rules(plan))).unwrap();
        assert!(!json.contains("bridge"), "{json}");
        assert!(json.contains("\"dnat\":{"), "{json}");
    }

    #[test]
    fn containers_coming_and_going_only_add_and_remove_guards() {
        let first = FirewallPlan {
            table: "conti_t".into(),
            networks: vec![network("br-a", 1)],
            ports: Vec::new(),
            guards: BTreeSet::from([guard(2), guard(3)]),
        };
        // Nothing known yet (a daemon that just started): everything is rewritten.
        assert_eq!(
            FirewallChange::between(None, &first).rewrite,
            Some(Rewrite::Tables(first.clone()))
        );
        assert!(FirewallChange::between(Some(&first), &first).is_empty());

        let next = FirewallPlan {
            guards: BTreeSet::from([guard(3), guard(4)]),
            ..first.clone()
        };
        assert_eq!(
            FirewallChange::between(Some(&first), &next),
            FirewallChange {
                rewrite: None,
                added: vec![guard(4)],
                removed: vec![guard(2)],
            }
        );

        let with_port = FirewallPlan {
            ports: vec![published(8080)],
            ..next.clone()
        };
        let change = FirewallChange::between(Some(&next), &with_port);
        assert_eq!(
            change.rewrite,
            Some(Rewrite::Rules(FirewallPlan {
                guards: BTreeSet::new(),
                ..with_port.clone()
            }))
        );
        assert!(change.added.is_empty() && change.removed.is_empty());

        let another_network = FirewallPlan {
            networks: vec![network("br-a", 1), network("br-b", 2)],
            ..with_port.clone()
        };
        assert_eq!(
            FirewallChange::between(Some(&with_port), &another_network).rewrite,
            Some(Rewrite::Tables(another_network.clone()))
        );
    }
}
