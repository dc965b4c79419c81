//! The container's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`: written by the monitor
//! into the state folder, bind-mounted over the image's files by the init (see `rootfs`). Other
//! containers' names are not in `/etc/hosts`: the network's resolver answers them (see `dns`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::runtime::{ContainerLaunch, NetworkSetup};

/// One line the create adds to the container's `/etc/hosts` (`--add-host NAME:ADDRESS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub name: String,
    pub address: IpAddr,
}

/// File names, the same in the state folder and in the container's `/etc`.
pub(crate) const ETC_FILES: [&str; 3] = [HOSTNAME_FILE, HOSTS_FILE, RESOLV_CONF_FILE];
const HOSTNAME_FILE: &str = "hostname";
const HOSTS_FILE: &str = "hosts";
const RESOLV_CONF_FILE: &str = "resolv.conf";

/// Gives an image's root filesystem the three files, empty, where it lacks them (and `/etc`
/// where it lacks that), as mount points: a container then mounts over the image's files and
/// creates nothing in its own layer (otherwise a copy-up of `/etc` and three new files per
/// container; Docker's init layer does the same). Whatever the image has there is kept. The
/// image is untrusted: nothing is followed through a symlink.
pub fn add_mount_points(image_rootfs: &Path) -> std::io::Result<()> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let root = nix::fcntl::open(
        image_rootfs,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    match nix::sys::stat::mkdirat(&root, "etc", Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(errno) => return Err(errno.into()),
    }
    let etc = match openat(
        &root,
        "etc",
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(etc) => etc,
        // A symlink or a file: the container's start says what is wrong with it.
        Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR) => return Ok(()),
        Err(errno) => return Err(errno.into()),
    };
    for name in ETC_FILES {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
        match openat(
            &etc,
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(_) | Err(nix::errno::Errno::EEXIST) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

/// Writes the three files into `launch.state_dir`: `/etc/hosts` from the host's with network
/// `host`, else its own; `resolv.conf` as the engine made it.
pub(crate) fn write_etc_files(launch: &ContainerLaunch) -> std::io::Result<()> {
    let hosts = match &launch.network {
        NetworkSetup::Host => match std::fs::read_to_string("/etc/hosts") {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            other => other,
        }?,
        NetworkSetup::Isolated | NetworkSetup::Joined { .. } => {
            container_hosts(&launch.hostname, None)
        }
        NetworkSetup::Bridge(endpoint) => container_hosts(&launch.hostname, Some(endpoint.address)),
    } + &extra_lines(&launch.extra_hosts);
    let dir = &launch.state_dir;
    write(dir, HOSTNAME_FILE, &format!("{}\n", launch.hostname))?;
    write(dir, HOSTS_FILE, &hosts)?;
    write(dir, RESOLV_CONF_FILE, &launch.resolv_conf)
}

fn write(dir: &Path, name: &str, contents: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(name), contents)
}

/// `/etc/hosts` of a container in a network namespace of its own: localhost and its hostname
/// (on its own address when it has one).
fn container_hosts(hostname: &str, address: Option<Ipv4Addr>) -> String {
    let own = address.map_or_else(|| "127.0.1.1".to_string(), |a| a.to_string());
    format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n")
}

/// `ADDRESS\tNAME` a line, after the container's own lines (as Docker's `--add-host`).
fn extra_lines(entries: &[HostEntry]) -> String {
    entries
        .iter()
        .map(|entry| format!("{}\t{}\n", entry.address, entry.name))
        .collect()
}

/// The container's own address, as its start wrote it into its `/etc/hosts` (the line after the
/// two localhost ones, see [`container_hosts`]); `None` without a file or without an address of
/// its own on a network. For a container whose own record is lost.
pub fn own_address(state_dir: &Path) -> Option<Ipv4Addr> {
    let hosts = std::fs::read_to_string(state_dir.join(HOSTS_FILE)).ok()?;
    let own: Ipv4Addr = hosts.lines().nth(2)?.split('\t').next()?.parse().ok()?;
    (!own.is_loopback()).then_some(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_the_container() {
        assert_eq!(
            container_hosts("web", None),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tweb\n"
        );
        assert!(
            container_hosts("web", Some(Ipv4Addr::new(10, 1, 0, 2))).ends_with("\n10.1.0.2\tweb\n")
        );
    }

    #[test]
    fn files_are_written_to_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let launch = ContainerLaunch {
            hostname: "c1host".into(),
            resolv_conf: "nameserver 10.1.0.1\n".into(),
            extra_hosts: vec![HostEntry {
                name: "db.local".into(),
                address: "fd00::5".parse().unwrap(),
            }],
            ..ContainerLaunch::for_tests("c1", dir.path(), &["true"])
        };
        write_etc_files(&launch).unwrap();
        assert!(
            std::fs::read_to_string(dir.path().join("hosts"))
                .unwrap()
                .ends_with("127.0.1.1\tc1host\nfd00::5\tdb.local\n")
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("hostname")).unwrap(),
            "c1host\n"
        );
        assert!(
            std::fs::read_to_string(dir.path().join("hosts"))
                .unwrap()
                .contains("127.0.1.1\tc1host")
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("resolv.conf")).unwrap(),
            "nameserver 10.1.0.1\n"
        );
    }

    #[test]
    fn the_own_address_is_read_back_from_the_hosts_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(own_address(dir.path()), None);
        let address = Ipv4Addr::new(10, 1, 0, 2);
        std::fs::write(
            dir.path().join(HOSTS_FILE),
            container_hosts("web", Some(address)),
        )
        .unwrap();
        assert_eq!(own_address(dir.path()), Some(address));
        std::fs::write(dir.path().join(HOSTS_FILE), container_hosts("web", None)).unwrap();
        assert_eq!(own_address(dir.path()), None);
    }
}
