//! A small writer of OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/...`) for images
//! no real tool would build: layers whose tars escape their root, and whatever else a test wants
//! to hand to `skopeo copy oci:DIR:TAG ...` byte for byte. Also the readers and digests the image
//! harness shares: a `dir:` image's manifest and blobs, a layer tar's entries.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// OCI media types the harness writes.
pub mod media_type {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let mut digest = String::from("sha256:");
    for byte in Sha256::digest(bytes) {
        let _ = write!(digest, "{byte:02x}");
    }
    digest
}

/// The hex part of a `sha256:<hex>` digest.
pub fn digest_hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Gzip of `bytes`, as a registry's layers usually are.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// A content descriptor: what a manifest or an index says of a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    /// The descriptor as JSON, as manifests and indexes carry it.
    pub fn to_json(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// One layer for [`OciLayout::add_image`]: an uncompressed tar, stored as given or gzipped.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    pub tar: Vec<u8>,
    pub gzip: bool,
}

/// An OCI image layout on disk, written by this harness.
#[derive(Debug, Clone)]
pub struct OciLayout {
    dir: PathBuf,
}

impl OciLayout {
    /// Creates an empty layout in `dir` (made if missing): `oci-layout` and an empty index.
    pub fn create(dir: impl Into<PathBuf>) -> io::Result<OciLayout> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("blobs/sha256")).map_err(|e| context(e, "creating", &dir))?;
        write_file(
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let layout = OciLayout { dir };
        layout.write_index(&[])?;
        Ok(layout)
    }

    /// A layout already on disk at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> OciLayout {
        OciLayout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The skopeo reference of the image tagged `tag`: `oci:<dir>:<tag>`.
    pub fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }

    /// Stores `bytes` as a blob; returns its descriptor with `media_type`.
    pub fn add_blob(&self, media_type: &str, bytes: &[u8]) -> io::Result<Descriptor> {
        let digest = sha256_digest(bytes);
        write_file(&self.blob_path(&digest), bytes)?;
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size: bytes.len() as u64,
        })
    }

    /// Path of the blob `digest` (`sha256:<hex>`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest_hex(digest))
    }

    /// Writes an image of `layers` and tags it `tag` in `index.json` (replacing an image of the
    /// same tag). `config` is the image configuration without `rootfs`, which is filled from
    /// the layers' tars (their diff ids). Returns the manifest's descriptor.
    pub fn add_image(
        &self,
        tag: &str,
        mut config: Value,
        layers: &[LayerBlob],
    ) -> io::Result<Descriptor> {
        let mut diff_ids = Vec::new();
        let mut layer_descriptors = Vec::new();
        for layer in layers {
            diff_ids.push(sha256_digest(&layer.tar));
            let descriptor = if layer.gzip {
                self.add_blob(media_type::OCI_LAYER_GZIP, &gzip(&layer.tar))?
            } else {
                self.add_blob(media_type::OCI_LAYER, &layer.tar)?
            };
            layer_descriptors.push(descriptor.to_json());
        }
        config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        let config = self.add_blob(media_type::OCI_CONFIG, &to_json_bytes(&config))?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config.to_json(),
            "layers": layer_descriptors,
        });
        let manifest = self.add_blob(media_type::OCI_MANIFEST, &to_json_bytes(&manifest))?;
        self.tag(tag, &manifest)?;
        Ok(manifest)
    }

    /// Names `descriptor` `tag` in `index.json`, replacing what had that tag.
    pub fn tag(&self, tag: &str, descriptor: &Descriptor) -> io::Result<()> {
        let mut entries: Vec<Value> = self
            .index()?
            .get("manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        entries.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
        let mut entry = descriptor.to_json();
        entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        entries.push(entry);
        self.write_index(&entries)
    }

    /// The blob `digest`, parsed as JSON (a manifest, an index, a configuration).
    pub fn blob_json(&self, digest: &str) -> io::Result<Value> {
        read_json(&self.blob_path(digest))
    }

    /// `index.json`, parsed.
    pub fn index(&self) -> io::Result<Value> {
        read_json(&self.dir.join("index.json"))
    }

    fn write_index(&self, manifests: &[Value]) -> io::Result<()> {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": manifests,
        });
        write_file(&self.dir.join("index.json"), &to_json_bytes(&index))
    }
}

/// The minimal configuration of a linux/amd64 image running `cmd`, without `rootfs`.
pub fn minimal_config(cmd: &[&str]) -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]},
        "history": [],
    })
}

/// What a layer tar holds that it must not: each kind, alone on top of the busybox layer,
/// makes one image of [`hostile_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileEntry {
    /// A file named `../escape`.
    DotDotPath,
    /// A file named `/abs` (an absolute name).
    AbsolutePath,
    /// A symlink `rootlink -> /`, then a file `rootlink/conti-escaped` written through it.
    SymlinkToRootThenEntry,
    /// A symlink `uplink -> ..`, then a file `uplink/conti-escaped` written through it.
    SymlinkToParentThenEntry,
    /// A hard link `passwd-link` to `../../etc/passwd`, outside the layer.
    HardLinkOutside,
}

impl HostileEntry {
    pub const ALL: [HostileEntry; 5] = [
        HostileEntry::DotDotPath,
        HostileEntry::AbsolutePath,
        HostileEntry::SymlinkToRootThenEntry,
        HostileEntry::SymlinkToParentThenEntry,
        HostileEntry::HardLinkOutside,
    ];

    /// A tag-safe name: `dotdot-path`, ...
    pub fn name(self) -> &'static str {
        match self {
            HostileEntry::DotDotPath => "dotdot-path",
            HostileEntry::AbsolutePath => "absolute-path",
            HostileEntry::SymlinkToRootThenEntry => "symlink-to-root",
            HostileEntry::SymlinkToParentThenEntry => "symlink-to-parent",
            HostileEntry::HardLinkOutside => "hardlink-outside",
        }
    }

    /// The name of the entry a safe unpacker must refuse (or keep inside the root).
    pub fn offending_entry(self) -> &'static str {
        match self {
            HostileEntry::DotDotPath => "../escape",
            HostileEntry::AbsolutePath => "/abs",
            HostileEntry::SymlinkToRootThenEntry => "rootlink/conti-escaped",
            HostileEntry::SymlinkToParentThenEntry => "uplink/conti-escaped",
            HostileEntry::HardLinkOutside => "passwd-link",
        }
    }
}

/// A layer tar holding `kind`'s entries and nothing else, names written raw (the `tar` crate's
/// builder refuses `..`).
pub fn hostile_layer(kind: HostileEntry) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let payload = b"conti-escaped\n";
    match kind {
        HostileEntry::DotDotPath | HostileEntry::AbsolutePath => {
            append_raw(
                &mut builder,
                EntryType::Regular,
                kind.offending_entry(),
                "",
                payload,
            );
        }
        HostileEntry::SymlinkToRootThenEntry => {
            append_raw(&mut builder, EntryType::Symlink, "rootlink", "/", b"");
            append_raw(
                &mut builder,
                EntryType::Regular,
                "rootlink/conti-escaped",
                "",
                payload,
            );
        }
        HostileEntry::SymlinkToParentThenEntry => {
            append_raw(&mut builder, EntryType::Symlink, "uplink", "..", b"");
            append_raw(
                &mut builder,
                EntryType::Regular,
                "uplink/conti-escaped",
                "",
                payload,
            );
        }
        HostileEntry::HardLinkOutside => {
            append_raw(
                &mut builder,
                EntryType::Link,
                "passwd-link",
                "../../etc/passwd",
                b"",
            );
        }
    }
    builder.into_inner().expect("a tar in memory")
}

/// Writes into `layout` an image tagged `kind.name()`: the busybox root filesystem as its first
/// layer, [`hostile_layer`] as its second (both gzipped), running `/bin/sh`. Returns the tag.
pub fn hostile_image(layout: &OciLayout, kind: HostileEntry) -> io::Result<String> {
    let busybox =
        fs::read(crate::busybox_tar()).map_err(|e| context(e, "reading", crate::busybox_tar()))?;
    let layers = [
        LayerBlob {
            tar: busybox,
            gzip: true,
        },
        LayerBlob {
            tar: hostile_layer(kind),
            gzip: true,
        },
    ];
    layout.add_image(kind.name(), minimal_config(&["/bin/sh"]), &layers)?;
    Ok(kind.name().to_string())
}

/// Appends an entry whose name and link name are written byte for byte into a GNU header.
pub fn append_raw(
    builder: &mut tar::Builder<Vec<u8>>,
    kind: EntryType,
    name: &str,
    link: &str,
    data: &[u8],
) {
    builder
        .append(
            &raw_header(kind, name, link, data.len() as u64, 0o644, 0),
            data,
        )
        .expect("appending to a tar in memory");
}

/// A header with `name` and `link` as given (at most 100 bytes each), owned by `owner:owner`.
pub fn raw_header(
    kind: EntryType,
    name: &str,
    link: &str,
    size: u64,
    mode: u32,
    owner: u64,
) -> Header {
    assert!(
        name.len() <= 100 && link.len() <= 100,
        "raw names fit 100 bytes"
    );
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(owner);
    header.set_gid(owner);
    header.set_mtime(1_600_000_000);
    header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    header.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
    header.set_cksum();
    header
}

/// One entry of a layer tar, as a test compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// The name without a leading `./`.
    pub path: String,
    pub kind: EntryType,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Symlink or hard link target.
    pub link: Option<String>,
    /// `SCHILY.xattr.*` PAX records, the prefix cut off (`user.conti`, `security.capability`).
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub content: Vec<u8>,
}

/// The entries of a layer blob (a tar, gzip or zstd, recognised by its magic bytes).
pub fn tar_entries(blob: &[u8]) -> io::Result<Vec<TarEntry>> {
    let tar = decompress(blob)?;
    let mut archive = tar::Archive::new(&tar[..]);
    let mut entries = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let header = entry.header().clone();
        let path = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .to_string();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry.pax_extensions()? {
            for extension in extensions {
                let extension = extension?;
                if let Some(name) = extension
                    .key()
                    .ok()
                    .and_then(|k| k.strip_prefix("SCHILY.xattr."))
                {
                    xattrs.push((name.to_string(), extension.value_bytes().to_vec()));
                }
            }
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content)?;
        entries.push(TarEntry {
            path,
            kind: header.entry_type(),
            mode: header.mode()? & 0o7777,
            uid: header.uid()?,
            gid: header.gid()?,
            link,
            xattrs,
            content,
        });
    }
    Ok(entries)
}

/// `blob` uncompressed: gzip and zstd are recognised by their magic bytes (zstd through the
/// `zstd` command), anything else is taken as a plain tar.
pub fn decompress(blob: &[u8]) -> io::Result<Vec<u8>> {
    if blob.starts_with(&[0x1f, 0x8b]) {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(blob).read_to_end(&mut tar)?;
        return Ok(tar);
    }
    if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dir = std::env::temp_dir().join(crate::unique_name("conti-zstd"));
        fs::create_dir_all(&dir)?;
        let input = dir.join("layer.zst");
        fs::write(&input, blob)?;
        let out = crate::run_command(
            std::process::Command::new("zstd")
                .args(["-d", "-q", "-c"])
                .arg(&input),
            std::time::Duration::from_secs(60),
        );
        let _ = fs::remove_dir_all(&dir);
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "zstd -d failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        return Ok(out.stdout);
    }
    Ok(blob.to_vec())
}

/// An image in skopeo's `dir:` format: `manifest.json` and blobs named by their hex digest.
#[derive(Debug, Clone)]
pub struct DirImage {
    dir: PathBuf,
}

impl DirImage {
    pub fn open(dir: impl Into<PathBuf>) -> DirImage {
        DirImage { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The skopeo reference: `dir:<dir>`.
    pub fn reference(&self) -> String {
        format!("dir:{}", self.dir.display())
    }

    pub fn manifest(&self) -> io::Result<Value> {
        read_json(&self.dir.join("manifest.json"))
    }

    pub fn config(&self) -> io::Result<Value> {
        let digest = json_str(&self.manifest()?["config"]["digest"])?;
        read_json(&self.blob_path(&digest))
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join(digest_hex(digest))
    }

    /// The manifest's layer descriptors, in order.
    pub fn layers(&self) -> io::Result<Vec<Descriptor>> {
        let manifest = self.manifest()?;
        let layers = manifest["layers"]
            .as_array()
            .ok_or_else(|| io::Error::other("the manifest has no layers array"))?;
        layers.iter().map(descriptor_from_json).collect()
    }

    /// The entries of layer `index` (0: the bottom layer).
    pub fn layer_entries(&self, index: usize) -> io::Result<Vec<TarEntry>> {
        let layers = self.layers()?;
        let layer = layers
            .get(index)
            .ok_or_else(|| io::Error::other(format!("layer {index} of {} layers", layers.len())))?;
        let path = self.blob_path(&layer.digest);
        tar_entries(&fs::read(&path).map_err(|e| context(e, "reading", &path))?)
    }

    /// Adds `tar` (uncompressed) as a new top layer: the blob, the manifest's descriptor, the
    /// config's diff id and a history entry saying `created_by`. Every other field of the
    /// manifest and the config is kept as it was (a Docker config's healthcheck too).
    pub fn append_layer(&self, tar: &[u8], created_by: &str) -> io::Result<()> {
        let mut manifest = self.manifest()?;
        let docker = manifest["mediaType"] == media_type::DOCKER_MANIFEST;
        let old_config_digest = json_str(&manifest["config"]["digest"])?;
        let mut config = read_json(&self.blob_path(&old_config_digest))?;

        let diff_id = sha256_digest(tar);
        write_file(&self.blob_path(&diff_id), tar)?;
        let layer = Descriptor {
            media_type: if docker {
                media_type::DOCKER_LAYER
            } else {
                media_type::OCI_LAYER
            }
            .to_string(),
            digest: diff_id.clone(),
            size: tar.len() as u64,
        };
        push_json(&mut manifest["layers"], layer.to_json())?;
        push_json(&mut config["rootfs"]["diff_ids"], json!(diff_id))?;
        // As late as the last layer's: history runs forward.
        let created = config["history"]
            .as_array()
            .and_then(|h| h.iter().filter_map(|e| e["created"].as_str()).max())
            .map_or_else(|| config["created"].clone(), |c| json!(c));
        push_json(
            &mut config["history"],
            json!({"created": created, "created_by": created_by}),
        )?;

        let config_bytes = to_json_bytes(&config);
        let config_digest = sha256_digest(&config_bytes);
        write_file(&self.blob_path(&config_digest), &config_bytes)?;
        manifest["config"]["digest"] = json!(config_digest);
        manifest["config"]["size"] = json!(config_bytes.len());
        write_file(&self.dir.join("manifest.json"), &to_json_bytes(&manifest))?;
        if config_digest != old_config_digest {
            let old = self.blob_path(&old_config_digest);
            fs::remove_file(&old).map_err(|e| context(e, "removing", &old))?;
        }
        Ok(())
    }
}

/// A JSON descriptor (`mediaType`, `digest`, `size`) as a [`Descriptor`].
pub fn descriptor_from_json(value: &Value) -> io::Result<Descriptor> {
    Ok(Descriptor {
        media_type: json_str(&value["mediaType"])?,
        digest: json_str(&value["digest"])?,
        size: value["size"]
            .as_u64()
            .ok_or_else(|| io::Error::other(format!("no size in {value}")))?,
    })
}

fn json_str(value: &Value) -> io::Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| io::Error::other(format!("expected a string, found {value}")))
}

fn push_json(array: &mut Value, item: Value) -> io::Result<()> {
    if array.is_null() {
        *array = json!([]);
    }
    match array.as_array_mut() {
        Some(items) => {
            items.push(item);
            Ok(())
        }
        None => Err(io::Error::other(format!(
            "expected an array, found {array}"
        ))),
    }
}

fn to_json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialize")
}

pub(crate) fn read_json(path: &Path) -> io::Result<Value> {
    let bytes = fs::read(path).map_err(|e| context(e, "reading", path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::other(format!("{} is not JSON: {e}", path.display())))
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::write(path, bytes).map_err(|e| context(e, "writing", path))
}

pub(crate) fn context(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {}: {error}", path.display()))
}
