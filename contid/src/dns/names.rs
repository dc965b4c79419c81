//! Who is on which network under which names: what the resolver answers from. The engine adds a
//! container when it gets its address and removes it when the address goes back; each is a few
//! hash-map operations, whatever the number of members.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

/// A container's record on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub network: String,
    /// Its container name, then its aliases, as given: answered in any case. Several members
    /// may share a name (an alias): it is answered with all their addresses.
    pub names: Vec<String>,
    /// Where its queries for other names go (its create's `dns`); empty: the host's
    /// nameservers.
    pub upstreams: Vec<SocketAddr>,
}

#[derive(Debug, Default)]
pub struct NameTable {
    /// Members by address: who is asking, and what a reverse lookup answers.
    members: HashMap<Ipv4Addr, Member>,
    /// By network, then by lower-case name: the addresses answered.
    names: HashMap<String, HashMap<String, Vec<Ipv4Addr>>>,
}

impl NameTable {
    /// Adds (or replaces) the member at `address`.
    pub fn add(&mut self, address: Ipv4Addr, member: Member) {
        self.remove(address);
        let names = self.names.entry(member.network.clone()).or_default();
        for name in &member.names {
            let addresses = names.entry(name.to_ascii_lowercase()).or_default();
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        self.members.insert(address, member);
    }

    pub fn remove(&mut self, address: Ipv4Addr) {
        let Some(member) = self.members.remove(&address) else {
            return;
        };
        let Some(names) = self.names.get_mut(&member.network) else {
            return;
        };
        for name in &member.names {
            let key = name.to_ascii_lowercase();
            if let Some(addresses) = names.get_mut(&key) {
                addresses.retain(|a| *a != address);
                if addresses.is_empty() {
                    names.remove(&key);
                }
            }
        }
        if names.is_empty() {
            self.names.remove(&member.network);
        }
    }

    /// The networks whose names the container at `address` may learn: those it is on.
    pub fn networks_of(&self, address: Ipv4Addr) -> Vec<&str> {
        self.members
            .get(&address)
            .map(|member| vec![member.network.as_str()])
            .unwrap_or_default()
    }

    /// Where the queries of the container at `address` are forwarded; empty: the host's
    /// nameservers.
    pub fn upstreams_of(&self, address: Ipv4Addr) -> &[SocketAddr] {
        self.members
            .get(&address)
            .map_or(&[], |member| member.upstreams.as_slice())
    }

    /// The addresses of `name` (any case) on `networks`.
    pub fn lookup(&self, networks: &[&str], name: &str) -> Vec<Ipv4Addr> {
        let key = name.to_ascii_lowercase();
        networks
            .iter()
            .filter_map(|network| self.names.get(*network)?.get(&key))
            .flatten()
            .copied()
            .collect()
    }

    /// The first name of the member at `address` if it is on one of `networks`.
    pub fn name_of(&self, networks: &[&str], address: Ipv4Addr) -> Option<&str> {
        let member = self.members.get(&address)?;
        networks
            .contains(&member.network.as_str())
            .then(|| member.names.first().map(String::as_str))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(network: &str, name: &str) -> Member {
        Member {
            network: network.into(),
            names: vec![name.into()],
            upstreams: vec![],
        }
    }

    #[test]
    fn names_are_answered_only_on_the_askers_networks() {
        let mut table = NameTable::default();
        let (web, db, other) = (
            Ipv4Addr::new(10, 1, 0, 2),
            Ipv4Addr::new(10, 1, 0, 3),
            Ipv4Addr::new(10, 2, 0, 2),
        );
        table.add(web, member("front", "Web"));
        table.add(db, member("front", "db"));
        table.add(other, member("back", "secret"));
        let asker = table.networks_of(web);
        assert_eq!(asker, ["front"]);
        assert_eq!(table.lookup(&asker, "WEB"), [web]);
        assert_eq!(table.lookup(&asker, "db"), [db]);
        assert!(table.lookup(&asker, "secret").is_empty());
        assert_eq!(table.name_of(&asker, db), Some("db"));
        assert_eq!(table.name_of(&asker, other), None);
        assert!(table.networks_of(Ipv4Addr::new(10, 1, 0, 1)).is_empty());
    }

    #[test]
    fn a_shared_alias_answers_every_member_until_each_is_gone() {
        let mut table = NameTable::default();
        let (one, two) = (Ipv4Addr::new(10, 1, 0, 2), Ipv4Addr::new(10, 1, 0, 3));
        let with_alias = |name: &str| Member {
            network: "front".into(),
            names: vec![name.into(), "DB".into()],
            upstreams: vec![],
        };
        table.add(one, with_alias("db-1"));
        table.add(two, with_alias("db-2"));
        assert_eq!(table.lookup(&["front"], "db"), [one, two]);
        assert_eq!(table.lookup(&["front"], "db-2"), [two]);
        // The reverse lookup names the container, not an alias.
        assert_eq!(table.name_of(&["front"], two), Some("db-2"));
        table.remove(one);
        assert_eq!(table.lookup(&["front"], "db"), [two]);
        table.remove(two);
        assert!(table.names.is_empty());
    }

    #[test]
    fn a_removed_member_leaves_nothing() {
        let mut table = NameTable::default();
        let address = Ipv4Addr::new(10, 1, 0, 2);
        table.add(address, member("front", "web"));
        table.remove(address);
        table.remove(address);
        assert!(table.lookup(&["front"], "web").is_empty());
        assert!(table.members.is_empty() && table.names.is_empty());
        // An address handed out again belongs to its new container only.
        table.add(address, member("front", "web"));
        table.add(address, member("front", "api"));
        assert!(table.lookup(&["front"], "web").is_empty());
        assert_eq!(table.lookup(&["front"], "api"), [address]);
    }
}
