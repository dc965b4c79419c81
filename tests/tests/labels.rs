//! Labels: on containers (over the image's) and networks, kept across a restart of contid, and
//! the filters of `GET /v1/containers` (`label`, `name`, `status`, `id`, `ancestor`), through the
//! API and through `conti-cli` (`--label`, `--label-file`, `ps --filter`, `network create
//! --label`). No container is started: the filters look at what is stored.

use std::collections::BTreeMap;

use conti_tests::cli::stdout;
use conti_tests::{
    ContainerInfo, ContainerSpec, Daemon, NetworkInfo, NetworkSpec, cli, spec, unique_name,
};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn labelled(name: &str, pairs: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        name: Some(name.to_string()),
        labels: labels(pairs),
        ..spec(&["true"])
    }
}

/// The names `GET /v1/containers?<query>` answers, in its order.
fn listed(d: &Daemon, query: &str) -> Vec<String> {
    let resp = d.get(&format!("/v1/containers?{query}"));
    resp.expect_status(200);
    let containers: Vec<ContainerInfo> = resp.json();
    containers.into_iter().map(|c| c.name).collect()
}

#[test]
fn containers_keep_their_labels_and_the_list_filters_on_them() {
    let mut d = Daemon::start_with_busybox();
    let web = d.create(&labelled(
        "web",
        &[("com.docker.compose.project", "shop"), ("tier", "front")],
    ));
    d.create(&labelled(
        "db",
        &[("com.docker.compose.project", "shop"), ("tier", "")],
    ));
    d.create(&labelled("other", &[]));

    let info = d.inspect("web");
    assert_eq!(info.labels["tier"], "front");
    assert!(d.inspect("other").labels.is_empty());

    let project = "label=com.docker.compose.project%3Dshop";
    assert_eq!(listed(&d, &format!("all=true&{project}")), ["web", "db"]);
    assert_eq!(listed(&d, "all=true&label=tier%3Dfront"), ["web"]);
    // A key alone: the label is there, whatever its value (an empty one too).
    assert_eq!(listed(&d, "all=true&label=tier"), ["web", "db"]);
    assert_eq!(listed(&d, "all=true&label=tier="), ["db"]);
    // Labels must all hold.
    assert_eq!(
        listed(&d, &format!("all=true&{project}&label=tier%3Dfront")),
        ["web"]
    );
    assert!(listed(&d, "all=true&label=nope").is_empty());
    // Without `all`, only running containers; a status filter lists the others.
    assert!(listed(&d, project).is_empty());
    assert_eq!(
        listed(&d, &format!("{project}&status=created")),
        ["web", "db"]
    );
    assert!(listed(&d, "status=running&status=exited").is_empty());
    // The values of one filter are alternatives.
    assert_eq!(listed(&d, "all=true&name=we&name=oth"), ["web", "other"]);
    assert_eq!(listed(&d, &format!("all=true&id={}", &web[..8])), ["web"]);
    assert_eq!(listed(&d, "all=true&ancestor=busybox").len(), 3);
    assert_eq!(listed(&d, "all=true&ancestor=busybox:latest").len(), 3);
    assert!(listed(&d, "all=true&ancestor=alpine").is_empty());

    d.get("/v1/containers?status=paused")
        .expect_error(400, "invalid_argument");
    d.get("/v1/containers?all=true&all=false")
        .expect_error(400, "invalid_argument");
    let resp = d.post_json("/v1/containers", &labelled("bad", &[("", "x")]));
    resp.expect_error(400, "invalid_spec");

    d.restart();
    assert_eq!(d.inspect(&web).labels, info.labels, "kept across a restart");
    assert_eq!(listed(&d, "all=true&label=tier%3Dfront"), ["web"]);
}

#[test]
fn networks_keep_their_labels() {
    let mut d = Daemon::start();
    let name = unique_name("labelled");
    let resp = d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: name.clone(),
            subnet: Some(conti_tests::network::unique_subnet()),
            labels: labels(&[("com.docker.compose.network", "default")]),
            ..Default::default()
        },
    );
    resp.expect_status(201);
    let created: NetworkInfo = resp.json();
    assert_eq!(created.labels["com.docker.compose.network"], "default");
    let resp = d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: unique_name("bad"),
            labels: labels(&[("", "x")]),
            ..Default::default()
        },
    );
    resp.expect_error(400, "invalid_spec");
    d.restart();
    let network: NetworkInfo = d.get(&format!("/v1/networks/{name}")).json();
    assert_eq!(network.labels, created.labels);
    let default: NetworkInfo = d.get("/v1/networks/bridge").json();
    assert!(default.labels.is_empty());
    d.delete(&format!("/v1/networks/{name}")).expect_status(204);
}

#[test]
fn the_cli_sets_labels_and_ps_filters_on_them() {
    let d = Daemon::start_with_busybox();
    let file = d.dir().join("labels");
    std::fs::write(&file, "# shop\ncom.example.project=shop\ntier=db\n").unwrap();
    let out = cli(
        &d,
        &[
            "create",
            "--name",
            "web",
            "--label-file",
            file.to_str().unwrap(),
            "-l",
            "tier=front",
            "--label",
            "public",
            "busybox",
            "true",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let id = stdout(&out).trim().to_string();
    let labels_of_web = d.inspect(&id).labels;
    assert_eq!(
        labels_of_web,
        labels(&[
            ("com.example.project", "shop"),
            ("public", ""),
            ("tier", "front")
        ])
    );
    let out = cli(
        &d,
        &["create", "--name", "db", "-l", "tier=db", "busybox", "true"],
    );
    assert!(out.status.success(), "{out:?}");

    // The names `ps -a` lists with these filters.
    let ps = |filters: &[&str]| {
        let mut args = vec!["--json", "ps", "-a"];
        for filter in filters {
            args.extend(["--filter", filter]);
        }
        let out = cli(&d, &args);
        assert!(out.status.success(), "{out:?}");
        let listed: Vec<ContainerInfo> = serde_json::from_slice(&out.stdout).unwrap();
        listed.into_iter().map(|c| c.name).collect::<Vec<_>>()
    };
    assert_eq!(ps(&["label=tier=front"]), ["web"]);
    assert_eq!(
        ps(&["label=com.example.project", "status=created"]),
        ["web"]
    );
    assert_eq!(ps(&["label=tier", "name=d"]), ["db"]);
    let table = stdout(&cli(&d, &["ps", "-a", "-f", "label=public"]));
    assert_eq!(table.lines().count(), 2, "a header and web: {table}");
    let quiet = cli(&d, &["ps", "-aq", "-f", "label=tier=db"]);
    assert_eq!(stdout(&quiet).lines().count(), 1, "{quiet:?}");
    let none = cli(&d, &["ps", "-aq", "-f", "label=tier=cache"]);
    assert_eq!(stdout(&none), "");
    let refused = cli(&d, &["ps", "--filter", "colour=red"]);
    assert!(!refused.status.success());

    let network = unique_name("front");
    let out = cli(
        &d,
        &[
            "network", "create", "--label", "team=a", "--label", "x", &network,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let out = cli(&d, &["network", "inspect", &network]);
    let shown: Vec<NetworkInfo> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown[0].labels, labels(&[("team", "a"), ("x", "")]));
    assert!(cli(&d, &["network", "rm", &network]).status.success());
}
