//! The host's resolver configuration (`--resolv-conf`, default `/etc/resolv.conf`): where the
//! resolver forwards, and what every container's `/etc/resolv.conf` is made from. Read again
//! whenever the file changed (another inode, size or modification time), so that a host that
//! moves to another network, or systemd-resolved rewriting its file, is followed without a
//! restart.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The domain the resolver answers its networks' names in (`web.conti.internal`): first in every
/// container's search list, so that a short name is answered at once, before the host's search
/// domains are tried upstream, and never by a machine of the host's LAN with the same name.
/// `.internal` is reserved for private use (ICANN, 2024).
pub const ZONE: &str = "conti.internal";

/// Nameservers glibc uses at most (`MAXNS`); later ones are ignored by it, and by us.
const MAX_NAMESERVERS: usize = 3;

/// A parsed resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// The file as it is.
    pub text: String,
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Lines as glibc reads them: `nameserver`, `search` (or `domain`: the last of the two wins),
    /// `options`; `#` and `;` start comments; anything else is ignored.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf {
            text: text.to_string(),
            ..ResolvConf::default()
        };
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // A link-local address with a zone (`fe80::1%eth0`) does not parse: skipped.
                    if let Some(address) = words.next().and_then(|w| w.parse().ok())
                        && conf.nameservers.len() < MAX_NAMESERVERS
                    {
                        conf.nameservers.push(address);
                    }
                }
                Some("search") => conf.search = words.map(str::to_string).collect(),
                Some("domain") => conf.search = words.take(1).map(str::to_string).collect(),
                Some("options") => conf.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        conf
    }

    /// This configuration with what a container's create asked for over it: each of its lists
    /// given replaces this one's, and the text is then made from the lists.
    pub fn with_settings(&self, settings: &super::DnsSettings) -> ResolvConf {
        if *settings == super::DnsSettings::default() {
            return self.clone();
        }
        let pick = |asked: &Vec<String>, own: &Vec<String>| match asked.is_empty() {
            true => own.clone(),
            false => asked.clone(),
        };
        let mut conf = ResolvConf {
            text: String::new(),
            nameservers: match settings.nameservers.is_empty() {
                true => self.nameservers.clone(),
                false => settings.nameservers.clone(),
            },
            search: pick(&settings.search, &self.search),
            options: pick(&settings.options, &self.options),
        };
        for nameserver in &conf.nameservers {
            conf.text.push_str(&format!("nameserver {nameserver}\n"));
        }
        if !conf.search.is_empty() {
            conf.text
                .push_str(&format!("search {}\n", conf.search.join(" ")));
        }
        if !conf.options.is_empty() {
            conf.text
                .push_str(&format!("options {}\n", conf.options.join(" ")));
        }
        conf
    }

    /// Where queries are forwarded: every nameserver, port 53.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.nameservers
            .iter()
            .map(|address| SocketAddr::new(*address, 53))
            .collect()
    }

    /// A container's file when its network's resolver answers on `resolver`: that one
    /// nameserver, the resolver's zone first in the search list, the host's options.
    pub fn for_resolver(&self, resolver: Ipv4Addr) -> String {
        let mut text = format!(
            "# contid's resolver for this network: container names, anything else forwarded to \
             the host's nameservers\nnameserver {resolver}\nsearch {ZONE}"
        );
        for domain in &self.search {
            text.push(' ');
            text.push_str(domain);
        }
        text.push('\n');
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }

    /// A container's file in a network namespace of its own without a resolver: the host's,
    /// without the nameservers on the host's loopback (`127.*`, `::1`), which it cannot reach.
    pub fn without_local_nameservers(&self) -> String {
        let is_local_nameserver = |line: &str| {
            let mut words = line.split_whitespace();
            words.next() == Some("nameserver")
                && words
                    .next()
                    .is_some_and(|address| address.starts_with("127.") || address == "::1")
        };
        self.text
            .lines()
            .filter(|line| !is_local_nameserver(line))
            .flat_map(|line| [line, "\n"])
            .collect()
    }
}

/// The file and what was read from it last.
pub struct HostResolvConf {
    path: PathBuf,
    /// `None` until first read; then the file's stamp (`None` when missing) and what it said.
    last: Mutex<Option<(Option<Stamp>, Arc<ResolvConf>)>>,
}

/// What tells that the file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: Option<SystemTime>,
}

impl HostResolvConf {
    pub fn new(path: PathBuf) -> HostResolvConf {
        HostResolvConf {
            path,
            last: Mutex::new(None),
        }
    }

    /// The file as it is now: one `stat` when it did not change. A file that is missing or
    /// unreadable reads as empty (no nameserver: nothing is forwarded), with one warning until
    /// it changes.
    pub fn current(&self) -> Arc<ResolvConf> {
        use std::os::unix::fs::MetadataExt;
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp {
            device: m.dev(),
            inode: m.ino(),
            size: m.size(),
            modified: m.modified().ok(),
        });
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, conf)) = last.as_ref()
            && *known == stamp
        {
            return conf.clone();
        }
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), %err, "cannot read the host's resolver configuration");
                String::new()
            }
        };
        let conf = Arc::new(ResolvConf::parse(&text));
        tracing::debug!(path = %self.path.display(), nameservers = ?conf.nameservers, "host resolver configuration read");
        *last = Some((stamp, conf.clone()));
        conf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n\
        nameserver ::1\nsearch lan corp.example\noptions edns0 trust-ad\n";

    #[test]
    fn parses_like_glibc() {
        let conf = ResolvConf::parse(HOST);
        assert_eq!(
            conf.upstreams(),
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "10.0.0.2:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(conf.search, ["lan", "corp.example"]);
        assert_eq!(conf.options, ["edns0", "trust-ad"]);
        let conf = ResolvConf::parse(
            "search a b\ndomain c\nnameserver fe80::1%eth0\n; x\nnameserver 1.1.1.1\n\
             nameserver 1.1.1.2\nnameserver 1.1.1.3\nnameserver 1.1.1.4\n",
        );
        assert_eq!(conf.search, ["c"], "the last of search and domain wins");
        assert_eq!(conf.nameservers.len(), 3, "at most three, as glibc");
        assert!(ResolvConf::parse("").upstreams().is_empty());
    }

    #[test]
    fn a_container_on_a_resolver_gets_it_with_the_zone_first() {
        let conf = ResolvConf::parse(HOST);
        assert_eq!(
            conf.for_resolver(Ipv4Addr::new(10, 89, 0, 1))
                .lines()
                .skip(1)
                .collect::<Vec<_>>(),
            [
                "nameserver 10.89.0.1",
                "search conti.internal lan corp.example",
                "options edns0 trust-ad"
            ]
        );
        assert!(
            !ResolvConf::default()
                .for_resolver(Ipv4Addr::new(10, 89, 0, 1))
                .contains("options")
        );
    }

    #[test]
    fn a_containers_settings_replace_the_hosts() {
        let host = ResolvConf::parse(HOST);
        assert_eq!(host.with_settings(&Default::default()), host);
        let settings = super::super::DnsSettings {
            nameservers: vec!["192.0.2.53".parse().unwrap()],
            search: vec!["example.com".into()],
            options: vec![],
        };
        let conf = host.with_settings(&settings);
        assert_eq!(
            conf.text,
            "nameserver 192.0.2.53\nsearch example.com\noptions edns0 trust-ad\n"
        );
        assert_eq!(conf.upstreams(), ["192.0.2.53:53".parse().unwrap()]);
        assert!(
            conf.for_resolver(Ipv4Addr::new(10, 89, 0, 1))
                .contains("nameserver 10.89.0.1\nsearch conti.internal example.com\n")
        );
    }

    #[test]
    fn local_nameservers_are_dropped_without_a_resolver() {
        assert_eq!(
            ResolvConf::parse(HOST).without_local_nameservers(),
            "# generated\nnameserver 10.0.0.2\nsearch lan corp.example\noptions edns0 trust-ad\n"
        );
    }

    #[test]
    fn the_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        let host = HostResolvConf::new(path.clone());
        assert!(host.current().nameservers.is_empty(), "missing: empty");
        std::fs::write(&path, "nameserver 127.0.0.9\n").unwrap();
        assert_eq!(
            host.current().nameservers,
            ["127.0.0.9".parse::<IpAddr>().unwrap()]
        );
        // Replaced by another file, as resolvers do (write then rename).
        std::fs::write(dir.path().join("new"), "nameserver 127.0.0.10\n").unwrap();
        std::fs::rename(dir.path().join("new"), &path).unwrap();
        assert_eq!(
            host.current().nameservers,
            ["127.0.0.10".parse::<IpAddr>().unwrap()]
        );
    }
}
