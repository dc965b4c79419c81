//! `--add-host`, `--dns`, `--dns-search` and `--dns-option` of `run` and `create`: what goes
//! into the container's `/etc/hosts` and `/etc/resolv.conf`. contid checks the values.

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct NameResolutionArgs {
    /// Add a line to the container's /etc/hosts: NAME:IP (IPv4 or IPv6), or NAME:host-gateway
    /// for its network's gateway; repeatable.
    #[arg(long = "add-host", value_name = "NAME:IP", value_parser = parse_add_host)]
    pub add_host: Vec<String>,
    /// A nameserver (an IP address); on a user network, where the network's resolver
    /// forwards this container's queries. Repeatable.
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// A search domain of its /etc/resolv.conf; repeatable.
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// An option of its /etc/resolv.conf (ndots:2, edns0…); repeatable.
    #[arg(long = "dns-option", value_name = "OPTION")]
    pub dns_option: Vec<String>,
}

/// `NAME:IP`, or Docker's newer `NAME=IP`, as `NAME:IP`.
fn parse_add_host(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((name, address)) if !name.contains(':') => Ok(format!("{name}:{address}")),
        _ if text.contains(':') => Ok(text.to_string()),
        _ => Err(format!("{text:?}: expected NAME:IP")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_host_are_read() {
        assert_eq!(parse_add_host("db:10.0.0.5").unwrap(), "db:10.0.0.5");
        assert_eq!(parse_add_host("db=10.0.0.5").unwrap(), "db:10.0.0.5");
        assert_eq!(parse_add_host("v6:fd00::1").unwrap(), "v6:fd00::1");
        assert!(parse_add_host("db").is_err());
    }
}
