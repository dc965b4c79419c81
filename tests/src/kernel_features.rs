//! Optional kernel features, detected the way contid decides on them, so that a test can assert
//! what this host must do either way: a limit enforced and readable back from the cgroup, or
//! refused with `unsupported_limit`.
//!
//! Hosts of the project's kind differ in what they offer: the disk scheduler decides whether a
//! blkio weight exists (BFQ's `blkio.bfq.weight`/`io.bfq.weight`, CFQ's `blkio.weight` before
//! Linux 5.0, iocost's `io.weight` on cgroup v2; `mq-deadline` alone has none), the kernel's
//! swap accounting whether memory plus swap can be limited (`memory.memsw.*`, `memory.swap.max`),
//! the kernel and the filesystem whether an image can be mounted idmapped for `--userns`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::daemon::Daemon;
use crate::host;

/// A limit that only some hosts of the project's kind can enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionalLimit {
    /// `blkio_weight` (`--blkio-weight`).
    BlkioWeight,
    /// `memory_swap` (`--memory-swap`).
    MemorySwap,
}

impl OptionalLimit {
    /// Its name in the API's `resources`, which contid's `unsupported_limit` message names too.
    pub fn name(self) -> &'static str {
        match self {
            OptionalLimit::BlkioWeight => "blkio_weight",
            OptionalLimit::MemorySwap => "memory_swap",
        }
    }

    /// The v1 controller and the files contid writes, in the order it looks for them.
    fn v1(self) -> (&'static str, &'static [&'static str]) {
        match self {
            OptionalLimit::BlkioWeight => ("blkio", &["blkio.weight", "blkio.bfq.weight"]),
            OptionalLimit::MemorySwap => ("memory", &["memory.memsw.limit_in_bytes"]),
        }
    }

    /// The same on cgroup v2.
    fn v2(self) -> (&'static str, &'static [&'static str]) {
        match self {
            OptionalLimit::BlkioWeight => ("io", &["io.bfq.weight", "io.weight"]),
            OptionalLimit::MemorySwap => ("memory", &["memory.swap.max"]),
        }
    }

    /// Where the containers of `d` hold this limit, or `None` where contid must refuse it.
    ///
    /// Looked for as contid looks: in the cgroup layout it reports, the hierarchy that carries
    /// the controller (v1), or the cgroup2 tree with the controller available at its root and
    /// enabled below it (v2, as contid enables it), then the first of the files that a cgroup
    /// there has. The daemon's cgroup parent serves as that cgroup (the files of the kernel's
    /// controllers are the same in every non-root cgroup); `Daemon` removes it at the end.
    pub fn file(self, d: &Daemon) -> Option<LimitFile> {
        let layout = d
            .get("/v1/info")
            .json::<conti_proto::DaemonInfo>()
            .cgroup_layout;
        let (mount, files) = match layout.as_str() {
            "v2" => {
                let (controller, files) = self.v2();
                let mount = cgroup2_mount()?;
                let available = fs::read_to_string(mount.join("cgroup.controllers")).ok()?;
                if !available.split_whitespace().any(|c| c == controller) {
                    return None;
                }
                fs::write(
                    mount.join("cgroup.subtree_control"),
                    format!("+{controller}"),
                )
                .unwrap_or_else(|e| panic!("enabling {controller} in {}: {e}", mount.display()));
                (mount, files)
            }
            "v1" | "hybrid" => {
                let (controller, files) = self.v1();
                (v1_mount_of(controller)?, files)
            }
            _ => return None,
        };
        let parent = mount.join(d.cgroup_parent());
        fs::create_dir_all(&parent)
            .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        let file = files.iter().find(|file| parent.join(file).exists())?;
        Some(LimitFile { parent, file })
    }
}

/// The file of a container's cgroup that holds an [`OptionalLimit`] on this host.
#[derive(Debug, Clone)]
pub struct LimitFile {
    /// The daemon's cgroup parent in the hierarchy that holds it.
    parent: PathBuf,
    pub file: &'static str,
}

impl LimitFile {
    /// The file's value in container `id`'s cgroup, trimmed.
    pub fn read(&self, id: &str) -> String {
        let path = self.parent.join(id).join(self.file);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .trim()
            .to_string()
    }
}

/// Where the cgroup2 tree is mounted.
fn cgroup2_mount() -> Option<PathBuf> {
    host::cgroup_hierarchies()
        .into_iter()
        .find(|mount| mount.fstype == "cgroup2")
        .map(|mount| mount.point)
}

/// Where the v1 hierarchy that carries `controller` is mounted.
fn v1_mount_of(controller: &str) -> Option<PathBuf> {
    host::cgroup_hierarchies()
        .into_iter()
        .find(|mount| {
            mount.fstype == "cgroup" && mount.options.split(',').any(|option| option == controller)
        })
        .map(|mount| mount.point)
}

/// Whether the host has swap on (`SwapTotal` of `/proc/meminfo`): a memory limit alone then lets
/// a container swap out what the limit does not hold, since contid leaves swap unlimited without
/// `memory_swap`.
pub fn host_swaps() -> bool {
    let meminfo = fs::read_to_string("/proc/meminfo").expect("reading /proc/meminfo");
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("SwapTotal:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
        .expect("SwapTotal in /proc/meminfo")
        > 0
}

/// Whether the image folder `rootfs` can be mounted idmapped here, tested as contid tests it
/// before it shows an image to a `--userns` container (else it makes a shifted copy):
/// `mount_setattr(MOUNT_ATTR_IDMAP)` on a detached clone of the folder, through a user namespace
/// with a mapping. It needs Linux 5.12 and a filesystem that supports it (ext4, xfs and btrfs
/// early, tmpfs from 6.3).
pub fn idmapped_mounts_work(rootfs: &Path) -> bool {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;

    use nix::libc;

    // A process in a user namespace of its own, which maps its root to nobody.
    let mut holder = Command::new("sleep");
    holder.arg("60").stdin(Stdio::null());
    // SAFETY: between fork and exec the closure only makes the `unshare` system call, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        holder.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).map_err(io::Error::from)
        });
    }
    let mut holder = holder
        .spawn()
        .expect("starting a process in a user namespace");
    let userns = (|| {
        let proc = PathBuf::from(format!("/proc/{}", holder.id()));
        // Until the unshare is done the process is still in ours: wait for the new namespace.
        let ours = fs::read_link("/proc/self/ns/user")?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while fs::read_link(proc.join("ns/user"))? == ours {
            if Instant::now() > deadline {
                return Err(io::Error::other(
                    "the process never left our user namespace",
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        fs::write(proc.join("uid_map"), "0 65534 1\n")?;
        fs::write(proc.join("gid_map"), "0 65534 1\n")?;
        fs::File::open(proc.join("ns/user"))
    })();
    let _ = holder.kill();
    let _ = holder.wait();
    let userns = userns.expect("a user namespace with a mapping");

    let path = std::ffi::CString::new(rootfs.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)` reads the C string,
    // which lives through the call, and returns a new fd or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            1 | libc::O_CLOEXEC, // OPEN_TREE_CLONE
        )
    };
    if tree < 0 {
        // No new mount API (before Linux 5.2): no idmapped mounts either.
        return false;
    }
    // SAFETY: `tree` is a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    /// `struct mount_attr` (`linux/mount.h`, `MOUNT_ATTR_SIZE_VER0`).
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: 0x0010_0000, // MOUNT_ATTR_IDMAP
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `mount_setattr(tree, "", AT_EMPTY_PATH, &attr, size)` reads `attr` and the empty C
    // string, both alive through the call, and writes nothing.
    let set = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    set == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer `false` is reachable: procfs never takes an idmapping (a folder of the host's
    /// root filesystem, which the image folders are on, may or may not: it depends on the host).
    #[test]
    fn procfs_cannot_be_mounted_idmapped() {
        crate::daemon::require_root();
        assert!(!idmapped_mounts_work(Path::new("/proc")));
    }
}
