//! Named volumes as objects (`/v1/volumes`, `conti-cli volume`): create (again: the same volume,
//! or 409 with other labels), list and filter by label, inspect with the containers that use
//! one, delete (409 while any container refers to it, whatever its state), prune (only unused
//! ones); a create that names a volume there is not makes it; data outlives containers and
//! restarts; folders of before volumes had records are adopted.

use std::collections::BTreeMap;

use conti_tests::cli::{stderr, stdout};
use conti_tests::{
    ContainerSpec, Daemon, VolumeInfo, VolumePruneReport, VolumeSpec, cli, sh, spec, unique_name,
};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn mounting(volume: &str, spec: ContainerSpec) -> ContainerSpec {
    ContainerSpec {
        volumes: vec![VolumeSpec {
            source: volume.to_string(),
            target: "/v".to_string(),
            read_only: false,
        }],
        ..spec
    }
}

fn names(volumes: &[VolumeInfo]) -> Vec<&str> {
    volumes.iter().map(|v| v.name.as_str()).collect()
}

#[test]
fn volumes_are_created_listed_inspected_and_removed() {
    let d = Daemon::start();
    let resp = d.create_volume("data", &[("com.docker.compose.project", "shop")]);
    resp.expect_status(201);
    let data: VolumeInfo = resp.json();
    assert_eq!(data.labels["com.docker.compose.project"], "shop");
    assert!(data.in_use_by.is_empty());
    assert_eq!(
        std::path::Path::new(&data.mountpoint),
        d.root().join("volumes/data")
    );
    assert!(std::path::Path::new(&data.mountpoint).is_dir());

    // Again with the same labels, or none: the same volume, as Docker answers it.
    let again = d.create_volume("data", &[("com.docker.compose.project", "shop")]);
    again.expect_status(200);
    assert_eq!(again.json::<VolumeInfo>(), data);
    d.create_volume("data", &[]).expect_status(200);
    d.create_volume("data", &[("com.docker.compose.project", "other")])
        .expect_error(409, "volume_exists");
    for bad in ["prune", "-x", "a b"] {
        d.create_volume(bad, &[]).expect_error(400, "invalid_spec");
    }
    d.create_volume("x", &[("", "v")])
        .expect_error(400, "invalid_spec");
    let anonymous: VolumeInfo = d.post("/v1/volumes", b"{}").json();
    assert!(
        anonymous.name.len() == 64 && anonymous.name.chars().all(|c| c.is_ascii_hexdigit()),
        "{anonymous:?}"
    );
    d.create_volume("cache", &[("tier", "front")])
        .expect_status(201);

    let all: Vec<VolumeInfo> = d.get("/v1/volumes").json();
    let mut expected = [anonymous.name.as_str(), "cache", "data"];
    expected.sort();
    assert_eq!(names(&all), expected, "by name");
    let shop: Vec<VolumeInfo> = d
        .get("/v1/volumes?label=com.docker.compose.project%3Dshop")
        .json();
    assert_eq!(names(&shop), ["data"]);
    let both: Vec<VolumeInfo> = d.get("/v1/volumes?label=tier&label=tier%3Dfront").json();
    assert_eq!(names(&both), ["cache"]);
    assert_eq!(d.get("/v1/volumes/data").json::<VolumeInfo>(), data);
    d.get("/v1/volumes/missing")
        .expect_error(404, "volume_not_found");

    d.delete("/v1/volumes/missing")
        .expect_error(404, "volume_not_found");
    d.delete("/v1/volumes/data").expect_status(204);
    assert!(!std::path::Path::new(&data.mountpoint).exists());
    d.get("/v1/volumes/data")
        .expect_error(404, "volume_not_found");
    // The name is free again, for a new volume.
    d.create_volume("data", &[("com.docker.compose.project", "other")])
        .expect_status(201);
}

#[test]
fn a_used_volume_is_kept_and_prune_takes_only_unused_ones() {
    let d = Daemon::start_with_busybox();
    // Made by the create that names it; used from then on, whatever the container's state.
    let created = d.create(&ContainerSpec {
        name: Some("created".into()),
        ..mounting("used", spec(&["true"]))
    });
    let used: VolumeInfo = d.get("/v1/volumes/used").json();
    assert!(used.labels.is_empty());
    assert_eq!(
        used.in_use_by
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["created"]
    );
    assert_eq!(used.in_use_by[0].id, created);
    let error = d
        .delete("/v1/volumes/used")
        .expect_error(409, "volume_in_use");
    assert!(error.message.contains("created"), "{}", error.message);

    let (exited, code, _) = d.run(&mounting("ran", sh("echo x > /v/f")));
    assert_eq!(code, 0);
    d.delete("/v1/volumes/ran")
        .expect_error(409, "volume_in_use");

    d.create_volume("idle", &[("tier", "cache")])
        .expect_status(201);
    d.create_volume("spare", &[]).expect_status(201);
    std::fs::write(d.root().join("volumes/idle/blob"), vec![7u8; 5000]).unwrap();

    // A label filter prunes only what it names.
    let resp = d.post("/v1/volumes/prune?label=tier%3Dcache", b"");
    resp.expect_status(200);
    let report: VolumePruneReport = resp.json();
    assert_eq!(report.deleted, ["idle"]);
    assert_eq!(report.space_reclaimed, 5000);
    let report: VolumePruneReport = d.post("/v1/volumes/prune", b"").json();
    assert_eq!(report.deleted, ["spare"]);
    let left: Vec<VolumeInfo> = d.get("/v1/volumes").json();
    assert_eq!(names(&left), ["ran", "used"]);
    assert_eq!(
        std::fs::read_to_string(d.root().join("volumes/ran/f")).unwrap(),
        "x\n"
    );

    d.remove(&created);
    d.remove(&exited);
    d.delete("/v1/volumes/used").expect_status(204);
    let report: VolumePruneReport = d.post("/v1/volumes/prune", b"").json();
    assert_eq!(
        (report.deleted, report.space_reclaimed),
        (vec!["ran".to_string()], 2)
    );
}

#[test]
fn data_outlives_containers_and_restarts_and_old_folders_become_volumes() {
    let mut d = Daemon::start_with_busybox();
    d.create_volume("keep", &[("a", "b")]).expect_status(201);
    let (_, code, _) = d.run(&mounting("keep", sh("echo kept > /v/file")));
    assert_eq!(code, 0);
    let (_, code, logs) = d.run(&mounting("keep", sh("cat /v/file")));
    assert_eq!((code, logs.as_str()), (0, "kept\n"));

    // A volume of before records: a folder under <root>/volumes, found at the start.
    let legacy = d.root().join("volumes/legacy");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(legacy.join("old"), "old data\n").unwrap();
    let kept: VolumeInfo = d.get("/v1/volumes/keep").json();
    d.restart();

    let after: VolumeInfo = d.get("/v1/volumes/keep").json();
    assert_eq!((after.created, after.labels), (kept.created, kept.labels));
    assert_eq!(after.in_use_by.len(), 2, "both containers still name it");
    let adopted: VolumeInfo = d.get("/v1/volumes/legacy").json();
    assert!(adopted.labels.is_empty() && adopted.in_use_by.is_empty());
    let (_, code, logs) = d.run(&mounting("legacy", sh("cat /v/old")));
    assert_eq!((code, logs.as_str()), (0, "old data\n"));
}

#[test]
fn the_cli_manages_volumes() {
    let d = Daemon::start_with_busybox();
    let name = unique_name("vol");
    let out = cli(&d, &["volume", "create", "--label", "team=a", &name]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out).trim(), name);

    let out = cli(&d, &["volume", "ls", "-q"]);
    assert_eq!(stdout(&out).trim(), name);
    let out = cli(&d, &["volume", "ls", "--filter", "label=team=b"]);
    assert_eq!(stdout(&out).lines().count(), 1, "the header only: {out:?}");
    let table = stdout(&cli(&d, &["volume", "ls"]));
    assert!(
        table.starts_with("VOLUME NAME") && table.contains(&name),
        "{table}"
    );
    let out = cli(&d, &["volume", "inspect", &name]);
    let shown: Vec<VolumeInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown[0].labels, labels(&[("team", "a")]));

    let used = unique_name("used");
    let out = cli(
        &d,
        &[
            "run",
            "--name",
            "writer",
            "-v",
            &format!("{used}:/v"),
            "busybox",
            "sh",
            "-c",
            "echo hi > /v/f",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let out = cli(&d, &["volume", "rm", &used]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("writer"), "{out:?}");

    let out = cli(&d, &["volume", "prune", "-f"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("Deleted Volumes:\n{name}\n"))
            && text.contains("Total reclaimed space"),
        "{text}"
    );
    // Without -f and with no answer, nothing goes.
    let out = cli(&d, &["volume", "prune"]);
    assert!(stdout(&out).contains("Are you sure"), "{out:?}");
    assert!(d.root().join("volumes").join(&used).is_dir());

    assert!(cli(&d, &["rm", "writer"]).status.success());
    let out = cli(&d, &["volume", "rm", &used]);
    assert_eq!(stdout(&out).trim(), used, "{out:?}");
}
