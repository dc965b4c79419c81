//! A busybox root filesystem built from Debian's `busybox-static`, packed as a tar once per
//! test process and cached between processes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::util::run_command;

/// Where Debian's `busybox-static` installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Path of a tar of the busybox root filesystem: `bin/busybox` with one symlink per applet,
/// `etc/{passwd,group}`, and the folders a container needs.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(build_busybox_tar)
}

fn build_busybox_tar() -> PathBuf {
    let busybox = Path::new(BUSYBOX);
    let meta = fs::metadata(busybox).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e}; install it with `apt-get install -y busybox-static`")
    });
    assert!(
        is_static_elf(busybox),
        "{BUSYBOX} is dynamically linked (Debian's `busybox` package): a container has no libc, \
         install `busybox-static` instead"
    );
    let cache = PathBuf::from(format!("/tmp/conti-test-rootfs-{}", nix::unistd::getuid()));
    fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("creating {}: {e}", cache.display()));
    // Named after the binary, so that an upgraded busybox gets a new tar.
    let tar = cache.join(format!("busybox-{}-{}.tar", meta.len(), meta.mtime()));
    if tar.exists() {
        return tar;
    }

    // Built under a private name, then renamed: concurrent test processes never see half a tar.
    let build = cache.join(format!(
        "build-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let rootfs = build.join("rootfs");
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "mnt",
        "var", "run",
    ] {
        fs::create_dir_all(rootfs.join(dir)).expect("creating rootfs folders");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy(busybox, rootfs.join("bin/busybox")).expect("copying busybox");
    let list = run_command(Command::new(busybox).arg("--list"), Duration::from_secs(10));
    assert!(list.status.success(), "busybox --list failed");
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", rootfs.join("bin").join(applet)).expect("applet symlink");
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("writing etc/passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .expect("writing etc/group");

    let partial = build.join("busybox.tar");
    tar_as_root(&rootfs, "-cf", &partial, ".");
    fs::rename(&partial, &tar).expect("moving the tar into the cache");
    let _ = fs::remove_dir_all(&build);
    tar
}

/// `tar MODE ARCHIVE MEMBER` in `dir`, every file owned by root: `-cf` creates, `-rf` appends.
pub(crate) fn tar_as_root(dir: &Path, mode: &str, archive: &Path, member: &str) {
    let out = run_command(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(dir)
            .arg(mode)
            .arg(archive)
            .arg(member),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "tar {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True when the ELF file has no program interpreter (`PT_INTERP`), i.e. it needs no libc.
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    // 64-bit little-endian ELF only: that is what runs here.
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| u32_at(phoff + i * phentsize) != Some(PT_INTERP))
}
