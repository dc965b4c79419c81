//! Networking of a test daemon: its own default bridge, subnet and nftables table (so that
//! parallel test daemons never share `conti0`), helpers that look at interfaces and rules on the
//! host, and the cleanup of all of them.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::run_command;

/// A test daemon's networking names, unique per daemon.
#[derive(Debug, Clone)]
pub struct TestNetworking {
    /// `--bridge`: `ctt` and 8 hex digits.
    pub bridge: String,
    /// `--default-subnet`: a /24 in 10.100.0.0-10.249.255.0 no route of the host covers.
    pub subnet: String,
    /// `--firewall-table`.
    pub table: String,
}

impl TestNetworking {
    pub fn unique() -> TestNetworking {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        TestNetworking {
            bridge: format!("ctt{}", &hex[..8]),
            subnet: unique_subnet(),
            table: format!("conti_t{}", &hex[..8]),
        }
    }

    /// The contid flags that set them.
    pub fn args(&self) -> Vec<String> {
        [
            "--bridge",
            &self.bridge,
            "--default-subnet",
            &self.subnet,
            "--firewall-table",
            &self.table,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Removes the default bridge, the bridges of the daemon's user networks (read from
    /// `<root>/networks`), and the tables (`ip` and `bridge`); returns what could not be
    /// removed.
    pub fn remove_all(&self, root: &Path) -> Vec<String> {
        let mut leftovers = Vec::new();
        let mut bridges = vec![self.bridge.clone()];
        bridges.extend(user_network_bridges(root));
        for bridge in bridges {
            if interface_exists(&bridge)
                && !run_quiet(Command::new("ip").args(["link", "del", &bridge]))
            {
                leftovers.push(format!("bridge {bridge}"));
            }
        }
        for family in ["ip", "bridge"] {
            if table_family_exists(family, &self.table)
                && !run_quiet(Command::new("nft").args(["delete", "table", family, &self.table]))
            {
                leftovers.push(format!("nftables table {family} {}", self.table));
            }
        }
        leftovers
    }
}

fn user_network_bridges(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("networks")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .filter_map(|network| Some(network.get("bridge")?.as_str()?.to_string()))
        .collect()
}

fn run_quiet(command: &mut Command) -> bool {
    run_command(command, Duration::from_secs(10))
        .status
        .success()
}

/// A random /24 in 10.100-249.x.0 that overlaps no route of the host (other test daemons'
/// bridges included).
pub fn unique_subnet() -> String {
    unique_subnet_of(24)
}

/// A random subnet with `prefix_len` (16-24) in 10.100.0.0-10.249.255.255 that no route of the
/// host covers or falls into.
pub fn unique_subnet_of(prefix_len: u8) -> String {
    assert!((16..=24).contains(&prefix_len), "prefix {prefix_len}");
    let mask = u32::MAX << (32 - prefix_len);
    let routes = ipv4_routes();
    loop {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let candidate = Ipv4Addr::new(10, 100 + bytes[0] % 150, bytes[1], 0);
        let network = u32::from(candidate) & mask;
        let taken = routes.iter().any(|&(destination, route_mask)| {
            let overlap_mask = route_mask & mask;
            destination & overlap_mask == network & overlap_mask
        });
        if !taken {
            return format!("{}/{prefix_len}", Ipv4Addr::from(network));
        }
    }
}

/// `(destination, mask)` of every IPv4 route except the default, host byte order.
fn ipv4_routes() -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // /proc/net/route prints the kernel's network byte order as a native integer.
            Some((
                u32::from_be(destination.to_le()),
                u32::from_be(mask.to_le()),
            ))
        })
        .filter(|&(_, mask)| mask != 0)
        .collect()
}

pub fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The interfaces plugged into a bridge on the host.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Host interfaces whose name starts with `vc` (the host ends of Conti's veth pairs).
pub fn host_veths() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("vc"))
                .collect()
        })
        .unwrap_or_default()
}

/// Without `nft` installed there is none: contid makes its tables through `nft`.
pub fn table_exists(table: &str) -> bool {
    table_family_exists("ip", table)
}

pub fn table_family_exists(family: &str, table: &str) -> bool {
    nft_installed() && run_quiet(Command::new("nft").args(["list", "table", family, table]))
}

fn nft_installed() -> bool {
    Command::new("nft")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// `nft list table ip <table>`, empty when there is none.
pub fn table_text(table: &str) -> String {
    table_family_text("ip", table)
}

/// `nft list table <family> <table>`, empty when there is none.
pub fn table_family_text(family: &str, table: &str) -> String {
    let output = run_command(
        Command::new("nft").args(["list", "table", family, table]),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The host's end of a container's veth pair: `vc` and the first 12 hex digits of its id.
pub fn host_interface(id: &str) -> String {
    let digits: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("vc{digits}")
}

/// `nft list ruleset` in the network namespace of `pid`.
pub fn ruleset_in_namespace_of(pid: i32) -> String {
    let output = run_command(
        Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .args(["nft", "list", "ruleset"]),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "nsenter nft: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `(name, rest of the line)` of each interface in `ip link` output (`N: name: <FLAGS> ...`,
/// `name@ifX` for veths).
pub fn interfaces(ip_link: &str) -> Vec<(String, String)> {
    ip_link
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let mut fields = l.splitn(3, ": ");
            fields.next()?.trim().parse::<u32>().ok()?;
            let name = fields.next()?.split('@').next()?.to_string();
            Some((name, fields.next().unwrap_or_default().to_string()))
        })
        .collect()
}

/// `127.0.0.1:host_port` → the container's port 80, over TCP.
pub fn loopback_to_80(host_port: u16) -> conti_proto::PortBinding {
    conti_proto::PortBinding {
        host_ip: "127.0.0.1".into(),
        host_port,
        container_port: 80,
        protocol: Default::default(),
    }
}

/// A TCP port on 127.0.0.1 nothing listens on right now.
pub fn free_loopback_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
