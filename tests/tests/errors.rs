//! Every error of the API contract: status, code, and the `{code, message}` body.

use std::fs;

use conti_tests::{ContainerState, Daemon, ImageInfo, sh, spec, unique_name};

/// Entries of `<root>/containers`: a failed create must not add one.
fn container_dirs(d: &Daemon) -> usize {
    fs::read_dir(d.root().join("containers"))
        .map(|e| e.count())
        .unwrap_or(0)
}

#[test]
fn create_rejects_malformed_and_invalid_specs_leaving_nothing_behind() {
    let d = Daemon::start_with_busybox();
    let before = container_dirs(&d);
    let invalid_json: &[&[u8]] = &[
        b"{not json",
        b"",
        br#"{"image": "busybox", "cmd": ["true"], "unknown_field": 1}"#,
        br#"{"image": "busybox", "cmd": "true"}"#,
        br#"{"cmd": ["true"]}"#,
        br#"{"image": "busybox", "cmd": ["true"], "network": "container:"}"#,
        br#"{"image": "busybox", "cmd": ["true"], "network": 7}"#,
        br#"["busybox"]"#,
    ];
    for body in invalid_json {
        d.post("/v1/containers", body)
            .expect_error(400, "invalid_json");
    }
    let invalid_spec: &[&str] = &[
        r#"{"image": "busybox", "cmd": []}"#,
        r#"{"image": "busybox", "cmd": ["true"], "cwd": "relative/dir"}"#,
        r#"{"image": "busybox", "cmd": ["true"], "env": ["NO_EQUALS_SIGN"]}"#,
        r#"{"image": "busybox", "cmd": ["true"], "name": "bad name!"}"#,
        r#"{"image": "busybox", "cmd": ["true"], "name": "-starts-with-dash"}"#,
        r#"{"image": "busybox", "cmd": ["true"], "hostname": "bad_host name"}"#,
    ];
    for body in invalid_spec {
        let err = d
            .post("/v1/containers", body.as_bytes())
            .expect_error(400, "invalid_spec");
        assert!(
            err.message.len() > 5,
            "{body}: message {:?} explains nothing",
            err.message
        );
    }
    let long_name = format!(
        r#"{{"image": "busybox", "cmd": ["true"], "name": "{}"}}"#,
        "a".repeat(65)
    );
    d.post("/v1/containers", long_name.as_bytes())
        .expect_error(400, "invalid_spec");
    let mut s = spec(&["true"]);
    s.image = unique_name("no-such-image");
    d.post_json("/v1/containers", &s)
        .expect_error(404, "image_not_found");

    // Body over 1 MiB.
    let mut big = spec(&["true"]);
    big.env = vec![format!("BIG={}", "x".repeat(1024 * 1024 + 1))];
    d.post_json("/v1/containers", &big)
        .expect_error(413, "payload_too_large");

    assert_eq!(d.list_all().len(), 0, "a failed create left a container");
    assert_eq!(container_dirs(&d), before, "a failed create left a folder");
    // The daemon is fine after all that.
    assert_eq!(d.run(&spec(&["true"])).1, 0);
}

#[test]
fn a_name_can_be_used_once() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["true"]);
    s.name = Some(unique_name("once"));
    let id = d.create(&s);
    d.post_json("/v1/containers", &s)
        .expect_error(409, "name_in_use");
    assert_eq!(d.list_all().len(), 1);
    d.remove(&id);
    d.create(&s);
}

#[test]
fn unknown_containers_are_404_on_every_route() {
    let d = Daemon::start();
    let missing = "00000000-0000-4000-8000-000000000000";
    for resp in [
        d.get(&format!("/v1/containers/{missing}")),
        d.get("/v1/containers/no-such-name"),
        d.post(&format!("/v1/containers/{missing}/start"), b""),
        d.post(&format!("/v1/containers/{missing}/stop"), b""),
        d.post(&format!("/v1/containers/{missing}/kill"), b""),
        d.post(&format!("/v1/containers/{missing}/wait"), b""),
        d.get(&format!("/v1/containers/{missing}/logs")),
        d.post(
            &format!("/v1/containers/{missing}/exec"),
            br#"{"cmd": ["true"]}"#,
        ),
        d.delete(&format!("/v1/containers/{missing}")),
        d.delete(&format!("/v1/containers/{missing}?force=true")),
    ] {
        resp.expect_error(404, "container_not_found");
    }
}

#[test]
fn wrong_states_are_409() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(409, "container_running");
    d.delete(&format!("/v1/containers/{id}"))
        .expect_error(409, "container_running");
    assert_eq!(
        d.inspect(&id).state,
        ContainerState::Running,
        "a refused delete harmed the container"
    );
    d.delete(&format!("/v1/containers/{id}?force=true"))
        .expect_status(204);
    d.get(&format!("/v1/containers/{id}"))
        .expect_error(404, "container_not_found");

    let created = d.create(&spec(&["true"]));
    d.post(&format!("/v1/containers/{created}/kill"), b"")
        .expect_error(409, "container_not_running");
    let (exited, _, _) = d.run(&spec(&["true"]));
    d.post(&format!("/v1/containers/{exited}/kill?signal=SIGTERM"), b"")
        .expect_error(409, "container_not_running");
    // Delete without force is fine when the container is not running.
    d.delete(&format!("/v1/containers/{created}"))
        .expect_status(204);
    d.delete(&format!("/v1/containers/{exited}"))
        .expect_status(204);
}

#[test]
fn a_pids_limit_beyond_the_kernels_most_is_refused_at_create_and_update() {
    let d = Daemon::start_with_busybox();
    let before = container_dirs(&d);
    let with_pids = |limit: i64| {
        let mut s = spec(&["true"]);
        s.resources.pids_limit = Some(limit);
        s
    };
    // The kernel's PID_MAX_LIMIT on 64-bit is 4194304; pids.max refuses anything above.
    for limit in [4_194_305, i64::from(i32::MAX), i64::MAX] {
        let err = d
            .post_json("/v1/containers", &with_pids(limit))
            .expect_error(400, "invalid_spec");
        assert!(
            err.message.contains("at least 1 and at most 4194304"),
            "{limit}: {}",
            err.message
        );
    }
    assert_eq!(container_dirs(&d), before, "a refused create left a folder");
    // The most itself is taken, and the container starts with it.
    let id = d.create(&with_pids(4_194_304));
    d.start_container(&id);
    assert_eq!(d.wait(&id), 0, "{}", d.logs(&id));
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let body =
        serde_json::to_vec(&serde_json::json!({"resources": {"pids_limit": 4_194_305}})).unwrap();
    d.client()
        .request(
            "PATCH",
            &format!("/v1/containers/{id}"),
            Some(("application/json", &body)),
        )
        .expect_error(400, "invalid_spec");
    assert_eq!(d.inspect(&id).resources.pids_limit, None);
}

#[test]
fn bad_query_arguments_are_400() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    for signal in ["SIGNOPE", "NOPE", "0x9", "-1", "999"] {
        d.post(&format!("/v1/containers/{id}/kill?signal={signal}"), b"")
            .expect_error(400, "invalid_signal");
    }
    d.post(&format!("/v1/containers/{id}/stop?timeout=soon"), b"")
        .expect_error(400, "invalid_argument");
    d.post(&format!("/v1/containers/{id}/stop?timeout=-1"), b"")
        .expect_error(400, "invalid_argument");
    assert_eq!(
        d.inspect(&id).state,
        ContainerState::Running,
        "a refused request harmed the container"
    );
    d.post(&format!("/v1/containers/{id}/kill?signal=KILL"), b"")
        .expect_status(204);
    assert_eq!(d.wait(&id), 137);
}

#[test]
fn images_import_list_and_delete() {
    let d = Daemon::start();
    let tar = fs::read(conti_tests::busybox_tar()).expect("busybox tar");
    let name = unique_name("img");
    let resp = d.client().post_bytes(
        &format!("/v1/images/import?name={name}"),
        "application/x-tar",
        &tar,
    );
    resp.expect_status(201);
    let image: ImageInfo = resp.json();
    assert_eq!(image.repo_tags, [format!("{name}:latest")]);
    assert!(
        image.size > 1_000_000,
        "size of the unpacked busybox rootfs: {}",
        image.size
    );
    let images: Vec<ImageInfo> = d.get("/v1/images").json();
    assert_eq!(
        images.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [image.id.as_str()]
    );

    d.client()
        .post_bytes(
            &format!("/v1/images/import?name={name}"),
            "application/x-tar",
            &tar,
        )
        .expect_error(409, "image_exists");
    d.client()
        .post_bytes("/v1/images/import", "application/x-tar", &tar)
        .expect_error(400, "invalid_argument");
    d.client()
        .post_bytes(
            "/v1/images/import?name=bad%20name",
            "application/x-tar",
            &tar,
        )
        .expect_error(400, "invalid_reference");
    d.client()
        .post_bytes("/v1/images/import?name=..", "application/x-tar", &tar)
        .expect_error(400, "invalid_reference");
    let garbage = unique_name("garbage");
    d.client()
        .post_bytes(
            &format!("/v1/images/import?name={garbage}"),
            "application/x-tar",
            b"this is not a tar archive at all",
        )
        .expect_error(400, "invalid_archive");
    assert_eq!(
        d.get("/v1/images").json::<Vec<ImageInfo>>().len(),
        1,
        "a failed import left an image"
    );

    // In use by a container, whatever its state.
    let mut s = sh("exit 0");
    s.image = name.clone();
    let (id, code, _) = d.run(&s);
    assert_eq!(code, 0);
    d.delete(&format!("/v1/images/{name}"))
        .expect_error(409, "image_in_use");
    d.remove(&id);
    d.delete(&format!("/v1/images/{name}")).expect_status(204);
    d.delete(&format!("/v1/images/{name}"))
        .expect_error(404, "image_not_found");
    assert!(d.get("/v1/images").json::<Vec<ImageInfo>>().is_empty());
    for folder in ["layers", "images", "blobs/sha256"] {
        let left = fs::read_dir(d.root().join("images").join(folder))
            .expect("image store folder")
            .count();
        assert_eq!(left, 0, "the deleted image's files are left in {folder}");
    }
}

#[test]
fn gzip_images_are_accepted() {
    let d = Daemon::start();
    let dir = d.dir().join("gz");
    fs::create_dir_all(&dir).expect("mkdir");
    let gz = dir.join("busybox.tar.gz");
    let out = conti_tests::run_command(
        std::process::Command::new("sh").arg("-c").arg(format!(
            "gzip -c < {} > {}",
            conti_tests::busybox_tar().display(),
            gz.display()
        )),
        std::time::Duration::from_secs(30),
    );
    assert!(out.status.success());
    let body = fs::read(&gz).expect("reading the gzip");
    d.client()
        .post_bytes("/v1/images/import?name=gz", "application/gzip", &body)
        .expect_status(201);
    let mut s = spec(&["echo", "from gzip"]);
    s.image = "gz".to_string();
    assert_eq!(d.run(&s).2, "from gzip\n");
}

#[test]
fn unknown_routes_and_methods() {
    let d = Daemon::start();
    d.get("/v1/nope").expect_error(404, "route_not_found");
    d.get("/v2/version").expect_error(404, "route_not_found");
    d.get("/").expect_error(404, "route_not_found");
    d.delete("/v1/version")
        .expect_error(405, "method_not_allowed");
    d.get("/v1/containers/x/start")
        .expect_error(405, "method_not_allowed");
    let version: conti_tests::VersionInfo = d.get("/v1/version").json();
    assert_eq!(version.api_version, "v1");
    let info: conti_tests::DaemonInfo = d.get("/v1/info").json();
    assert_eq!(std::path::Path::new(&info.root), d.root());
    assert_eq!(info.cgroup_parent, d.cgroup_parent());
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path.clone());
            }
            found.insert(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    found
}

/// A full state disk (a small tmpfs as `--root`, filled up) is 507 `no_space`, named, on create,
/// network create and start, and none of them leaves a file behind; once there is room again
/// the same requests work.
#[test]
fn a_full_state_disk_is_507_no_space_and_leaves_nothing_half_written() {
    let d = Daemon::unstarted();
    d.mount_small_root("64m");
    let mut d = d;
    d.launch();
    d.import_busybox();
    let waiting = d.create(&spec(&["true"]));
    let state =
        |d: &Daemon| ["containers", "networks"].map(|folder| files_under(&d.root().join(folder)));
    let before = state(&d);
    let filler = d.fill_root();
    let network = conti_tests::NetworkSpec {
        name: unique_name("full"),
        subnet: Some(conti_tests::network::unique_subnet()),
        gateway: None,
        ..Default::default()
    };
    let answers = [
        ("create", d.post_json("/v1/containers", &spec(&["true"]))),
        ("network create", d.post_json("/v1/networks", &network)),
        (
            "start",
            d.post(&format!("/v1/containers/{waiting}/start"), b""),
        ),
    ];
    for (what, resp) in answers {
        let err = resp.expect_error(507, "no_space");
        assert!(
            err.message.contains("no space left on the state disk"),
            "{what}: {}",
            err.message
        );
    }
    assert_eq!(state(&d), before, "a refused request left files");
    assert_eq!(d.inspect(&waiting).state, ContainerState::Created);
    fs::remove_file(filler).expect("removing the filler");
    d.start_container(&waiting);
    assert_eq!(d.wait(&waiting), 0);
    d.create(&spec(&["true"]));
    d.post_json("/v1/networks", &network).expect_status(201);
    d.delete(&format!("/v1/networks/{}", network.name))
        .expect_status(204);
}
