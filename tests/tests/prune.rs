//! Prunes and disk usage from the outside: `POST /v1/containers/prune`, `/v1/networks/prune`,
//! `GET /v1/system/df`, and `conti-cli container|network|system prune` and `system df`. A prune
//! takes only what nothing uses: a running container, its image, network and volume stay, and so
//! do a stopped container's image and a network with a created container on it.

use conti_proto::{ContainerPruneReport, DiskUsage, ImagePruneReport, NetworkPruneReport};
use conti_tests::cli::{stderr, stdout};
use conti_tests::network::unique_subnet;
use conti_tests::{
    ContainerSpec, Daemon, NetworkInfo, NetworkMode, NetworkSpec, VolumePruneReport, VolumeSpec,
    cli, sh, spec, unique_name,
};

fn create_network(d: &Daemon, name: &str, labels: &[(&str, &str)]) {
    d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: name.to_string(),
            subnet: Some(unique_subnet()),
            gateway: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
    )
    .expect_status(201);
}

fn on(network: &str, volume: Option<&str>, spec: ContainerSpec) -> ContainerSpec {
    ContainerSpec {
        network: NetworkMode::Network(network.to_string()),
        volumes: volume
            .map(|source| VolumeSpec {
                source: source.to_string(),
                target: "/data".to_string(),
                read_only: false,
            })
            .into_iter()
            .collect(),
        ..spec
    }
}

fn network_names(d: &Daemon) -> Vec<String> {
    let networks: Vec<NetworkInfo> = d.get("/v1/networks").json();
    networks.into_iter().map(|n| n.name).collect()
}

fn df(d: &Daemon) -> DiskUsage {
    d.get("/v1/system/df").json()
}

#[test]
fn prunes_take_only_what_is_unused_and_df_follows() {
    let d = Daemon::start_with_busybox();
    d.import_busybox_as("other");
    let (used_net, parked_net, idle_net) = (
        unique_name("used"),
        unique_name("parked"),
        unique_name("idle"),
    );
    for name in [&used_net, &parked_net, &idle_net] {
        create_network(&d, name, &[]);
    }
    d.create_volume("idle", &[]).expect_status(201);
    let before = df(&d);

    // Running, on a network, with a volume it wrote 50 kB into.
    let web = d.run_detached(&ContainerSpec {
        name: Some("web".into()),
        ..on(
            &used_net,
            Some("live"),
            sh("head -c 50000 /dev/zero > /data/f && exec sleep 300"),
        )
    });
    // Created only, on its network.
    let parked = d.create(&ContainerSpec {
        name: Some("parked".into()),
        ..on(&parked_net, None, spec(&["true"]))
    });
    // Exited, from the other image, after writing 100 kB over it.
    let done = d.create(&ContainerSpec {
        name: Some("done".into()),
        image: "other".into(),
        ..sh("head -c 100000 /dev/zero > /big")
    });
    d.start_container(&done);
    assert_eq!(d.wait(&done), 0);
    conti_tests::wait_until(std::time::Duration::from_secs(10), "web's write", || {
        d.exec("web", &["test", "-s", "/data/f"]).exit_code == 0
    });

    let usage = df(&d);
    assert_eq!(
        (usage.containers.total, usage.containers.active),
        (3, 1),
        "{usage:?}"
    );
    assert!(usage.containers.size >= 100_000, "{usage:?}");
    assert!(usage.containers.reclaimable >= 100_000, "done's layer");
    let done_usage = usage.container_usage.iter().find(|c| c.id == done).unwrap();
    assert!(done_usage.size >= 100_000, "{done_usage:?}");
    assert_eq!((usage.images.total, usage.images.active), (2, 2));
    let other = usage
        .image_usage
        .iter()
        .find(|i| i.repo_tags.iter().any(|t| t.starts_with("other")))
        .unwrap();
    assert_eq!(other.containers, 1);
    // The same busybox layer under both: counted once, shared.
    assert_eq!(other.shared_size, other.size);
    assert_eq!(usage.images.size, other.size);
    assert_eq!(usage.images.size, before.images.size);
    assert_eq!((usage.volumes.total, usage.volumes.active), (2, 1));
    assert!(usage.volumes.size >= 50_000, "{usage:?}");
    assert_eq!(usage.volumes.reclaimable, 0, "idle is empty");
    assert!(usage.volumes.size > before.volumes.size);
    assert_eq!(usage.build_cache, Default::default());

    // Filters that take nothing, and refusals.
    let report: ContainerPruneReport = d
        .post("/v1/containers/prune?until=2000-01-01T00:00:00Z", b"")
        .json();
    assert!(report.deleted.is_empty());
    let report: ContainerPruneReport = d.post("/v1/containers/prune?label=nope", b"").json();
    assert!(report.deleted.is_empty());
    d.post("/v1/containers/prune?until=yesterday", b"")
        .expect_error(400, "invalid_argument");
    d.post("/v1/containers/prune?status=exited", b"")
        .expect_error(400, "invalid_argument");
    d.post("/v1/networks/prune?until=", b"")
        .expect_error(400, "invalid_argument");

    // Networks: only the idle one; a created container holds its network.
    let report: NetworkPruneReport = d.post("/v1/networks/prune", b"").json();
    assert_eq!(report.deleted, std::slice::from_ref(&idle_net));
    let names = network_names(&d);
    assert!(
        names.contains(&used_net)
            && names.contains(&parked_net)
            && names.contains(&"bridge".to_string())
    );
    assert!(!names.contains(&idle_net));

    // Images: a stopped container's image and a running one's both stay.
    let report: ImagePruneReport = d.post("/v1/images/prune?all=true", b"").json();
    assert!(report.deleted.is_empty(), "{report:?}");

    // Containers: the exited and the created one; not the running one.
    let report: ContainerPruneReport = d.post("/v1/containers/prune", b"").json();
    let mut deleted = report.deleted.clone();
    deleted.sort();
    let mut expected = vec![done.clone(), parked.clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(report.space_reclaimed >= 100_000, "{report:?}");
    assert!(!d.container_dir(&done).exists());
    assert_eq!(d.inspect("web").state, conti_tests::ContainerState::Running);
    assert_eq!(d.inspect(&web).id, web);

    let usage = df(&d);
    assert_eq!((usage.containers.total, usage.containers.active), (1, 1));
    assert_eq!(usage.containers.reclaimable, 0);
    assert_eq!((usage.images.total, usage.images.active), (2, 1));

    // Now the parked network is unused; the volume prune keeps the running one's.
    let report: NetworkPruneReport = d.post("/v1/networks/prune", b"").json();
    assert_eq!(report.deleted, [parked_net]);
    let report: VolumePruneReport = d.post("/v1/volumes/prune", b"").json();
    assert_eq!(report.deleted, ["idle"]);
    assert!(network_names(&d).contains(&used_net));
    let usage = df(&d);
    assert_eq!((usage.volumes.total, usage.volumes.active), (1, 1));
    d.remove("web");
}

#[test]
fn network_prune_filters_by_label_and_names_prune_are_reserved() {
    let d = Daemon::start();
    let (keep, drop) = (unique_name("keep"), unique_name("drop"));
    create_network(&d, &keep, &[("stage", "prod")]);
    create_network(&d, &drop, &[("stage", "test")]);
    let report: NetworkPruneReport = d.post("/v1/networks/prune?label=stage%3Dtest", b"").json();
    assert_eq!(report.deleted, [drop]);
    assert!(network_names(&d).contains(&keep));
    let report: NetworkPruneReport = d.post("/v1/networks/prune", b"").json();
    assert_eq!(report.deleted, [keep]);

    d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: "prune".into(),
            ..Default::default()
        },
    )
    .expect_error(400, "invalid_spec");
}

#[test]
fn cli_prunes_report_like_docker_and_ask_first() {
    let d = Daemon::start_with_busybox();
    let (used_net, idle_net) = (unique_name("used"), unique_name("idle"));
    create_network(&d, &used_net, &[]);
    create_network(&d, &idle_net, &[]);
    d.run_detached(&ContainerSpec {
        name: Some("web".into()),
        ..on(&used_net, Some("live"), spec(&["sleep", "300"]))
    });
    let done = d.create(&ContainerSpec {
        name: Some("done".into()),
        ..sh("head -c 20000 /dev/zero > /f")
    });
    d.start_container(&done);
    d.wait(&done);
    d.create_volume("idle", &[]).expect_status(201);
    // A dangling image: `x:1` moves from the first import to the second.
    d.import_busybox_as("x:1");
    d.import_busybox_as("y:1");
    let dangling = d.get("/v1/images/x:1").json::<conti_tests::ImageInfo>().id;
    d.post("/v1/images/y:1/tag?tag=x:1", b"").expect_status(201);

    // `system df`, as docker prints it.
    let out = cli(&d, &["system", "df"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("TYPE") && lines[0].contains("RECLAIMABLE"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("Images") && lines[2].starts_with("Containers"),
        "{text}"
    );
    assert!(
        lines[2]
            .split_whitespace()
            .take(3)
            .eq(["Containers", "2", "1"]),
        "{text}"
    );
    assert!(lines[3].starts_with("Local Volumes") && lines[4].starts_with("Build Cache"));
    let out = cli(&d, &["system", "df", "-v"]);
    let text = stdout(&out);
    assert!(
        text.contains("Images space usage:") && text.contains("Local Volumes space usage:"),
        "{text}"
    );
    assert!(text.contains("live") && text.contains("done"), "{text}");
    let out = cli(&d, &["--json", "system", "df"]);
    let usage: DiskUsage = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(usage.images.total, 3);

    // Without a terminal and without -f: refused, nothing goes.
    let out = cli(&d, &["system", "prune"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("-f"), "{out:?}");
    assert!(d.list_all().iter().any(|c| c.id == done));
    let out = cli(&d, &["container", "prune"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let out = cli(&d, &["system", "prune", "-f"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "Deleted Containers:\n{}\n\nDeleted Networks:\n{idle_net}\n\nDeleted Images:\ndeleted: {dangling}\n\n",
            done.replace('-', "")
        )),
        "{text}"
    );
    assert!(text.contains("\nTotal reclaimed space: "), "{text}");
    assert!(!text.contains("Deleted Volumes"), "{text}");
    // Kept: the running container, its network and volume, images in use, tagged images.
    assert_eq!(d.list_all().len(), 1);
    assert!(network_names(&d).contains(&used_net));
    let volumes: Vec<conti_tests::VolumeInfo> = d.get("/v1/volumes").json();
    assert_eq!(volumes.len(), 2, "no --volumes: idle stays");
    d.get("/v1/images/y:1").expect_status(200);

    let out = cli(&d, &["system", "prune", "-f", "--volumes"]);
    let text = stdout(&out);
    assert!(text.starts_with("Deleted Volumes:\nidle\n\n"), "{text}");
    // -a: every image no container uses; busybox, web's, stays.
    let out = cli(&d, &["--json", "system", "prune", "-a", "-f"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["images"]["deleted"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    d.get("/v1/images/y:1").expect_status(404);
    d.get("/v1/images/busybox").expect_status(200);
    let volumes: Vec<conti_tests::VolumeInfo> = d.get("/v1/volumes").json();
    assert_eq!(volumes.len(), 1);

    // The single prunes, with -f and a filter.
    let stopped = d.create(&spec(&["true"]));
    let out = cli(
        &d,
        &[
            "container",
            "prune",
            "-f",
            "--filter",
            "until=2000-01-01T00:00:00Z",
        ],
    );
    assert_eq!(stdout(&out), "Total reclaimed space: 0B\n", "{out:?}");
    let out = cli(&d, &["container", "prune", "-f"]);
    assert!(
        stdout(&out).starts_with(&format!(
            "Deleted Containers:\n{}\n",
            stopped.replace('-', "")
        )),
        "{out:?}"
    );
    let out = cli(&d, &["container", "prune", "-f", "--filter", "status=x"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses it: {out:?}");
    create_network(&d, &idle_net, &[]);
    let out = cli(&d, &["network", "prune", "-f"]);
    assert_eq!(
        stdout(&out),
        format!("Deleted Networks:\n{idle_net}\n\n"),
        "{out:?}"
    );
    d.remove("web");
}
