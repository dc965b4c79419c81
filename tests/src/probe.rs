//! `busybox-probe`: the busybox image plus `/bin/syscall-probe` (`tests/probe/syscall-probe.c`
//! and the `raw-network.c` it includes, built static with gcc), for system calls busybox has no
//! applet for (`keyctl`, `open_by_handle_at`, crafted frames...). Built once per test process,
//! cached like the busybox tar.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use conti_proto::ContainerSpec;

use crate::daemon::Daemon;
use crate::rootfs::{busybox_tar, tar_as_root};
use crate::util::run_command;

/// Name under which [`import_probe_image`] imports it.
pub const PROBE_IMAGE: &str = "busybox-probe";

/// The probe's sources, by file name.
const SOURCES: [(&str, &str); 2] = [
    ("syscall-probe.c", include_str!("../probe/syscall-probe.c")),
    ("raw-network.c", include_str!("../probe/raw-network.c")),
];

/// Imports the busybox image with the probe as [`PROBE_IMAGE`].
pub fn import_probe_image(daemon: &Daemon) {
    let tar = fs::read(probe_tar()).expect("reading the probe image tar");
    daemon
        .client()
        .post_bytes(
            &format!("/v1/images/import?name={PROBE_IMAGE}"),
            "application/x-tar",
            &tar,
        )
        .expect_status(201);
}

/// A create spec running `sh -c script` in [`PROBE_IMAGE`].
pub fn probe_sh(script: &str) -> ContainerSpec {
    ContainerSpec {
        image: PROBE_IMAGE.into(),
        ..crate::sh(script)
    }
}

fn probe_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(build_probe_tar)
}

fn build_probe_tar() -> PathBuf {
    let busybox = busybox_tar();
    let cache = busybox.parent().expect("the busybox tar is in a folder");
    let tar = cache.join(format!(
        "busybox-probe-{:016x}-{}.tar",
        sources_hash(),
        busybox.file_name().unwrap().to_string_lossy()
    ));
    if tar.exists() {
        return tar;
    }
    let build = cache.join(format!(
        "probe-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    fs::create_dir_all(build.join("bin")).expect("creating the probe build folder");
    for (name, text) in SOURCES {
        fs::write(build.join(name), text).expect("writing the probe's sources");
    }
    let source = build.join(SOURCES[0].0);
    let gcc = run_command(
        Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(build.join("bin/syscall-probe"))
            .arg(&source),
        Duration::from_secs(60),
    );
    assert!(
        gcc.status.success(),
        "gcc -static failed (install gcc and libc6-dev): {}",
        String::from_utf8_lossy(&gcc.stderr)
    );
    let partial = build.join("probe.tar");
    fs::copy(busybox, &partial).expect("copying the busybox tar");
    tar_as_root(&build, "-rf", &partial, "bin/syscall-probe");
    fs::rename(&partial, &tar).expect("moving the probe tar into the cache");
    let _ = fs::remove_dir_all(&build);
    tar
}

/// FNV-1a of the sources: a changed probe gets a new tar.
fn sources_hash() -> u64 {
    SOURCES
        .iter()
        .flat_map(|(name, text)| name.bytes().chain(text.bytes()))
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}
