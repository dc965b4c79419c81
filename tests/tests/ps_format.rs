//! `conti-cli ps` as scripts use it: `--format` with docker's template fields, `table`, `{{json
//! .}}` read back, refused templates; `-q`, `-n`, `-l`, `--no-trunc`, `-s`; the filters
//! `network`, `volume`, `exited`, `before`, `since` in `/v1` and the CLI; and `exec -d`.

use std::time::Duration;

use conti_proto::{ExecCreated, ExecInfo, ExecState};
use conti_tests::cli::{stderr, stdout};
use conti_tests::network::unique_subnet;
use conti_tests::{
    ContainerInfo, ContainerSpec, Daemon, ExecSpec, NetworkMode, NetworkSpec, VolumeSpec, cli,
    spec, unique_name, wait_until,
};

/// web (running, labelled, on a network, with a volume), parked (created), failed (exited 3),
/// in that order of creation.
fn three_containers(d: &Daemon) -> (String, String, String, String) {
    let network = unique_name("net");
    d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: network.clone(),
            subnet: Some(unique_subnet()),
            ..Default::default()
        },
    )
    .expect_status(201);
    let web = d.run_detached(&ContainerSpec {
        name: Some("web".into()),
        network: NetworkMode::Network(network.clone()),
        volumes: vec![VolumeSpec {
            source: "data".into(),
            target: "/data".into(),
            read_only: false,
        }],
        labels: [
            ("tier".to_string(), "front".to_string()),
            ("com.example.app-name".to_string(), "shop".to_string()),
        ]
        .into(),
        ..spec(&["sleep", "300"])
    });
    let parked = d.create(&ContainerSpec {
        name: Some("parked".into()),
        ..spec(&["true"])
    });
    let failed = d.create(&ContainerSpec {
        name: Some("failed".into()),
        ..spec(&["sh", "-c", "exit 3"])
    });
    d.start_container(&failed);
    assert_eq!(d.wait(&failed), 3);
    (web, parked, failed, network)
}

fn ps(d: &Daemon, args: &[&str]) -> String {
    let out = cli(d, &[&["ps"], args].concat());
    assert!(out.status.success(), "{args:?}: {out:?}");
    stdout(&out)
}

fn short(id: &str) -> String {
    id.replace('-', "")[..12].to_string()
}

#[test]
fn format_fields_tables_and_json() {
    let d = Daemon::start_with_busybox();
    let (web, _, _, network) = three_containers(&d);
    let line = ps(
        &d,
        &[
            "--format",
            "{{.ID}}|{{.Names}}|{{.Image}}|{{.Command}}|{{.CreatedAt}}|{{.RunningFor}}|\
             {{.Status}}|{{.State}}|{{.Ports}}|{{.Labels}}|{{.Label \"tier\"}}|{{.Networks}}|\
             {{.Mounts}}|{{.LocalVolumes}}",
        ],
    );
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 14, "{line}");
    assert_eq!(fields[0], short(&web));
    assert_eq!(&fields[1..4], ["web", "busybox", "\"sleep 300\""]);
    assert!(
        fields[4].ends_with(" +0000 UTC") && fields[4].len() == 29,
        "{line}"
    );
    assert!(fields[5].ends_with(" ago"), "{line}");
    assert!(fields[6].starts_with("Up "), "{line}");
    assert_eq!(fields[7], "running");
    assert_eq!(fields[8], "");
    assert_eq!(fields[9], "com.example.app-name=shop,tier=front");
    assert_eq!(fields[10], "front");
    assert_eq!(fields[11], network);
    assert_eq!(&fields[12..], ["data", "1"]);

    // A table: docker's headers, columns aligned at the tabs.
    let text = ps(
        &d,
        &[
            "-a",
            "--format",
            "table {{.Names}}\\t{{.State}}\\t{{.Label \"com.example.app-name\"}}",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("NAMES") && lines[0].contains("APP NAME"),
        "{text}"
    );
    let column = lines[0].find("STATE").unwrap();
    assert_eq!(column, 20, "docker's minimum width: {text}");
    for line in &lines[1..] {
        assert_eq!(&line[column - 3..column], "   ", "{text}");
        assert!(!line[column..].starts_with(' '), "{text}");
    }
    assert!(text.contains("running") && text.contains("exited") && text.contains("created"));

    // {{json .}}, read back: docker's keys, one object a line.
    let text = ps(&d, &["-a", "--format", "{{json .}}"]);
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    let web_json = objects.iter().find(|o| o["Names"] == "web").unwrap();
    assert_eq!(web_json["ID"], short(&web));
    assert_eq!(web_json["State"], "running");
    assert_eq!(web_json["Labels"], "com.example.app-name=shop,tier=front");
    assert_eq!(web_json["Networks"], network.as_str());
    assert_eq!(ps(&d, &["-a", "--format", "json"]), text);
    let names = ps(&d, &["--format", "{{json .Names}}"]);
    assert_eq!(names, "\"web\"\n");

    // Refusals: a clear message, status 1, like docker's.
    for (template, says) in [
        ("{{.Foo}}", "can't evaluate field Foo"),
        ("{{range .Names}}", "unsupported action"),
        ("{{.ID", "unclosed action"),
    ] {
        let out = cli(&d, &["ps", "--format", template]);
        assert_eq!(out.status.code(), Some(1), "{template}: {out:?}");
        assert!(stderr(&out).contains(says), "{template}: {out:?}");
        assert!(stdout(&out).is_empty());
    }
    d.remove(&web);
}

#[test]
fn quiet_last_latest_no_trunc_and_size() {
    let d = Daemon::start_with_busybox();
    let (web, parked, failed, _) = three_containers(&d);
    assert_eq!(ps(&d, &["-q"]), format!("{}\n", short(&web)));
    assert_eq!(ps(&d, &["-q", "--no-trunc"]), format!("{web}\n"));
    assert_eq!(
        ps(&d, &["-q", "-n", "2"]),
        format!("{}\n{}\n", short(&parked), short(&failed))
    );
    assert_eq!(ps(&d, &["-q", "-l"]), format!("{}\n", short(&failed)));
    let whole = ps(&d, &["-a", "--no-trunc", "--format", "{{.Command}}"]);
    assert!(whole.contains("\"sh -c exit 3\""), "{whole}");

    d.exec("web", &["sh", "-c", "head -c 30000 /dev/zero > /big"]);
    let text = ps(&d, &["-s"]);
    assert!(text.lines().next().unwrap().ends_with("SIZE"), "{text}");
    let size = ps(&d, &["--format", "{{.Size}}"]);
    // 30 kB written over the image, and the image's busybox under it.
    assert!(
        size.starts_with("30") && size.contains("kB (virtual ") && size.ends_with("MB)\n"),
        "{size}"
    );
    d.remove(&web);
}

#[test]
fn filters_by_network_volume_exit_code_and_order() {
    let d = Daemon::start_with_busybox();
    let (web, parked, failed, network) = three_containers(&d);
    let names = |query: &str| -> Vec<String> {
        let list: Vec<ContainerInfo> = d.get(&format!("/v1/containers?{query}")).json();
        list.into_iter().map(|c| c.name).collect()
    };
    assert_eq!(names(&format!("network={network}")), ["web"]);
    assert_eq!(names("all=true&network=bridge"), ["parked", "failed"]);
    assert_eq!(names("volume=data"), ["web"]);
    assert_eq!(names("volume=%2Fdata"), ["web"]);
    assert!(names("volume=other").is_empty());
    assert_eq!(names("exited=3"), ["failed"], "exited lists stopped ones");
    assert!(names("exited=0").is_empty());
    assert_eq!(names("all=true&before=failed"), ["web", "parked"]);
    assert_eq!(names("all=true&since=web"), ["parked", "failed"]);
    assert_eq!(
        names(&format!("all=true&since={web}&before={failed}")),
        ["parked"]
    );

    d.get("/v1/containers?exited=three")
        .expect_error(400, "invalid_argument");
    d.get("/v1/containers?before=missing")
        .expect_error(404, "container_not_found");
    d.get("/v1/containers?colour=red")
        .expect_error(400, "invalid_argument");
    d.get("/v1/containers?since=a&since=b")
        .expect_error(400, "invalid_argument");

    // The CLI sends them as they are.
    let cli_names = |filter: &str| ps(&d, &["-a", "--filter", filter, "--format", "{{.Names}}"]);
    assert_eq!(cli_names("exited=3"), "failed\n");
    assert_eq!(cli_names(&format!("network={network}")), "web\n");
    assert_eq!(cli_names("volume=data"), "web\n");
    assert_eq!(cli_names("since=parked"), "failed\n");
    assert_eq!(cli_names("before=parked"), "web\n");
    let out = cli(&d, &["ps", "--filter", "exited=x"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let _ = parked;
    d.remove(&web);
}

#[test]
fn exec_detached_runs_on_after_the_answer() {
    let d = Daemon::start_with_busybox();
    let web = d.run_detached(&ContainerSpec {
        name: Some("web".into()),
        ..spec(&["sleep", "300"])
    });
    // The CLI returns while the command still sleeps; its file comes later.
    let out = cli(
        &d,
        &[
            "exec",
            "-d",
            "web",
            "sh",
            "-c",
            "sleep 2; echo later > /tmp/later",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).is_empty(), "{out:?}");
    assert_ne!(
        d.exec("web", &["cat", "/tmp/later"]).exit_code,
        0,
        "not yet"
    );
    wait_until(Duration::from_secs(20), "the detached exec's file", || {
        d.exec("web", &["cat", "/tmp/later"]).stdout == "later\n"
    });

    // The API: 201 and an id whose end can be followed.
    let resp = d.post_json(
        &format!("/v1/containers/{web}/exec"),
        &ExecSpec {
            cmd: vec!["sh".into(), "-c".into(), "sleep 1; exit 7".into()],
            detach: true,
            ..Default::default()
        },
    );
    resp.expect_status(201);
    let created: ExecCreated = resp.json();
    let info: ExecInfo = d.get(&format!("/v1/execs/{}", created.id)).json();
    assert_eq!(info.state, ExecState::Running);
    wait_until(Duration::from_secs(20), "the detached exec's end", || {
        let info: ExecInfo = d.get(&format!("/v1/execs/{}", created.id)).json();
        info.exit_code == Some(7)
    });

    // Refusals: with a terminal, in a container that does not run.
    d.post_json(
        &format!("/v1/containers/{web}/exec"),
        &ExecSpec {
            cmd: vec!["true".into()],
            detach: true,
            tty: true,
            ..Default::default()
        },
    )
    .expect_error(400, "invalid_spec");
    let out = cli(&d, &["exec", "-d", "-t", "web", "true"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses it: {out:?}");
    let stopped = d.create(&spec(&["true"]));
    d.post_json(
        &format!("/v1/containers/{stopped}/exec"),
        &ExecSpec {
            cmd: vec!["true".into()],
            detach: true,
            ..Default::default()
        },
    )
    .expect_error(409, "container_not_running");
    d.remove(&web);
}
