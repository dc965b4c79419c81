//! The image harness itself, without contid: the images are built as `oci_images` says, every
//! registry mode starts and serves what skopeo pushed (layers, configuration, media types, as
//! checked by `skopeo inspect` and by the blobs it serves), wrong credentials are refused, the
//! index lists two platforms, archives and hostile layers come out as written. Everything talks
//! to 127.0.0.1 only.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::Duration;

use conti_tests::image_tools::isolated_tool;
use conti_tests::oci_images::{LayerSpec, layered, shared_base_top_layer};
use conti_tests::oci_layout::{self, TarEntry, media_type, tar_entries};
use conti_tests::{
    Credentials, HostileEntry, LayerCompression, ManifestFormat, OciLayout, RegistryOptions,
    TempDir, TestIndex, TestRegistry, hostile_image, layered_test_image, run_command,
    shared_base_image, two_platform_index,
};
use serde_json::Value;

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v}"))
                .to_string()
        })
        .collect()
}

fn layer_media_types(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no layers in {manifest}"))
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The configuration fields of the layered image, in Docker's or OCI's names (the same).
#[track_caller]
fn assert_layered_config(config: &Value, with_healthcheck: bool) {
    let c = &config["config"];
    assert_eq!(strings(&c["Entrypoint"]), layered::ENTRYPOINT, "{config}");
    assert_eq!(strings(&c["Cmd"]), layered::CMD, "{config}");
    assert_eq!(strings(&c["Env"]), layered::ENV, "{config}");
    assert_eq!(c["WorkingDir"], layered::WORKING_DIR);
    assert_eq!(c["User"], layered::USER);
    assert_eq!(c["StopSignal"], layered::STOP_SIGNAL);
    for (name, value) in layered::LABELS {
        assert_eq!(c["Labels"][name], value, "{config}");
    }
    assert!(
        c["ExposedPorts"].get(layered::EXPOSED_PORT).is_some(),
        "{config}"
    );
    assert!(c["Volumes"].get(layered::VOLUME).is_some(), "{config}");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(3)
    );
    if with_healthcheck {
        let health = &c["Healthcheck"];
        assert_eq!(
            strings(&health["Test"]),
            layered::HEALTHCHECK_TEST,
            "{config}"
        );
        assert_eq!(health["Interval"], layered::HEALTHCHECK_INTERVAL_NS);
        assert_eq!(health["Timeout"], layered::HEALTHCHECK_TIMEOUT_NS);
        assert_eq!(health["Retries"], layered::HEALTHCHECK_RETRIES);
    } else {
        assert!(c.get("Healthcheck").is_none(), "{config}");
    }
}

#[track_caller]
fn assert_layer(spec: &LayerSpec, entries: &[TarEntry]) {
    if let Err(e) = spec.check(entries) {
        panic!(
            "{e}\nthe layer holds: {:#?}",
            entries.iter().map(|e| &e.path).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_images_are_built_as_described() {
    let image = layered_test_image();
    assert_eq!(image.layers.len(), 3);
    let diff_ids = image.image.diff_ids();
    assert_eq!(diff_ids.len(), 3);
    for (index, spec) in image.layers.iter().enumerate() {
        assert_layer(spec, &image.image.layer_entries(index));
    }
    let config = image.image.config();
    assert_layered_config(&config, true);
    let history = config["history"].as_array().expect("history");
    assert!(history.len() >= 3, "{history:?}");
    let manifest = image.image.dir_image().manifest().expect("manifest");
    assert_eq!(manifest["mediaType"], media_type::DOCKER_MANIFEST);

    // The shared base: the same busybox layer, byte for byte.
    let shared = shared_base_image();
    assert_eq!(shared.diff_ids()[0], diff_ids[0]);
    assert_ne!(shared.diff_ids()[1], diff_ids[1]);
    assert_eq!(
        shared.dir_image().layers().expect("layers")[0],
        image.image.dir_image().layers().expect("layers")[0]
    );
    assert_layer(&shared_base_top_layer(), &shared.layer_entries(1));

    // The index on disk: two platforms on the same base.
    let index = two_platform_index();
    let layout = index.layout();
    let outer = layout.index().expect("index.json");
    let index_digest = outer["manifests"][0]["digest"].as_str().expect("a digest");
    let list = layout.blob_json(index_digest).expect("the index");
    let platforms: Vec<(String, String)> = list["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            (
                m["platform"]["os"].as_str().unwrap_or_default().to_string(),
                m["platform"]["architecture"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = TestIndex::PLATFORMS
        .iter()
        .map(|(os, arch)| (os.to_string(), arch.to_string()))
        .collect();
    assert_eq!(platforms, expected);
}

#[test]
fn a_plain_registry_serves_both_formats_and_compressions() {
    let registry = TestRegistry::plain();
    let image = &layered_test_image().image;
    let local_diff_ids = image.diff_ids();

    let v2s2 = image
        .push(
            &registry,
            "layered:v2s2",
            ManifestFormat::DockerV2s2,
            LayerCompression::Gzip,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let oci_gzip = image
        .push(
            &registry,
            "layered:oci-gzip",
            ManifestFormat::Oci,
            LayerCompression::Gzip,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let oci_zstd = image
        .push(
            &registry,
            "layered:oci-zstd",
            ManifestFormat::Oci,
            LayerCompression::Zstd,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = image.push(
        &registry,
        "layered:v2s2-zstd",
        ManifestFormat::DockerV2s2,
        LayerCompression::Zstd,
    );
    let refused = refused.expect_err("skopeo refuses zstd layers in a Docker schema 2 manifest");
    assert!(refused.stderr.contains("zstd"), "{refused}");

    let cases = [
        (
            "v2s2",
            &v2s2,
            media_type::DOCKER_MANIFEST,
            media_type::DOCKER_CONFIG,
            media_type::DOCKER_LAYER_GZIP,
        ),
        (
            "oci-gzip",
            &oci_gzip,
            media_type::OCI_MANIFEST,
            media_type::OCI_CONFIG,
            media_type::OCI_LAYER_GZIP,
        ),
        (
            "oci-zstd",
            &oci_zstd,
            media_type::OCI_MANIFEST,
            media_type::OCI_CONFIG,
            media_type::OCI_LAYER_ZSTD,
        ),
    ];
    for (tag, pushed, manifest_type, config_type, layer_type) in cases {
        let reference = format!("layered:{tag}");
        let manifest = registry
            .inspect(&reference, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(manifest["mediaType"], manifest_type, "{tag}: {manifest}");
        assert_eq!(manifest["config"]["mediaType"], config_type, "{tag}");
        assert_eq!(layer_media_types(&manifest), vec![layer_type; 3], "{tag}");
        let summary = registry
            .inspect(&reference, false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            summary["Digest"].as_str(),
            Some(pushed.digest.as_str()),
            "{tag}"
        );
        assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(3), "{tag}");
        let config = registry
            .inspect_config(&reference)
            .unwrap_or_else(|e| panic!("{e}"));
        // OCI has no healthcheck: skopeo drops it, as Docker does.
        assert_layered_config(&config, manifest_type == media_type::DOCKER_MANIFEST);
        assert_eq!(
            strings(&config["rootfs"]["diff_ids"]),
            local_diff_ids,
            "{tag}"
        );
        // The top layer as served: the whiteout and the opaque marker went through.
        let top = manifest["layers"][2]["digest"].as_str().expect("a digest");
        let blob = registry
            .fetch_blob("layered", top)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(oci_layout::sha256_digest(&blob), top);
        assert_layer(
            &layered_test_image().layers[2],
            &tar_entries(&blob).expect("the layer"),
        );
        // By digest too.
        let by_digest = pushed.by_digest();
        let name = by_digest.trim_start_matches(&format!("{}/", registry.host_port()));
        let again = registry
            .inspect(name, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, manifest);
    }
    // The layer with xattrs, through a registry: buildah's PAX records are kept.
    let manifest = registry
        .inspect("layered:oci-zstd", true)
        .expect("manifest");
    let second = manifest["layers"][1]["digest"].as_str().expect("a digest");
    let blob = registry
        .fetch_blob("layered", second)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_layer(
        &layered_test_image().layers[1],
        &tar_entries(&blob).expect("the layer"),
    );

    // The shared base: the same compressed blob under both repositories.
    shared_base_image()
        .push(
            &registry,
            "shared:v1",
            ManifestFormat::DockerV2s2,
            LayerCompression::Gzip,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let shared = registry.inspect("shared:v1", true).expect("manifest");
    let layered = registry.inspect("layered:v2s2", true).expect("manifest");
    assert_eq!(
        shared["layers"][0]["digest"],
        layered["layers"][0]["digest"]
    );
    assert_ne!(
        shared["layers"][1]["digest"],
        layered["layers"][1]["digest"]
    );
}

#[test]
fn basic_auth_over_plain_http_refuses_wrong_credentials() {
    let registry = TestRegistry::start(RegistryOptions::plain().with_basic_auth("alice", "s3cret"));
    assert_eq!(
        registry.credentials(),
        Some(&Credentials::new("alice", "s3cret"))
    );
    let pushed = layered_test_image()
        .image
        .push(
            &registry,
            "private/layered:1",
            ManifestFormat::Oci,
            LayerCompression::Gzip,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pushed.reference.starts_with(&registry.host_port()));
    let summary = registry
        .inspect("private/layered:1", false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(3));
    assert_refused(&registry, "private/layered:1");
}

/// Wrong credentials and none at all are refused.
#[track_caller]
fn assert_refused(registry: &TestRegistry, reference: &str) {
    let wrong = Credentials::new("alice", "wrong");
    for credentials in [Some(&wrong), None] {
        let error = registry
            .inspect_with(reference, credentials, &["--raw"])
            .expect_err("refused");
        let text = error.stderr.to_lowercase();
        assert!(
            text.contains("unauthorized") || text.contains("authentication required"),
            "{credentials:?}: {error}"
        );
    }
}

#[test]
fn tls_with_basic_auth_and_a_certs_d_folder() {
    let registry = TestRegistry::start(
        RegistryOptions::plain()
            .with_tls()
            .with_basic_auth("bob", "hunter2"),
    );
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    let ca = registry.ca_cert().expect("a CA");
    let certs = TempDir::new("conti-certs-d");
    let file = registry.write_certs_d(certs.path());
    assert_eq!(file, certs.path().join(registry.host_port()).join("ca.crt"));
    assert_eq!(
        fs::read(&file).expect("ca.crt"),
        fs::read(ca).expect("the CA")
    );

    // The certificate is for 127.0.0.1 and localhost, signed by that CA and no other.
    let port = registry.port();
    for (url, with_ca, ok) in [
        (format!("https://127.0.0.1:{port}/v2/"), true, true),
        (format!("https://localhost:{port}/v2/"), true, true),
        (format!("https://127.0.0.1:{port}/v2/"), false, false),
    ] {
        let mut curl = Command::new("curl");
        curl.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ]);
        if with_ca {
            curl.arg("--cacert").arg(&file);
        }
        let out = run_command(curl.arg(&url), Duration::from_secs(20));
        let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if ok {
            assert_eq!(code, "401", "{url} with the CA");
        } else {
            // curl: 60, the peer's certificate could not be verified.
            assert_eq!(out.status.code(), Some(60), "{url} without the CA: {code}");
        }
    }

    layered_test_image()
        .image
        .push(
            &registry,
            "secure/layered:v2s2",
            ManifestFormat::DockerV2s2,
            LayerCompression::Gzip,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let manifest = registry
        .inspect("secure/layered:v2s2", true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest["mediaType"], media_type::DOCKER_MANIFEST);
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(3));
    assert_refused(&registry, "secure/layered:v2s2");
}

#[test]
fn tls_with_bearer_tokens() {
    let registry = TestRegistry::start(
        RegistryOptions::plain()
            .with_tls()
            .with_token_auth("carol", "t0ken-pass"),
    );
    let server = registry.token_server().expect("a token server");
    layered_test_image()
        .image
        .push(
            &registry,
            "tokens/layered:oci",
            ManifestFormat::Oci,
            LayerCompression::Zstd,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let config = registry
        .inspect_config("tokens/layered:oci")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_layered_config(&config, false);
    let manifest = registry
        .inspect("tokens/layered:oci", true)
        .unwrap_or_else(|e| panic!("{e}"));
    let top = manifest["layers"][2]["digest"].as_str().expect("a digest");
    let blob = registry
        .fetch_blob("tokens/layered", top)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_layer(
        &layered_test_image().layers[2],
        &tar_entries(&blob).expect("the layer"),
    );

    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.granted
            && r.user.as_deref() == Some("carol")
            && r.service.as_deref() == Some(conti_tests::registry::TOKEN_SERVICE)
            && r.scopes
                .iter()
                .any(|s| s.starts_with("repository:tokens/layered:") && s.contains("push"))),
        "{requests:#?}"
    );
    let before = requests.len();
    assert_refused(&registry, "tokens/layered:oci");
    let refused: Vec<_> = server.requests()[before..].to_vec();
    assert!(
        refused
            .iter()
            .any(|r| !r.granted && r.user.as_deref() == Some("alice")),
        "{refused:#?}"
    );
    // The registry itself refuses a made-up token.
    let out = run_command(
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
                "--cacert",
            ])
            .arg(registry.ca_cert().expect("a CA"))
            .args(["-H", "Authorization: Bearer e30.e30.AAAA"])
            .arg(format!(
                "{}/v2/tokens/layered/manifests/oci",
                registry.url()
            )),
        Duration::from_secs(20),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "401");
}

#[test]
fn the_index_lists_two_platforms_in_both_formats() {
    let registry = TestRegistry::plain();
    let index = two_platform_index();
    for (tag, format, list_type, manifest_type) in [
        (
            "v2s2",
            ManifestFormat::DockerV2s2,
            media_type::DOCKER_MANIFEST_LIST,
            media_type::DOCKER_MANIFEST,
        ),
        (
            "oci",
            ManifestFormat::Oci,
            media_type::OCI_INDEX,
            media_type::OCI_MANIFEST,
        ),
    ] {
        let reference = format!("multi:{tag}");
        let pushed = index
            .push(&registry, &reference, format)
            .unwrap_or_else(|e| panic!("{e}"));
        let list = registry
            .inspect(&reference, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list["mediaType"], list_type, "{list}");
        let manifests = list["manifests"].as_array().expect("manifests");
        let platforms: BTreeMap<String, String> = manifests
            .iter()
            .map(|m| {
                assert_eq!(m["mediaType"], manifest_type, "{m}");
                (
                    m["platform"]["architecture"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    m["digest"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(
            platforms.keys().map(String::as_str).collect::<Vec<_>>(),
            ["amd64", "arm64"]
        );
        // Each platform's image, with its marker file and architecture.
        for (architecture, digest) in &platforms {
            let by_digest = format!("multi@{digest}");
            let config = registry
                .inspect_config(&by_digest)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(config["architecture"], architecture.as_str());
            let manifest = registry
                .inspect(&by_digest, true)
                .unwrap_or_else(|e| panic!("{e}"));
            let layers = manifest["layers"].as_array().expect("layers");
            assert_eq!(layers.len(), 2);
            let top = layers[1]["digest"].as_str().expect("a digest");
            let blob = registry
                .fetch_blob("multi", top)
                .unwrap_or_else(|e| panic!("{e}"));
            let entries = tar_entries(&blob).expect("the layer");
            let marker = entries
                .iter()
                .find(|e| e.path == "platform")
                .expect("/platform");
            assert_eq!(marker.content, TestIndex::marker(architecture).as_bytes());
        }
        // skopeo picks the arm64 image when asked for it.
        let summary = registry
            .inspect_with(&reference, None, &["--override-arch", "arm64"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary["Architecture"], "arm64");
        assert!(pushed.digest.starts_with("sha256:"));
    }
}

#[test]
fn archives_hold_the_image() {
    let dir = TempDir::new("conti-archives");
    let image = &layered_test_image().image;

    let docker = dir.path().join("docker.tar");
    image
        .save_docker_archive(&docker, "conti-test/layered:saved")
        .unwrap_or_else(|e| panic!("{e}"));
    let entries = tar_entries(&fs::read(&docker).expect("the archive")).expect("a tar");
    let manifest = entries
        .iter()
        .find(|e| e.path == "manifest.json")
        .expect("manifest.json");
    let manifest: Value = serde_json::from_slice(&manifest.content).expect("JSON");
    // skopeo writes the name normalized; `docker save` would write `conti-test/layered:saved`.
    assert_eq!(
        strings(&manifest[0]["RepoTags"]),
        ["docker.io/conti-test/layered:saved"]
    );
    assert_eq!(manifest[0]["Layers"].as_array().map(Vec::len), Some(3));
    let config_name = manifest[0]["Config"].as_str().expect("Config");
    let config = entries
        .iter()
        .find(|e| e.path == config_name)
        .expect("the config");
    assert_layered_config(
        &serde_json::from_slice(&config.content).expect("JSON"),
        true,
    );

    let oci = dir.path().join("oci.tar");
    image
        .save_oci_archive(&oci, "saved")
        .unwrap_or_else(|e| panic!("{e}"));
    let entries = tar_entries(&fs::read(&oci).expect("the archive")).expect("a tar");
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"oci-layout") && paths.contains(&"index.json"),
        "{paths:?}"
    );
    let index = entries
        .iter()
        .find(|e| e.path == "index.json")
        .expect("index.json");
    let index: Value = serde_json::from_slice(&index.content).expect("JSON");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "saved"
    );

    let layout = dir.path().join("layout");
    image
        .save_oci_layout(&layout, "v1")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(layout.join("index.json").is_file() && layout.join("oci-layout").is_file());
}

#[test]
fn hostile_layers_reach_the_registry_as_written() {
    let registry = TestRegistry::plain();
    let dir = TempDir::new("conti-hostile");
    let layout = OciLayout::create(dir.path().join("layout")).expect("a layout");
    for kind in HostileEntry::ALL {
        let tag = hostile_image(&layout, kind).expect("a hostile image");
        let reference = format!("hostile:{tag}");
        conti_tests::oci_images::copy_to_registry(
            &layout.reference(&tag),
            &registry,
            &reference,
            ManifestFormat::Oci,
            LayerCompression::Gzip,
            false,
        )
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let manifest = registry
            .inspect(&reference, true)
            .unwrap_or_else(|e| panic!("{e}"));
        let top = manifest["layers"][1]["digest"].as_str().expect("a digest");
        let blob = registry
            .fetch_blob("hostile", top)
            .unwrap_or_else(|e| panic!("{e}"));
        let entries = tar_entries(&blob).expect("the layer");
        let offending = entries
            .iter()
            .find(|e| e.path == kind.offending_entry())
            .unwrap_or_else(|| panic!("{kind:?}: no {} in {entries:#?}", kind.offending_entry()));
        if kind == HostileEntry::HardLinkOutside {
            assert_eq!(offending.link.as_deref(), Some("../../etc/passwd"));
        }
    }
}

#[test]
fn the_tools_run_on_private_tmpfs() {
    let out = run_command(
        isolated_tool("/bin/sh").args([
            "-c",
            "stat -f -c %T /var/tmp && { stat -f -c %T /var/lib/containers 2>/dev/null || \
             stat -f -c %T /var/lib; } && test -f /var/tmp/conti-tools/policy.json",
        ]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["tmpfs", "tmpfs"],
        "{stdout}"
    );
}
