//! The engine's side of images: the store (`crate::images`) and the registry client
//! (`crate::registry`) driven from async requests, the store's blocking work on blocking
//! threads, a pull's layers downloaded in parallel and unpacked as they stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use conti_proto::{ImageHistoryEntry, ImageInfo, ImagePruneReport, PullEvent, PullLayer};
use futures_util::{Stream, StreamExt};
use tokio::sync::{Semaphore, mpsc, watch};

use super::error::{EngineError, EngineResult};
use super::{Engine, blocking, upload};
use crate::images::{
    ConfigFile, Digest, Image, ImageStore, LayerCheck, Reference, parse_reference,
};
use crate::registry::{Credentials, LayerDescriptor, Platform, ResolvedImage};

/// Layers downloaded at once by one pull (Docker's default).
const PARALLEL_DOWNLOADS: usize = 3;
/// Pull events buffered for a slow client; progress beyond it is dropped, steps are not.
const PULL_EVENTS_IN_FLIGHT: usize = 64;
/// How often a layer's download progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Engine {
    fn image_store(&self) -> ImageStore {
        self.inner.images.clone()
    }

    /// The image `name` names, for a container's create.
    pub(super) fn find_image(&self, name: &str) -> EngineResult<Image> {
        Ok(self.inner.images.find(name)?)
    }

    /// The folders a container's overlay stacks, base first.
    pub(super) fn image_layers(&self, image_id: &str) -> EngineResult<Vec<std::path::PathBuf>> {
        let image = self.find_image(image_id)?;
        Ok(self.inner.images.layer_trees(&image))
    }

    /// The container that uses the image `id`, if any.
    fn image_user(&self, id: &Digest) -> Option<String> {
        self.table()
            .entries
            .values()
            .find(|e| e.container.config.image_id == id.as_str())
            .map(|e| e.container.config.name.clone())
    }

    /// Imports the root filesystem `body` streams as a one-layer image, unpacked as it arrives.
    pub async fn import_image<S, E>(
        &self,
        name: &str,
        changes: Vec<String>,
        body: S,
    ) -> EngineResult<ImageInfo>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        parse_reference(name).map_err(EngineError::InvalidReference)?;
        if self
            .inner
            .images
            .find(name)
            .is_ok_and(|_| !name.starts_with("sha256:"))
        {
            return Err(EngineError::ImageExists(name.to_string()));
        }
        let (sender, reader) = upload::channel();
        let images = self.image_store();
        let owned_name = name.to_string();
        let import = blocking(move || Ok(images.import(&owned_name, reader, &changes)?));
        let (result, ()) = tokio::join!(import, upload::feed(body, sender));
        if let Ok(image) = &result {
            tracing::info!(image = %image.id, name, size = image.size, "image imported");
        }
        result
    }

    /// Loads the images of a `docker save` archive or an OCI layout tarball.
    pub async fn load_images<S, E>(&self, body: S) -> EngineResult<Vec<ImageInfo>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (sender, reader) = upload::channel();
        let images = self.image_store();
        let load = blocking(move || Ok(images.load(reader)?));
        let (result, ()) = tokio::join!(load, upload::feed(body, sender));
        if let Ok(loaded) = &result {
            for image in loaded {
                tracing::info!(image = %image.id, tags = ?image.repo_tags, "image loaded");
            }
        }
        result
    }

    /// The `docker save` archive of the image `name` names, written as it is read.
    pub fn save_image(
        &self,
        name: &str,
    ) -> EngineResult<impl Stream<Item = Result<Bytes, std::io::Error>> + use<>> {
        self.inner.images.find(name)?;
        let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let images = self.image_store();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let out = ChannelWriter {
                sender: sender.clone(),
            };
            if let Err(e) = images.save(&name, std::io::BufWriter::with_capacity(256 << 10, out)) {
                tracing::warn!(image = %name, error = %e, "image save failed");
                let _ = sender.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
        Ok(tokio_stream(receiver))
    }

    pub fn images(&self) -> Vec<ImageInfo> {
        self.inner.images.list()
    }

    pub fn image(&self, name: &str) -> EngineResult<ImageInfo> {
        let image = self.find_image(name)?;
        Ok(self.inner.images.info(&image))
    }

    pub fn image_history(&self, name: &str) -> EngineResult<Vec<ImageHistoryEntry>> {
        Ok(self.inner.images.history(name)?)
    }

    pub async fn tag_image(&self, source: &str, target: &str) -> EngineResult<ImageInfo> {
        let images = self.image_store();
        let (source, target) = (source.to_string(), target.to_string());
        blocking(move || Ok(images.tag(&source, &target)?)).await
    }

    /// Removes a tag, and the image with its last name unless a container uses it.
    pub async fn delete_image(&self, name: &str) -> EngineResult<()> {
        let images = self.image_store();
        let engine = self.clone();
        let name = name.to_string();
        let removed =
            blocking(move || Ok(images.remove(&name, &|id| engine.image_user(id))?)).await?;
        if let Some(id) = removed {
            tracing::info!(image = %id, "image deleted");
        }
        Ok(())
    }

    pub async fn prune_images(&self, all: bool) -> EngineResult<ImagePruneReport> {
        let images = self.image_store();
        let engine = self.clone();
        blocking(move || Ok(images.prune(all, &|id| engine.image_user(id)))).await
    }

    // ----- registries -----

    pub async fn login(&self, registry: &str, credentials: Credentials) -> EngineResult<()> {
        Ok(self.inner.registry.login(registry, &credentials).await?)
    }

    /// `false` when no credentials were kept for `registry`.
    pub fn logout(&self, registry: &str) -> EngineResult<bool> {
        Ok(self.inner.registry.logout(registry)?)
    }

    /// Pulls `reference` for `platform`: resolves its manifest first (so that an unknown image,
    /// refused credentials or an unreachable registry are the answer's status), then streams the
    /// pull's events while the layers download in parallel, each unpacked as it arrives. Layers
    /// already in the store are not downloaded.
    pub async fn pull_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        credentials: Option<Credentials>,
    ) -> EngineResult<mpsc::Receiver<EngineResult<PullEvent>>> {
        let reference = parse_reference(reference).map_err(EngineError::InvalidReference)?;
        let platform = match platform {
            Some(text) => text
                .parse::<Platform>()
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?,
            None => Platform::default(),
        };
        let resolved = self
            .inner
            .registry
            .resolve(&reference, &platform, credentials.as_ref())
            .await?;
        let plan = PullPlan::new(reference, resolved)?;
        let (sender, receiver) = mpsc::channel(PULL_EVENTS_IN_FLIGHT);
        let events = PullEvents { sender };
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(err) = engine.run_pull(&plan, &events).await {
                tracing::warn!(reference = %plan.reference, error = %err, "pull failed");
                let _ = events.sender.send(Err(err)).await;
            }
        });
        Ok(receiver)
    }

    async fn run_pull(&self, plan: &PullPlan, events: &PullEvents) -> EngineResult<()> {
        let store = self.image_store();
        let pins = store.pin(&plan.diff_ids);
        let _ = events
            .send(PullEvent::Resolved {
                reference: plan.familiar.clone(),
                digest: plan.repo_digest.clone(),
                layers: plan
                    .resolved
                    .layers
                    .iter()
                    .map(|l| PullLayer {
                        digest: l.digest.clone(),
                        size: l.size,
                    })
                    .collect(),
            })
            .await;
        let slots = Arc::new(Semaphore::new(PARALLEL_DOWNLOADS));
        let (cancel, cancelled) = watch::channel(false);
        let mut downloads = tokio::task::JoinSet::new();
        for (layer, diff_id) in plan.resolved.layers.iter().zip(&plan.diff_ids) {
            if store.has_layer(diff_id) {
                let _ = events
                    .send(PullEvent::Exists {
                        layer: layer.digest.clone(),
                    })
                    .await;
                continue;
            }
            let _ = events
                .send(PullEvent::Waiting {
                    layer: layer.digest.clone(),
                })
                .await;
            let (engine, slots, events) = (self.clone(), Arc::clone(&slots), events.clone());
            let (resolved, layer, diff_id) =
                (plan.resolved.clone(), layer.clone(), diff_id.clone());
            let mut cancelled = cancelled.clone();
            downloads.spawn(async move {
                let Some(_slot) = unless_cancelled(&mut cancelled, slots.acquire_owned()).await
                else {
                    return Ok(());
                };
                engine
                    .pull_layer(&resolved, &layer, diff_id, &events, cancelled)
                    .await
            });
        }
        // The first failure is the pull's. The other downloads are told to stop, and are waited
        // for: each removes what it was writing, and none sends an event after the error.
        let mut failure = None;
        while let Some(done) = downloads.join_next().await {
            let result = done
                .map_err(|e| EngineError::internal("layer download", e))
                .and_then(|result| result);
            if let Err(err) = result
                && failure.is_none()
            {
                let _ = cancel.send(true);
                failure = Some(err);
            }
        }
        if let Some(err) = failure {
            // Layers this pull finished that no image has are not kept (nor their blobs).
            drop(pins);
            let layers = plan.diff_ids.clone();
            blocking(move || {
                store.discard_unused_layers(&layers);
                Ok(())
            })
            .await?;
            return Err(err);
        }
        let config = plan.config_digest.clone();
        let manifest = plan.manifest_digest.clone();
        let (manifest_bytes, config_bytes) =
            (plan.resolved.manifest.clone(), plan.resolved.config.clone());
        let repo_digest = format!(
            "{}@{}",
            crate::images::repository_key(&plan.reference),
            plan.repo_digest
        );
        let tag = plan
            .reference
            .digest()
            .is_none()
            .then(|| plan.reference.clone());
        let image = blocking(move || {
            store.put_blob(&manifest, &manifest_bytes)?;
            store.put_blob(&config, &config_bytes)?;
            Ok(store.commit_image(&config, Some(&manifest), Some(repo_digest), tag.as_ref())?)
        })
        .await?;
        tracing::info!(image = %image.id(), reference = %plan.reference, "image pulled");
        let _ = events
            .send(PullEvent::Done {
                reference: plan.familiar.clone(),
                id: image.id().to_string(),
                digest: plan.repo_digest.clone(),
            })
            .await;
        Ok(())
    }

    /// Downloads one layer and unpacks it as it streams; both digests checked.
    async fn pull_layer(
        &self,
        resolved: &ResolvedImage,
        layer: &LayerDescriptor,
        diff_id: Digest,
        events: &PullEvents,
        mut cancelled: watch::Receiver<bool>,
    ) -> EngineResult<()> {
        let name = layer.digest.clone();
        let blob = Digest::parse(&layer.digest).map_err(EngineError::InvalidReference)?;
        let Some(stream) =
            unless_cancelled(&mut cancelled, self.inner.registry.blob(resolved, layer)).await
        else {
            return Ok(());
        };
        let mut stream = stream?;
        let (sender, reader) = upload::channel();
        let check = LayerCheck {
            blob: Some(blob),
            diff_id: Some(diff_id),
            import: false,
        };
        let store = self.image_store();
        let ingest = blocking(move || Ok(store.ingest_layer(reader, &check)?));
        let downloading = |current| PullEvent::Downloading {
            layer: name.clone(),
            current,
            total: layer.size,
        };
        let feed = async {
            let (mut current, mut reported) = (0u64, Instant::now());
            let mut reported_bytes = 0u64;
            let _ = events.send(downloading(current)).await;
            while let Some(next) = unless_cancelled(&mut cancelled, stream.next()).await {
                let Some(chunk) = next else {
                    break;
                };
                match chunk {
                    Ok(chunk) => {
                        current += chunk.len() as u64;
                        if sender.send(Ok(chunk)).await.is_err() {
                            // The unpacker stopped: its error says why.
                            return Ok(());
                        }
                        if reported.elapsed() >= PROGRESS_EVERY {
                            reported = Instant::now();
                            if events.try_send(downloading(current)).is_ok() {
                                reported_bytes = current;
                            }
                        }
                    }
                    Err(err) => {
                        let _ = sender.send(Err(err.to_string())).await;
                        return Err(EngineError::from(err));
                    }
                }
            }
            if *cancelled.borrow() {
                // Fails the unpack, which removes what it wrote.
                let _ = sender.send(Err("the pull failed".to_string())).await;
                return Ok(());
            }
            drop(sender);
            // Every byte counted once before the next step, however fast the download was
            // (progress is only reported every PROGRESS_EVERY).
            if reported_bytes != current {
                let _ = events.send(downloading(current)).await;
            }
            let _ = events
                .send(PullEvent::Verifying {
                    layer: name.clone(),
                })
                .await;
            let _ = events
                .send(PullEvent::Extracting {
                    layer: name.clone(),
                })
                .await;
            Ok(())
        };
        let (ingested, fed) = tokio::join!(ingest, feed);
        // A download that broke is the cause of whatever the unpacker then said.
        fed?;
        ingested?;
        let _ = events.send(PullEvent::LayerDone { layer: name }).await;
        Ok(())
    }
}

/// `future`'s output, or `None` when the pull is cancelled first (or its sender is gone).
async fn unless_cancelled<T>(
    cancelled: &mut watch::Receiver<bool>,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        output = future => Some(output),
        _ = cancelled.wait_for(|cancelled| *cancelled) => None,
    }
}

/// Where a pull's events go: steps wait for room, progress is dropped when the client lags.
#[derive(Clone)]
struct PullEvents {
    sender: mpsc::Sender<EngineResult<PullEvent>>,
}

impl PullEvents {
    async fn send(&self, event: PullEvent) -> Result<(), ()> {
        self.sender.send(Ok(event)).await.map_err(drop)
    }

    fn try_send(&self, event: PullEvent) -> Result<(), ()> {
        self.sender.try_send(Ok(event)).map_err(drop)
    }
}

/// What a pull resolved to, checked before anything is downloaded.
struct PullPlan {
    reference: Reference,
    /// Docker's familiar form of the reference (`busybox:latest`).
    familiar: String,
    resolved: ResolvedImage,
    manifest_digest: Digest,
    config_digest: Digest,
    /// The digest the image is pulled by: its index's when it came through one.
    repo_digest: String,
    diff_ids: Vec<Digest>,
}

impl PullPlan {
    fn new(reference: Reference, resolved: ResolvedImage) -> EngineResult<PullPlan> {
        let invalid = |message: String| {
            EngineError::Registry(crate::registry::RegistryError::Invalid { message })
        };
        let manifest_digest = Digest::parse(&resolved.manifest_digest).map_err(invalid)?;
        let config_digest = Digest::parse(&resolved.config_digest).map_err(invalid)?;
        let config = ConfigFile::parse(&resolved.config).map_err(invalid)?;
        if config.rootfs.diff_ids.len() != resolved.layers.len() {
            return Err(invalid(format!(
                "the manifest of {reference} lists {} layers, its config {}",
                resolved.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let repo_digest = resolved
            .index_digest
            .clone()
            .unwrap_or_else(|| resolved.manifest_digest.clone());
        Ok(PullPlan {
            familiar: crate::images::familiar_name(&reference),
            reference,
            manifest_digest,
            config_digest,
            repo_digest,
            diff_ids: config.rootfs.diff_ids,
            resolved,
        })
    }
}

/// A blocking writer whose bytes become the chunks of a response body.
struct ChannelWriter {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sender
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tokio_stream<T>(mut receiver: mpsc::Receiver<T>) -> impl Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
