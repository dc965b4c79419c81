//! Pulling OCI images through contid, end to end: a real contid pulls from a real registry on
//! 127.0.0.1 (Debian's docker-registry, fed by buildah and skopeo through the image harness) and
//! real containers run what it pulled. Each test owns its daemon and its registries, pushes only
//! what it pulls, and uses the images the harness built once for every test process.
//!
//! What is proven, by point of the pull issue:
//! - the layered image, Docker schema 2 and OCI: files as its layers say (whiteout, opaque folder,
//!   hard links, symlink, setuid, xattrs, owners), config defaults, inspect, StopSignal;
//! - the NDJSON progress stream, and a second pull that downloads nothing;
//! - a base shared by two images stored once;
//! - gzip, zstd and uncompressed layers; each platform of an index;
//! - basic auth (login, `X-Registry-Auth`, wrong password) and bearer tokens;
//! - TLS: a registry checked against its CA from `--registry-certs-dir`, refused without it
//!   (named `127.1:PORT`, since contid takes loopback names for insecure registries, as Docker);
//! - unknown images, closed ports, corrupt blobs: clear errors, nothing kept; hostile layers
//!   refused or resolved inside their layer, nothing written outside;
//! - a contid killed in the middle of a pull (a throttling proxy makes it last);
//! - `save` read by skopeo, `load` of skopeo's docker and OCI archives;
//! - `conti-cli pull` without a terminal, `run --pull missing|never`;
//! - pulls by digest.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine as _;
use conti_proto::{ErrorBody, LoginSpec, PullEvent};
use conti_tests::cli::{cli_with_env, stderr, stdout};
use conti_tests::image_tools::{CommandFailed, skopeo};
use conti_tests::oci_images::{copy_to_registry, layered};
use conti_tests::oci_layout::{self, media_type};
use conti_tests::{
    ContainerSpec, Daemon, HostileEntry, ImageInfo, LayerCompression, LogStream, ManifestFormat,
    NetworkMode, OciLayout, PushedImage, RegistryOptions, TempDir, TestImage, TestIndex,
    TestRegistry, hostile_image, layered_test_image, shared_base_image, two_platform_index,
    unique_name, wait_until,
};
use serde_json::{Value, json};

/// How long a pull's answer may go silent.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);

// ----- pulls through the API -----

/// `text` percent-encoded for a query value.
fn encode(text: &str) -> String {
    conti_tests::util::query_value(text)
}

fn pull_path(reference: &str, platform: Option<&str>) -> String {
    let mut path = format!("/v1/images/pull?ref={}", encode(reference));
    if let Some(platform) = platform {
        path.push_str(&format!("&platform={}", encode(platform)));
    }
    path
}

/// `POST /v1/images/pull`, its answer's head read; the body streams.
fn start_pull(
    d: &Daemon,
    reference: &str,
    platform: Option<&str>,
    headers: &[(&str, &str)],
) -> LogStream {
    d.client().with_timeout(PULL_TIMEOUT).stream_with_headers(
        "POST",
        &pull_path(reference, platform),
        headers,
    )
}

/// What a pull answered.
#[derive(Debug)]
enum Pulled {
    /// An error before the stream began.
    Refused { status: u16, error: ErrorBody },
    /// 200 and these events, to the end of the stream.
    Streamed(Vec<PullEvent>),
}

fn pull_with(
    d: &Daemon,
    reference: &str,
    platform: Option<&str>,
    headers: &[(&str, &str)],
) -> Pulled {
    let mut stream = start_pull(d, reference, platform, headers);
    if stream.status != 200 {
        let body = stream.read_rest().expect("reading the error");
        let content_type = stream
            .headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .map(|(_, value)| value.as_str())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "pull of {reference}: {} with content-type {content_type:?}: {body}",
            stream.status
        );
        let error: ErrorBody = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("pull of {reference}: not an error body ({e}): {body}"));
        return Pulled::Refused {
            status: stream.status,
            error,
        };
    }
    Pulled::Streamed(read_events(&mut stream, reference))
}

/// The events of a pull's stream, to its end.
fn read_events(stream: &mut LogStream, reference: &str) -> Vec<PullEvent> {
    let mut events = Vec::new();
    while let Some(line) = stream
        .next_line()
        .unwrap_or_else(|e| panic!("pull of {reference}: reading the stream: {e}"))
    {
        events.push(parse_event(&line, reference));
    }
    events
}

fn parse_event(line: &str, reference: &str) -> PullEvent {
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("pull of {reference}: not a PullEvent ({e}): {line:?}"))
}

/// Pulls `reference`; panics unless the stream ends with `done`. Its events.
#[track_caller]
fn pull(d: &Daemon, reference: &str) -> Vec<PullEvent> {
    pull_ok(d, reference, None, &[])
}

#[track_caller]
fn pull_ok(
    d: &Daemon,
    reference: &str,
    platform: Option<&str>,
    headers: &[(&str, &str)],
) -> Vec<PullEvent> {
    match pull_with(d, reference, platform, headers) {
        Pulled::Streamed(events) => {
            assert!(
                matches!(events.last(), Some(PullEvent::Done { .. })),
                "pull of {reference} did not end with done: {events:#?}"
            );
            events
        }
        refused => panic!("pull of {reference}: {refused:?}"),
    }
}

/// Pulls `reference` expecting the error `status`/`code` before the stream; its message.
#[track_caller]
fn pull_refused(
    d: &Daemon,
    reference: &str,
    headers: &[(&str, &str)],
    status: u16,
    code: &str,
) -> String {
    match pull_with(d, reference, None, headers) {
        Pulled::Refused { status: s, error } => {
            assert_eq!(
                (s, error.code.as_str()),
                (status, code),
                "pull of {reference}: {}",
                error.message
            );
            assert!(!error.message.trim().is_empty());
            error.message
        }
        Pulled::Streamed(events) => {
            panic!("pull of {reference} was not refused ({status} {code}): {events:#?}")
        }
    }
}

/// Pulls `reference` expecting the stream to begin and end with an `error` event: its code and
/// message.
#[track_caller]
fn pull_failing_midway(d: &Daemon, reference: &str) -> (String, String) {
    match pull_with(d, reference, None, &[]) {
        Pulled::Streamed(events) => match events.last() {
            Some(PullEvent::Error { code, message }) => {
                assert!(
                    !events.iter().any(|e| matches!(e, PullEvent::Done { .. })),
                    "{events:#?}"
                );
                (code.clone(), message.clone())
            }
            _ => panic!("pull of {reference} did not end with an error: {events:#?}"),
        },
        refused => panic!("pull of {reference} was refused before its stream: {refused:?}"),
    }
}

/// The image id a pull's `done` event names.
fn done_id(events: &[PullEvent]) -> String {
    match events.last() {
        Some(PullEvent::Done { id, .. }) => id.clone(),
        other => panic!("not done: {other:?}"),
    }
}

/// The layers (compressed digests) a pull's `resolved` event lists.
fn resolved_layers(events: &[PullEvent]) -> Vec<(String, u64)> {
    match events.first() {
        Some(PullEvent::Resolved { layers, .. }) => {
            layers.iter().map(|l| (l.digest.clone(), l.size)).collect()
        }
        other => panic!("the stream does not begin with resolved: {other:?}"),
    }
}

fn downloaded(events: &[PullEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, PullEvent::Downloading { .. } | PullEvent::Waiting { .. }))
}

fn existing(events: &[PullEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            PullEvent::Exists { layer } => Some(layer.clone()),
            _ => None,
        })
        .collect()
}

#[track_caller]
fn inspect_image(d: &Daemon, name: &str) -> ImageInfo {
    let resp = d.get(&format!("/v1/images/{}", encode(name)));
    resp.expect_status(200);
    resp.json()
}

fn images(d: &Daemon) -> Vec<ImageInfo> {
    let resp = d.get("/v1/images");
    resp.expect_status(200);
    resp.json()
}

// ----- the store on disk -----

/// The names in `<root>/images/<folder>`, sorted.
fn store_folder(d: &Daemon, folder: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(d.root().join("images").join(folder))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// What the image store holds: images, layer folders, blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoreSnapshot {
    images: Vec<String>,
    layers: Vec<String>,
    blobs: Vec<String>,
}

fn snapshot(d: &Daemon) -> StoreSnapshot {
    let mut ids: Vec<String> = images(d).into_iter().map(|i| i.id).collect();
    ids.sort();
    StoreSnapshot {
        images: ids,
        layers: store_folder(d, "layers"),
        blobs: store_folder(d, "blobs/sha256"),
    }
}

/// The store is as `before` and `tmp/` is empty: what a failed pull leaves once it has said so
/// (its other downloads stopped and cleaned up before the error was sent).
#[track_caller]
fn assert_store_unchanged(d: &Daemon, before: &StoreSnapshot, context: &str) {
    let now = snapshot(d);
    let tmp = store_folder(d, "tmp");
    assert!(
        &now == before && tmp.is_empty(),
        "{context}: the store changed\nbefore: {before:#?}\nafter: {now:#?}\ntmp/: {tmp:?}"
    );
}

/// The hex of a `sha256:` digest.
fn hex(digest: &str) -> &str {
    oci_layout::digest_hex(digest)
}

/// The unpacked tree of layer `diff_id` in the store.
fn layer_tree(d: &Daemon, diff_id: &str) -> PathBuf {
    d.root().join("images/layers").join(hex(diff_id)).join("fs")
}

/// The value of the extended attribute `name` of `path`, `None` when it has none.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("no NUL in the path");
    let c_name = CString::new(name).expect("no NUL in the name");
    let mut value = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and outlive the call; `value` is a writable
    // buffer of `value.len()` bytes, which is the size passed.
    let n = unsafe {
        nix::libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    if n < 0 {
        return None;
    }
    value.truncate(n as usize);
    Some(value)
}

/// Whether the filesystem of `dir` keeps `user.*` extended attributes.
fn keeps_user_xattrs(dir: &Path) -> bool {
    let probe = dir.join(unique_name("xattr-probe"));
    fs::write(&probe, b"").expect("writing a probe file");
    let c_path = CString::new(probe.as_os_str().as_bytes()).expect("no NUL in the path");
    let c_name = CString::new("user.conti-probe").expect("no NUL");
    // SAFETY: both strings are NUL-terminated and outlive the call; the value is a valid
    // 1-byte slice.
    let rc = unsafe {
        nix::libc::setxattr(c_path.as_ptr(), c_name.as_ptr(), b"y".as_ptr().cast(), 1, 0)
    };
    let _ = fs::remove_file(&probe);
    rc == 0
}

// ----- containers -----

/// A spec for `image` with no network (faster to start; these tests need none).
fn spec_of(image: &str) -> ContainerSpec {
    ContainerSpec {
        image: image.to_string(),
        network: NetworkMode::None,
        ..ContainerSpec::default()
    }
}

/// `sh -c script` in `image` (the image's entrypoint replaced, its user and working folder
/// kept).
fn sh_in(image: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        cmd: vec![script.to_string()],
        ..spec_of(image)
    }
}

/// Runs `spec` to its end and removes the container: its exit code and output.
#[track_caller]
fn run(d: &Daemon, spec: &ContainerSpec) -> (i32, String) {
    let (id, code, logs) = d.run(spec);
    d.remove(&id);
    (code, logs)
}

/// `KEY=VALUE` lines of `text` as a map.
fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ----- pushes -----

#[track_caller]
fn push(
    image: &TestImage,
    registry: &TestRegistry,
    repo_and_tag: &str,
    format: ManifestFormat,
    compression: LayerCompression,
) -> PushedImage {
    image
        .push(registry, repo_and_tag, format, compression)
        .unwrap_or_else(|e| panic!("pushing {repo_and_tag}: {e}"))
}

/// Pushes `image` with its layers uncompressed, as its `dir:` copy holds them (skopeo compresses
/// whatever it pushes to a registry): blob by blob, then the manifest, in Docker schema 2 or OCI
/// media types. The digest of the manifest.
fn push_uncompressed(
    image: &TestImage,
    registry: &TestRegistry,
    repo: &str,
    tag: &str,
    format: ManifestFormat,
) -> String {
    let dir = image.dir_image();
    let mut manifest = dir.manifest().expect("the manifest");
    let mut blobs = vec![
        manifest["config"]["digest"]
            .as_str()
            .expect("config")
            .to_string(),
    ];
    for layer in manifest["layers"].as_array().expect("layers") {
        assert_eq!(layer["mediaType"], media_type::DOCKER_LAYER, "{manifest}");
        blobs.push(layer["digest"].as_str().expect("a digest").to_string());
    }
    for digest in &blobs {
        let bytes = fs::read(dir.blob_path(digest)).expect("a blob");
        let uploaded = registry
            .upload_blob(repo, &bytes)
            .unwrap_or_else(|e| panic!("uploading {digest}: {e}"));
        assert_eq!(&uploaded, digest);
    }
    let manifest_type = match format {
        ManifestFormat::DockerV2s2 => media_type::DOCKER_MANIFEST,
        ManifestFormat::Oci => {
            manifest["mediaType"] = json!(media_type::OCI_MANIFEST);
            manifest["config"]["mediaType"] = json!(media_type::OCI_CONFIG);
            for layer in manifest["layers"].as_array_mut().expect("layers") {
                layer["mediaType"] = json!(media_type::OCI_LAYER);
            }
            media_type::OCI_MANIFEST
        }
    };
    let bytes = serde_json::to_vec(&manifest).expect("JSON");
    registry
        .upload_manifest(repo, tag, manifest_type, &bytes)
        .unwrap_or_else(|e| panic!("uploading the manifest of {repo}:{tag}: {e}"))
}

/// The manifest `repo_and_tag` as the registry serves it.
fn manifest_of(registry: &TestRegistry, repo_and_tag: &str) -> Value {
    registry
        .inspect(repo_and_tag, true)
        .unwrap_or_else(|e| panic!("inspecting {repo_and_tag}: {e}"))
}

/// The blob file of `digest` in the registry's storage (Distribution's filesystem layout).
fn registry_blob_file(registry: &TestRegistry, digest: &str) -> PathBuf {
    let hex = hex(digest);
    registry
        .dir()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// GETs of the blobs `digests` the registry answered.
fn blob_gets(registry: &TestRegistry, digests: &[String]) -> usize {
    registry
        .requests()
        .iter()
        .filter(|(method, path, _)| {
            method == "GET"
                && digests
                    .iter()
                    .any(|d| path.ends_with(&format!("/blobs/{d}")))
        })
        .count()
}

// ----- 1. the layered image, both manifest formats -----

/// What a container of the layered image sees: a shell as the image's user in its working
/// folder reports the files of the three layers; the host reads the xattrs of the layer tree.
#[track_caller]
fn assert_layered_files(d: &Daemon, reference: &str, info: &ImageInfo) {
    let script = r#"
echo "pwd=$(pwd)"
echo "ids=$(id -u):$(id -g)"
echo "foo=$FOO"
echo "gone=$(test -e /data/gone && echo present || echo absent)"
echo "keep=$(cat /data/keep)"
echo "opq=$(ls -A /opq | tr '\n' ' ')"
echo "new=$(cat /opq/new)"
echo "a_inode=$(stat -c %i /data/a)"
echo "b_inode=$(stat -c %i /data/b)"
echo "a_links=$(stat -c %h /data/a)"
echo "b=$(cat /data/b)"
echo "link=$(readlink /data/link)"
echo "via_link=$(cat /data/link)"
echo "suid=$(stat -c %a:%u:%g /usr/local/bin/suid)"
echo "data=$(stat -c %a:%u:%g /data)"
echo "keep_owner=$(stat -c %u:%g /data/keep)"
echo "end=yes"
"#;
    let (code, logs) = run(d, &sh_in(reference, script));
    assert_eq!(code, 0, "{logs}");
    let seen = key_values(&logs);
    let expected: BTreeMap<String, String> = [
        ("pwd", layered::WORKING_DIR),
        ("ids", layered::USER),
        ("foo", "bar"),
        ("gone", "absent"),
        ("keep", "keep"),
        ("opq", "new "),
        ("new", "new"),
        ("a_links", "2"),
        ("b", "linked"),
        ("link", "/data/keep"),
        ("via_link", "keep"),
        ("suid", "4755:0:0"),
        ("data", "755:1000:1000"),
        ("keep_owner", "0:0"),
        ("end", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut compared = seen.clone();
    let (a, b) = (compared.remove("a_inode"), compared.remove("b_inode"));
    assert_eq!(
        compared, expected,
        "{reference}: the container saw:\n{logs}"
    );
    assert!(
        a.is_some() && a == b,
        "{reference}: /data/a and /data/b are not one inode: {logs}"
    );

    // The second layer's xattrs, in the store's tree (the overlay's lower folder).
    let tree = layer_tree(d, &info.layers[1]);
    assert_eq!(
        xattr(&tree.join("usr/local/bin/capped"), "security.capability").as_deref(),
        Some(&layered::CAPABILITY_XATTR[..]),
        "{}",
        tree.display()
    );
    if keeps_user_xattrs(d.root()) {
        assert_eq!(
            xattr(&tree.join("data/xattr"), "user.conti").as_deref(),
            Some(&b"yes"[..])
        );
    }
}

/// The image defaults: Entrypoint + Cmd, a create's cmd replacing Cmd, an entrypoint that
/// clears Cmd.
#[track_caller]
fn assert_layered_defaults(d: &Daemon, reference: &str) {
    assert_eq!(
        run(d, &spec_of(reference)),
        (0, "entry from-cmd\n".to_string())
    );
    let with_cmd = ContainerSpec {
        cmd: vec!["one".into(), "two".into()],
        ..spec_of(reference)
    };
    assert_eq!(run(d, &with_cmd), (0, "entry one two\n".to_string()));
    let with_entrypoint = ContainerSpec {
        entrypoint: Some(vec!["/bin/echo".into(), "only".into()]),
        ..spec_of(reference)
    };
    assert_eq!(run(d, &with_entrypoint), (0, "only\n".to_string()));
}

/// Inspect of a pulled layered image: id, names, layers, platform, config.
#[track_caller]
fn assert_layered_inspect(
    registry: &TestRegistry,
    info: &ImageInfo,
    repo_and_tag: &str,
    pushed: &PushedImage,
) {
    let manifest = manifest_of(registry, repo_and_tag);
    assert_eq!(
        info.id,
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest")
    );
    assert_eq!(info.repo_tags, [pushed.reference.as_str()]);
    assert_eq!(info.repo_digests, [pushed.by_digest()]);
    assert_eq!(info.layers, layered_test_image().image.diff_ids());
    assert_eq!(
        (info.architecture.as_str(), info.os.as_str()),
        ("amd64", "linux")
    );
    let config = &info.config;
    assert_eq!(
        config.entrypoint.as_deref(),
        Some(&layered::ENTRYPOINT.map(String::from)[..])
    );
    assert_eq!(
        config.cmd.as_deref(),
        Some(&layered::CMD.map(String::from)[..])
    );
    assert_eq!(config.env, layered::ENV);
    assert_eq!(config.working_dir.as_deref(), Some(layered::WORKING_DIR));
    assert_eq!(config.user.as_deref(), Some(layered::USER));
    assert_eq!(config.stop_signal.as_deref(), Some(layered::STOP_SIGNAL));
    for (name, value) in layered::LABELS {
        assert_eq!(config.labels.get(name).map(String::as_str), Some(value));
    }
}

/// `stop` sends the image's StopSignal (SIGUSR1), which the command traps; SIGTERM would give
/// another exit code. While it runs, the xattr is seen through the container's overlay.
#[track_caller]
fn assert_stop_signal(d: &Daemon, reference: &str) {
    let spec = sh_in(
        reference,
        "trap 'echo got-usr1; exit 7' USR1; trap 'echo got-term; exit 8' TERM; echo ready; \
         while :; do sleep 0.1; done",
    );
    let id = d.run_detached(&spec);
    wait_until(Duration::from_secs(20), "the trap is set", || {
        d.logs(&id).contains("ready")
    });
    let pid = d.inspect(&id).pid.expect("a running container has a pid");
    if keeps_user_xattrs(d.root()) {
        let through_overlay = PathBuf::from(format!("/proc/{pid}/root/data/xattr"));
        assert_eq!(
            xattr(&through_overlay, "user.conti").as_deref(),
            Some(&b"yes"[..]),
            "{}",
            through_overlay.display()
        );
    }
    d.stop(&id, 20);
    assert_eq!(d.wait(&id), 7, "{}", d.logs(&id));
    assert!(d.logs(&id).contains("got-usr1"), "{}", d.logs(&id));
    d.remove(&id);
}

#[test]
fn the_layered_image_runs_as_its_layers_and_config_say_in_both_formats() {
    let registry = TestRegistry::plain();
    let image = &layered_test_image().image;
    let d = Daemon::start();
    for (tag, format) in [
        ("v2s2", ManifestFormat::DockerV2s2),
        ("oci", ManifestFormat::Oci),
    ] {
        let repo_and_tag = format!("layered:{tag}");
        let pushed = push(
            image,
            &registry,
            &repo_and_tag,
            format,
            LayerCompression::Gzip,
        );
        let events = pull(&d, &pushed.reference);
        assert!(
            existing(&events).is_empty(),
            "{tag}: a fresh store: {events:#?}"
        );
        let info = inspect_image(&d, &pushed.reference);
        assert_eq!(info.id, done_id(&events));
        assert_layered_inspect(&registry, &info, &repo_and_tag, &pushed);
        assert_layered_defaults(&d, &pushed.reference);
        assert_layered_files(&d, &pushed.reference, &info);
        if format == ManifestFormat::DockerV2s2 {
            // Docker's healthcheck is kept from a schema 2 config (OCI has none).
            let health = info.config.healthcheck.as_ref().expect("a healthcheck");
            assert_eq!(health.test, layered::HEALTHCHECK_TEST);
            assert_stop_signal(&d, &pushed.reference);
        }
        // Deleted, with its layers: the next format is pulled into an empty store.
        d.delete(&format!("/v1/images/{}", encode(&pushed.reference)))
            .expect_status(204);
        assert_eq!(store_folder(&d, "layers"), Vec::<String>::new(), "{tag}");
    }
}

// ----- 2. the progress stream -----

/// The layer an event is about, and its kind.
fn layer_step(event: &PullEvent) -> Option<(&str, &'static str)> {
    match event {
        PullEvent::Waiting { layer } => Some((layer, "waiting")),
        PullEvent::Exists { layer } => Some((layer, "exists")),
        PullEvent::Downloading { layer, .. } => Some((layer, "downloading")),
        PullEvent::Verifying { layer } => Some((layer, "verifying")),
        PullEvent::Extracting { layer } => Some((layer, "extracting")),
        PullEvent::LayerDone { layer } => Some((layer, "layer_done")),
        _ => None,
    }
}

#[test]
fn the_progress_stream_tells_each_layer_and_a_second_pull_downloads_nothing() {
    let registry = TestRegistry::plain();
    let image = &layered_test_image().image;
    let pushed = push(
        image,
        &registry,
        "progress:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    let manifest = manifest_of(&registry, "progress:v1");
    let d = Daemon::start();
    let events = pull(&d, &pushed.reference);

    let PullEvent::Resolved {
        reference,
        digest,
        layers,
    } = &events[0]
    else {
        panic!("the stream begins with resolved: {events:#?}");
    };
    assert_eq!((reference, digest), (&pushed.reference, &pushed.digest));
    let expected_layers: Vec<(String, u64)> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().expect("digest").to_string(),
                l["size"].as_u64().expect("size"),
            )
        })
        .collect();
    let listed: Vec<(String, u64)> = layers.iter().map(|l| (l.digest.clone(), l.size)).collect();
    assert_eq!(listed, expected_layers);

    for (layer, size) in &expected_layers {
        let steps: Vec<&PullEvent> = events
            .iter()
            .filter(|e| layer_step(e).is_some_and(|(l, _)| l == layer))
            .collect();
        let mut kinds: Vec<&str> = steps
            .iter()
            .filter_map(|e| layer_step(e))
            .map(|(_, k)| k)
            .collect();
        kinds.dedup();
        assert_eq!(
            kinds,
            [
                "waiting",
                "downloading",
                "verifying",
                "extracting",
                "layer_done"
            ],
            "{layer}: {steps:#?}"
        );
        let progress: Vec<(u64, u64)> = steps
            .iter()
            .filter_map(|e| match e {
                PullEvent::Downloading { current, total, .. } => Some((*current, *total)),
                _ => None,
            })
            .collect();
        assert!(
            progress.iter().all(|(_, total)| total == size),
            "{layer}: {progress:?}"
        );
        assert!(
            progress.windows(2).all(|w| w[0].0 <= w[1].0),
            "{layer}: the bytes go back: {progress:?}"
        );
        assert_eq!(
            progress.last().map(|p| p.0),
            Some(*size),
            "{layer}: the last progress does not count every byte: {progress:?}"
        );
    }
    let Some(PullEvent::Done {
        reference,
        id,
        digest,
    }) = events.last()
    else {
        panic!("the stream ends with done: {events:#?}");
    };
    assert_eq!((reference, digest), (&pushed.reference, &pushed.digest));
    assert_eq!(
        id.as_str(),
        manifest["config"]["digest"].as_str().expect("config")
    );
    // The events before done are the resolve and the layers' steps, nothing else.
    assert!(
        events[1..events.len() - 1]
            .iter()
            .all(|e| layer_step(e).is_some()),
        "{events:#?}"
    );

    // Again: every layer exists, no layer blob is fetched.
    let layer_digests: Vec<String> = expected_layers.iter().map(|(d, _)| d.clone()).collect();
    wait_until(
        Duration::from_secs(5),
        "the registry logs the 3 blob GETs",
        || blob_gets(&registry, &layer_digests) == 3,
    );
    let again = pull(&d, &pushed.reference);
    assert_eq!(existing(&again), layer_digests, "{again:#?}");
    assert!(!downloaded(&again), "{again:#?}");
    assert_eq!(done_id(&again), *id);
    assert_eq!(
        blob_gets(&registry, &layer_digests),
        3,
        "{:#?}",
        registry.requests()
    );
}

// ----- 3. a shared base -----

#[test]
fn two_images_on_one_base_keep_the_base_once() {
    let registry = TestRegistry::plain();
    let layered_pushed = push(
        &layered_test_image().image,
        &registry,
        "layered:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    let shared_pushed = push(
        shared_base_image(),
        &registry,
        "shared:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    let d = Daemon::start();
    pull(&d, &layered_pushed.reference);
    let events = pull(&d, &shared_pushed.reference);
    let base_blob = resolved_layers(&events)[0].0.clone();
    assert_eq!(existing(&events), [base_blob.as_str()], "{events:#?}");

    let layered_info = inspect_image(&d, &layered_pushed.reference);
    let shared_info = inspect_image(&d, &shared_pushed.reference);
    assert_eq!(layered_info.layers[0], shared_info.layers[0]);
    let mut all: Vec<String> = layered_info
        .layers
        .iter()
        .chain(&shared_info.layers)
        .map(|l| hex(l).to_string())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);
    assert_eq!(
        store_folder(&d, "layers"),
        all,
        "one folder per distinct layer"
    );
    // The base's blob is kept once too.
    assert_eq!(
        store_folder(&d, "blobs/sha256")
            .iter()
            .filter(|b| b.as_str() == hex(&base_blob))
            .count(),
        1
    );

    assert_eq!(
        run(&d, &spec_of(&shared_pushed.reference)),
        (0, "shared\n".to_string())
    );
    assert_eq!(
        run(&d, &spec_of(&layered_pushed.reference)),
        (0, "entry from-cmd\n".to_string())
    );
    // The base goes with the last image that has it.
    d.delete(&format!("/v1/images/{}", encode(&layered_pushed.reference)))
        .expect_status(204);
    let mut shared_layers: Vec<String> = shared_info
        .layers
        .iter()
        .map(|l| hex(l).to_string())
        .collect();
    shared_layers.sort();
    assert_eq!(store_folder(&d, "layers"), shared_layers);
    assert_eq!(
        run(&d, &spec_of(&shared_pushed.reference)),
        (0, "shared\n".to_string())
    );
    d.delete(&format!("/v1/images/{}", encode(&shared_pushed.reference)))
        .expect_status(204);
    assert_eq!(
        snapshot(&d),
        StoreSnapshot {
            images: vec![],
            layers: vec![],
            blobs: vec![],
        }
    );
}

// ----- 4. compressions and platforms -----

/// The media type `<root>/images/layers/<hex>/layer.json` records.
fn stored_media_type(d: &Daemon, diff_id: &str) -> String {
    let path = d
        .root()
        .join("images/layers")
        .join(hex(diff_id))
        .join("layer.json");
    let record: Value =
        serde_json::from_slice(&fs::read(&path).expect("layer.json")).expect("JSON");
    record["media_type"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn zstd_and_uncompressed_layers_pull_in_both_formats() {
    let registry = TestRegistry::plain();
    let image = shared_base_image();
    let zstd = push(
        image,
        &registry,
        "zstd:oci",
        ManifestFormat::Oci,
        LayerCompression::Zstd,
    );
    let plain_v2s2 = push_uncompressed(
        image,
        &registry,
        "plain",
        "v2s2",
        ManifestFormat::DockerV2s2,
    );
    let plain_oci = push_uncompressed(image, &registry, "plain", "oci", ManifestFormat::Oci);
    let d = Daemon::start();
    let cases = [
        (
            "zstd:oci",
            zstd.digest.clone(),
            media_type::OCI_LAYER_ZSTD,
            media_type::OCI_LAYER_ZSTD,
        ),
        (
            "plain:v2s2",
            plain_v2s2,
            media_type::DOCKER_LAYER,
            media_type::OCI_LAYER,
        ),
        (
            "plain:oci",
            plain_oci,
            media_type::OCI_LAYER,
            media_type::OCI_LAYER,
        ),
    ];
    for (repo_and_tag, digest, served_type, stored_type) in cases {
        let manifest = manifest_of(&registry, repo_and_tag);
        for layer in manifest["layers"].as_array().expect("layers") {
            assert_eq!(layer["mediaType"], served_type, "{repo_and_tag}");
        }
        let reference = registry.reference(repo_and_tag);
        let events = pull(&d, &reference);
        assert!(existing(&events).is_empty(), "{repo_and_tag}: {events:#?}");
        let info = inspect_image(&d, &reference);
        assert_eq!(info.layers, image.diff_ids(), "{repo_and_tag}");
        assert_eq!(
            info.repo_digests,
            [format!(
                "{}@{digest}",
                registry.reference(repo_and_tag.split(':').next().expect("repo"))
            )]
        );
        for diff_id in &info.layers {
            assert_eq!(
                stored_media_type(&d, diff_id),
                stored_type,
                "{repo_and_tag}"
            );
        }
        if served_type != media_type::OCI_LAYER_ZSTD {
            // Uncompressed: the blob is the tar, its digest the diff id.
            let blobs: Vec<String> = resolved_layers(&events)
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            assert_eq!(blobs, info.layers, "{repo_and_tag}");
        }
        assert_eq!(
            run(&d, &spec_of(&reference)),
            (0, "shared\n".to_string()),
            "{repo_and_tag}"
        );
        d.delete(&format!("/v1/images/{}", encode(&reference)))
            .expect_status(204);
        assert_eq!(store_folder(&d, "layers"), Vec::<String>::new());
    }
}

#[test]
fn each_platform_of_an_index_gets_its_own_image() {
    let registry = TestRegistry::plain();
    let index = two_platform_index();
    let d = Daemon::start();
    for (tag, format) in [
        ("oci", ManifestFormat::Oci),
        ("v2s2", ManifestFormat::DockerV2s2),
    ] {
        let repo_and_tag = format!("multi:{tag}");
        let pushed = index
            .push(&registry, &repo_and_tag, format)
            .unwrap_or_else(|e| panic!("pushing {repo_and_tag}: {e}"));
        for (platform, architecture) in [(None, "amd64"), (Some("linux/arm64"), "arm64")] {
            let events = pull_ok(&d, &pushed.reference, platform, &[]);
            let PullEvent::Done { id, digest, .. } = events.last().expect("done") else {
                unreachable!()
            };
            // The index's digest is what the image was pulled by.
            assert_eq!(digest, &pushed.digest, "{tag} {platform:?}");
            let info = inspect_image(&d, id);
            assert_eq!(
                (info.os.as_str(), info.architecture.as_str()),
                ("linux", architecture),
                "{tag} {platform:?}"
            );
            assert!(info.repo_digests.contains(&pushed.by_digest()), "{info:?}");
            // The arm64 image holds the same amd64 busybox: only its marker differs.
            assert_eq!(
                run(&d, &spec_of(id)),
                (0, TestIndex::marker(architecture)),
                "{tag} {platform:?}"
            );
            // The tag names the platform pulled last.
            assert_eq!(inspect_image(&d, &pushed.reference).id, *id);
        }
        let message = match pull_with(&d, &pushed.reference, Some("linux/s390x"), &[]) {
            Pulled::Refused { status, error } => {
                assert_eq!((status, error.code.as_str()), (404, "no_matching_platform"));
                error.message
            }
            other => panic!("{other:?}"),
        };
        assert!(
            message.contains("linux/s390x")
                && message.contains("linux/amd64")
                && message.contains("linux/arm64"),
            "{message}"
        );
    }
}

// ----- 5. authentication -----

/// `X-Registry-Auth` as Docker sends it: base64url of `{"username", "password"}`.
fn registry_auth_header(user: &str, password: &str) -> String {
    let json = json!({"username": user, "password": password}).to_string();
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

fn login(d: &Daemon, registry: &str, user: &str, password: &str) -> conti_tests::Response {
    d.post_json(
        "/v1/auth",
        &LoginSpec {
            registry: registry.to_string(),
            username: user.to_string(),
            password: password.to_string(),
        },
    )
}

/// Where contid keeps the credentials of `login` (`<root>/credentials.json`).
fn credentials_file(d: &Daemon) -> PathBuf {
    d.root().join("credentials.json")
}

#[test]
fn basic_auth_takes_the_header_or_a_login_and_refuses_wrong_passwords() {
    let registry = TestRegistry::start(RegistryOptions::plain().with_basic_auth("alice", "s3cret"));
    let pushed = push(
        shared_base_image(),
        &registry,
        "private/shared:v1",
        ManifestFormat::Oci,
        LayerCompression::Gzip,
    );
    let d = Daemon::start();
    let reference = &pushed.reference;
    let before = snapshot(&d);

    // No credentials at all.
    let message = pull_refused(&d, reference, &[], 401, "registry_unauthorized");
    assert!(message.contains(&registry.host_port()), "{message}");
    // A wrong password, in the header or in a login.
    let wrong = registry_auth_header("alice", "wrong");
    pull_refused(
        &d,
        reference,
        &[("X-Registry-Auth", &wrong)],
        401,
        "registry_unauthorized",
    );
    let refused = login(&d, &registry.host_port(), "alice", "wrong")
        .expect_error(401, "registry_unauthorized");
    assert!(refused.message.contains("alice"), "{}", refused.message);
    assert!(!credentials_file(&d).exists(), "a refused login was kept");
    assert_store_unchanged(&d, &before, "refused pulls");

    // The right ones in the header: that pull only, nothing kept.
    let right = registry_auth_header("alice", "s3cret");
    let events = pull_ok(&d, reference, None, &[("X-Registry-Auth", &right)]);
    assert!(!credentials_file(&d).exists());
    d.delete(&format!("/v1/images/{}", encode(reference)))
        .expect_status(204);
    pull_refused(&d, reference, &[], 401, "registry_unauthorized");

    // A login: kept root-only, used by later pulls.
    login(&d, &registry.host_port(), "alice", "s3cret").expect_status(204);
    let file = fs::metadata(credentials_file(&d)).expect("the credentials file");
    assert_eq!(file.permissions().mode() & 0o777, 0o600);
    assert_eq!((file.uid(), file.gid()), (0, 0));
    let again = pull(&d, reference);
    assert_eq!(done_id(&again), done_id(&events));
    assert_eq!(run(&d, &spec_of(reference)), (0, "shared\n".to_string()));
    // A wrong header wins over the login (the header is the caller's word).
    pull_refused(
        &d,
        reference,
        &[("X-Registry-Auth", &wrong)],
        401,
        "registry_unauthorized",
    );
    // Logged out: refused again.
    d.delete(&format!("/v1/auth/{}", encode(&registry.host_port())))
        .expect_status(204);
    pull_refused(&d, reference, &[], 401, "registry_unauthorized");
}

#[test]
fn a_token_registry_works_after_conti_cli_login() {
    let registry =
        TestRegistry::start(RegistryOptions::plain().with_token_auth("carol", "t0ken-pass"));
    let server = registry.token_server().expect("a token server");
    let pushed = push(
        shared_base_image(),
        &registry,
        "tokens/shared:v1",
        ManifestFormat::Oci,
        LayerCompression::Gzip,
    );
    let d = Daemon::start();
    let docker_config = TempDir::new("conti-docker-config");
    let env = [(
        "DOCKER_CONFIG",
        Some(docker_config.path().to_str().expect("UTF-8")),
    )];
    pull_refused(&d, &pushed.reference, &[], 401, "registry_unauthorized");

    let host = registry.host_port();
    let out = cli_with_env(&d, &env, &["login", "-u", "carol", "-p", "wrong", &host]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("carol"), "{}", stderr(&out));
    let out = cli_with_env(
        &d,
        &env,
        &["login", "-u", "carol", "-p", "t0ken-pass", &host],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded\n");

    let before = server.requests().len();
    let events = pull(&d, &pushed.reference);
    let requests = server.requests()[before..].to_vec();
    assert!(
        requests.iter().any(|r| r.granted
            && r.user.as_deref() == Some("carol")
            && r.scopes
                .iter()
                .any(|s| s == "repository:tokens/shared:pull")),
        "{requests:#?}"
    );
    let info = inspect_image(&d, &pushed.reference);
    assert_eq!(info.id, done_id(&events));
    assert_eq!(
        run(&d, &spec_of(&pushed.reference)),
        (0, "shared\n".to_string())
    );
}

// ----- 6. TLS -----

#[test]
fn tls_registries_are_verified_against_the_certs_d_ca() {
    let registry = TestRegistry::start(RegistryOptions::plain().with_tls());
    let pushed = push(
        shared_base_image(),
        &registry,
        "secure/shared:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    let mut d = Daemon::unstarted();
    let certs = d.dir().join("certs.d");
    fs::create_dir_all(&certs).expect("certs.d");
    d.set_args(&["--registry-certs-dir", certs.to_str().expect("UTF-8")]);
    d.launch();
    let before = snapshot(&d);

    // A registry named by a loopback address is insecure, as Docker has it: HTTPS without
    // checking the certificate (then plain HTTP). So its certs.d CA is not needed, and a
    // missing one cannot be seen there: this pull works with no CA anywhere.
    let loopback = pull(&d, &pushed.reference);
    d.delete(&format!("/v1/images/{}", encode(&pushed.reference)))
        .expect_status(204);

    // `127.1` is 127.0.0.1 in the IPv4 shorthand URL parsers accept (the connection stays on
    // loopback), but contid does not take that name for a loopback one: this registry is
    // treated as any remote one, HTTPS only, its certificate checked against the system's
    // roots and the CAs of `<certs.d>/127.1:PORT/`. Without its CA: a clear 502, at once.
    let secure_name = format!("127.1:{}", registry.port());
    let secure_reference = format!("{secure_name}/secure/shared:v1");
    let started = Instant::now();
    let message = pull_refused(&d, &secure_reference, &[], 502, "registry_unreachable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains(&secure_name), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert!(
        message.contains(&certs.join(&secure_name).display().to_string()),
        "the message says where the CA goes: {message}"
    );
    assert_store_unchanged(&d, &before, "a registry whose certificate is not trusted");

    // With its CA in certs.d (laid out as the harness does for the loopback name).
    let ca_dir = certs.join(&secure_name);
    fs::create_dir_all(&ca_dir).expect("the registry's certs.d folder");
    let written = registry.write_certs_d(&certs);
    fs::copy(&written, ca_dir.join("ca.crt")).expect("the CA");
    let events = pull(&d, &secure_reference);
    assert_eq!(done_id(&events), done_id(&loopback));
    assert_eq!(
        run(&d, &spec_of(&secure_reference)),
        (0, "shared\n".to_string())
    );

    // A certs.d file that is no certificate is named, not ignored.
    let broken = certs.join(format!("localhost:{}", registry.port()));
    fs::create_dir_all(&broken).expect("a certs.d folder");
    fs::write(broken.join("ca.crt"), "not a certificate\n").expect("ca.crt");
    let message = pull_refused(
        &d,
        &format!("localhost:{}/secure/shared:v1", registry.port()),
        &[],
        502,
        "registry_unreachable",
    );
    assert!(message.contains("ca.crt"), "{message}");
}

// ----- 7. errors -----

#[test]
fn unknown_images_and_unreachable_registries_are_clear_errors_that_keep_nothing() {
    let registry = TestRegistry::plain();
    push(
        shared_base_image(),
        &registry,
        "errors/shared:v1",
        ManifestFormat::Oci,
        LayerCompression::Gzip,
    );
    let d = Daemon::start();
    let before = snapshot(&d);
    let unknown_digest = format!("sha256:{}", "0".repeat(64));
    for missing in [
        registry.reference("errors/shared:nope"),
        registry.reference("nosuch/repository:v1"),
        registry.reference(&format!("errors/shared@{unknown_digest}")),
    ] {
        let message = pull_refused(&d, &missing, &[], 404, "image_not_found");
        assert!(message.contains(&missing), "{message}");
        assert_store_unchanged(&d, &before, &missing);
    }

    // A port nobody listens on: refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("binding 127.0.0.1:0")
        .local_addr()
        .expect("an address")
        .port();
    let closed = format!("127.0.0.1:{port}/errors/shared:v1");
    let started = Instant::now();
    let message = pull_refused(&d, &closed, &[], 502, "registry_unreachable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("connection refused"), "{message}");
    assert_store_unchanged(&d, &before, "an unreachable registry");

    // Not a reference at all.
    pull_refused(&d, "Not/A:Reference:x", &[], 400, "invalid_reference");
    // And the image was there all along.
    pull(&d, &registry.reference("errors/shared:v1"));
}

// ----- 8. hostile layers -----

/// Files named `name` under `dir` (symlinks not followed).
fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().as_bytes() == name.as_bytes() {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            }
        }
    }
    found
}

/// How contid's unpacker meets each hostile entry (`runtime/unpack`): a `..` in a name or a
/// hard link's target is refused; an absolute name and an entry under a symlink to `/` or `..`
/// are resolved inside the layer, as the container would see them. `None`: refused, naming
/// the entry; `Some(path)`: kept, at `path` inside the image.
fn expected_outcome(kind: HostileEntry) -> Option<&'static str> {
    match kind {
        HostileEntry::DotDotPath | HostileEntry::HardLinkOutside => None,
        HostileEntry::AbsolutePath => Some("/abs"),
        HostileEntry::SymlinkToRootThenEntry | HostileEntry::SymlinkToParentThenEntry => {
            Some("/conti-escaped")
        }
    }
}

#[test]
fn hostile_layers_are_refused_or_kept_inside_their_layer() {
    let registry = TestRegistry::plain();
    let dir = TempDir::new("conti-hostile");
    let layout = OciLayout::create(dir.path().join("layout")).expect("a layout");
    let d = Daemon::start();
    let passwd_links = fs::metadata("/etc/passwd").expect("/etc/passwd").nlink();
    // Where an escape would land on the host.
    let host_targets = ["/abs", "/conti-escaped", "/escape", "/tmp/escape"];
    for target in host_targets {
        assert!(
            !Path::new(target).exists(),
            "{target} exists before the test"
        );
    }
    for kind in HostileEntry::ALL {
        let tag = hostile_image(&layout, kind).expect("a hostile image");
        let repo_and_tag = format!("hostile:{tag}");
        copy_to_registry(
            &layout.reference(&tag),
            &registry,
            &repo_and_tag,
            ManifestFormat::Oci,
            LayerCompression::Gzip,
            false,
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let reference = registry.reference(&repo_and_tag);
        let before = snapshot(&d);
        match expected_outcome(kind) {
            None => {
                let (code, message) = pull_failing_midway(&d, &reference);
                assert_eq!(code, "invalid_archive", "{kind:?}: {message}");
                assert!(
                    message.contains(kind.offending_entry()),
                    "{kind:?}: the message names {}: {message}",
                    kind.offending_entry()
                );
                assert_store_unchanged(&d, &before, &format!("{kind:?}"));
                d.get(&format!("/v1/images/{}", encode(&reference)))
                    .expect_error(404, "image_not_found");
            }
            Some(inside) => {
                let events = pull(&d, &reference);
                let info = inspect_image(&d, &done_id(&events));
                let top = layer_tree(&d, &info.layers[1]);
                let kept = top.join(inside.trim_start_matches('/'));
                assert_eq!(
                    fs::read(&kept).unwrap_or_else(|e| panic!("{kind:?}: {}: {e}", kept.display())),
                    b"conti-escaped\n"
                );
                assert_eq!(
                    run(&d, &sh_in(&reference, &format!("cat {inside}"))),
                    (0, "conti-escaped\n".to_string()),
                    "{kind:?}"
                );
                d.delete(&format!("/v1/images/{}", encode(&reference)))
                    .expect_status(204);
            }
        }
        // Nothing outside a layer's tree, in the test's folder or on the host.
        for name in ["escape", "abs", "conti-escaped", "passwd-link"] {
            for path in files_named(d.dir(), name) {
                let in_a_tree =
                    path.strip_prefix(d.root().join("images/layers"))
                        .is_ok_and(|rest| {
                            rest.components()
                                .nth(1)
                                .is_some_and(|c| c.as_os_str() == "fs")
                        });
                assert!(
                    in_a_tree,
                    "{kind:?}: {} outside a layer's tree",
                    path.display()
                );
            }
        }
        for target in host_targets {
            assert!(!Path::new(target).exists(), "{kind:?}: wrote {target}");
        }
        assert_eq!(
            fs::metadata("/etc/passwd").expect("/etc/passwd").nlink(),
            passwd_links,
            "{kind:?}: a hard link to the host's /etc/passwd"
        );
    }
}

// ----- 9. a daemon killed in the middle of a pull -----

/// A TCP forwarder on 127.0.0.1 in front of a registry that sends the registry's answers at
/// most `rate` bytes a second per connection (0: as fast as they come), so that a pull through
/// it lasts long enough to be cut. Its threads end, closing their connections, when it is
/// dropped.
struct SlowProxy {
    port: u16,
    rate: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
}

impl SlowProxy {
    fn start(upstream: u16, bytes_per_second: u64) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("an address").port();
        let rate = Arc::new(AtomicU64::new(bytes_per_second));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (rate, stop, threads) = (rate.clone(), stop.clone(), threads.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                        Err(_) => break,
                    };
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                        continue;
                    };
                    let _ = client.set_nonblocking(false);
                    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone())
                    else {
                        continue;
                    };
                    let (up_stop, down_stop, down_rate) =
                        (stop.clone(), stop.clone(), rate.clone());
                    let mut handles = threads.lock().expect("the proxy's threads");
                    handles.push(thread::spawn(move || pump(client, server, None, &up_stop)));
                    handles.push(thread::spawn(move || {
                        pump(server2, client2, Some(&down_rate), &down_stop)
                    }));
                }
            })
        };
        SlowProxy {
            port,
            rate,
            stop,
            threads,
            accept: Some(accept),
        }
    }

    fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on, as fast as the registry answers.
    fn unthrottle(&self) {
        self.rate.store(0, Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until either ends or `stop`, at most `rate` bytes a second.
fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<&AtomicU64>, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = to.set_write_timeout(Some(Duration::from_secs(10)));
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                let rate = rate.map_or(0, |r| r.load(Ordering::Relaxed));
                if rate > 0 {
                    thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let handles: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

#[test]
fn a_daemon_killed_mid_pull_leaves_nothing_a_later_pull_or_run_uses() {
    let registry = TestRegistry::plain();
    push(
        &layered_test_image().image,
        &registry,
        "big:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    // 64 KiB/s a connection: the 1 MiB layers take many seconds.
    let proxy = SlowProxy::start(registry.port(), 64 << 10);
    let reference = format!("{}/big:v1", proxy.host_port());
    let mut d = Daemon::start();

    // Killed once one layer is in the store and another is being written.
    let mut stream = start_pull(&d, &reference, None, &[]);
    assert_eq!(stream.status, 200);
    let (mut layer_done, mut writing) = (false, false);
    let mut seen = Vec::new();
    while !(layer_done && writing) {
        let line = stream
            .next_line()
            .expect("reading the pull")
            .unwrap_or_else(|| panic!("the pull ended before it was cut: {seen:#?}"));
        let event = parse_event(&line, &reference);
        match &event {
            PullEvent::LayerDone { .. } => layer_done = true,
            PullEvent::Downloading { current, .. } if *current > 0 => writing = true,
            PullEvent::Done { .. } | PullEvent::Error { .. } => {
                panic!("the pull ended before it was cut: {event:?}")
            }
            _ => {}
        }
        seen.push(event);
    }
    let half_written = store_folder(&d, "tmp");
    assert!(!half_written.is_empty(), "a layer being written is in tmp/");
    assert!(
        !store_folder(&d, "layers").is_empty(),
        "a finished layer is in layers/"
    );
    d.kill9();
    drop(stream);

    d.launch();
    assert_eq!(
        store_folder(&d, "tmp"),
        Vec::<String>::new(),
        "tmp/ emptied at the start"
    );
    assert_eq!(
        snapshot(&d),
        StoreSnapshot {
            images: vec![],
            layers: vec![],
            blobs: vec![],
        },
        "what the cut pull wrote is gone"
    );
    d.post_json("/v1/containers", &spec_of(&reference))
        .expect_error(404, "image_not_found");

    proxy.unthrottle();
    let events = pull(&d, &reference);
    assert!(existing(&events).is_empty(), "{events:#?}");
    assert_eq!(
        run(&d, &spec_of(&reference)),
        (0, "entry from-cmd\n".to_string())
    );
    let info = inspect_image(&d, &reference);
    assert_eq!(info.layers, layered_test_image().image.diff_ids());
}

// ----- 10. save and load -----

/// `skopeo inspect <args> docker-archive:<path>`, parsed.
fn skopeo_inspect_archive(path: &Path, args: &[&str]) -> Value {
    let mut command = skopeo();
    command
        .arg("inspect")
        .args(args)
        .arg(format!("docker-archive:{}", path.display()));
    let out = CommandFailed::check(&mut command, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&out.stdout).expect("skopeo's JSON")
}

#[track_caller]
fn load(d: &Daemon, archive: &Path) -> Vec<ImageInfo> {
    let bytes = fs::read(archive).expect("the archive");
    let resp = d
        .client()
        .post_bytes("/v1/images/load", "application/x-tar", &bytes);
    resp.expect_status(200);
    resp.json()
}

#[test]
fn save_agrees_with_skopeo_and_skopeo_archives_load_and_run() {
    let image = &layered_test_image().image;
    let config_digest = image.dir_image().manifest().expect("manifest")["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_string();
    let dir = TempDir::new("conti-archives");
    let d = Daemon::start();

    // A docker-archive made by skopeo.
    let docker = dir.path().join("docker.tar");
    image
        .save_docker_archive(&docker, "conti-test/layered:saved")
        .unwrap_or_else(|e| panic!("{e}"));
    let loaded = load(&d, &docker);
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    let info = &loaded[0];
    assert_eq!(info.id, config_digest);
    assert_eq!(info.repo_tags, ["conti-test/layered:saved"]);
    assert_eq!(info.layers, image.diff_ids());
    let name = "conti-test/layered:saved";
    assert_eq!(run(&d, &spec_of(name)), (0, "entry from-cmd\n".to_string()));
    assert_layered_files(&d, name, info);

    // Saved by contid: skopeo reads the same config and layers.
    let resp = d.get(&format!("/v1/images/{}/save", encode(name)));
    resp.expect_status(200);
    assert_eq!(resp.header("content-type"), Some("application/x-tar"));
    let saved = dir.path().join("saved.tar");
    fs::write(&saved, &resp.body).expect("writing the archive");
    let manifest = skopeo_inspect_archive(&saved, &["--raw"]);
    assert_eq!(
        manifest["config"]["digest"],
        config_digest.as_str(),
        "{manifest}"
    );
    let layer_digests: Vec<&str> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("a digest"))
        .collect();
    assert_eq!(layer_digests, image.diff_ids(), "{manifest}");
    let raw_config = {
        let mut command = skopeo();
        command
            .args(["inspect", "--config", "--raw"])
            .arg(format!("docker-archive:{}", saved.display()));
        CommandFailed::check(&mut command, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout
    };
    assert_eq!(oci_layout::sha256_digest(&raw_config), config_digest);
    let summary = skopeo_inspect_archive(&saved, &[]);
    assert_eq!(summary["Architecture"], "amd64", "{summary}");

    // Loaded back after a delete: the same image, its tag again.
    d.delete(&format!("/v1/images/{}", encode(name)))
        .expect_status(204);
    let again = load(&d, &saved);
    assert_eq!(
        (again[0].id.as_str(), again[0].repo_tags.as_slice()),
        (config_digest.as_str(), &[name.to_string()][..])
    );

    // An oci-archive made by skopeo: an image without a tag (its ref name is a bare "saved").
    let oci = dir.path().join("oci.tar");
    image
        .save_oci_archive(&oci, "saved")
        .unwrap_or_else(|e| panic!("{e}"));
    let loaded = load(&d, &oci);
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0].layers, image.diff_ids());
    assert_eq!(
        run(&d, &spec_of(&loaded[0].id)),
        (0, "entry from-cmd\n".to_string())
    );
}

// ----- 11. conti-cli -----

#[test]
fn conti_cli_pull_prints_plain_lines_and_run_follows_its_pull_policy() {
    let registry = TestRegistry::plain();
    let image = shared_base_image();
    let pushed = push(
        image,
        &registry,
        "cli/shared:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    let other = push(
        image,
        &registry,
        "cli/other:v1",
        ManifestFormat::DockerV2s2,
        LayerCompression::Gzip,
    );
    let d = Daemon::start();
    let docker_config = TempDir::new("conti-docker-config");
    let env = [(
        "DOCKER_CONFIG",
        Some(docker_config.path().to_str().expect("UTF-8")),
    )];
    let shorts: Vec<String> = manifest_of(&registry, "cli/shared:v1")["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| hex(l["digest"].as_str().expect("a digest"))[..12].to_string())
        .collect();

    let out = cli_with_env(&d, &env, &["pull", &pushed.reference]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        !text.contains('\r') && !text.contains('\x1b'),
        "redraws without a terminal: {text:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from cli/shared", "{text}");
    for short in &shorts {
        assert!(
            lines.contains(&format!("{short}: Pull complete").as_str()),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{short}: Downloading")))
                .count()
                <= 1,
            "one line per step: {text}"
        );
    }
    let id = inspect_image(&d, &pushed.reference).id;
    assert!(
        lines.contains(&format!("Digest: {}", pushed.digest).as_str()),
        "{text}"
    );
    assert!(
        lines
            .contains(&format!("Status: Downloaded newer image for {}", pushed.reference).as_str()),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&id.as_str()), "{text}");

    let out = cli_with_env(&d, &env, &["pull", &pushed.reference]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for short in &shorts {
        assert!(text.contains(&format!("{short}: Already exists")), "{text}");
    }
    assert!(
        text.contains(&format!(
            "Status: Image is up to date for {}",
            pushed.reference
        )),
        "{text}"
    );

    // --pull never: an image that is not here is an error, and is not pulled.
    let run_args = |policy: &'static str| {
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--pull",
            policy,
            other.reference.as_str(),
        ]
    };
    let out = cli_with_env(&d, &env, &run_args("never"));
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains(&other.reference), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    d.get(&format!("/v1/images/{}", encode(&other.reference)))
        .expect_error(404, "image_not_found");

    // --pull missing: pulled first (its progress on stderr), then run.
    let out = cli_with_env(&d, &env, &run_args("missing"));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "shared\n");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Unable to find image '{}' locally",
            other.reference
        )),
        "{err}"
    );
    assert!(err.contains(&format!("Digest: {}", other.digest)), "{err}");
    inspect_image(&d, &other.reference);
}

// ----- 12. digests -----

#[test]
fn pulls_by_digest_work_and_content_that_breaks_its_digest_is_refused() {
    let registry = TestRegistry::plain();
    let image = shared_base_image();
    let d = Daemon::start();

    // An uncompressed copy whose top layer is changed in the registry's storage, its size and
    // tar structure kept: only the digests tell.
    let manifest_digest = push_uncompressed(
        image,
        &registry,
        "digest/corrupt",
        "v1",
        ManifestFormat::Oci,
    );
    let top = image.diff_ids()[1].clone();
    let file = registry_blob_file(&registry, &top);
    let mut bytes = fs::read(&file).expect("the registry's blob");
    let at = bytes
        .windows(7)
        .position(|w| w == b"shared\n")
        .expect("the marker's content in the layer");
    bytes[at..at + 6].copy_from_slice(b"SHARED");
    fs::write(&file, &bytes).expect("corrupting the blob");
    let before = snapshot(&d);
    for corrupt in [
        registry.reference("digest/corrupt:v1"),
        registry.reference(&format!("digest/corrupt@{manifest_digest}")),
    ] {
        // The registry served what its digest does not say: the registry's error.
        let (code, message) = pull_failing_midway(&d, &corrupt);
        assert!(
            code == "registry_error"
                && message.contains("does not match its digest")
                && message.contains(&top),
            "{corrupt}: {code}: {message}"
        );
        assert_store_unchanged(&d, &before, &corrupt);
    }

    // By digest: the image, named by that digest only.
    let pushed = push(
        image,
        &registry,
        "digest/shared:v1",
        ManifestFormat::Oci,
        LayerCompression::Gzip,
    );
    let by_digest = pushed.by_digest();
    let events = pull(&d, &by_digest);
    let Some(PullEvent::Done {
        reference,
        id,
        digest,
    }) = events.last()
    else {
        unreachable!()
    };
    assert_eq!((reference, digest), (&by_digest, &pushed.digest));
    let info = inspect_image(&d, &by_digest);
    assert_eq!(&info.id, id);
    assert!(info.repo_tags.is_empty(), "{info:?}");
    assert_eq!(info.repo_digests, [by_digest.as_str()]);
    assert_eq!(run(&d, &spec_of(&by_digest)), (0, "shared\n".to_string()));
    // Its tag then names the same image, nothing downloaded.
    let tagged = pull(&d, &pushed.reference);
    assert_eq!(done_id(&tagged), *id);
    assert!(!downloaded(&tagged), "{tagged:#?}");
    assert_eq!(
        inspect_image(&d, &pushed.reference).repo_digests,
        [by_digest]
    );
}

/// A pull into a full state disk ends with `no_space`, named, and keeps nothing; once there is
/// room again the same pull works.
#[test]
fn a_full_state_disk_ends_a_pull_with_no_space_and_keeps_nothing() {
    let registry = TestRegistry::plain();
    push(
        &layered_test_image().image,
        &registry,
        "full/layered:v1",
        ManifestFormat::Oci,
        LayerCompression::Gzip,
    );
    let reference = registry.reference("full/layered:v1");
    let d = Daemon::unstarted();
    d.mount_small_root("64m");
    let mut d = d;
    d.launch();
    let before = snapshot(&d);
    let filler = d.fill_root();
    let (code, message) = match pull_with(&d, &reference, None, &[]) {
        Pulled::Streamed(events) => match events.last() {
            Some(PullEvent::Error { code, message }) => (code.clone(), message.clone()),
            _ => panic!("the pull did not end with an error: {events:#?}"),
        },
        Pulled::Refused { status, error } => {
            assert_eq!(status, 507, "{}", error.message);
            (error.code, error.message)
        }
    };
    assert_eq!(code, "no_space", "{message}");
    assert!(
        message.contains("no space left on the state disk"),
        "{message}"
    );
    assert_store_unchanged(&d, &before, "a pull into a full disk");
    fs::remove_file(filler).expect("removing the filler");
    let events = pull(&d, &reference);
    assert!(
        matches!(events.last(), Some(PullEvent::Done { .. })),
        "{events:#?}"
    );
}
