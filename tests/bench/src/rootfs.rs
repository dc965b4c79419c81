//! The busybox root filesystem both sides run: Debian's static `/bin/busybox`, one symlink per
//! applet, and the folders a container needs.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BUSYBOX: &str = "/bin/busybox";

/// Builds `<dir>/rootfs` and returns its path.
pub fn build(dir: &Path) -> Result<PathBuf, String> {
    let busybox = Path::new(BUSYBOX);
    if !busybox.is_file() {
        return Err(format!(
            "{BUSYBOX} is missing: apt-get install -y busybox-static"
        ));
    }
    if !is_static_elf(busybox) {
        return Err(format!(
            "{BUSYBOX} is dynamically linked (Debian's `busybox`): install `busybox-static`"
        ));
    }
    let rootfs = dir.join("rootfs");
    for folder in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(rootfs.join(folder))
            .map_err(|e| format!("creating rootfs/{folder}: {e}"))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("chmod rootfs/tmp: {e}"))?;
    fs::copy(busybox, rootfs.join("bin/busybox")).map_err(|e| format!("copying {BUSYBOX}: {e}"))?;
    let list = Command::new(busybox)
        .arg("--list")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{BUSYBOX} --list: {e}"))?;
    if !list.status.success() {
        return Err(format!("{BUSYBOX} --list failed: {}", list.status));
    }
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", rootfs.join("bin").join(applet))
            .map_err(|e| format!("symlink bin/{applet}: {e}"))?;
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .and_then(|()| fs::write(rootfs.join("etc/group"), "root:x:0:\n"))
        .map_err(|e| format!("writing rootfs/etc: {e}"))?;
    Ok(rootfs)
}

/// Packs `rootfs` into an uncompressed tar owned by root, as `images/import` takes it.
pub fn pack(rootfs: &Path, tar: &Path) -> Result<(), String> {
    let output = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(rootfs)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running tar: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tar failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A copy of `rootfs` at `dest`, symlinks kept as symlinks.
pub fn copy(rootfs: &Path, dest: &Path) -> Result<(), String> {
    let output = Command::new("cp")
        .arg("-a")
        .arg(rootfs)
        .arg(dest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running cp: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cp -a failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// True when the 64-bit little-endian ELF file has no program interpreter (needs no libc).
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    let read = |offset: usize, len: usize| -> Option<u64> {
        let slice = bytes.get(offset..offset + len)?;
        Some(
            slice
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    };
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (read(0x20, 8), read(0x36, 2), read(0x38, 2))
    else {
        return false;
    };
    const PT_INTERP: u64 = 3;
    (0..phnum).all(|i| read((phoff + i * phentsize) as usize, 4) != Some(PT_INTERP))
}
