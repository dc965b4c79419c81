//! `--userns` (issue 6): the container's root is an unprivileged host range from `/etc/subuid`
//! and `/etc/subgid`, and the image's files show their owners through an idmapped mount.
//!
//! Each test gives a unique user a range in `/etc/subuid` and `/etc/subgid` only while its
//! daemon starts (the daemon reads them then); the lines go again at once, also on a failure.

use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use conti_tests::kernel_features;
use conti_tests::probe::{import_probe_image, probe_sh};
use conti_tests::util::unique_name;
use conti_tests::{ContainerSpec, Daemon, cli, host, spec};

/// Serialises the edits of `/etc/subuid` and `/etc/subgid` between this file's tests.
static SUBID_FILES: Mutex<()> = Mutex::new(());

/// Ranges far above any id a distribution hands out, yet below 2^31: the highest group
/// `ping_group_range` can name is 2147483647. The last slot ends at 1e9 + 16000 * 65536.
const RANGE_BASE: u32 = 1_000_000_000;

/// Daemons started so far by this process: each gets a range of its own.
static DAEMONS: AtomicU32 = AtomicU32::new(0);

/// Lines added to `/etc/subuid` and `/etc/subgid`, removed on drop (with the files when the
/// test made them).
struct SubIdEntries {
    line: String,
    made: Vec<&'static str>,
}

impl SubIdEntries {
    fn add(user: &str, start: u32) -> SubIdEntries {
        let line = format!("{user}:{start}:65536");
        let mut made = Vec::new();
        for path in ["/etc/subuid", "/etc/subgid"] {
            if !std::path::Path::new(path).exists() {
                made.push(path);
            }
            let mut contents = fs::read_to_string(path).unwrap_or_default();
            if !contents.is_empty() && !contents.ends_with('\n') {
                contents.push('\n');
            }
            contents.push_str(&line);
            contents.push('\n');
            fs::write(path, contents).unwrap_or_else(|e| panic!("write {path}: {e}"));
        }
        SubIdEntries { line, made }
    }
}

impl Drop for SubIdEntries {
    fn drop(&mut self) {
        for path in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(contents) = fs::read_to_string(path) {
                let kept: String = contents
                    .lines()
                    .filter(|line| *line != self.line)
                    .map(|line| format!("{line}\n"))
                    .collect();
                let _ = if kept.is_empty() && self.made.contains(&path) {
                    fs::remove_file(path)
                } else {
                    fs::write(path, kept)
                };
            }
        }
    }
}

/// A daemon whose `--userns-remap` user owns ids `start..start+65536`.
fn daemon_with_range() -> (Daemon, u32) {
    daemon_with_range_and(&[])
}

fn daemon_with_range_and(args: &[&str]) -> (Daemon, u32) {
    let _edits = SUBID_FILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let user = unique_name("conti-userns");
    let slot = (std::process::id() % 1000) * 16 + DAEMONS.fetch_add(1, Ordering::Relaxed) % 16;
    let start = RANGE_BASE + slot * 65536;
    let _entries = SubIdEntries::add(&user, start);
    let mut all_args = vec!["--userns-remap", user.as_str()];
    all_args.extend_from_slice(args);
    let d = Daemon::start_with_busybox_and_args(&all_args);
    (d, start)
}

fn userns(mut s: ContainerSpec) -> ContainerSpec {
    s.security.userns = true;
    s
}

#[test]
fn root_in_the_container_is_the_mapped_range_and_sees_the_image_as_its_own() {
    let (d, start) = daemon_with_range();
    let id = d.run_detached(&userns(spec(&["sleep", "1000"])));
    let init = d.inspect(&id).pid.expect("running container has a pid");

    // On the host, the init runs as the first id of the range.
    let uid = host::status_field(init, "Uid").expect("Uid of the init");
    assert_eq!(uid, format!("{start}\t{start}\t{start}\t{start}"));
    let gid = host::status_field(init, "Gid").expect("Gid of the init");
    assert_eq!(gid, format!("{start}\t{start}\t{start}\t{start}"));

    // Inside, an exec is root, in the init's user namespace, and sees the mapping.
    let r = d.exec(
        &id,
        &[
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
        ],
    );
    assert_eq!(r.exit_code, 0, "{r:?}");
    let lines: Vec<Vec<String>> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let mapping = vec!["0".to_string(), start.to_string(), "65536".to_string()];
    assert_eq!(
        lines,
        vec![
            vec!["0".to_string()],
            vec!["0".to_string()],
            mapping.clone(),
            mapping
        ],
        "{r:?}"
    );
    // The exec joined the init's user namespace, which is not the host's.
    let r = d.exec(
        &id,
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/user; readlink /proc/1/ns/user",
        ],
    );
    let namespaces: Vec<&str> = r.stdout.lines().collect();
    let init_userns = host::namespace(&init.to_string(), "user").expect("init's user ns");
    assert_eq!(namespaces, vec![init_userns.as_str(); 2], "{r:?}");
    assert_ne!(host::namespace("self", "user"), Some(init_userns));

    // The image's files are root's, through the idmapped lower layer; the root dir too.
    let r = d.exec(
        &id,
        &["sh", "-c", "ls -lnd /bin/busybox / /etc/passwd /etc/hosts"],
    );
    let owners: Vec<(String, String)> = r
        .stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[2].to_string(), f[3].to_string())
        })
        .collect();
    assert_eq!(owners.len(), 4, "{r:?}");
    // Through an idmapped mount where this kernel and filesystem have them, else a shifted copy.
    let images = d.image_layer_dir("busybox");
    let idmapped = kernel_features::idmapped_mounts_work(&images.join("fs"));
    let copy = images.join(format!("rootfs-{start}-{start}"));
    eprintln!("idmapped mounts on this host: {idmapped}");
    assert_eq!(
        copy.exists(),
        !idmapped,
        "idmapped mounts work here: {idmapped}; shifted copy made: {}",
        copy.exists()
    );
    assert!(
        owners
            .iter()
            .all(|o| *o == ("0".to_string(), "0".to_string())),
        "{r:?}"
    );

    // Writing works; on the host the new file (in the upper layer) belongs to the range.
    let r = d.exec(
        &id,
        &[
            "sh",
            "-c",
            "echo hi > /root/new && chown 1000:1000 /root/new && cat /root/new",
        ],
    );
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "hi\n"), "{r:?}");
    let upper_file = d.container_dir(&id).join("upper/root/new");
    let meta = fs::metadata(&upper_file).expect("the file is in the upper layer");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (start + 1000, start + 1000));

    d.remove(&id);
    let root = d.root().display().to_string();
    let mounts: Vec<String> = host::mountinfo("self")
        .into_iter()
        .filter(|l| l.contains(&root))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:#?}");
    let in_range: Vec<i32> = host::all_pids()
        .into_iter()
        .filter(|&p| {
            host::status_field(p, "Uid")
                .is_some_and(|uid| uid.split_whitespace().next() == Some(&start.to_string()))
        })
        .collect();
    assert!(
        in_range.is_empty(),
        "processes of the range left: {in_range:?}"
    );
}

#[test]
fn the_cli_flag_runs_a_container_in_a_user_namespace_and_its_capabilities_stay_inside_it() {
    let (d, _) = daemon_with_range();
    let script = "id -u; ls -ln /bin/busybox; grep CapEff /proc/self/status; \
                  mknod /tmp/null c 1 3 2>&1; echo mknod=$?";
    let out = cli(
        &d,
        &[
            "run", "--rm", "--userns", "--init", "busybox", "sh", "-c", script,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0], "0", "{stdout}");
    let busybox: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&busybox[2..4], ["0", "0"], "{stdout}");
    // The default set, held in the container's user namespace only: a device node, which
    // needs CAP_MKNOD in the host's, can't be made.
    assert_eq!(lines[2], "CapEff:\t00000000a80425fb", "{stdout}");
    assert!(lines[3].contains("Operation not permitted"), "{stdout}");
    assert_eq!(lines[4], "mknod=1", "{stdout}");
}

#[test]
fn another_user_maps_into_the_range_too() {
    let (d, start) = daemon_with_range();
    let mut s = userns(spec(&["sleep", "1000"]));
    s.user = Some("1000:1000".into());
    // A working directory the image lacks is made for the user: its ids as the host maps them.
    s.cwd = Some("/home/app".into());
    let id = d.run_detached(&s);
    let init = d.inspect(&id).pid.expect("running container has a pid");
    let host_id = start + 1000;
    assert_eq!(
        host::status_field(init, "Uid").expect("Uid of the init"),
        format!("{host_id}\t{host_id}\t{host_id}\t{host_id}")
    );
    let r = d.exec(
        &id,
        &["sh", "-c", "id -u; touch /root/x 2>&1 || echo refused"],
    );
    assert_eq!(r.stdout.lines().next(), Some("1000"), "{r:?}");
    assert!(r.stdout.contains("refused"), "{r:?}");
    let r = d.exec(&id, &["sh", "-c", "pwd; stat -c '%u:%g %a' ."]);
    assert_eq!(r.stdout, "/home/app\n1000:1000 755\n", "{r:?}");
    use std::os::unix::fs::MetadataExt;
    let made = fs::metadata(d.container_dir(&id).join("upper/home/app")).expect("made in upper");
    assert_eq!((made.uid(), made.gid()), (host_id, host_id));
    d.remove(&id);
}

#[test]
fn without_idmapped_mounts_a_shifted_copy_of_the_image_is_made_once() {
    let (d, start) = daemon_with_range_and(&["--userns-no-idmap"]);
    let script = "id -u; ls -lnd / /bin/busybox /etc/passwd; echo x > /root/y && cat /root/y";
    let (_, code, logs) = d.run(&userns(spec(&["sh", "-c", script])));
    assert_eq!(code, 0, "{logs}");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 5, "{logs}");
    assert_eq!(lines[0], "0", "{logs}");
    for line in &lines[1..4] {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&fields[2..4], ["0", "0"], "{logs}");
    }
    assert_eq!(lines[4], "x", "{logs}");
    // The copy sits next to the image's rootfs, owned by the range; the image is untouched.
    use std::os::unix::fs::MetadataExt;
    let images = d.image_layer_dir("busybox");
    let copy = images.join(format!("rootfs-{start}-{start}"));
    let busybox = fs::metadata(copy.join("bin/busybox")).expect("the shifted copy");
    assert_eq!((busybox.uid(), busybox.gid()), (start, start));
    assert_eq!(
        busybox.mode() & 0o7777,
        fs::metadata(images.join("fs/bin/busybox")).unwrap().mode() & 0o7777
    );
    assert_eq!(
        fs::metadata(images.join("fs/bin/busybox")).unwrap().uid(),
        0
    );
    let made = busybox.ino();
    // A second container uses the same copy.
    let (_, code, logs) = d.run(&userns(spec(&["true"])));
    assert_eq!(code, 0, "{logs}");
    assert_eq!(fs::metadata(copy.join("bin/busybox")).unwrap().ino(), made);
    let leftovers: Vec<_> = fs::read_dir(&images)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn userns_is_refused_without_a_range_and_with_privileged() {
    let d = Daemon::start_with_busybox();
    d.post_json("/v1/containers", &userns(spec(&["true"])))
        .expect_error(400, "invalid_spec");
    let (d, _) = daemon_with_range();
    let mut s = userns(spec(&["true"]));
    s.security.privileged = true;
    d.post_json("/v1/containers", &s)
        .expect_error(400, "invalid_spec");
    // A start that fails inside the user namespace says why, and leaves nothing.
    let id = d.create(&userns(spec(&["/no/such/command"])));
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_found");
    d.delete(&format!("/v1/containers/{id}")).expect_status(204);
    let root = d.root().display().to_string();
    assert!(
        host::mountinfo("self").iter().all(|l| !l.contains(&root)),
        "mounts left under {root}"
    );
    for parent in d.cgroup_parent_dirs() {
        assert!(
            host::cgroup_children(&parent).is_empty(),
            "{}",
            parent.display()
        );
    }
}

#[test]
fn under_userns_ports_below_1024_and_ping_work_in_the_containers_own_network_only() {
    let host_sysctls = || {
        ["ip_unprivileged_port_start", "ping_group_range"]
            .map(|name| fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap())
    };
    let host_before = host_sysctls();
    let (d, start) = daemon_with_range();
    // Its network namespace belongs to the host's user namespace, where the container's root
    // has no capability: only the namespace's sysctls let it bind port 80 and ping.
    import_probe_image(&d);
    let script = "mkdir -p /tmp/www && echo low > /tmp/www/index.html && httpd -p 80 -h /tmp/www \
                  && for i in $(seq 50); do timeout 3 wget -q -O- http://127.0.0.1:80/ && break; \
                  sleep 0.1; done && syscall-probe icmp_echo";
    let (_, code, logs) = d.run(&userns(probe_sh(script)));
    assert_eq!((code, logs.as_str()), (0, "low\nicmp_echo: ok\n"));

    // In the host's network namespace (allowed, as documented) the host's rules apply: no
    // capability there, so no low port and no ping, and the host's sysctls stay as they were.
    let mut on_host = userns(probe_sh(
        "timeout 5 nc -l -s 127.0.0.1 -p 80 2>&1; echo bind=$?; \
         syscall-probe icmp_echo; echo ping=$?",
    ));
    on_host.network = conti_tests::NetworkMode::Host;
    let (_, code, logs) = d.run(&on_host);
    assert_eq!(code, 0, "{logs}");
    // Both ways: what the host's own sysctls allow (a host may open low ports or ping to all).
    let port_start: u32 = host_before[0].trim().parse().unwrap();
    if port_start > 80 {
        assert!(logs.contains("Permission denied"), "{logs}");
        assert!(logs.contains("bind=1"), "{logs}");
    } else {
        assert!(!logs.contains("Permission denied"), "{logs}");
        assert!(!logs.contains("bind=1"), "{logs}");
    }
    let ping_range: Vec<u32> = host_before[1]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let ping_allowed = (ping_range[0]..=ping_range[1]).contains(&start);
    assert_eq!(logs.contains("ping=0"), ping_allowed, "{logs}");
    assert_eq!(host_sysctls(), host_before);
}

/// Docker's copy-up of a new volume works for a container in a user namespace too: the
/// container's root fills it, as its own files.
#[test]
fn a_new_volume_is_filled_from_the_image_in_a_user_namespace_too() {
    let (d, _) = daemon_with_range();
    let mut s = userns(spec(&["sh", "-c", "cat /etc/group; echo more > /etc/x"]));
    s.volumes = vec![conti_tests::VolumeSpec {
        source: unique_name("etc"),
        target: "/etc".into(),
        read_only: false,
    }];
    let (_, code, logs) = d.run(&s);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.starts_with("root:x:0:\n"), "{logs}");
}
