//! Real images for the image tests, built FROM SCRATCH on the busybox root filesystem with real
//! tools (`buildah` on a vfs storage of the harness's own, exported with `skopeo`), then pushed
//! to a [`TestRegistry`] or saved as archives with `skopeo copy`:
//!
//! - [`layered_test_image`]: three layers (busybox; files, links, a setuid binary, a user xattr
//!   and a file capability; whiteouts) and a configuration that uses every field a runtime reads.
//! - [`shared_base_image`]: the same busybox layer (same diff id) and one of its own, for
//!   deduplication.
//! - [`two_platform_index`]: linux/amd64 and linux/arm64 images under one index.
//! - [`crate::oci_layout::hostile_image`] (no tool would make those) in an
//!   [`OciLayout`] of the test's own.
//!
//! Building takes seconds, so the images are built once and kept between test processes under
//! `/tmp/conti-test-images-<uid>/<key>/`, the key a digest of the harness sources that build
//! them and of the busybox binary: a change to either builds them again. The cached images are
//! shared: tests read, push and save them, never change them.
//!
//! buildah's vfs driver records a removed folder as one whiteout per file it held, never as an
//! opaque folder, so the third layer of the layered image (a whiteout and an opaque folder, as
//! Docker's overlay2 writes them) is a tar the harness writes, appended to the image buildah
//! committed; [`shared_base_image`]'s second layer carries a whiteout buildah wrote itself.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tar::EntryType;

use crate::image_tools::{CommandFailed, buildah, run_tool, skopeo, storage_reference};
use crate::oci_layout::{DirImage, OciLayout, TarEntry, digest_hex, raw_header, sha256_digest};
use crate::registry::TestRegistry;
use crate::rootfs::{BUSYBOX, busybox_tar};
use crate::util::{run_command, unique_name};

/// How long one buildah or skopeo command may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

/// The configuration [`layered_test_image`] carries.
pub mod layered {
    pub const ENTRYPOINT: [&str; 2] = ["/bin/echo", "entry"];
    pub const CMD: [&str; 1] = ["from-cmd"];
    pub const ENV: [&str; 2] = ["FOO=bar", "PATH=/usr/local/bin:/usr/bin:/bin"];
    /// Owned by [`USER`], mode 0755, so that the user may write there.
    pub const WORKING_DIR: &str = "/data";
    /// Numeric: the image's `/etc/passwd` has no such user.
    pub const USER: &str = "1000:1000";
    pub const STOP_SIGNAL: &str = "SIGUSR1";
    /// buildah adds `io.buildah.version` too.
    pub const LABELS: [(&str, &str); 2] =
        [("org.conti.test", "layered"), ("org.conti.layers", "3")];
    pub const EXPOSED_PORT: &str = "8080/tcp";
    /// Not a folder of the image: whoever runs it makes it.
    pub const VOLUME: &str = "/vol";
    /// Docker format only: an OCI configuration has no healthcheck, so a push or copy in OCI
    /// format drops it (skopeo converts as Docker does).
    pub const HEALTHCHECK_TEST: [&str; 2] = ["CMD", "/bin/true"];
    pub const HEALTHCHECK_INTERVAL_NS: u64 = 5_000_000_000;
    pub const HEALTHCHECK_TIMEOUT_NS: u64 = 2_000_000_000;
    pub const HEALTHCHECK_RETRIES: u64 = 2;
    /// `security.capability` of `/usr/local/bin/capped` as `setcap cap_net_bind_service+ep`
    /// writes it: a v2 capability, effective, CAP_NET_BIND_SERVICE (bit 10) permitted.
    pub const CAPABILITY_XATTR: [u8; 20] =
        [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
}

/// What an entry of a layer tar is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedKind {
    /// A regular file; its content when it matters.
    File(Option<&'static [u8]>),
    Dir,
    Symlink(&'static str),
    /// A hard link to an earlier entry of the same layer.
    HardLink(&'static str),
    /// `.wh.<name>`: `<name>` of the layers below is deleted.
    Whiteout,
    /// `.wh..wh..opq`: its folder hides what the layers below had in it.
    OpaqueMarker,
}

/// One entry a layer tar holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedEntry {
    /// Without a leading `./`; folders with a trailing `/`.
    pub path: &'static str,
    pub kind: ExpectedKind,
    /// Permission bits with setuid/setgid/sticky; `None`: not checked.
    pub mode: Option<u32>,
    pub uid: u64,
    pub gid: u64,
    /// PAX `SCHILY.xattr.*` records the entry carries.
    pub xattrs: &'static [(&'static str, &'static [u8])],
}

impl ExpectedEntry {
    const fn new(path: &'static str, kind: ExpectedKind, mode: u32) -> ExpectedEntry {
        ExpectedEntry {
            path,
            kind,
            mode: Some(mode),
            uid: 0,
            gid: 0,
            xattrs: &[],
        }
    }

    /// Whether `entry` is this one; what differs when not.
    pub fn check(&self, entry: &TarEntry) -> Result<(), String> {
        let mut wrong = Vec::new();
        let path = self.path.trim_end_matches('/');
        if entry.path.trim_end_matches('/') != path {
            wrong.push(format!("path {:?}", entry.path));
        }
        let kind_ok = match self.kind {
            ExpectedKind::File(content) => {
                matches!(entry.kind, EntryType::Regular | EntryType::Continuous)
                    && content.is_none_or(|c| c == entry.content)
            }
            ExpectedKind::Dir => entry.kind == EntryType::Directory,
            ExpectedKind::Symlink(target) => {
                entry.kind == EntryType::Symlink && entry.link.as_deref() == Some(target)
            }
            ExpectedKind::HardLink(target) => {
                entry.kind == EntryType::Link
                    && entry.link.as_deref().map(|l| l.trim_start_matches("./")) == Some(target)
            }
            ExpectedKind::Whiteout | ExpectedKind::OpaqueMarker => {
                matches!(entry.kind, EntryType::Regular | EntryType::Continuous)
                    && entry.content.is_empty()
            }
        };
        if !kind_ok {
            wrong.push(format!(
                "kind {:?} link {:?} content {:?}",
                entry.kind,
                entry.link,
                String::from_utf8_lossy(&entry.content[..entry.content.len().min(40)])
            ));
        }
        if self.mode.is_some_and(|m| m != entry.mode) {
            wrong.push(format!("mode {:o}", entry.mode));
        }
        if (entry.uid, entry.gid) != (self.uid, self.gid) {
            wrong.push(format!("owner {}:{}", entry.uid, entry.gid));
        }
        for (name, value) in self.xattrs {
            if !entry.xattrs.iter().any(|(n, v)| n == name && v == value) {
                wrong.push(format!("xattrs {:?} (no {name})", entry.xattrs));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: expected {self:?}, found {}",
                self.path,
                wrong.join(", ")
            ))
        }
    }
}

/// What one layer of an image holds.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// What made it and how, in words.
    pub made_by: &'static str,
    pub entries: Vec<ExpectedEntry>,
    /// True when the layer holds these entries and nothing else but the folders above them;
    /// false when these are a few of many (the busybox layer).
    pub complete: bool,
}

impl LayerSpec {
    /// Checks `actual` (a layer's tar entries) against this; every difference, in words.
    pub fn check(&self, actual: &[TarEntry]) -> Result<(), String> {
        let mut problems = Vec::new();
        for expected in &self.entries {
            let path = expected.path.trim_end_matches('/');
            match actual.iter().find(|e| e.path.trim_end_matches('/') == path) {
                Some(entry) => {
                    if let Err(e) = expected.check(entry) {
                        problems.push(e);
                    }
                }
                None => problems.push(format!("{}: missing", expected.path)),
            }
        }
        if self.complete {
            for entry in actual {
                let path = entry.path.trim_end_matches('/');
                let expected = self
                    .entries
                    .iter()
                    .any(|e| e.path.trim_end_matches('/') == path);
                let parent_folder = entry.kind == EntryType::Directory
                    && self
                        .entries
                        .iter()
                        .any(|e| e.path.starts_with(&format!("{path}/")));
                if !expected && !parent_folder {
                    problems.push(format!("{}: not expected ({:?})", entry.path, entry.kind));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "layer made by {}:\n  {}",
                self.made_by,
                problems.join("\n  ")
            ))
        }
    }
}

/// A cached image in skopeo's `dir:` format, Docker schema 2 (manifest and configuration), its
/// layers uncompressed. Read-only: shared by every test.
#[derive(Debug, Clone)]
pub struct TestImage {
    image: DirImage,
}

/// Where a push went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// `127.0.0.1:PORT/repo:tag`.
    pub reference: String,
    /// The digest of the manifest (or index) pushed: `sha256:<hex>`.
    pub digest: String,
}

impl PushedImage {
    /// `127.0.0.1:PORT/repo@sha256:...`.
    pub fn by_digest(&self) -> String {
        let name = match self.reference.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => name,
            _ => &self.reference,
        };
        format!("{name}@{}", self.digest)
    }
}

/// The manifest format of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// Docker image manifest v2 schema 2 (a manifest list for an index).
    DockerV2s2,
    /// OCI image manifest (an OCI index for an index).
    Oci,
}

impl ManifestFormat {
    /// skopeo's `--format` value.
    pub fn skopeo_name(self) -> &'static str {
        match self {
            ManifestFormat::DockerV2s2 => "v2s2",
            ManifestFormat::Oci => "oci",
        }
    }
}

/// How the layers are compressed in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    Gzip,
    /// OCI format only: skopeo refuses zstd for Docker schema 2 (it has no media type for it).
    Zstd,
}

impl TestImage {
    /// The image as skopeo reads it: `dir:<path>`.
    pub fn reference(&self) -> String {
        self.image.reference()
    }

    /// The manifest, configuration and layer blobs on disk.
    pub fn dir_image(&self) -> &DirImage {
        &self.image
    }

    /// The configuration (Docker format).
    pub fn config(&self) -> serde_json::Value {
        self.image
            .config()
            .unwrap_or_else(|e| panic!("reading the configuration of {}: {e}", self.reference()))
    }

    /// The layers' diff ids (digests of the uncompressed tars), bottom first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.config()["rootfs"]["diff_ids"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The entries of layer `index` (0: the bottom layer).
    pub fn layer_entries(&self, index: usize) -> Vec<TarEntry> {
        self.image
            .layer_entries(index)
            .unwrap_or_else(|e| panic!("reading layer {index} of {}: {e}", self.reference()))
    }

    /// Pushes it to `registry` as `repo_and_tag` (`skopeo copy --format ...`, with
    /// `--dest-compress-format` for zstd), with the registry's TLS and credentials flags.
    pub fn push(
        &self,
        registry: &TestRegistry,
        repo_and_tag: &str,
        format: ManifestFormat,
        compression: LayerCompression,
    ) -> Result<PushedImage, CommandFailed> {
        copy_to_registry(
            &self.reference(),
            registry,
            repo_and_tag,
            format,
            compression,
            false,
        )
    }

    /// Saves it as a `docker save` archive (`docker-archive:PATH:NAME_TAG`): `manifest.json`
    /// with `RepoTags` holding `name_tag` normalized as skopeo does (`conti/x:1` becomes
    /// `docker.io/conti/x:1`, where `docker save` writes the short name), the configuration
    /// and one tar per layer.
    pub fn save_docker_archive(&self, path: &Path, name_tag: &str) -> Result<(), CommandFailed> {
        copy(
            &self.reference(),
            &format!("docker-archive:{}:{name_tag}", path.display()),
            &[],
        )
    }

    /// Saves it as a tar of an OCI layout, the image tagged `tag` (`oci-archive:PATH:TAG`).
    pub fn save_oci_archive(&self, path: &Path, tag: &str) -> Result<(), CommandFailed> {
        copy(
            &self.reference(),
            &format!("oci-archive:{}:{tag}", path.display()),
            &[],
        )
    }

    /// Copies it into the OCI layout `dir` (made if missing), tagged `tag` (`oci:DIR:TAG`).
    pub fn save_oci_layout(&self, dir: &Path, tag: &str) -> Result<(), CommandFailed> {
        copy(
            &self.reference(),
            &format!("oci:{}:{tag}", dir.display()),
            &[],
        )
    }
}

/// [`layered_test_image`]: the image and what each of its layers holds.
#[derive(Debug, Clone)]
pub struct LayeredImage {
    pub image: TestImage,
    /// Bottom first.
    pub layers: Vec<LayerSpec>,
}

/// The multi-platform image of [`two_platform_index`]: an OCI layout holding an index.
#[derive(Debug, Clone)]
pub struct TestIndex {
    layout: OciLayout,
    tag: String,
}

impl TestIndex {
    /// `(os, architecture)` of its images, in its order.
    pub const PLATFORMS: [(&'static str, &'static str); 2] =
        [("linux", "amd64"), ("linux", "arm64")];

    /// `oci:<dir>:<tag>`.
    pub fn reference(&self) -> String {
        self.layout.reference(&self.tag)
    }

    pub fn layout(&self) -> &OciLayout {
        &self.layout
    }

    /// What `/platform` holds in the image for `architecture`: `"<architecture>\n"`.
    pub fn marker(architecture: &str) -> String {
        format!("{architecture}\n")
    }

    /// Pushes the index and every image in it (`skopeo copy --all`): a Docker manifest list of
    /// schema 2 manifests, or an OCI index of OCI manifests.
    pub fn push(
        &self,
        registry: &TestRegistry,
        repo_and_tag: &str,
        format: ManifestFormat,
    ) -> Result<PushedImage, CommandFailed> {
        copy_to_registry(
            &self.reference(),
            registry,
            repo_and_tag,
            format,
            LayerCompression::Gzip,
            true,
        )
    }
}

/// Copies `source` (any skopeo reference, e.g. [`OciLayout::reference`]) to `registry` as
/// `repo_and_tag`; with `all`, an index and every image in it.
pub fn copy_to_registry(
    source: &str,
    registry: &TestRegistry,
    repo_and_tag: &str,
    format: ManifestFormat,
    compression: LayerCompression,
    all: bool,
) -> Result<PushedImage, CommandFailed> {
    let digest_file = registry
        .dir()
        .join(format!("{}.digest", unique_name("push")));
    let mut args = registry.skopeo_dest_args();
    args.push(format!("--format={}", format.skopeo_name()));
    args.push(format!("--digestfile={}", digest_file.display()));
    if compression == LayerCompression::Zstd {
        args.extend([
            "--dest-compress".to_string(),
            "--dest-compress-format=zstd".to_string(),
        ]);
    }
    if all {
        args.push("--all".to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    copy(source, &registry.docker_reference(repo_and_tag), &args)?;
    let digest = fs::read_to_string(&digest_file).map_err(|e| CommandFailed {
        command: format!("skopeo copy {source}"),
        status: None,
        stderr: format!("reading {}: {e}", digest_file.display()),
    })?;
    let _ = fs::remove_file(&digest_file);
    Ok(PushedImage {
        reference: registry.reference(repo_and_tag),
        digest: digest.trim().to_string(),
    })
}

/// `skopeo copy <args> <source> <destination>`.
fn copy(source: &str, destination: &str, args: &[&str]) -> Result<(), CommandFailed> {
    let mut command = skopeo();
    command
        .args(["copy", "--quiet"])
        .args(args)
        .arg(source)
        .arg(destination);
    CommandFailed::check(&mut command, TOOL_TIMEOUT).map(|_| ())
}

/// The three-layer image, built once (see the module's documentation):
///
/// 1. the busybox root filesystem (buildah);
/// 2. `/data` (owned by 1000:1000) with `keep`, `gone`, hard links `a`/`b`, a symlink
///    `link -> /data/keep`, `xattr` carrying `user.conti=yes`; `/opq/{old1,old2/deep}`;
///    `/usr/local/bin/suid` (busybox, 4755) and `/usr/local/bin/capped` (busybox with
///    `cap_net_bind_service+ep`) (buildah, which keeps both xattrs as PAX records);
/// 3. `data/.wh.gone` and `opq/` opaque (`.wh..wh..opq`) with only `opq/new` (the harness's tar).
///
/// Its configuration is in [`layered`].
pub fn layered_test_image() -> &'static LayeredImage {
    static IMAGE: OnceLock<LayeredImage> = OnceLock::new();
    IMAGE.get_or_init(|| LayeredImage {
        image: TestImage {
            image: DirImage::open(built_images().join(LAYERED)),
        },
        layers: layered_layer_specs(),
    })
}

/// An image on the same busybox layer as [`layered_test_image`] (the same diff id and blob),
/// with a second layer of its own (buildah): `/other/marker` ("shared\n") and the whiteout
/// `.wh.mnt` (buildah's, for the base's empty `/mnt`). Its command is `cat /other/marker`.
pub fn shared_base_image() -> &'static TestImage {
    static IMAGE: OnceLock<TestImage> = OnceLock::new();
    IMAGE.get_or_init(|| TestImage {
        image: DirImage::open(built_images().join(SHARED_BASE)),
    })
}

/// The second layer of [`shared_base_image`].
pub fn shared_base_top_layer() -> LayerSpec {
    LayerSpec {
        made_by: "buildah (vfs): /other/marker added, /mnt removed",
        entries: vec![
            ExpectedEntry::new("other/", ExpectedKind::Dir, 0o755),
            ExpectedEntry::new("other/marker", ExpectedKind::File(Some(b"shared\n")), 0o644),
            ExpectedEntry {
                mode: None,
                ..ExpectedEntry::new(".wh.mnt", ExpectedKind::Whiteout, 0)
            },
        ],
        complete: true,
    }
}

/// An index of two images on the busybox layer, linux/amd64 and linux/arm64 (the arm64 one
/// holds the same amd64 busybox: only its configuration and `/platform` differ), each running
/// `cat /platform`. Built with `buildah manifest create/add/push --all` into an OCI layout.
pub fn two_platform_index() -> &'static TestIndex {
    static INDEX: OnceLock<TestIndex> = OnceLock::new();
    INDEX.get_or_init(|| TestIndex {
        layout: OciLayout::open(built_images().join(INDEX_LAYOUT)),
        tag: INDEX_TAG.to_string(),
    })
}

const LAYERED: &str = "layered";
const SHARED_BASE: &str = "shared-base";
const INDEX_LAYOUT: &str = "index";
const INDEX_TAG: &str = "multi";

fn layered_layer_specs() -> Vec<LayerSpec> {
    use ExpectedKind::*;
    let data_owned = |path, kind, mode| ExpectedEntry {
        uid: 1000,
        gid: 1000,
        ..ExpectedEntry::new(path, kind, mode)
    };
    vec![
        LayerSpec {
            made_by: "buildah (vfs): the busybox root filesystem",
            entries: vec![
                ExpectedEntry::new("bin/busybox", File(None), 0o755),
                ExpectedEntry::new("bin/sh", Symlink("busybox"), 0o777),
                ExpectedEntry::new("etc/passwd", File(None), 0o644),
                ExpectedEntry::new("tmp/", Dir, 0o1777),
                ExpectedEntry::new("mnt/", Dir, 0o755),
            ],
            complete: false,
        },
        LayerSpec {
            made_by: "buildah (vfs): files, links, setuid, xattr, capability",
            entries: vec![
                data_owned("data/", Dir, 0o755),
                ExpectedEntry::new("data/a", File(Some(b"linked\n")), 0o644),
                ExpectedEntry::new("data/b", HardLink("data/a"), 0o644),
                ExpectedEntry::new("data/gone", File(Some(b"gone\n")), 0o644),
                ExpectedEntry::new("data/keep", File(Some(b"keep\n")), 0o644),
                ExpectedEntry::new("data/link", Symlink("/data/keep"), 0o777),
                ExpectedEntry {
                    xattrs: &[("user.conti", b"yes")],
                    ..ExpectedEntry::new("data/xattr", File(Some(b"labelled\n")), 0o644)
                },
                ExpectedEntry::new("opq/", Dir, 0o755),
                ExpectedEntry::new("opq/old1", File(Some(b"old1\n")), 0o644),
                ExpectedEntry::new("opq/old2/", Dir, 0o755),
                ExpectedEntry::new("opq/old2/deep", File(Some(b"deep\n")), 0o644),
                ExpectedEntry::new("usr/local/bin/suid", File(None), 0o4755),
                ExpectedEntry {
                    xattrs: &[("security.capability", &layered::CAPABILITY_XATTR)],
                    ..ExpectedEntry::new("usr/local/bin/capped", File(None), 0o755)
                },
            ],
            complete: true,
        },
        LayerSpec {
            made_by: "the harness (a tar appended to buildah's image): a whiteout, an opaque folder",
            entries: vec![
                data_owned("data/", Dir, 0o755),
                ExpectedEntry::new("data/.wh.gone", Whiteout, 0o644),
                ExpectedEntry::new("opq/", Dir, 0o755),
                ExpectedEntry::new("opq/.wh..wh..opq", OpaqueMarker, 0o644),
                ExpectedEntry::new("opq/new", File(Some(b"new\n")), 0o644),
            ],
            complete: true,
        },
    ]
}

/// The third layer of the layered image, as Docker's overlay2 would write
/// `rm /data/gone && rm -rf /opq && mkdir /opq && echo new > /opq/new`.
fn whiteout_layer() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |kind, name: &str, mode, owner, data: &[u8]| {
        let header = raw_header(kind, name, "", data.len() as u64, mode, owner);
        builder
            .append(&header, data)
            .expect("appending to a tar in memory");
    };
    add(EntryType::Directory, "data/", 0o755, 1000, b"");
    add(EntryType::Regular, "data/.wh.gone", 0o644, 0, b"");
    add(EntryType::Directory, "opq/", 0o755, 0, b"");
    add(EntryType::Regular, "opq/.wh..wh..opq", 0o644, 0, b"");
    add(EntryType::Regular, "opq/new", 0o644, 0, b"new\n");
    builder.into_inner().expect("a tar in memory")
}

/// The folder holding the built images, built now unless an earlier process did.
fn built_images() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cache = PathBuf::from(format!("/tmp/conti-test-images-{}", nix::unistd::getuid()));
        fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("creating {}: {e}", cache.display()));
        let images = cache.join(cache_key());
        if !images.is_dir() {
            prune(&cache);
            let build = BuildDir(cache.join(format!("build-{}", unique_name("images"))));
            let out = build.0.join("out");
            if let Err(e) = build_images(&build.0, &out) {
                panic!("building the test images: {e}");
            }
            // Another process may have finished first: then its images are as good as ours.
            if fs::rename(&out, &images).is_err() && !images.is_dir() {
                panic!("could not move the test images into {}", images.display());
            }
        }
        // In use: not to be pruned by a process with another key for a day.
        let _ = fs::File::open(&images).and_then(|dir| dir.set_modified(SystemTime::now()));
        images
    })
}

/// A digest of what the images are built from: the harness sources that build them and the
/// busybox binary.
fn cache_key() -> String {
    let busybox = fs::metadata(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e}; install it with `apt-get install -y busybox-static`")
    });
    let inputs = [
        include_str!("oci_images.rs"),
        include_str!("oci_layout.rs"),
        include_str!("image_tools.rs"),
        include_str!("rootfs.rs"),
        &format!("busybox {} {}", busybox.len(), busybox.mtime()),
    ]
    .concat();
    digest_hex(&sha256_digest(inputs.as_bytes()))[..16].to_string()
}

/// Removes builds left by killed processes (over an hour old) and images of other keys not
/// touched for a day.
fn prune(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        let is_build = entry.file_name().as_bytes().starts_with(b"build-");
        if (is_build && age > Duration::from_secs(3600)) || age > Duration::from_secs(86_400) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A build's folder (its buildah storage, its images until they are moved into the cache),
/// removed when dropped, also when the build panicked.
struct BuildDir(PathBuf);

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The buildah storage of one build, removed with the build folder.
struct Storage {
    root: PathBuf,
    runroot: PathBuf,
}

impl Storage {
    fn buildah(&self, args: &[&str]) -> String {
        let mut command = buildah(&self.root, &self.runroot);
        command.args(args);
        run_tool(&mut command, TOOL_TIMEOUT).trim().to_string()
    }

    /// `buildah from <image>`: a working container named after `name`.
    fn from(&self, image: &str, name: &str) -> String {
        self.buildah(&["from", "--quiet", "--pull=never", "--name", name, image])
    }

    /// The working container's root folder (vfs: a plain folder, no mount to undo).
    fn mount(&self, container: &str) -> PathBuf {
        PathBuf::from(self.buildah(&["mount", container]))
    }

    /// Commits in Docker format as `localhost/<image>` and removes the working container.
    fn commit(&self, container: &str, image: &str) {
        self.buildah(&[
            "commit",
            "--quiet",
            "--format",
            "docker",
            "--rm",
            container,
            &format!("localhost/{image}"),
        ]);
    }

    /// `skopeo copy` of `localhost/<image>` to `destination`.
    fn export(&self, image: &str, destination: &str) -> Result<(), CommandFailed> {
        copy(
            &storage_reference(&self.root, &self.runroot, &format!("localhost/{image}")),
            destination,
            &[],
        )
    }
}

fn build_images(build: &Path, out: &Path) -> Result<(), String> {
    let storage = Storage {
        root: build.join("storage/root"),
        runroot: build.join("storage/runroot"),
    };
    fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;

    // Layer 1: the busybox root filesystem.
    let base = storage.from("scratch", "conti-base");
    let root = storage.mount(&base);
    untar(busybox_tar(), &root)?;
    storage.commit(&base, "conti-base");

    // Layer 2 and the configuration.
    let layered = storage.from("localhost/conti-base", "conti-layered");
    let root = storage.mount(&layered);
    write_layered_files(&root)?;
    let healthcheck = format!("CMD {}", layered::HEALTHCHECK_TEST[1]);
    let entrypoint = serde_json::to_string(&layered::ENTRYPOINT).expect("JSON");
    let cmd = serde_json::to_string(&layered::CMD).expect("JSON");
    let mut config: Vec<String> = vec![
        "config".into(),
        "--entrypoint".into(),
        entrypoint,
        "--cmd".into(),
        cmd,
        "--workingdir".into(),
        layered::WORKING_DIR.into(),
        "--user".into(),
        layered::USER.into(),
        "--stop-signal".into(),
        layered::STOP_SIGNAL.into(),
        "--port".into(),
        layered::EXPOSED_PORT.into(),
        "--volume".into(),
        layered::VOLUME.into(),
        "--healthcheck".into(),
        healthcheck,
        "--healthcheck-interval".into(),
        "5s".into(),
        "--healthcheck-timeout".into(),
        "2s".into(),
        "--healthcheck-retries".into(),
        "2".into(),
    ];
    for env in layered::ENV {
        config.extend(["--env".into(), env.into()]);
    }
    for (name, value) in layered::LABELS {
        config.extend(["--label".into(), format!("{name}={value}")]);
    }
    config.push(layered.clone());
    storage.buildah(&config.iter().map(String::as_str).collect::<Vec<_>>());
    storage.commit(&layered, "conti-layered");
    let layered_dir = out.join(LAYERED);
    storage
        .export("conti-layered", &format!("dir:{}", layered_dir.display()))
        .map_err(|e| e.to_string())?;
    // Layer 3.
    DirImage::open(&layered_dir)
        .append_layer(
            &whiteout_layer(),
            "/bin/sh -c rm /data/gone && rm -rf /opq && mkdir /opq && echo new > /opq/new",
        )
        .map_err(|e| format!("appending the whiteout layer: {e}"))?;

    // The image sharing the base layer.
    let shared = storage.from("localhost/conti-base", "conti-shared");
    let root = storage.mount(&shared);
    mkdir(&root.join("other"), 0o755)?;
    write(&root.join("other/marker"), b"shared\n", 0o644)?;
    fs::remove_dir(root.join("mnt")).map_err(|e| format!("removing mnt: {e}"))?;
    storage.buildah(&[
        "config",
        "--cmd",
        r#"["/bin/cat","/other/marker"]"#,
        &shared,
    ]);
    storage.commit(&shared, "conti-shared");
    storage
        .export(
            "conti-shared",
            &format!("dir:{}", out.join(SHARED_BASE).display()),
        )
        .map_err(|e| e.to_string())?;

    // The two platforms and their index.
    storage.buildah(&["manifest", "create", "localhost/conti-multi"]);
    for (os, architecture) in TestIndex::PLATFORMS {
        let name = format!("conti-{architecture}");
        let container = storage.from("localhost/conti-base", &name);
        let root = storage.mount(&container);
        write(
            &root.join("platform"),
            TestIndex::marker(architecture).as_bytes(),
            0o644,
        )?;
        storage.buildah(&[
            "config",
            "--os",
            os,
            "--arch",
            architecture,
            "--cmd",
            r#"["/bin/cat","/platform"]"#,
            &container,
        ]);
        storage.commit(&container, &name);
        storage.buildah(&[
            "manifest",
            "add",
            "--os",
            os,
            "--arch",
            architecture,
            "localhost/conti-multi",
            &format!("localhost/{name}"),
        ]);
    }
    storage.buildah(&[
        "manifest",
        "push",
        "--quiet",
        "--all",
        "localhost/conti-multi",
        &format!("oci:{}:{INDEX_TAG}", out.join(INDEX_LAYOUT).display()),
    ]);
    Ok(())
}

/// Layer 2's files under `root` (see [`layered_test_image`]).
fn write_layered_files(root: &Path) -> Result<(), String> {
    let data = root.join("data");
    mkdir(&data, 0o755)?;
    chown(&data, Some(1000), Some(1000)).map_err(|e| format!("chown data: {e}"))?;
    write(&data.join("keep"), b"keep\n", 0o644)?;
    write(&data.join("gone"), b"gone\n", 0o644)?;
    write(&data.join("a"), b"linked\n", 0o644)?;
    fs::hard_link(data.join("a"), data.join("b")).map_err(|e| format!("hard link data/b: {e}"))?;
    symlink("/data/keep", data.join("link")).map_err(|e| format!("symlink data/link: {e}"))?;
    write(&data.join("xattr"), b"labelled\n", 0o644)?;
    set_xattr(&data.join("xattr"), "user.conti", b"yes")?;

    mkdir(&root.join("opq/old2"), 0o755)?;
    write(&root.join("opq/old1"), b"old1\n", 0o644)?;
    write(&root.join("opq/old2/deep"), b"deep\n", 0o644)?;

    let bin = root.join("usr/local/bin");
    mkdir(&bin, 0o755)?;
    let busybox = fs::read(BUSYBOX).map_err(|e| format!("reading {BUSYBOX}: {e}"))?;
    write(&bin.join("suid"), &busybox, 0o4755)?;
    write(&bin.join("capped"), &busybox, 0o755)?;
    let out = run_command(
        Command::new("setcap")
            .arg("cap_net_bind_service+ep")
            .arg(bin.join("capped")),
        Duration::from_secs(30),
    );
    if !out.status.success() {
        return Err(format!(
            "setcap failed (package libcap2-bin): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn untar(tar: &Path, into: &Path) -> Result<(), String> {
    let out = run_command(
        Command::new("tar")
            .args(["--numeric-owner", "-xpf"])
            .arg(tar)
            .arg("-C")
            .arg(into),
        Duration::from_secs(60),
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tar -x {} failed: {}",
            tar.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn mkdir(path: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
    // After the write: the umask never sees the setuid bit.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), String> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL", path.display()))?;
    let c_name = std::ffi::CString::new(name).map_err(|_| format!("{name} holds a NUL"))?;
    // SAFETY: both strings are NUL-terminated and outlive the call; `value` is a valid slice
    // of `value.len()` bytes; setxattr only reads them.
    let rc = unsafe {
        nix::libc::setxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "setxattr {name} on {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ))
    }
}
