//! `extra_hosts`, `dns`, `dns_search` and `dns_options` of a create request: checked (400
//! `invalid_spec`), and turned into the container's `/etc/hosts` lines and what its
//! `/etc/resolv.conf` and its network's resolver make of them.

use std::net::IpAddr;

use conti_proto::{ContainerSpec, NetworkMode};

use super::container::Endpoint;
use super::error::{EngineError, EngineResult};
use crate::dns::DnsSettings;
use crate::runtime::container::etc_files::HostEntry;

/// The address `NAME:host-gateway` stands for: the container's network's gateway.
const HOST_GATEWAY: &str = "host-gateway";

fn invalid(message: String) -> EngineError {
    EngineError::InvalidSpec(message)
}

/// A word of `/etc/hosts` or `/etc/resolv.conf`: not empty, no blank, no `#`.
fn is_word(text: &str) -> bool {
    !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || c == '#' || c == '\0')
}

/// Checks the four fields; `host-gateway` needs a network with a gateway.
pub fn validate(spec: &ContainerSpec) -> EngineResult<()> {
    for entry in &spec.extra_hosts {
        let (name, address) = split_host(entry)?;
        if address == HOST_GATEWAY
            && !matches!(spec.network, NetworkMode::Bridge | NetworkMode::Network(_))
        {
            return Err(invalid(format!(
                "extra_hosts {entry:?}: host-gateway is the gateway of the container's bridge \
                 network, and network {} has none",
                spec.network
            )));
        }
        if address != HOST_GATEWAY {
            parse_address(entry, name, address)?;
        }
    }
    nameservers(&spec.dns)?;
    for domain in &spec.dns_search {
        if !is_word(domain) || domain.len() > 253 {
            return Err(invalid(format!(
                "dns_search {domain:?} is not a domain name"
            )));
        }
    }
    if let Some(option) = spec.dns_options.iter().find(|o| !is_word(o)) {
        return Err(invalid(format!(
            "dns_options {option:?} must be one word (like ndots:2 or edns0)"
        )));
    }
    Ok(())
}

/// `NAME:ADDRESS` split at the first `:` (an IPv6 address has more).
fn split_host(entry: &str) -> EngineResult<(&str, &str)> {
    match entry.split_once(':') {
        Some((name, address)) if is_word(name) && !address.is_empty() => Ok((name, address)),
        _ => Err(invalid(format!(
            "extra_hosts {entry:?} must be NAME:ADDRESS (an IP address or host-gateway)"
        ))),
    }
}

fn parse_address(entry: &str, name: &str, address: &str) -> EngineResult<HostEntry> {
    let address: IpAddr = address.parse().map_err(|_| {
        invalid(format!(
            "extra_hosts {entry:?}: {address:?} is not an IP address (or host-gateway)"
        ))
    })?;
    Ok(HostEntry {
        name: name.to_string(),
        address,
    })
}

fn nameservers(dns: &[String]) -> EngineResult<Vec<IpAddr>> {
    dns.iter()
        .map(|server| {
            server
                .parse()
                .map_err(|_| invalid(format!("dns {server:?} is not an IP address")))
        })
        .collect()
}

/// The container's `/etc/hosts` lines, `host-gateway` as its endpoint's gateway.
pub fn host_entries(
    extra_hosts: &[String],
    endpoint: Option<&Endpoint>,
) -> EngineResult<Vec<HostEntry>> {
    extra_hosts
        .iter()
        .map(|entry| {
            let (name, address) = split_host(entry)?;
            match (address, endpoint) {
                (HOST_GATEWAY, Some(endpoint)) => Ok(HostEntry {
                    name: name.to_string(),
                    address: IpAddr::V4(endpoint.gateway),
                }),
                (HOST_GATEWAY, None) => Err(invalid(format!(
                    "extra_hosts {entry:?}: the container has no network gateway"
                ))),
                (address, _) => parse_address(entry, name, address),
            }
        })
        .collect()
}

/// What the create asked of its resolver configuration (validated at create).
pub fn dns_settings(dns: &[String], search: &[String], options: &[String]) -> DnsSettings {
    DnsSettings {
        nameservers: nameservers(dns).unwrap_or_default(),
        search: search.to_vec(),
        options: options.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn spec(f: impl FnOnce(&mut ContainerSpec)) -> ContainerSpec {
        let mut spec = ContainerSpec {
            image: "busybox".into(),
            ..ContainerSpec::default()
        };
        f(&mut spec);
        spec
    }

    #[test]
    fn hosts_are_names_and_addresses() {
        let endpoint = Endpoint {
            network: "n".into(),
            address: Ipv4Addr::new(10, 1, 0, 2),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 1, 0, 1),
        };
        let entries = host_entries(
            &[
                "db:10.0.0.5".into(),
                "v6:fd00::1".into(),
                "gw:host-gateway".into(),
            ],
            Some(&endpoint),
        )
        .unwrap();
        let lines: Vec<String> = entries
            .iter()
            .map(|e| format!("{} {}", e.address, e.name))
            .collect();
        assert_eq!(lines, ["10.0.0.5 db", "fd00::1 v6", "10.1.0.1 gw"]);
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        for (bad, named) in [
            (spec(|s| s.extra_hosts = vec!["db".into()]), "\"db\""),
            (
                spec(|s| s.extra_hosts = vec!["db:10.0.0.300".into()]),
                "10.0.0.300",
            ),
            (spec(|s| s.extra_hosts = vec!["a b:10.0.0.1".into()]), "a b"),
            (
                spec(|s| {
                    s.extra_hosts = vec!["gw:host-gateway".into()];
                    s.network = NetworkMode::None;
                }),
                "host-gateway",
            ),
            (spec(|s| s.dns = vec!["dns.example".into()]), "dns.example"),
            (spec(|s| s.dns_search = vec!["a b".into()]), "a b"),
            (spec(|s| s.dns_options = vec!["".into()]), "dns_options"),
        ] {
            let error = validate(&bad).unwrap_err().to_string();
            assert!(error.contains(named), "{error}");
        }
        assert!(validate(&spec(|s| s.extra_hosts = vec!["gw:host-gateway".into()])).is_ok());
    }
}
