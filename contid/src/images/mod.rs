//! The image store: OCI images under `<root>/images/`, content-addressed.
//!
//! - `blobs/sha256/<hex>`: manifests, configs and layer blobs, each verified as it is written;
//! - `layers/<hex of the diff id>/fs`: each layer unpacked once, shared by every image with it;
//! - `images/<hex of the config digest>.json`: an image (its id is its config's digest);
//! - `repositories.json`: the tags, `registry/repository:tag` → image id;
//! - `tmp/`: what is being written; emptied at every start, so whatever a killed daemon left
//!   half-written is never used.
//!
//! The engine sees a narrow interface: find an image by reference or id, the layer folders of a
//! container's overlay, import, load, save, tag, remove, prune, and the steps of a pull (which
//! layers are missing, ingest one as it streams, commit the image). Blocking: call it from a
//! blocking thread.

mod archive;
mod blobs;
mod config;
mod digest;
mod layers;
mod reference;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use conti_proto::{ImageHistoryEntry, ImageInfo, ImagePruneReport};
use serde::{Deserialize, Serialize};

use crate::runtime::sys::atomic_file::{Durability, write_json_atomic};

pub use config::ConfigFile;
pub use digest::Digest;
pub use layers::LayerCheck;
pub use oci_spec::distribution::Reference;
pub use reference::{parse as parse_reference, repository_key};

/// Docker's familiar form of a reference: `busybox:latest`, `host:5000/app@sha256:…`.
pub fn familiar_name(reference: &Reference) -> String {
    reference::familiar(&name_key(reference))
}

const RECORDS_DIR: &str = "images";
const TAGS_FILE: &str = "repositories.json";
const TMP_DIR: &str = "tmp";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidReference(String),
    #[error("image {0:?} already exists")]
    Exists(String),
    #[error("{0}")]
    InvalidArchive(String),
    #[error("{0}")]
    DigestMismatch(String),
    #[error("image {image:?} is used by container {container}")]
    InUse { image: String, container: String },
    #[error("{0}")]
    NoSpace(String),
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    fn io(context: &str, err: std::io::Error) -> StoreError {
        match err.raw_os_error() {
            Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT) => {
                StoreError::NoSpace(format!("no space left on the state disk: {context}: {err}"))
            }
            _ => StoreError::Internal(format!("{context}: {err}")),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the store keeps of an image beside its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageRecord {
    id: Digest,
    /// The manifest it was pulled or loaded by, kept in the blob store.
    #[serde(default)]
    manifest: Option<Digest>,
    /// `registry/repository@sha256:…`, stored form.
    #[serde(default)]
    repo_digests: BTreeSet<String>,
    /// RFC 3339: when it entered the store.
    added: String,
}

/// An image of the store.
#[derive(Debug, Clone)]
pub struct Image {
    record: ImageRecord,
    pub config: ConfigFile,
    /// Bytes of each layer's files, base first.
    layer_sizes: Vec<u64>,
}

impl Image {
    pub fn id(&self) -> &Digest {
        &self.record.id
    }

    pub fn layers(&self) -> &[Digest] {
        &self.config.rootfs.diff_ids
    }

    pub fn size(&self) -> u64 {
        self.layer_sizes.iter().sum()
    }
}

#[derive(Default)]
struct State {
    images: BTreeMap<Digest, Image>,
    /// `registry/repository:tag` → image id.
    tags: BTreeMap<String, Digest>,
}

struct Inner {
    dir: PathBuf,
    tmp: PathBuf,
    blobs: blobs::BlobStore,
    layers: layers::LayerStore,
    state: Mutex<State>,
    /// Layers a pull relies on before its image exists: kept by removals meanwhile.
    pins: Mutex<HashMap<Digest, usize>>,
}

#[derive(Clone)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

/// Layers pinned by a pull; unpinned when dropped.
pub struct LayerPins {
    store: ImageStore,
    layers: Vec<Digest>,
}

impl Drop for LayerPins {
    fn drop(&mut self) {
        let mut pins = self.store.pins();
        for layer in &self.layers {
            if let Some(count) = pins.get_mut(layer) {
                *count -= 1;
                if *count == 0 {
                    pins.remove(layer);
                }
            }
        }
    }
}

impl ImageStore {
    /// Opens (or makes) the store under `<root>/images`: empties `tmp/`, reads the images and
    /// tags, drops images whose layers are missing, and deletes layers and blobs no image uses.
    pub fn open(root: &Path) -> StoreResult<ImageStore> {
        let dir = root.join("images");
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create the image store", e))?;
        set_aside_legacy_images(root, &dir);
        let tmp = dir.join(TMP_DIR);
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .map_err(|e| StoreError::io("empty the image store's tmp folder", e))?;
        }
        for folder in [&tmp, &dir.join(RECORDS_DIR)] {
            std::fs::create_dir_all(folder)
                .map_err(|e| StoreError::io("create the image store", e))?;
        }
        let blobs =
            blobs::BlobStore::open(&dir, &tmp).map_err(|e| StoreError::io("open blobs", e))?;
        let layers =
            layers::LayerStore::open(&dir, &tmp).map_err(|e| StoreError::io("open layers", e))?;
        let store = ImageStore {
            inner: Arc::new(Inner {
                dir,
                tmp,
                blobs,
                layers,
                state: Mutex::new(State::default()),
                pins: Mutex::new(HashMap::new()),
            }),
        };
        store.load_state();
        store.collect_garbage();
        Ok(store)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pins(&self) -> MutexGuard<'_, HashMap<Digest, usize>> {
        self.inner.pins.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn load_state(&self) {
        let mut state = State::default();
        let records = std::fs::read_dir(self.inner.dir.join(RECORDS_DIR));
        for entry in records.into_iter().flatten().flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<ImageRecord>(&bytes) else {
                tracing::warn!(file = %entry.path().display(), "unreadable image record, ignored");
                continue;
            };
            match self.image_of(record.clone()) {
                Ok(image) => {
                    state.images.insert(record.id.clone(), image);
                }
                Err(e) => {
                    tracing::warn!(image = %record.id, error = %e, "image incomplete, dropped");
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let tags: BTreeMap<String, Digest> = std::fs::read(self.inner.dir.join(TAGS_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        state.tags = tags
            .into_iter()
            .filter(|(_, id)| state.images.contains_key(id))
            .collect();
        *self.state() = state;
    }

    /// An image from its record: its config read, its layers all present.
    fn image_of(&self, record: ImageRecord) -> StoreResult<Image> {
        let bytes = self
            .inner
            .blobs
            .read(&record.id)
            .map_err(|e| StoreError::io("read the image config", e))?;
        let config = ConfigFile::parse(&bytes).map_err(StoreError::InvalidArchive)?;
        let layer_sizes = config
            .rootfs
            .diff_ids
            .iter()
            .map(|layer| {
                self.inner
                    .layers
                    .get(layer)
                    .map(|l| l.size)
                    .ok_or_else(|| StoreError::Internal(format!("layer {layer} is missing")))
            })
            .collect::<StoreResult<Vec<u64>>>()?;
        Ok(Image {
            record,
            config,
            layer_sizes,
        })
    }

    /// Deletes layers and blobs that no image uses (nor a pull in progress).
    fn collect_garbage(&self) -> u64 {
        let state = self.state();
        let pins = self.pins();
        let mut used_layers: BTreeSet<Digest> = pins.keys().cloned().collect();
        let mut used_blobs = BTreeSet::new();
        for image in state.images.values() {
            used_blobs.insert(image.record.id.clone());
            used_blobs.extend(image.record.manifest.clone());
            used_layers.extend(image.layers().iter().cloned());
        }
        let mut reclaimed = 0;
        for layer in self.inner.layers.list() {
            if used_layers.contains(&layer) {
                if let Some(record) = self.inner.layers.get(&layer) {
                    used_blobs.insert(record.blob);
                }
                continue;
            }
            if let Some(record) = self.inner.layers.get(&layer) {
                reclaimed += record.size;
            }
            self.inner.layers.remove(&layer);
        }
        // Blobs of layers being pulled are written under tmp/ until the layer is published.
        for blob in self.inner.blobs.list() {
            if !used_blobs.contains(&blob) && pins.is_empty() {
                self.inner.blobs.remove(&blob);
            }
        }
        reclaimed
    }

    fn save_tags(&self, state: &State) -> StoreResult<()> {
        write_json_atomic(
            &self.inner.dir.join(TAGS_FILE),
            &state.tags,
            Durability::Durable,
        )
        .map_err(|e| StoreError::io("write the tags", e))
    }

    fn save_record(&self, record: &ImageRecord) -> StoreResult<()> {
        let path = self
            .inner
            .dir
            .join(RECORDS_DIR)
            .join(format!("{}.json", record.id.hex()));
        write_json_atomic(&path, record, Durability::Durable)
            .map_err(|e| StoreError::io("write the image record", e))
    }

    // ----- lookups -----

    /// The image `name` names: a reference (`busybox`, `host:5000/app:1`, `app@sha256:…`), an
    /// id (`sha256:…`) or a prefix of one's hex digits.
    pub fn find(&self, name: &str) -> StoreResult<Image> {
        let state = self.state();
        let id = find_id(&state, name)?;
        Ok(state.images[&id].clone())
    }

    pub fn list(&self) -> Vec<ImageInfo> {
        let state = self.state();
        let mut images: Vec<ImageInfo> = state.images.values().map(|i| info(&state, i)).collect();
        images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        images
    }

    pub fn info(&self, image: &Image) -> ImageInfo {
        info(&self.state(), image)
    }

    /// Every image, with the bytes of each of its layers (base first, as `ImageInfo.layers`).
    pub fn list_with_layer_sizes(&self) -> Vec<(ImageInfo, Vec<u64>)> {
        let state = self.state();
        state
            .images
            .values()
            .map(|image| (info(&state, image), image.layer_sizes.clone()))
            .collect()
    }

    pub fn count(&self) -> usize {
        self.state().images.len()
    }

    /// The folders a container's overlay stacks, base first.
    pub fn layer_trees(&self, image: &Image) -> Vec<PathBuf> {
        image
            .layers()
            .iter()
            .map(|l| self.inner.layers.tree(l))
            .collect()
    }

    pub fn history(&self, name: &str) -> StoreResult<Vec<ImageHistoryEntry>> {
        let image = self.find(name)?;
        Ok(image.config.history(&image.layer_sizes))
    }

    // ----- the steps of a pull -----

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.inner.layers.has(diff_id)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.inner.blobs.has(digest)
    }

    /// Keeps `layers` from removal until the pins are dropped (a pull's whole life).
    pub fn pin(&self, layers: &[Digest]) -> LayerPins {
        let mut pins = self.pins();
        for layer in layers {
            *pins.entry(layer.clone()).or_default() += 1;
        }
        LayerPins {
            store: self.clone(),
            layers: layers.to_vec(),
        }
    }

    /// Deletes those of `layers` that no image has and nothing pins, with their blobs: what a
    /// failed pull had finished before it failed.
    pub fn discard_unused_layers(&self, layers: &[Digest]) {
        let state = self.state();
        let pins = self.pins();
        for layer in layers {
            let used = pins.contains_key(layer)
                || state
                    .images
                    .values()
                    .any(|image| image.layers().contains(layer));
            if used {
                continue;
            }
            if let Some(record) = self.inner.layers.get(layer) {
                self.inner.layers.remove(layer);
                self.inner.blobs.remove(&record.blob);
            }
        }
    }

    /// Unpacks one layer as its blob streams in (see [`layers::LayerStore::ingest`]).
    pub fn ingest_layer(&self, blob: impl Read + 'static, check: &LayerCheck) -> StoreResult<u64> {
        self.inner
            .layers
            .ingest(&self.inner.blobs, blob, check)
            .map(|record| record.size)
    }

    /// Keeps a manifest or config blob, checked against its digest.
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> StoreResult<()> {
        self.inner.blobs.put(digest, bytes).map_err(|e| match e {
            blobs::BlobError::Mismatch { .. } => StoreError::DigestMismatch(e.to_string()),
            blobs::BlobError::Io(e) => StoreError::io("keep a blob", e),
        })
    }

    /// Records the image whose config blob is `config` (kept already, like its layers), found
    /// through `manifest` under `repo_digest`, and points `tag` at it.
    pub fn commit_image(
        &self,
        config: &Digest,
        manifest: Option<&Digest>,
        repo_digest: Option<String>,
        tag: Option<&Reference>,
    ) -> StoreResult<Image> {
        let mut state = self.state();
        let mut record = state
            .images
            .get(config)
            .map(|i| i.record.clone())
            .unwrap_or_else(|| ImageRecord {
                id: config.clone(),
                manifest: None,
                repo_digests: BTreeSet::new(),
                added: crate::runtime::now_rfc3339(),
            });
        if let Some(manifest) = manifest {
            record.manifest = Some(manifest.clone());
        }
        record.repo_digests.extend(repo_digest);
        let image = self.image_of(record.clone())?;
        self.save_record(&record)?;
        state.images.insert(config.clone(), image.clone());
        if let Some(tag) = tag {
            state.tags.insert(reference::tag_key(tag), config.clone());
            self.save_tags(&state)?;
        }
        Ok(image)
    }

    // ----- tags and removal -----

    /// Points the tag `target` at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> StoreResult<ImageInfo> {
        let target = reference::parse(target).map_err(StoreError::InvalidReference)?;
        if target.digest().is_some() {
            return Err(StoreError::InvalidReference(format!(
                "{target} names a digest: a tag is name[:tag]"
            )));
        }
        let mut state = self.state();
        let id = find_id(&state, source)?;
        state.tags.insert(reference::tag_key(&target), id.clone());
        self.save_tags(&state)?;
        Ok(info(&state, &state.images[&id]))
    }

    /// `image rm`: a tag (or repo digest) is removed, and the image with it when nothing else
    /// names it; an id removes the image and all its tags. As Docker, a tag that was the last of
    /// its repository takes that repository's digest references with it (they only said which
    /// manifest it was pulled by), so a pulled image goes with its tag. An image a container
    /// uses is kept: 409 when removing its last name or itself. Layers no image uses go with it.
    pub fn remove(
        &self,
        name: &str,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> StoreResult<Option<Digest>> {
        let mut state = self.state();
        let id = find_id(&state, name)?;
        let by_name = reference::parse(name)
            .ok()
            .filter(|r| !looks_like_id(name) && names(&state, r).as_ref() == Some(&id));
        let removed: Vec<String> = match &by_name {
            Some(reference) if reference.digest().is_none() => {
                let mut removed = vec![name_key(reference)];
                removed.extend(digests_left_by_last_tag(&state, &id, reference));
                removed
            }
            Some(reference) => vec![name_key(reference)],
            None => state.clone_names(&id),
        };
        let remaining: Vec<String> = state
            .clone_names(&id)
            .into_iter()
            .filter(|n| !removed.contains(n))
            .collect();
        if remaining.is_empty()
            && let Some(container) = in_use(&id)
        {
            return Err(StoreError::InUse {
                image: name.to_string(),
                container,
            });
        }
        let mut record_changed = false;
        for key in &removed {
            if key.contains('@') {
                if let Some(image) = state.images.get_mut(&id) {
                    record_changed |= image.record.repo_digests.remove(key);
                }
            } else {
                state.tags.remove(key);
            }
        }
        self.save_tags(&state)?;
        if !remaining.is_empty() {
            if record_changed && let Some(image) = state.images.get(&id) {
                self.save_record(&image.record)?;
            }
            return Ok(None);
        }
        self.delete_image(&mut state, &id);
        drop(state);
        self.collect_garbage();
        Ok(Some(id))
    }

    fn delete_image(&self, state: &mut State, id: &Digest) {
        state.images.remove(id);
        state.tags.retain(|_, tagged| tagged != id);
        let _ = self.save_tags(state);
        let path = self
            .inner
            .dir
            .join(RECORDS_DIR)
            .join(format!("{}.json", id.hex()));
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(image = %id, error = %e, "cannot delete an image record");
        }
    }

    /// Deletes untagged images (every image with `all`) that no container uses.
    pub fn prune(&self, all: bool, in_use: &dyn Fn(&Digest) -> Option<String>) -> ImagePruneReport {
        let mut state = self.state();
        let doomed: Vec<Digest> = state
            .images
            .keys()
            .filter(|id| all || !state.tags.values().any(|t| t == *id))
            .filter(|id| in_use(id).is_none())
            .cloned()
            .collect();
        for id in &doomed {
            self.delete_image(&mut state, id);
        }
        drop(state);
        let space_reclaimed = self.collect_garbage();
        ImagePruneReport {
            deleted: doomed.iter().map(Digest::to_string).collect(),
            space_reclaimed,
        }
    }

    // ----- import -----

    /// A root filesystem tar (or tar.gz, tar.zst) as a one-layer image with an empty config and
    /// `changes` applied (`docker import --change`), tagged `name`. 409 when the tag exists.
    pub fn import(
        &self,
        name: &str,
        archive: impl Read + 'static,
        changes: &[String],
    ) -> StoreResult<ImageInfo> {
        let tag = self.check_new_tag(name)?;
        let mut defaults = config::ContainerDefaults::default();
        for change in changes {
            defaults
                .apply_change(change)
                .map_err(StoreError::InvalidReference)?;
        }
        let check = LayerCheck {
            import: true,
            ..LayerCheck::default()
        };
        let layer = self
            .inner
            .layers
            .ingest(&self.inner.blobs, archive, &check)?;
        let _pins = self.pin(std::slice::from_ref(&layer.diff_id));
        let created = crate::runtime::now_rfc3339();
        let config = ConfigFile::for_import(layer.diff_id, created, changes)
            .map_err(StoreError::InvalidReference)?;
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| StoreError::Internal(format!("serialize a config: {e}")))?;
        let id = Digest::of(&bytes);
        self.put_blob(&id, &bytes)?;
        // Two imports racing for one tag: the second to get here loses.
        self.check_new_tag(name)?;
        let image = self.commit_image(&id, None, None, Some(&tag))?;
        Ok(self.info(&image))
    }

    /// `name` as a tag no image has yet.
    fn check_new_tag(&self, name: &str) -> StoreResult<Reference> {
        let tag = reference::parse(name).map_err(StoreError::InvalidReference)?;
        if tag.digest().is_some() {
            return Err(StoreError::InvalidReference(format!(
                "{name} names a digest: an import's name is name[:tag]"
            )));
        }
        if self.state().tags.contains_key(&reference::tag_key(&tag)) {
            return Err(StoreError::Exists(name.to_string()));
        }
        Ok(tag)
    }
}

impl State {
    /// Every name of `id`: its tags and repo digests, stored form.
    fn clone_names(&self, id: &Digest) -> Vec<String> {
        let mut names: Vec<String> = self
            .tags
            .iter()
            .filter(|(_, tagged)| *tagged == id)
            .map(|(key, _)| key.clone())
            .collect();
        if let Some(image) = self.images.get(id) {
            names.extend(image.record.repo_digests.iter().cloned());
        }
        names
    }
}

/// The stored form of a reference: its tag key, or `repository@digest`.
fn name_key(reference: &Reference) -> String {
    match reference.digest() {
        Some(digest) => format!("{}@{digest}", reference::repository_key(reference)),
        None => reference::tag_key(reference),
    }
}

/// The digest references (stored form) of `reference`'s repository that name `id`, when
/// `reference` is the last tag of that repository naming it; none otherwise.
fn digests_left_by_last_tag(state: &State, id: &Digest, reference: &Reference) -> Vec<String> {
    let repository = reference::repository_key(reference);
    let tag = reference::tag_key(reference);
    let other_tag = state.tags.iter().any(|(key, tagged)| {
        tagged == id
            && *key != tag
            && key
                .rsplit_once(':')
                .is_some_and(|(repo, _)| repo == repository)
    });
    if other_tag {
        return Vec::new();
    }
    state
        .images
        .get(id)
        .map(|image| {
            image
                .record
                .repo_digests
                .iter()
                .filter(|d| {
                    d.split_once('@')
                        .is_some_and(|(repo, _)| repo == repository)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The image a reference names, if any.
fn names(state: &State, reference: &Reference) -> Option<Digest> {
    match reference.digest() {
        Some(_) => {
            let key = name_key(reference);
            state
                .images
                .values()
                .find(|i| i.record.repo_digests.contains(&key))
                .map(|i| i.record.id.clone())
        }
        None => state.tags.get(&reference::tag_key(reference)).cloned(),
    }
}

fn looks_like_id(name: &str) -> bool {
    name.starts_with("sha256:")
}

fn find_id(state: &State, name: &str) -> StoreResult<Digest> {
    let not_found = || StoreError::NotFound(name.to_string());
    let by_prefix = |hex: &str| -> StoreResult<Digest> {
        if hex.is_empty() || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(not_found());
        }
        let mut matches = state.images.keys().filter(|id| id.hex().starts_with(hex));
        match (matches.next(), matches.next()) {
            (Some(id), None) => Ok(id.clone()),
            (Some(_), Some(_)) => Err(StoreError::InvalidReference(format!(
                "{name:?} matches several images; give more of the id"
            ))),
            _ => Err(not_found()),
        }
    };
    if let Some(hex) = name.strip_prefix("sha256:") {
        return by_prefix(hex);
    }
    match reference::parse(name) {
        Ok(reference) => {
            if let Some(id) = names(state, &reference) {
                return Ok(id);
            }
            if name.len() >= 4 {
                return by_prefix(name).map_err(|_| not_found());
            }
            Err(not_found())
        }
        Err(message) if name.len() >= 4 => {
            by_prefix(name).map_err(|_| StoreError::InvalidReference(message))
        }
        Err(message) => Err(StoreError::InvalidReference(message)),
    }
}

fn info(state: &State, image: &Image) -> ImageInfo {
    let id = image.id();
    let mut repo_tags: Vec<String> = state
        .tags
        .iter()
        .filter(|(_, tagged)| *tagged == id)
        .map(|(key, _)| reference::familiar(key))
        .collect();
    repo_tags.sort();
    ImageInfo {
        id: id.to_string(),
        repo_tags,
        repo_digests: image
            .record
            .repo_digests
            .iter()
            .map(|d| reference::familiar(d))
            .collect(),
        size: image.size(),
        created: image
            .config
            .created
            .clone()
            .unwrap_or_else(|| image.record.added.clone()),
        architecture: image.config.architecture.clone(),
        os: image.config.os.clone(),
        layers: image.layers().iter().map(Digest::to_string).collect(),
        config: image.config.defaults(),
    }
}

/// Images of the earlier store (`<root>/images/<name>/rootfs`, before OCI images) are moved to
/// `<root>/legacy-images/`: they have no digest to be layers by. Import them again.
fn set_aside_legacy_images(root: &Path, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.join("image.json").is_file()
            || entry.file_name().to_string_lossy().starts_with(".import-")
        {
            let legacy = root.join("legacy-images");
            let _ = std::fs::create_dir_all(&legacy);
            let target = legacy.join(entry.file_name());
            match std::fs::rename(&path, &target) {
                Ok(()) => tracing::warn!(
                    image = %entry.file_name().to_string_lossy(),
                    moved_to = %target.display(),
                    "an image of the pre-OCI store was set aside: import it again"
                ),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot set aside a legacy image")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO_DIGEST: &str =
        "reg:5000/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// A store holding one image of one layer, as a pull of `reg:5000/app:1` leaves it: the tag
    /// and the digest reference of the manifest.
    fn store_with_pulled_image() -> (tempfile::TempDir, ImageStore, Digest) {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_path("hello").unwrap();
        header.set_size(3);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, &b"hi\n"[..]).unwrap();
        let layer = builder.into_inner().unwrap();
        let diff_id = Digest::of(&layer);
        let check = LayerCheck {
            diff_id: Some(diff_id.clone()),
            ..LayerCheck::default()
        };
        store
            .ingest_layer(std::io::Cursor::new(layer), &check)
            .unwrap();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        });
        let config = serde_json::to_vec(&config).unwrap();
        let id = Digest::of(&config);
        store.put_blob(&id, &config).unwrap();
        let tag = reference::parse("reg:5000/app:1").unwrap();
        store
            .commit_image(&id, None, Some(REPO_DIGEST.to_string()), Some(&tag))
            .unwrap();
        (dir, store, id)
    }

    #[test]
    fn a_failed_pull_discards_only_the_layers_nothing_else_has() {
        let (_dir, store, id) = store_with_pulled_image();
        let used = store.find(id.as_str()).unwrap().layers().to_vec();
        let layer = tar::Builder::new(Vec::new()).into_inner().unwrap();
        let orphan = Digest::of(&layer);
        store
            .ingest_layer(std::io::Cursor::new(layer), &LayerCheck::default())
            .unwrap();
        let record = store.inner.layers.get(&orphan).unwrap();
        let pins = store.pin(std::slice::from_ref(&orphan));
        let all = [used.clone(), vec![orphan.clone()]].concat();
        store.discard_unused_layers(&all);
        assert!(store.has_layer(&orphan), "pinned by another pull");
        drop(pins);
        store.discard_unused_layers(&all);
        assert!(!store.has_layer(&orphan));
        assert!(!store.has_blob(&record.blob));
        assert!(store.has_layer(&used[0]), "an image has it");
    }

    #[test]
    fn a_saved_image_loads_back() {
        let (_dir, store, id) = store_with_pulled_image();
        let mut archive = Vec::new();
        store.save("reg:5000/app:1", &mut archive).unwrap();
        let other = tempfile::tempdir().unwrap();
        let loaded = ImageStore::open(other.path())
            .unwrap()
            .load(std::io::Cursor::new(archive))
            .unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, id.to_string());
        assert_eq!(loaded[0].repo_tags, ["reg:5000/app:1"]);
    }

    fn unused(_: &Digest) -> Option<String> {
        None
    }

    #[test]
    fn a_pulled_image_goes_with_its_last_tag() {
        let (_dir, store, id) = store_with_pulled_image();
        assert_eq!(store.remove("reg:5000/app:1", &unused).unwrap(), Some(id));
        assert!(store.list().is_empty());
        assert!(store.inner.layers.list().is_empty());
        assert!(store.find(REPO_DIGEST).is_err());
    }

    #[test]
    fn another_tag_of_the_repository_keeps_the_image_and_its_digest() {
        let (_dir, store, id) = store_with_pulled_image();
        store.tag("reg:5000/app:1", "reg:5000/app:2").unwrap();
        assert_eq!(store.remove("reg:5000/app:1", &unused).unwrap(), None);
        let info = store.info(&store.find(REPO_DIGEST).unwrap());
        assert_eq!(info.repo_tags, ["reg:5000/app:2"]);
        assert_eq!(info.repo_digests, [REPO_DIGEST]);
        assert_eq!(store.remove("reg:5000/app:2", &unused).unwrap(), Some(id));
        assert!(store.list().is_empty());
    }

    #[test]
    fn a_digest_of_another_repository_keeps_the_image() {
        let (dir, store, id) = store_with_pulled_image();
        let other = REPO_DIGEST.replace("/app@", "/other@");
        store
            .commit_image(&id, None, Some(other.clone()), None)
            .unwrap();
        assert_eq!(store.remove("reg:5000/app:1", &unused).unwrap(), None);
        let info = store.info(&store.find(&other).unwrap());
        assert!(info.repo_tags.is_empty());
        assert_eq!(info.repo_digests, [other.as_str()]);
        // Read back from disk: the dropped digest stays dropped.
        let reopened = ImageStore::open(dir.path()).unwrap();
        assert_eq!(
            reopened.info(&reopened.find(&other).unwrap()).repo_digests,
            [other]
        );
        assert_eq!(store.remove(id.as_str(), &unused).unwrap(), Some(id));
    }
}
