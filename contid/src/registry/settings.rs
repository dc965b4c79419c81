//! The daemon's registry settings, and what they say about one registry: may it be spoken to in
//! plain HTTP, which extra CAs does it trust.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::error::RegistryError;

/// How the daemon talks to registries.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Per-registry CA folders, Docker's certs.d layout: `<certs_dir>/<host[:port]>/*.crt`
    /// (PEM, one or more certificates a file) trusted for that registry only, besides the
    /// system's roots.
    pub certs_dir: PathBuf,
    /// Registries that may be spoken to in plain HTTP, as Docker's `insecure-registries`:
    /// `host[:port]` (the port must match when given), or a CIDR (`10.0.0.0/8`) matching
    /// registries named by IP. Loopback registries (`localhost`, `127.0.0.0/8`, `::1`) always
    /// are. As Docker, such a registry is tried in HTTPS first (its certificate not verified)
    /// and in HTTP when HTTPS fails.
    pub insecure_registries: Vec<String>,
    /// The daemon's credentials file, written by `login` (root-only, 0600), read at each
    /// resolve: `{"auths": {"<host>": {"auth": base64("user:password")}}}` as Docker's
    /// config.json.
    pub credentials_file: PathBuf,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            certs_dir: PathBuf::from("/etc/conti/certs.d"),
            insecure_registries: Vec::new(),
            credentials_file: PathBuf::from("/etc/conti/credentials.json"),
        }
    }
}

impl RegistrySettings {
    /// Whether `registry` (`host[:port]`) may be spoken to in plain HTTP (and in HTTPS without
    /// verifying its certificate).
    pub fn is_insecure(&self, registry: &str) -> bool {
        let (host, _) = split_port(registry);
        if is_loopback(host) {
            return true;
        }
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        self.insecure_registries.iter().any(|entry| {
            let entry = entry.trim();
            if let (Ok(net), Some(ip)) = (entry.parse::<IpNet>(), ip) {
                return net.contains(&ip);
            }
            let entry = strip_scheme(entry).trim_end_matches('/');
            match split_port(entry) {
                (_, Some(_)) => entry.eq_ignore_ascii_case(registry),
                (entry_host, None) => entry_host.eq_ignore_ascii_case(host),
            }
        })
    }

    /// The folder of `registry`'s own CAs.
    pub fn certs_dir_of(&self, registry: &str) -> PathBuf {
        self.certs_dir.join(registry)
    }

    /// The PEM certificates of `registry`'s certs.d folder (none when it has no folder), each
    /// one PEM block. Read at each client creation: a CA added later counts from the next
    /// daemon start, or the next registry the daemon has not talked to yet.
    pub fn extra_roots(&self, registry: &str) -> Result<Vec<Vec<u8>>, RegistryError> {
        let dir = self.certs_dir_of(registry);
        let certificates_error = |message: String| RegistryError::Certificates {
            registry: registry.to_string(),
            message,
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(certificates_error(format!("{}: {err}", dir.display()))),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "crt"))
            .collect();
        files.sort();
        let mut roots = Vec::new();
        for file in files {
            let text = std::fs::read(&file)
                .map_err(|err| certificates_error(format!("{}: {err}", file.display())))?;
            let blocks = pem_blocks(&text);
            if blocks.is_empty() {
                return Err(certificates_error(format!(
                    "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
                    file.display()
                )));
            }
            for block in blocks {
                reqwest::Certificate::from_pem(&block).map_err(|err| {
                    certificates_error(format!("{}: not a certificate: {err}", file.display()))
                })?;
                roots.push(block);
            }
        }
        Ok(roots)
    }
}

/// Whether `host` (no port) is this machine's loopback: `localhost`, `127.0.0.0/8`, `::1`.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` → (`host`, port). A bracketed IPv6 host keeps its brackets.
pub fn split_port(registry: &str) -> (&str, Option<&str>) {
    if registry.starts_with('[') {
        return match registry.find("]:") {
            Some(end) => (&registry[..=end], Some(&registry[end + 2..])),
            None => (registry, None),
        };
    }
    match registry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (registry, None),
    }
}

fn strip_scheme(entry: &str) -> &str {
    entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .unwrap_or(entry)
}

/// The `-----BEGIN CERTIFICATE-----` … `-----END CERTIFICATE-----` blocks of a PEM file.
fn pem_blocks(text: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(text);
    let mut blocks = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        let mut block = rest.as_bytes()[start..end].to_vec();
        block.push(b'\n');
        blocks.push(block);
        rest = &rest[end..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(insecure: &[&str]) -> RegistrySettings {
        RegistrySettings {
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            ..RegistrySettings::default()
        }
    }

    #[test]
    fn loopback_registries_are_always_insecure() {
        let none = settings(&[]);
        for registry in [
            "localhost",
            "localhost:5000",
            "LOCALHOST:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(none.is_insecure(registry), "{registry}");
        }
        for registry in ["docker.io", "10.0.0.1:5000", "localhost.example.com:5000"] {
            assert!(!none.is_insecure(registry), "{registry}");
        }
    }

    #[test]
    fn insecure_entries_match_host_port_host_and_cidr() {
        let list = settings(&[
            "myreg:5000",
            "other.example",
            "10.1.0.0/16",
            "http://web:80/",
        ]);
        assert!(list.is_insecure("myreg:5000"));
        assert!(!list.is_insecure("myreg:5001"));
        assert!(!list.is_insecure("myreg"));
        assert!(list.is_insecure("other.example"));
        assert!(list.is_insecure("other.example:8443"));
        assert!(list.is_insecure("10.1.2.3:5000"));
        assert!(!list.is_insecure("10.2.0.1:5000"));
        assert!(list.is_insecure("web:80"));
    }

    #[test]
    fn ports_are_split_from_hosts() {
        assert_eq!(split_port("reg:5000"), ("reg", Some("5000")));
        assert_eq!(split_port("reg"), ("reg", None));
        assert_eq!(split_port("[::1]:5000"), ("[::1]", Some("5000")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
    }

    #[test]
    fn certs_d_files_are_read_per_registry() {
        let dir = tempfile::tempdir().unwrap();
        let settings = RegistrySettings {
            certs_dir: dir.path().to_path_buf(),
            ..RegistrySettings::default()
        };
        assert!(settings.extra_roots("reg:5000").unwrap().is_empty());
        let reg = dir.path().join("reg:5000");
        std::fs::create_dir(&reg).unwrap();
        std::fs::write(reg.join("client.cert"), "ignored").unwrap();
        assert!(settings.extra_roots("reg:5000").unwrap().is_empty());
        std::fs::write(reg.join("ca.crt"), "not pem").unwrap();
        let err = settings.extra_roots("reg:5000").unwrap_err();
        assert!(
            matches!(&err, RegistryError::Certificates { message, .. } if message.contains("ca.crt")),
            "{err:?}"
        );
    }

    #[test]
    fn pem_files_are_split_into_certificates() {
        let text = b"junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                     -----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 2);
        assert!(String::from_utf8_lossy(&blocks[1]).contains("BBBB"));
    }
}
