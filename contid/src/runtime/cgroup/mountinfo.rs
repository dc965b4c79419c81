//! The cgroup filesystems listed in a `/proc/<pid>/mountinfo`.
//!
//! A line reads `id parent major:minor root mount-point mount-options [optional fields…] -
//! fstype source super-options` (proc(5)); spaces and other odd bytes in paths are written as
//! octal escapes (`\040`).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::V1Hierarchy;

/// Controllers a v1 hierarchy can carry; other super options (`rw`, `clone_children`,
/// `release_agent=…`…) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// Where the usual cgroup2 mounts are, most likely first.
const V2_PREFERRED: &[&str] = &["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct CgroupMounts {
    /// Each writable v1 hierarchy once (a hierarchy mounted twice shows up twice in mountinfo).
    pub(super) v1: Vec<V1Hierarchy>,
    /// The writable cgroup2 mount to use, if any.
    pub(super) v2: Option<PathBuf>,
}

pub(super) fn parse(mountinfo: &str) -> CgroupMounts {
    let mut mounts = CgroupMounts::default();
    let mut v2_mounts = Vec::new();
    for mount in mountinfo.lines().filter_map(parse_line) {
        if mount.read_only {
            continue;
        }
        match mount.fs_type {
            "cgroup" => {
                let controllers: Vec<String> = mount
                    .super_options
                    .split(',')
                    .filter(|option| V1_CONTROLLERS.contains(option) || option.starts_with("name="))
                    .map(str::to_owned)
                    .collect();
                let seen = mounts
                    .v1
                    .iter()
                    .any(|known| same_controllers(&known.controllers, &controllers));
                if !controllers.is_empty() && !seen {
                    mounts.v1.push(V1Hierarchy {
                        mount: mount.mount_point,
                        controllers,
                    });
                }
            }
            "cgroup2" => v2_mounts.push(mount.mount_point),
            _ => {}
        }
    }
    mounts.v2 = V2_PREFERRED
        .iter()
        .find_map(|preferred| {
            v2_mounts
                .iter()
                .find(|mount| mount.as_path() == Path::new(preferred))
        })
        .or(v2_mounts.first())
        .cloned();
    mounts
}

fn same_controllers(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|controller| b.contains(controller))
}

struct MountLine<'a> {
    mount_point: PathBuf,
    read_only: bool,
    fs_type: &'a str,
    super_options: &'a str,
}

fn parse_line(line: &str) -> Option<MountLine<'_>> {
    // Escaping guarantees no field holds a space, so " - " only ever separates the two halves.
    let (mount_half, fs_half) = line.split_once(" - ")?;
    let mut mount_fields = mount_half.split(' ').skip(4);
    let mount_point = unescape(mount_fields.next()?);
    let mount_options = mount_fields.next()?;
    let mut fs_fields = fs_half.split(' ');
    let fs_type = fs_fields.next()?;
    let _source = fs_fields.next()?;
    let super_options = fs_fields.next().unwrap_or("");
    let read_only = mount_options.split(',').any(|option| option == "ro")
        || super_options.split(',').any(|option| option == "ro");
    Some(MountLine {
        mount_point,
        read_only,
        fs_type,
        super_options,
    })
}

/// Undoes the kernel's `\ooo` octal escapes.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
90 22 0:35 / /mnt/pids\\040again rw,relatime - cgroup cgroup rw,pids
";

    #[test]
    fn hybrid_host_lists_each_v1_hierarchy_once_and_the_unified_mount() {
        let mounts = parse(HYBRID);
        let found: Vec<(&str, Vec<&str>)> = mounts
            .v1
            .iter()
            .map(|h| {
                (
                    h.mount.to_str().unwrap(),
                    h.controllers.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("/sys/fs/cgroup/cpu,cpuacct", vec!["cpu", "cpuacct"]),
                ("/sys/fs/cgroup/cpuset", vec!["cpuset"]),
                ("/sys/fs/cgroup/memory", vec!["memory"]),
                ("/sys/fs/cgroup/freezer", vec!["freezer"]),
                ("/sys/fs/cgroup/pids", vec!["pids"]),
                ("/sys/fs/cgroup/systemd", vec!["name=systemd"]),
            ]
        );
        assert_eq!(
            mounts.v2.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn pure_v2_host() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
77 22 0:26 / /mnt/other rw,relatime - cgroup2 none rw
";
        let mounts = parse(text);
        assert!(mounts.v1.is_empty());
        assert_eq!(mounts.v2.as_deref(), Some(Path::new("/sys/fs/cgroup")));
    }

    #[test]
    fn v2_mounted_elsewhere_is_still_found() {
        let mounts = parse("77 22 0:26 / /tmp/my\\040cgroup rw,relatime - cgroup2 none rw\n");
        assert_eq!(mounts.v2.as_deref(), Some(Path::new("/tmp/my cgroup")));
    }

    #[test]
    fn no_cgroups_and_read_only_mounts_are_nothing() {
        assert_eq!(parse(""), CgroupMounts::default());
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
29 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
35 31 0:32 / /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory
garbage
";
        assert_eq!(parse(text), CgroupMounts::default());
    }

    #[test]
    fn unescape_decodes_octal_and_keeps_other_backslashes() {
        assert_eq!(unescape("/a\\040b\\134c\\x"), PathBuf::from("/a b\\c\\x"));
    }
}
