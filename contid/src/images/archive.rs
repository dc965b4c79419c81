//! `image load` and `image save`: `docker save` archives (`manifest.json`, a config and a tar per
//! layer) and OCI image layouts (`index.json`, `blobs/`), in and out of the store.
//!
//! A load unpacks the archive into the store's tmp folder with the same unpacker as layers (so
//! no name in it escapes), then takes each image from there: every layer checked against the
//! config's diff ids (and, in an OCI layout, every blob against its descriptor's digest).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use conti_proto::ImageInfo;
use serde::{Deserialize, Serialize};

use super::config::ConfigFile;
use super::digest::Digest;
use super::layers::LayerCheck;
use super::reference;
use super::{ImageStore, StoreError, StoreResult};
use crate::runtime::unpack::{UnpackOptions, unpack};

const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// An entry of a `docker save` archive's `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
}

#[derive(Debug, Deserialize)]
struct DescriptorPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl ImageStore {
    /// Loads every image of a `docker save` archive or an OCI layout tarball.
    pub fn load(&self, archive: impl Read + 'static) -> StoreResult<Vec<ImageInfo>> {
        let staging = self
            .inner
            .tmp
            .join(format!("load-{}", uuid::Uuid::new_v4()));
        let options = UnpackOptions::default();
        unpack(archive, &staging, options).map_err(StoreError::from_unpack)?;
        let result = self.load_unpacked(&staging);
        let _ = std::fs::remove_dir_all(&staging);
        result
    }

    fn load_unpacked(&self, dir: &Path) -> StoreResult<Vec<ImageInfo>> {
        if dir.join("manifest.json").is_file() {
            self.load_docker_archive(dir)
        } else if dir.join("index.json").is_file() {
            self.load_oci_layout(dir)
        } else {
            Err(StoreError::InvalidArchive(
                "the archive has neither manifest.json (docker save) nor index.json (an OCI \
                 image layout); a root filesystem is imported with `image import`"
                    .into(),
            ))
        }
    }

    fn load_docker_archive(&self, dir: &Path) -> StoreResult<Vec<ImageInfo>> {
        let saved: Vec<SavedImage> = read_json(dir, "manifest.json")?;
        let mut loaded = Vec::new();
        for image in saved {
            let config_bytes = read_file(dir, &image.config)?;
            let config = ConfigFile::parse(&config_bytes).map_err(StoreError::InvalidArchive)?;
            if config.rootfs.diff_ids.len() != image.layers.len() {
                return Err(StoreError::InvalidArchive(format!(
                    "{} lists {} layers, its config {}",
                    image.config,
                    image.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let _pins = self.pin(&config.rootfs.diff_ids);
            for (file, diff_id) in image.layers.iter().zip(&config.rootfs.diff_ids) {
                if self.has_layer(diff_id) {
                    continue;
                }
                let blob = File::open(inside(dir, file)?).map_err(|e| {
                    StoreError::InvalidArchive(format!("layer {file} is not in the archive: {e}"))
                })?;
                let check = LayerCheck {
                    diff_id: Some(diff_id.clone()),
                    ..LayerCheck::default()
                };
                self.ingest_layer(blob, &check)?;
            }
            let id = Digest::of(&config_bytes);
            self.put_blob(&id, &config_bytes)?;
            let tags = image
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| reference::parse(t).map_err(StoreError::InvalidArchive))
                .collect::<StoreResult<Vec<_>>>()?;
            let mut stored = self.commit_image(&id, None, None, tags.first())?;
            for tag in tags.iter().skip(1) {
                stored = self.commit_image(&id, None, None, Some(tag))?;
            }
            loaded.push(self.info(&stored));
        }
        Ok(loaded)
    }

    fn load_oci_layout(&self, dir: &Path) -> StoreResult<Vec<ImageInfo>> {
        let index: Index = read_json(dir, "index.json")?;
        let mut loaded = Vec::new();
        for descriptor in index.manifests {
            let name = descriptor
                .annotations
                .get("io.containerd.image.name")
                .or_else(|| {
                    descriptor
                        .annotations
                        .get("org.opencontainers.image.ref.name")
                })
                .filter(|n| n.contains('/') || n.contains(':'))
                .and_then(|n| reference::parse(n).ok());
            let (manifest_digest, manifest_bytes) = self.platform_manifest(dir, descriptor)?;
            let manifest: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
                StoreError::InvalidArchive(format!("manifest {manifest_digest}: {e}"))
            })?;
            let config_digest = digest(&manifest.config.digest)?;
            let config_bytes = read_blob(dir, &config_digest)?;
            let config = ConfigFile::parse(&config_bytes).map_err(StoreError::InvalidArchive)?;
            if config.rootfs.diff_ids.len() != manifest.layers.len() {
                return Err(StoreError::InvalidArchive(format!(
                    "manifest {manifest_digest} lists {} layers, its config {}",
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let _pins = self.pin(&config.rootfs.diff_ids);
            for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
                if self.has_layer(diff_id) {
                    continue;
                }
                let blob_digest = digest(&layer.digest)?;
                let blob = File::open(blob_path(dir, &blob_digest)).map_err(|e| {
                    StoreError::InvalidArchive(format!(
                        "blob {blob_digest} is not in the layout: {e}"
                    ))
                })?;
                let check = LayerCheck {
                    blob: Some(blob_digest),
                    diff_id: Some(diff_id.clone()),
                    import: false,
                };
                self.ingest_layer(blob, &check)?;
            }
            self.put_blob(&config_digest, &config_bytes)?;
            self.put_blob(&manifest_digest, &manifest_bytes)?;
            let repo_digest = name
                .as_ref()
                .map(|n| format!("{}@{manifest_digest}", reference::repository_key(n)));
            let stored = self.commit_image(
                &config_digest,
                Some(&manifest_digest),
                repo_digest,
                name.as_ref(),
            )?;
            loaded.push(self.info(&stored));
        }
        Ok(loaded)
    }

    /// The image manifest a descriptor of an index leads to: an index is walked for this host's
    /// platform.
    fn platform_manifest(
        &self,
        dir: &Path,
        descriptor: Descriptor,
    ) -> StoreResult<(Digest, Vec<u8>)> {
        let mut descriptor = descriptor;
        for _ in 0..4 {
            let digest = digest(&descriptor.digest)?;
            let bytes = read_blob(dir, &digest)?;
            if !INDEX_MEDIA_TYPES.contains(&descriptor.media_type.as_str()) {
                return Ok((digest, bytes));
            }
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::InvalidArchive(format!("index {digest}: {e}")))?;
            let arch = super::config::host_architecture();
            descriptor = index
                .manifests
                .into_iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == arch)
                })
                .ok_or_else(|| {
                    StoreError::InvalidArchive(format!(
                        "index {digest} has no image for linux/{arch}"
                    ))
                })?;
        }
        Err(StoreError::InvalidArchive("indexes nested too deep".into()))
    }

    /// Writes the image `name` names as a `docker save` archive: its config, each layer's tar
    /// exactly as its diff id says, `manifest.json` last.
    pub fn save(&self, name: &str, out: impl Write) -> StoreResult<()> {
        let image = self.find(name)?;
        let tags: Vec<String> = reference::parse(name)
            .ok()
            .filter(|r| r.digest().is_none() && !name.starts_with("sha256:"))
            .filter(|r| self.state().tags.contains_key(&reference::tag_key(r)))
            .map(|r| vec![reference::familiar(&reference::tag_key(&r))])
            .unwrap_or_default();
        let mut tar = tar::Builder::new(out);
        let write = |e: io::Error| StoreError::Internal(format!("write the archive: {e}"));
        let config_name = format!("{}.json", image.id().hex());
        let config_bytes = self
            .inner
            .blobs
            .read(image.id())
            .map_err(|e| StoreError::io("read the config", e))?;
        append(
            &mut tar,
            &config_name,
            config_bytes.len() as u64,
            config_bytes.as_slice(),
        )
        .map_err(write)?;
        let mut layer_names = Vec::new();
        for diff_id in image.layers() {
            let record = self
                .inner
                .layers
                .get(diff_id)
                .ok_or_else(|| StoreError::Internal(format!("layer {diff_id} is missing")))?;
            let blob = File::open(self.inner.blobs.path(&record.blob))
                .map_err(|e| StoreError::io("open a layer blob", e))?;
            let tar_bytes: Box<dyn Read> = if record.media_type.ends_with("gzip") {
                Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(blob)))
            } else if record.media_type.ends_with("zstd") {
                Box::new(zstd::stream::read::Decoder::new(blob).map_err(write)?)
            } else {
                Box::new(blob)
            };
            let file = format!("{}/layer.tar", diff_id.hex());
            append(&mut tar, &file, record.tar_size, tar_bytes).map_err(write)?;
            layer_names.push(file);
        }
        let manifest = vec![SavedImage {
            config: config_name,
            repo_tags: (!tags.is_empty()).then_some(tags),
            layers: layer_names,
        }];
        let manifest = serde_json::to_vec(&manifest)
            .map_err(|e| StoreError::Internal(format!("serialize manifest.json: {e}")))?;
        append(
            &mut tar,
            "manifest.json",
            manifest.len() as u64,
            manifest.as_slice(),
        )
        .map_err(write)?;
        tar.into_inner()
            .and_then(|mut out| out.flush())
            .map_err(write)
    }
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    // Written, not left as NUL bytes: strict readers (our own unpacker, the tar crate) refuse
    // a numeric field that holds no number.
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    // A short read would write a broken archive; the tar crate pads it, so count it here.
    let mut counted = CountingReader {
        inner: data,
        read: 0,
    };
    tar.append_data(&mut header, name, &mut counted)?;
    if counted.read != size {
        return Err(io::Error::other(format!(
            "{name}: {} bytes instead of {size}",
            counted.read
        )));
    }
    Ok(())
}

struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn digest(text: &str) -> StoreResult<Digest> {
    Digest::parse(text).map_err(StoreError::InvalidArchive)
}

/// `name` inside `dir`: relative, without `..`.
fn inside(dir: &Path, name: &str) -> StoreResult<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute()
        || path.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(StoreError::InvalidArchive(format!(
            "the archive names {name:?}, outside itself"
        )));
    }
    Ok(dir.join(path))
}

fn read_file(dir: &Path, name: &str) -> StoreResult<Vec<u8>> {
    std::fs::read(inside(dir, name)?)
        .map_err(|e| StoreError::InvalidArchive(format!("{name} is not in the archive: {e}")))
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> StoreResult<T> {
    serde_json::from_slice(&read_file(dir, name)?)
        .map_err(|e| StoreError::InvalidArchive(format!("{name}: {e}")))
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.hex())
}

/// A blob of an OCI layout, checked against its digest.
fn read_blob(dir: &Path, digest: &Digest) -> StoreResult<Vec<u8>> {
    let bytes = std::fs::read(blob_path(dir, digest)).map_err(|e| {
        StoreError::InvalidArchive(format!("blob {digest} is not in the layout: {e}"))
    })?;
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(StoreError::DigestMismatch(format!(
            "blob {digest} of the layout has digest {actual}"
        )));
    }
    Ok(bytes)
}
