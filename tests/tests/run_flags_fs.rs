//! The run flags of the container's files and names, inside real containers: `--tmpfs` and
//! `--mount type=tmpfs` (their options as `/proc/mounts` shows them), `--shm-size` (and the
//! 64 MiB default), `--add-host`, `--dns`, `--dns-search`, `--dns-option` (the files, and the
//! resolver forwarding one container's queries to its own `--dns`), `--group-add`, `--env-file`;
//! and the refusals: a clear 400 that leaves nothing behind.

use std::net::Ipv4Addr;

use conti_proto::TmpfsSpec;
use conti_tests::dns::TestUpstream;
use conti_tests::{
    ContainerSpec, Daemon, NetworkMode, NetworkSpec, VolumeSpec, cli, sh, spec, unique_name,
};

/// The line of `/proc/mounts` (as the container printed it) of the mount point `target`.
fn mount_line<'a>(mounts: &'a str, target: &str) -> &'a str {
    mounts
        .lines()
        .find(|line| line.split(' ').nth(1) == Some(target))
        .unwrap_or_else(|| panic!("no mount on {target} in:\n{mounts}"))
}

fn options_of(line: &str) -> Vec<&str> {
    line.split(' ')
        .nth(3)
        .unwrap_or_default()
        .split(',')
        .collect()
}

fn run_cli(d: &Daemon, args: &[&str]) -> String {
    let out = cli(d, args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tmpfs_mounts_and_shm_show_their_options_in_the_container() {
    let d = Daemon::start_with_busybox();
    let mounts = run_cli(
        &d,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/run/scratch:size=1m,mode=700",
            "--tmpfs",
            "/exec:exec,uid=1000",
            "--mount",
            "type=tmpfs,target=/frozen,tmpfs-size=2m,readonly",
            "--shm-size",
            "16m",
            "busybox",
            "sh",
            "-c",
            "cat /proc/mounts; touch /frozen/x 2>/dev/null || echo frozen-refused; \
             stat -c 'owner %u mode %a' /exec /run/scratch; df -k /dev/shm | tail -1",
        ],
    );
    let scratch = options_of(mount_line(&mounts, "/run/scratch"));
    for option in ["rw", "nosuid", "nodev", "noexec", "size=1024k", "mode=700"] {
        assert!(scratch.contains(&option), "{option}: {scratch:?}");
    }
    let exec = options_of(mount_line(&mounts, "/exec"));
    assert!(
        !exec.contains(&"noexec") && exec.contains(&"uid=1000"),
        "{exec:?}"
    );
    let frozen = options_of(mount_line(&mounts, "/frozen"));
    assert!(
        frozen.contains(&"ro") && frozen.contains(&"size=2048k"),
        "{frozen:?}"
    );
    assert!(mounts.contains("frozen-refused"), "{mounts}");
    assert!(mounts.contains("owner 1000 mode 1777"), "{mounts}");
    assert!(mounts.contains("owner 0 mode 700"), "{mounts}");
    let shm = options_of(mount_line(&mounts, "/dev/shm"));
    assert!(shm.contains(&"size=16384k"), "{shm:?}");
    let df = mounts.lines().last().unwrap();
    assert_eq!(df.split_whitespace().nth(1), Some("16384"), "{df}");

    // Docker's default for /dev/shm.
    let (_, code, logs) = d.run(&sh("grep ' /dev/shm ' /proc/mounts"));
    assert_eq!(code, 0, "{logs}");
    assert!(options_of(&logs).contains(&"size=65536k"), "{logs}");
    let info = d.inspect(&d.create(&ContainerSpec {
        shm_size: Some(1 << 20),
        tmpfs: vec![TmpfsSpec {
            target: "/t".into(),
            options: "size=1m".into(),
        }],
        ..spec(&["true"])
    }));
    assert_eq!(info.shm_size, 1 << 20);
    assert_eq!(info.tmpfs[0].target, "/t");
}

#[test]
fn hosts_and_resolv_conf_say_what_the_flags_ask() {
    let d = Daemon::start_with_busybox();
    let files = run_cli(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--add-host",
            "db.local:10.9.8.7",
            "--add-host",
            "v6.local=fd00::1",
            "--dns",
            "192.0.2.53",
            "--dns",
            "2001:db8::53",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:3",
            "busybox",
            "cat",
            "/etc/hosts",
            "/etc/resolv.conf",
        ],
    );
    assert!(
        files.contains("10.9.8.7\tdb.local\n") && files.contains("fd00::1\tv6.local\n"),
        "{files}"
    );
    assert!(
        files.contains("nameserver 192.0.2.53\nnameserver 2001:db8::53\n")
            && files.contains("search corp.example\n")
            && files.contains("options ndots:3\n"),
        "{files}"
    );

    // host-gateway: the container's bridge gateway; getaddrinfo reads /etc/hosts.
    let id = d.run_detached(&ContainerSpec {
        extra_hosts: vec!["gw.local:host-gateway".into()],
        ..spec(&["sleep", "600"])
    });
    let gateway = d.inspect(&id).networks[0].gateway.clone();
    let hosts = d.exec(&id, &["cat", "/etc/hosts"]).stdout;
    assert!(hosts.contains(&format!("{gateway}\tgw.local\n")), "{hosts}");
    let ping = d.exec(&id, &["sh", "-c", "ping -c 1 -W 2 gw.local | head -1"]);
    assert!(ping.stdout.contains(&gateway), "{ping:?}");
    d.remove(&id);
}

#[test]
fn on_a_user_network_the_resolver_forwards_to_the_containers_own_dns() {
    let d = Daemon::start_with_busybox();
    let network = unique_name("net");
    d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: network.clone(),
            subnet: Some(conti_tests::network::unique_subnet()),
            ..Default::default()
        },
    )
    .expect_status(201);
    let answer = Ipv4Addr::new(10, 200, 0, 9);
    let upstream = TestUpstream::start(&[("private.conti-test.example", answer)]);
    let on_network = |dns: Vec<String>| {
        d.run_detached(&ContainerSpec {
            network: NetworkMode::Network(network.clone()),
            dns,
            dns_search: vec!["corp.example".into()],
            ..spec(&["sleep", "600"])
        })
    };
    let with_dns = on_network(vec![upstream.address.to_string()]);
    let without = on_network(vec![]);
    let resolv_conf = d.exec(&with_dns, &["cat", "/etc/resolv.conf"]).stdout;
    let gateway = d.inspect(&with_dns).networks[0].gateway.clone();
    assert!(
        resolv_conf.contains(&format!("nameserver {gateway}\n"))
            && !resolv_conf.contains(&upstream.address.to_string())
            && resolv_conf.contains("search conti.internal corp.example\n"),
        "the resolver stays the nameserver: {resolv_conf}"
    );
    let looked_up = d.exec(&with_dns, &["nslookup", "private.conti-test.example"]);
    assert!(
        looked_up.stdout.contains(&answer.to_string()),
        "{looked_up:?}"
    );
    // The harness's host file names no nameserver: the other container gets no answer.
    let other = d.exec(&without, &["nslookup", "private.conti-test.example"]);
    assert!(!other.stdout.contains(&answer.to_string()), "{other:?}");
    assert!(
        upstream
            .asked()
            .contains(&"private.conti-test.example".to_string())
    );
    d.remove(&with_dns);
    d.remove(&without);
    d.delete(&format!("/v1/networks/{network}"))
        .expect_status(204);
}

#[test]
fn extra_groups_and_env_files_reach_the_process() {
    let d = Daemon::start_with_busybox();
    let id = run_cli(
        &d,
        &[
            "run",
            "--rm",
            "--group-add",
            "nogroup",
            "--group-add",
            "4242",
            "busybox",
            "id",
        ],
    );
    let groups = id.split("groups=").nth(1).unwrap_or_default();
    assert!(
        groups.contains("4242") && groups.contains("65534(nogroup)"),
        "{id}"
    );
    assert!(id.starts_with("uid=0(root) gid=0(root)"), "{id}");
    // Also for an exec, and with a user.
    let sleeper = d.run_detached(&ContainerSpec {
        group_add: vec!["4242".into()],
        user: Some("65534".into()),
        ..spec(&["sleep", "600"])
    });
    let exec = d.exec(&sleeper, &["id", "-G"]).stdout;
    assert!(exec.split_whitespace().any(|g| g == "4242"), "{exec}");
    d.remove(&sleeper);
    // A name the container does not have: the start says which.
    let unknown = d.create(&ContainerSpec {
        group_add: vec!["nosuchgroup".into()],
        ..spec(&["true"])
    });
    let error = d
        .post(&format!("/v1/containers/{unknown}/start"), b"")
        .expect_error(400, "unknown_user");
    assert!(error.message.contains("nosuchgroup"), "{}", error.message);

    let file = d.dir().join("app.env");
    std::fs::write(
        &file,
        "# settings\n\nGREETING=hello world\n  SPACED=x \nFROM_CLIENT\nOVERRIDDEN=file\n",
    )
    .unwrap();
    let out = conti_tests::cli::cli_with_env(
        &d,
        &[("FROM_CLIENT", Some("client-value"))],
        &[
            "run",
            "--rm",
            "--env-file",
            file.to_str().unwrap(),
            "-e",
            "OVERRIDDEN=flag",
            "busybox",
            "sh",
            "-c",
            "echo \"[$GREETING] [$SPACED] [$FROM_CLIENT] [$OVERRIDDEN]\"",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[hello world] [x ] [client-value] [flag]\n",
        "{out:?}"
    );
    std::fs::write(&file, "BAD NAME=1\n").unwrap();
    let out = cli(
        &d,
        &[
            "run",
            "--env-file",
            file.to_str().unwrap(),
            "busybox",
            "true",
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BAD NAME"),
        "{out:?}"
    );
}

/// What makes a good spec bad.
type SpecChange = dyn Fn(&mut ContainerSpec);

#[test]
fn bad_values_are_refused_by_name_and_leave_nothing_behind() {
    let d = Daemon::start_with_busybox();
    let tmpfs = |target: &str, options: &str| {
        let (target, options) = (target.to_string(), options.to_string());
        move |s: &mut ContainerSpec| {
            s.tmpfs = vec![TmpfsSpec {
                target: target.clone(),
                options: options.clone(),
            }]
        }
    };
    let cases: Vec<(Box<SpecChange>, &str)> = vec![
        (Box::new(tmpfs("/t", "size=1m,huge=always")), "huge=always"),
        (Box::new(tmpfs("relative", "")), "relative"),
        (Box::new(tmpfs("/proc/sys", "")), "/proc/sys"),
        (Box::new(|s| s.shm_size = Some(0)), "shm_size"),
        (
            Box::new(|s| s.extra_hosts = vec!["db:10.0.0.300".into()]),
            "10.0.0.300",
        ),
        (
            Box::new(|s| {
                s.extra_hosts = vec!["gw:host-gateway".into()];
                s.network = NetworkMode::None;
            }),
            "host-gateway",
        ),
        (
            Box::new(|s| s.dns = vec!["dns.example".into()]),
            "dns.example",
        ),
        (
            Box::new(|s| s.dns_search = vec!["two words".into()]),
            "two words",
        ),
        (
            Box::new(|s| s.group_add = vec!["bad group!".into()]),
            "bad group!",
        ),
        (
            Box::new(|s| {
                s.volumes = vec![VolumeSpec {
                    source: String::new(),
                    target: "relative".into(),
                    read_only: false,
                }]
            }),
            "relative",
        ),
    ];
    for (change, named) in cases {
        let mut bad = spec(&["true"]);
        change(&mut bad);
        let error = d
            .post_json("/v1/containers", &bad)
            .expect_error(400, "invalid_spec");
        assert!(error.message.contains(named), "{named}: {}", error.message);
    }
    // The CLI's refusals name what is wrong before anything is sent.
    for (args, named) in [
        (vec!["--tmpfs", "relative"], "absolute"),
        (
            vec!["--mount", "type=volume,target=/v,volume-opt=o=1"],
            "volume-opt",
        ),
        (
            vec!["--mount", "type=bind,source=/nonexistent-conti,target=/v"],
            "does not exist",
        ),
        (vec!["--shm-size", "lots"], "lots"),
        (vec!["--add-host", "nocolon"], "NAME:IP"),
    ] {
        let mut line = vec!["run"];
        line.extend(args.iter().copied());
        line.extend(["busybox", "true"]);
        let out = cli(&d, &line);
        assert!(!out.status.success(), "{line:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{line:?}: {stderr}");
    }
    assert!(d.list_all().is_empty(), "no container was made");
    let volumes: Vec<conti_tests::VolumeInfo> = d.get("/v1/volumes").json();
    assert!(volumes.is_empty(), "no volume was made: {volumes:?}");
    assert!(conti_tests::host::mount_points_under(d.dir()).is_empty());
}
