//! One layer of settings: the flags, or the configuration file. Both are this one struct (clap
//! reads it from the command line, serde from the file), so that every flag has its key (the
//! flag's name: `--log-max-bytes` is `log-max-bytes`), parsed and checked alike. A setting a
//! layer does not give is `None`; `[default: ...]` in the help is what applies when no layer
//! gives it (see `Settings::default`).

use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use serde::Deserialize;

use super::values::{CgroupParent, FirewallTable, InterfaceName, LogFilter, LogMaxFiles, parsed};
use crate::runtime::confinement::sealed_exe::SealMethod;

#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SettingsLayer {
    /// Unix socket to serve the API on, unless systemd passes one (socket activation).
    /// [default: /var/run/conti.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// State folder: images, containers, logs. [default: /var/lib/conti]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// error, warn, info, debug or trace (or a tracing filter). [default: info]
    #[arg(long, value_name = "FILTER")]
    #[serde(default, deserialize_with = "parsed")]
    pub log_level: Option<LogFilter>,
    /// Cgroup under which each container gets its own, in every hierarchy. [default: conti]
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "parsed")]
    pub cgroup_parent: Option<CgroupParent>,
    /// Rotate a container's log file beyond this many bytes. [default: 10485760]
    #[arg(long, value_name = "BYTES")]
    pub log_max_bytes: Option<u64>,
    /// Files a container's log keeps, the live one included, 1 to 100 (a container's create
    /// may say otherwise). [default: 2]
    #[arg(long, value_name = "N")]
    pub log_max_files: Option<LogMaxFiles>,
    /// Bridge interface of the default network (`bridge`), created when a container first needs
    /// it. [default: conti0]
    #[arg(long, value_name = "NAME")]
    #[serde(default, deserialize_with = "parsed")]
    pub bridge: Option<InterfaceName>,
    /// Subnet of the default network; the bridge gets its first address.
    /// [default: 10.88.0.0/16]
    #[arg(long, value_name = "CIDR")]
    pub default_subnet: Option<ipnet::Ipv4Net>,
    /// Gateway of the default network (the bridge's address); default: the subnet's first
    /// address.
    #[arg(long, value_name = "ADDRESS")]
    pub default_gateway: Option<Ipv4Addr>,
    /// Conti's own nftables table (family `ip`): NAT, isolation and published ports.
    /// [default: conti]
    #[arg(long, value_name = "NAME")]
    #[serde(default, deserialize_with = "parsed")]
    pub firewall_table: Option<FirewallTable>,
    /// Resolver configuration of the host: the nameservers the networks' resolvers forward to,
    /// and the search domains and options of containers' `/etc/resolv.conf`. Read again when
    /// it changes. [default: /etc/resolv.conf]
    #[arg(long, value_name = "FILE")]
    pub resolv_conf: Option<PathBuf>,
    /// Per-registry CA certificates, Docker's `certs.d` layout: `<DIR>/<host[:port]>/*.crt`.
    /// [default: /etc/conti/certs.d]
    #[arg(long, value_name = "DIR")]
    pub registry_certs_dir: Option<PathBuf>,
    /// A registry (`host[:port]`, `host` or a CIDR) that may be spoken to over plain HTTP or
    /// with an unverified certificate; loopback registries always may. Repeatable; in the file,
    /// `insecure-registries = [...]`. The flags replace the file's list.
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub insecure_registries: Option<Vec<String>>,
    /// Group whose members may use the socket besides root (default: `conti` when that group
    /// exists, else root only). Membership is root-equivalent.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Let volumes bind the host's `/` into containers (refused otherwise); `=false` undoes the
    /// file's `true`. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub allow_root_bind: Option<bool>,
    /// User whose ranges in `/etc/subuid` and `/etc/subgid` `--userns` containers run in (the
    /// first of at least 65536 ids, shared by all of them); without it `--userns` is refused.
    #[arg(long, value_name = "USER")]
    pub userns_remap: Option<String>,
    /// Show the image to `--userns` containers through a copy with shifted owners (made once per
    /// image) even where the kernel has idmapped mounts; needs `userns-remap`. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub userns_no_idmap: Option<bool>,
    /// Connections served at once; over it, the one waiting longest for a request is closed, or
    /// when all serve one, the newcomer is answered 503. [default: 512]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<NonZeroU32>,
    /// How contid makes the sealed copy of its binary it re-executes itself from at start-up
    /// (CVE-2019-5736): auto (overlayfs, else memfd), overlayfs or memfd. [default: auto]
    #[arg(long, value_name = "METHOD")]
    #[serde(default, deserialize_with = "parsed")]
    pub exe_seal: Option<SealMethod>,
}

impl SettingsLayer {
    /// This layer, with what it does not give taken from `lower`.
    pub fn over(self, lower: SettingsLayer) -> SettingsLayer {
        SettingsLayer {
            socket: self.socket.or(lower.socket),
            root: self.root.or(lower.root),
            log_level: self.log_level.or(lower.log_level),
            cgroup_parent: self.cgroup_parent.or(lower.cgroup_parent),
            log_max_bytes: self.log_max_bytes.or(lower.log_max_bytes),
            log_max_files: self.log_max_files.or(lower.log_max_files),
            bridge: self.bridge.or(lower.bridge),
            default_subnet: self.default_subnet.or(lower.default_subnet),
            default_gateway: self.default_gateway.or(lower.default_gateway),
            firewall_table: self.firewall_table.or(lower.firewall_table),
            resolv_conf: self.resolv_conf.or(lower.resolv_conf),
            registry_certs_dir: self.registry_certs_dir.or(lower.registry_certs_dir),
            insecure_registries: self.insecure_registries.or(lower.insecure_registries),
            group: self.group.or(lower.group),
            allow_root_bind: self.allow_root_bind.or(lower.allow_root_bind),
            userns_remap: self.userns_remap.or(lower.userns_remap),
            userns_no_idmap: self.userns_no_idmap.or(lower.userns_no_idmap),
            max_connections: self.max_connections.or(lower.max_connections),
            exe_seal: self.exe_seal.or(lower.exe_seal),
        }
    }
}
