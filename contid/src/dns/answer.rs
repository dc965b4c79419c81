//! What the resolver does with one query: answer it from the asker's networks, or forward it.
//! Pure: a parsed message and the name table in, a decision out.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::names::NameTable;
use super::resolv_conf::ZONE;

/// Containers come and go and addresses are handed out again: nothing is to be cached.
const TTL: u32 = 0;
/// The largest answer over UDP without EDNS (RFC 1035).
pub const UDP_PAYLOAD: usize = 512;

#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Send this back.
    Answer(Message),
    /// Not one of the asker's names: ask the host's nameservers.
    Forward,
}

/// Decides for `query`, asked by a member of `networks`.
pub fn decide(query: &Message, table: &NameTable, networks: &[&str]) -> Decision {
    if query.metadata.op_code != OpCode::Query {
        return Decision::Answer(reply(query, ResponseCode::NotImp));
    }
    let [question] = query.queries.as_slice() else {
        return Decision::Answer(reply(query, ResponseCode::FormErr));
    };
    if question.query_class() != DNSClass::IN {
        return Decision::Forward;
    }
    let asked = question.name();
    let text = asked.to_lowercase().to_ascii();
    let text = text.trim_end_matches('.');
    let in_zone = text
        .strip_suffix(ZONE)
        .filter(|rest| rest.is_empty() || rest.ends_with('.'));
    let short = match in_zone {
        Some(rest) => rest.trim_end_matches('.'),
        None => text,
    };
    let addresses = table.lookup(networks, short);
    if !addresses.is_empty() {
        let mut answer = authoritative(query, ResponseCode::NoError);
        if matches!(question.query_type(), RecordType::A | RecordType::ANY) {
            for address in addresses {
                answer
                    .answers
                    .push(Record::from_rdata(asked.clone(), TTL, RData::A(A(address))));
            }
        }
        // Any other type of a container's name: no data (it has no IPv6 address, no MX...).
        return Decision::Answer(answer);
    }
    if in_zone.is_some() {
        // The zone is ours: a name that is not there does not exist.
        let code = match short.is_empty() {
            true => ResponseCode::NoError,
            false => ResponseCode::NXDomain,
        };
        return Decision::Answer(authoritative(query, code));
    }
    if question.query_type() == RecordType::PTR
        && let Some(address) = reverse_address(asked)
        && let Some(name) = table.name_of(networks, address)
        && let Ok(target) = Name::from_ascii(format!("{name}.{ZONE}."))
    {
        let mut answer = authoritative(query, ResponseCode::NoError);
        answer.answers.push(Record::from_rdata(
            asked.clone(),
            TTL,
            RData::PTR(PTR(target)),
        ));
        return Decision::Answer(answer);
    }
    Decision::Forward
}

/// A reply to `query` with no records.
pub fn reply(query: &Message, code: ResponseCode) -> Message {
    let mut message = Message::response(query.metadata.id, query.metadata.op_code);
    message.metadata.recursion_desired = query.metadata.recursion_desired;
    message.metadata.recursion_available = true;
    message.metadata.response_code = code;
    message.queries = query.queries.clone();
    message
}

fn authoritative(query: &Message, code: ResponseCode) -> Message {
    let mut message = reply(query, code);
    message.metadata.authoritative = true;
    message
}

/// `d.c.b.a.in-addr.arpa.` → `a.b.c.d`.
fn reverse_address(name: &Name) -> Option<Ipv4Addr> {
    match name.parse_arpa_name().ok()? {
        ipnet::IpNet::V4(net) if net.prefix_len() == 32 => Some(net.addr()),
        _ => None,
    }
    .filter(|address| !IpAddr::V4(*address).is_unspecified())
}

/// The wire form of `message`, truncated (`TC` set, no records) when it exceeds `limit`, so
/// that the asker retries over TCP; `None` when it cannot be encoded.
pub fn encode(message: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = message.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    message.truncate().to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::names::Member;
    use hickory_proto::op::Query;

    fn query(name: &str, kind: RecordType) -> Message {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        message
    }

    fn table() -> NameTable {
        let mut table = NameTable::default();
        let member = |network: &str, name: &str| Member {
            network: network.into(),
            names: vec![name.into()],
            upstreams: vec![],
        };
        table.add(Ipv4Addr::new(10, 1, 0, 2), member("front", "web"));
        table.add(Ipv4Addr::new(10, 2, 0, 2), member("back", "db"));
        table
    }

    fn answer(decision: Decision) -> Message {
        match decision {
            Decision::Answer(message) => message,
            Decision::Forward => panic!("forwarded"),
        }
    }

    #[test]
    fn a_members_name_is_answered_short_and_in_the_zone() {
        let table = table();
        for name in ["web.", "WEB.conti.internal."] {
            let asked = query(name, RecordType::A);
            let reply = answer(decide(&asked, &table, &["front"]));
            assert_eq!(reply.metadata.id, asked.metadata.id);
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert!(reply.metadata.authoritative && reply.metadata.recursion_desired);
            assert_eq!(reply.queries, asked.queries);
            assert_eq!(
                &reply.answers[0].data,
                &RData::A(A(Ipv4Addr::new(10, 1, 0, 2)))
            );
            assert_eq!(&reply.answers[0].name, asked.queries[0].name());
        }
        let aaaa = answer(decide(&query("web.", RecordType::AAAA), &table, &["front"]));
        assert_eq!(
            (aaaa.metadata.response_code, aaaa.answers.len()),
            (ResponseCode::NoError, 0),
            "no data, not no such name"
        );
    }

    #[test]
    fn other_networks_names_are_not_told() {
        let table = table();
        // Outside the zone, upstream decides (and knows nothing of it).
        assert_eq!(
            decide(&query("db.", RecordType::A), &table, &["front"]),
            Decision::Forward
        );
        let zoned = answer(decide(
            &query("db.conti.internal.", RecordType::A),
            &table,
            &["front"],
        ));
        assert_eq!(zoned.metadata.response_code, ResponseCode::NXDomain);
        assert!(zoned.answers.is_empty());
        assert_eq!(
            decide(&query("example.com.", RecordType::A), &table, &["front"]),
            Decision::Forward
        );
        // A zone that merely ends like ours is not ours.
        assert_eq!(
            decide(
                &query("xconti.internal.", RecordType::A),
                &table,
                &["front"]
            ),
            Decision::Forward
        );
    }

    #[test]
    fn reverse_lookups_of_members_are_answered() {
        let table = table();
        let reply = answer(decide(
            &query("2.0.1.10.in-addr.arpa.", RecordType::PTR),
            &table,
            &["front"],
        ));
        assert_eq!(
            &reply.answers[0].data,
            &RData::PTR(PTR(Name::from_ascii("web.conti.internal.").unwrap()))
        );
        assert_eq!(
            decide(
                &query("2.0.2.10.in-addr.arpa.", RecordType::PTR),
                &table,
                &["front"]
            ),
            Decision::Forward
        );
    }

    #[test]
    fn what_is_not_a_plain_query_is_refused_by_code() {
        let table = table();
        let mut empty = Message::query();
        empty.metadata.id = 7;
        assert_eq!(
            answer(decide(&empty, &table, &["front"]))
                .metadata
                .response_code,
            ResponseCode::FormErr
        );
        let mut notify = query("web.", RecordType::A);
        notify.metadata.op_code = OpCode::Notify;
        assert_eq!(
            answer(decide(&notify, &table, &["front"]))
                .metadata
                .response_code,
            ResponseCode::NotImp
        );
    }

    #[test]
    fn an_answer_too_long_for_udp_is_truncated() {
        let mut table = NameTable::default();
        for last in 2..100 {
            table.add(
                Ipv4Addr::new(10, 1, 0, last),
                Member {
                    network: "front".into(),
                    names: vec![format!("n{last}"), "shared".into()],
                    upstreams: vec![],
                },
            );
        }
        let reply = answer(decide(&query("shared.", RecordType::A), &table, &["front"]));
        assert_eq!(reply.answers.len(), 98);
        let bytes = encode(&reply, UDP_PAYLOAD).unwrap();
        let truncated = Message::from_vec(&bytes).unwrap();
        assert!(truncated.metadata.truncation && truncated.answers.is_empty());
        assert_eq!(
            Message::from_vec(&encode(&reply, 65535).unwrap())
                .unwrap()
                .answers
                .len(),
            98
        );
    }
}
