//! The registry client: speaks the Distribution v2 protocol (through oci-client) to resolve an
//! image reference to one image manifest for a platform, with its config, and to stream its
//! layers; logs in and out of registries (the daemon's credentials file).
//!
//! It knows registries, not the store: what it hands over is verified where it can be (the
//! manifest and config bytes against their digests, every digest well-formed sha256) and the
//! layers are streamed for the store to verify while it writes them.
//!
//! - Credentials of a request: the caller's, else the credentials file's for that registry,
//!   else none. Bearer tokens (the WWW-Authenticate challenge flow, anonymous or with the
//!   credentials as Basic to the token realm) and Basic authentication are oci-client's; one
//!   client per registry and credentials is shared by every clone of [`Registry`], so the
//!   parallel downloads of a pull reuse the token of its resolve.
//! - TLS: the system's roots (`/etc/ssl/certs` and the other usual places, or `SSL_CERT_FILE` /
//!   `SSL_CERT_DIR`) plus the registry's own CAs in `<certs_dir>/<host[:port]>/*.crt`.
//! - Insecure and loopback registries: as Docker, HTTPS first without verifying the
//!   certificate, and plain HTTP when the HTTPS exchange fails; any other registry is HTTPS only.
//! - Proxies: `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` of the daemon's environment.

mod client;
mod credentials;
mod error;
mod manifest;
mod platform;
mod settings;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use oci_client::RegistryOperation;
use oci_client::secrets::RegistryAuth;
use sha2::{Digest as _, Sha256};
use tracing::Instrument as _;

pub use credentials::Credentials;
pub use error::RegistryError;
pub use oci_client::Reference;
pub use platform::{InvalidPlatform, Platform};
pub use settings::RegistrySettings;

use client::{Clients, Endpoint};
use credentials::{CredentialsFile, normalize_registry};
use error::ErrorContext;
use manifest::{ImageManifest, Manifest};

/// The bytes of a layer blob as they arrive.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;

/// A layer of an image manifest, checked: a tar, tar+gzip or tar+zstd media type, a
/// `sha256:<64 hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    pub digest: String,
    /// The size of the blob as stored in the registry (compressed).
    pub size: u64,
    pub media_type: String,
    /// Other places the manifest says the blob can be fetched from; [`Registry::blob`] fetches
    /// from the registry only.
    pub urls: Vec<String>,
}

/// An image reference resolved to one image manifest and its config.
#[derive(Clone)]
pub struct ResolvedImage {
    /// The reference as asked for, normalised (`docker.io/library/busybox:latest`).
    pub reference: Reference,
    /// `sha256:…` of `manifest`.
    pub manifest_digest: String,
    /// `sha256:…` of the index the reference named, when it named one.
    pub index_digest: Option<String>,
    /// The image manifest's bytes as served (digest verified).
    pub manifest: Vec<u8>,
    /// Docker schema 2 or OCI image manifest.
    pub manifest_media_type: String,
    /// The image config's JSON as served (digest and size verified).
    pub config: Vec<u8>,
    pub config_digest: String,
    /// In order, base first.
    pub layers: Vec<LayerDescriptor>,
    /// The credentials the resolve used (the caller's or the credentials file's), which
    /// [`Registry::blob`] uses too; `None`: anonymous.
    pub credentials: Option<Credentials>,
}

impl fmt::Debug for ResolvedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedImage")
            .field("reference", &self.reference.whole())
            .field("manifest_digest", &self.manifest_digest)
            .field("index_digest", &self.index_digest)
            .field("manifest_media_type", &self.manifest_media_type)
            .field("manifest_len", &self.manifest.len())
            .field("config_digest", &self.config_digest)
            .field("config_len", &self.config.len())
            .field("layers", &self.layers)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// The registry client of the daemon. Cheap to clone: the clones share connections, probed
/// endpoints and tokens.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RegistrySettings,
    credentials: CredentialsFile,
    clients: Clients,
}

/// One registry with one set of credentials: the requests of a resolve or a blob download.
struct Session {
    endpoint: Arc<Endpoint>,
    client: oci_client::Client,
    auth: RegistryAuth,
    credentials: Option<Credentials>,
    certs_dir: std::path::PathBuf,
}

impl Registry {
    pub fn new(settings: RegistrySettings) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                credentials: CredentialsFile::new(settings.credentials_file.clone()),
                settings,
                clients: Clients::default(),
            }),
        }
    }

    pub fn settings(&self) -> &RegistrySettings {
        &self.inner.settings
    }

    /// Resolves `reference` to one image manifest for `platform` (an index is walked), fetching
    /// and verifying the manifest and the config. Accepts Docker schema 2 and OCI manifests and
    /// indexes; refuses schema 1, artifacts that are not container images, foreign layers and
    /// layers that are not tar, tar+gzip or tar+zstd, before any layer is downloaded.
    /// Credentials: `auth`, else the credentials file's for the registry, else anonymous.
    pub async fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
        auth: Option<&Credentials>,
    ) -> Result<ResolvedImage, RegistryError> {
        let span =
            tracing::info_span!("registry_resolve", reference = %reference, platform = %platform);
        async {
            let credentials = match auth {
                Some(credentials) => Some(credentials.clone()),
                None => self.inner.credentials.lookup(reference.registry())?,
            };
            let session = self.session(reference.registry(), credentials).await?;
            let resolved = session.resolve(reference, platform).await;
            self.after(&session, resolved)
        }
        .instrument(span)
        .await
    }

    /// Streams one layer blob of `image` as it downloads, from the registry (not from the
    /// layer's `urls`). The stream fails when the blob is longer than its descriptor says, and
    /// at its end when its digest does not match (oci-client checks it too); the store verifies
    /// the digest as it writes. Safe to call from several tasks at once.
    pub async fn blob(
        &self,
        image: &ResolvedImage,
        layer: &LayerDescriptor,
    ) -> Result<BlobStream, RegistryError> {
        let span = tracing::info_span!("registry_blob", reference = %image.reference, digest = %layer.digest);
        async {
            let reference = &image.reference;
            manifest::check_digest(&layer.digest, &reference.whole(), "the layer")?;
            let session = self
                .session(reference.registry(), image.credentials.clone())
                .await?;
            let stream = session.blob(reference, layer).await;
            self.after(&session, stream)
        }
        .instrument(span)
        .await
    }

    /// Checks `credentials` against `registry` (`GET /v2/`, then Basic authentication or a token
    /// from the Bearer realm, as the registry asks), then stores them in the credentials file.
    /// `registry`: `host[:port]` or a URL of it; Docker Hub by any of its names (or empty).
    pub async fn login(
        &self,
        registry: &str,
        credentials: &Credentials,
    ) -> Result<(), RegistryError> {
        let registry = normalize_registry(registry);
        let span = tracing::info_span!("registry_login", registry = %registry, username = %credentials.username);
        async {
            check_registry_name(&registry)?;
            if credentials.username.is_empty() || credentials.password.is_empty() {
                return Err(RegistryError::Invalid {
                    message: "a login needs a username and a password".to_string(),
                });
            }
            let endpoint = self
                .inner
                .clients
                .endpoint(&registry, &self.inner.settings)
                .await?;
            let context = ErrorContext {
                registry: registry.clone(),
                reference: registry.clone(),
                with_credentials: true,
                certs_dir: self.inner.settings.certs_dir.clone(),
                insecure: endpoint.insecure,
            };
            let checked = client::check_credentials(&endpoint, credentials, &context).await;
            if let Err(RegistryError::Unreachable { .. }) = &checked {
                self.inner.clients.forget(&registry);
            }
            checked?;
            self.inner.credentials.store(&registry, credentials)?;
            self.inner.clients.forget(&registry);
            tracing::info!("logged in");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Forgets the stored credentials of `registry` (any of its spellings); whether there were
    /// any.
    pub fn logout(&self, registry: &str) -> Result<bool, RegistryError> {
        let registry = normalize_registry(registry);
        let removed = self.inner.credentials.remove(&registry)?;
        self.inner.clients.forget(&registry);
        Ok(removed)
    }

    async fn session(
        &self,
        registry: &str,
        credentials: Option<Credentials>,
    ) -> Result<Session, RegistryError> {
        let endpoint = self
            .inner
            .clients
            .endpoint(registry, &self.inner.settings)
            .await?;
        let client = self.inner.clients.client(&endpoint, credentials.as_ref())?;
        let auth = match &credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Ok(Session {
            endpoint,
            client,
            auth,
            credentials,
            certs_dir: self.inner.settings.certs_dir.clone(),
        })
    }

    /// A registry that could not be reached is probed again next time (it may have come back
    /// in the other scheme).
    fn after<T>(
        &self,
        session: &Session,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        if let Err(RegistryError::Unreachable { .. }) = &result {
            self.inner.clients.forget(&session.endpoint.registry);
        }
        result
    }
}

impl Session {
    fn context(&self, reference: String) -> ErrorContext {
        ErrorContext {
            registry: self.endpoint.registry.clone(),
            reference,
            with_credentials: self.credentials.is_some(),
            certs_dir: self.certs_dir.clone(),
            insecure: self.endpoint.insecure,
        }
    }

    async fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let name = reference.whole();
        // Fetches the token now (oci-client would, but would keep the reason of a refusal to
        // itself).
        self.client
            .auth(reference, &self.auth, RegistryOperation::Pull)
            .await
            .map_err(|err| self.context(name.clone()).oci(err))?;
        let top = self.manifest(reference).await?;
        let (bytes, image, index_digest) = match manifest::parse(&top, &name)? {
            Manifest::Image(image) => (top, image, None),
            Manifest::Index(index) => {
                let offered: Vec<Option<Platform>> =
                    index.entries.iter().map(|e| e.platform.clone()).collect();
                let Some(chosen) = platform::select(platform, &offered) else {
                    return Err(RegistryError::NoMatchingPlatform {
                        reference: name,
                        platform: platform.normalized().to_string(),
                        available: platform::available(&offered),
                    });
                };
                let entry = &index.entries[chosen];
                tracing::debug!(index = %index.media_type, digest = %entry.digest, "platform chosen");
                let child = reference.clone_with_digest(entry.digest.clone());
                let child_name = digest_name(reference, &entry.digest);
                if entry.size > manifest::MAX_MANIFEST_SIZE as u64 {
                    return Err(RegistryError::Invalid {
                        message: format!(
                            "the index of {name} lists a manifest of {} bytes",
                            entry.size
                        ),
                    });
                }
                let bytes = self.manifest(&child).await?;
                if bytes.len() as u64 != entry.size {
                    return Err(RegistryError::Invalid {
                        message: format!(
                            "{child_name}: the manifest has {} bytes, its index says {}",
                            bytes.len(),
                            entry.size
                        ),
                    });
                }
                match manifest::parse(&bytes, &child_name)? {
                    Manifest::Image(image) => (bytes, image, Some(sha256(&top))),
                    Manifest::Index(_) => {
                        return Err(RegistryError::Unsupported {
                            reference: child_name,
                            message: "an index inside an index is not supported".to_string(),
                        });
                    }
                }
            }
        };
        let config = self.config(reference, &image).await?;
        tracing::debug!(
            manifest = %sha256(&bytes),
            layers = image.layers.len(),
            "resolved"
        );
        Ok(ResolvedImage {
            reference: reference.clone(),
            manifest_digest: sha256(&bytes),
            index_digest,
            manifest: bytes,
            manifest_media_type: image.media_type,
            config,
            config_digest: image.config_digest,
            layers: image.layers,
            credentials: self.credentials.clone(),
        })
    }

    /// The manifest `reference` names, its digest verified by oci-client (against the
    /// reference's digest, and the registry's `Docker-Content-Digest`).
    async fn manifest(&self, reference: &Reference) -> Result<Vec<u8>, RegistryError> {
        let (bytes, _digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, manifest::ACCEPTED_MANIFESTS)
            .await
            .map_err(|err| self.context(reference.whole()).oci(err))?;
        Ok(bytes.to_vec())
    }

    /// The config blob of `image`, its size and digest verified.
    async fn config(
        &self,
        reference: &Reference,
        image: &ImageManifest,
    ) -> Result<Vec<u8>, RegistryError> {
        let name = digest_name(reference, &image.config_digest);
        let context = self.context(name.clone());
        let mut stream = self
            .client
            .pull_blob_stream(reference, image.config_digest.as_str())
            .await
            .map_err(|err| context.oci(err))?;
        let mut config = Vec::with_capacity(image.config_size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| context.io(&err))?;
            if (config.len() + chunk.len()) as u64 > image.config_size {
                return Err(RegistryError::Invalid {
                    message: format!(
                        "{name}: the config is larger than the {} bytes its manifest says",
                        image.config_size
                    ),
                });
            }
            config.extend_from_slice(&chunk);
        }
        if config.len() as u64 != image.config_size {
            return Err(RegistryError::Invalid {
                message: format!(
                    "{name}: the config has {} bytes, its manifest says {}",
                    config.len(),
                    image.config_size
                ),
            });
        }
        let digest = sha256(&config);
        if digest != image.config_digest {
            return Err(RegistryError::Invalid {
                message: format!("{name}: the config's digest is {digest}"),
            });
        }
        Ok(config)
    }

    async fn blob(
        &self,
        reference: &Reference,
        layer: &LayerDescriptor,
    ) -> Result<BlobStream, RegistryError> {
        let name = digest_name(reference, &layer.digest);
        let context = self.context(name.clone());
        let sized = self
            .client
            .pull_blob_stream(reference, layer.digest.as_str())
            .await
            .map_err(|err| context.oci(err))?;
        if let Some(length) = sized.content_length
            && length != layer.size
        {
            return Err(RegistryError::Invalid {
                message: format!(
                    "{name}: the registry sends {length} bytes, the manifest says {}",
                    layer.size
                ),
            });
        }
        let size = layer.size;
        let mut received: u64 = 0;
        let stream = sized.stream.map(move |chunk| {
            let chunk = chunk.map_err(|err| context.io(&err))?;
            received += chunk.len() as u64;
            if received > size {
                return Err(RegistryError::Invalid {
                    message: format!(
                        "{name}: the blob is larger than the {size} bytes its manifest says"
                    ),
                });
            }
            Ok(chunk)
        });
        Ok(Box::pin(stream))
    }
}

/// `registry/repository@digest`, the name of a blob or of an index's manifest in messages.
fn digest_name(reference: &Reference, digest: &str) -> String {
    format!(
        "{}/{}@{digest}",
        reference.registry(),
        reference.repository()
    )
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `host[:port]`: a DNS name or IPv4 address, or a bracketed IPv6 one; a numeric port.
fn check_registry_name(registry: &str) -> Result<(), RegistryError> {
    let (host, port) = settings::split_port(registry);
    let host_ok = if let Some(ipv6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        ipv6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid {
            message: format!("{registry:?} is not a registry (host[:port])"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalised_docker_s_way() {
        let busybox: Reference = "busybox".parse().unwrap();
        assert_eq!(busybox.whole(), "docker.io/library/busybox:latest");
        assert_eq!(busybox.registry(), "docker.io");
        let local: Reference = "127.0.0.1:5000/tiny:v1".parse().unwrap();
        assert_eq!(local.registry(), "127.0.0.1:5000");
        assert_eq!(local.repository(), "tiny");
        assert_eq!(
            digest_name(&local, "sha256:abc"),
            "127.0.0.1:5000/tiny@sha256:abc"
        );
    }

    #[test]
    fn registry_names_are_checked() {
        for good in [
            "docker.io",
            "myreg:5000",
            "127.0.0.1:5000",
            "localhost",
            "[::1]:5000",
            "my-reg.example.com",
        ] {
            assert!(check_registry_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "my reg", "reg:port", "reg:0", "-reg", "reg/path", "[::1",
        ] {
            assert!(check_registry_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolved_images_do_not_print_passwords() {
        let image = ResolvedImage {
            reference: "busybox".parse().unwrap(),
            manifest_digest: sha256(b"{}"),
            index_digest: None,
            manifest: b"{}".to_vec(),
            manifest_media_type: manifest::OCI_MANIFEST.to_string(),
            config: b"{}".to_vec(),
            config_digest: sha256(b"{}"),
            layers: Vec::new(),
            credentials: Some(Credentials {
                username: "alice".to_string(),
                password: "hunter2".to_string(),
            }),
        };
        let text = format!("{image:?}");
        assert!(
            text.contains("alice") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn the_client_and_its_futures_go_across_tasks() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(RegistrySettings {
            credentials_file: dir.path().join("credentials.json"),
            ..RegistrySettings::default()
        });
        send_sync(&registry);
        let reference: Reference = "busybox".parse().unwrap();
        let platform = Platform::default();
        send(&registry.resolve(&reference, &platform, None));
        let credentials = Credentials {
            username: "u".to_string(),
            password: "p".to_string(),
        };
        send(&registry.login("docker.io", &credentials));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        // Bound then dropped: nothing listens there any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(RegistrySettings {
            certs_dir: dir.path().join("certs.d"),
            insecure_registries: Vec::new(),
            credentials_file: dir.path().join("credentials.json"),
        });
        let reference: Reference = format!("127.0.0.1:{port}/tiny:latest").parse().unwrap();
        let err = registry
            .resolve(&reference, &Platform::default(), None)
            .await
            .unwrap_err();
        match err {
            RegistryError::Unreachable { registry, message } => {
                assert_eq!(registry, format!("127.0.0.1:{port}"));
                assert_eq!(message, "connection refused");
            }
            other => panic!("{other:?}"),
        }
    }
}
