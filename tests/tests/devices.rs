//! The device allow-list (issue 6), seen from inside containers: `/dev` holds only the listed
//! nodes, and the kernel refuses every other device, to make and to open, although a default
//! container has CAP_MKNOD and CAP_DAC_OVERRIDE: the devices controller does on cgroup v1 and
//! hybrid hosts, a BPF device program on a cgroup v2 host. A privileged container may use any
//! device. The cgroup v2 VM test (`cgroup_v2_vm.rs`) runs this file on both layouts.

use std::fs;

use conti_tests::{ContainerSpec, Daemon, DaemonInfo, NetworkMode, VolumeSpec};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

/// What a container sees of the node `/nodes/disk` (b 8:0, made by the test on the host and
/// mounted in with its folder), then of its own `mknod`s.
const SCRIPT: &str = "(exec 3</nodes/disk && echo disk-opened) 2>&1; \
     mknod /tmp/sda b 8 0 2>&1 && echo sda-made; \
     mknod /tmp/mem c 1 1 2>&1 && echo mem-made; \
     mknod /tmp/null c 1 3 && echo x >/tmp/null && echo null-ok";

/// `sh -c script` with network `none`: the cgroup v2 VM has no bridge or nftables.
fn sh(script: &str) -> ContainerSpec {
    ContainerSpec {
        network: NetworkMode::None,
        ..conti_tests::sh(script)
    }
}

fn with_nodes(d: &Daemon, mut spec: ContainerSpec) -> ContainerSpec {
    spec.volumes = vec![VolumeSpec {
        source: d.dir().join("nodes").display().to_string(),
        target: "/nodes".into(),
        read_only: false,
    }];
    spec
}

#[test]
fn only_the_allow_list_can_be_made_or_opened_unless_privileged() {
    let d = Daemon::start_with_busybox();
    let layout = d.get("/v1/info").json::<DaemonInfo>().cgroup_layout;
    let nodes = d.dir().join("nodes");
    fs::create_dir_all(&nodes).unwrap();
    // The first SCSI disk's numbers: the device a container must not reach. No test machine has
    // one, so the open fails there anyway, but with ENXIO, after the device check.
    let mode = Mode::from_bits_truncate(0o666);
    mknod(&nodes.join("disk"), SFlag::S_IFBLK, mode, makedev(8, 0)).unwrap();

    let listing = sh("ls /dev");
    let (_, code, logs) = d.run(&listing);
    assert_eq!(code, 0, "{logs}");
    let mut names: Vec<&str> = logs.split_whitespace().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ],
        "{logs}"
    );

    let (_, code, logs) = d.run(&with_nodes(&d, sh(SCRIPT)));
    assert_eq!(code, 0, "{logs}");
    let refused = [
        "can't open /nodes/disk: Operation not permitted",
        "mknod: /tmp/sda: Operation not permitted",
        "mknod: /tmp/mem: Operation not permitted",
    ];
    for line in refused {
        assert!(logs.contains(line), "{layout}: no {line:?} in {logs}");
    }
    assert!(logs.ends_with("null-ok\n"), "{layout}: {logs}");

    // Privileged: the same requests pass the device check (the disk does not exist: ENXIO).
    let mut privileged = with_nodes(&d, sh(SCRIPT));
    privileged.security.privileged = true;
    let (_, code, logs) = d.run(&privileged);
    assert_eq!(code, 0, "{logs}");
    assert!(!logs.contains("Operation not permitted"), "{logs}");
    assert!(
        logs.contains("disk-opened") || logs.contains("No such device or address"),
        "{logs}"
    );
    assert!(logs.contains("sda-made\nmem-made\nnull-ok\n"), "{logs}");
    eprintln!("device allow-list held on the {layout} cgroup layout");
}
