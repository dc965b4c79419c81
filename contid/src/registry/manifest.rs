//! What a manifest served by a registry is: an index (OCI image index, Docker manifest list) to
//! walk, or an image manifest (OCI, Docker schema 2) whose config and layers Conti can use.
//! Everything checked here is refused before any layer is downloaded.

use serde::Deserialize;

use super::error::{RegistryError, SCHEMA1};
use super::platform::Platform;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The `Accept` of a manifest request: the four kinds Conti reads (never schema 1, which a
/// registry then has no reason to convert to).
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Layer media types the store can unpack: tar, gzip or zstd.
const LAYERS: &[&str] = &[
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
];

/// The largest manifest accepted (Distribution refuses to store larger ones).
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;
/// The largest image config accepted (real ones are a few KiB).
pub const MAX_CONFIG_SIZE: u64 = 16 << 20;

/// A parsed manifest.
#[derive(Debug)]
pub enum Manifest {
    Index(Index),
    Image(ImageManifest),
}

/// An index: the images it lists, one per platform.
#[derive(Debug)]
pub struct Index {
    pub media_type: String,
    pub entries: Vec<IndexEntry>,
}

#[derive(Debug)]
pub struct IndexEntry {
    pub digest: String,
    pub size: u64,
    pub platform: Option<Platform>,
}

/// An image manifest, checked: its config is an image config, its layers are tar archives.
#[derive(Debug)]
pub struct ImageManifest {
    pub media_type: String,
    pub config_digest: String,
    pub config_size: u64,
    pub layers: Vec<super::LayerDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    config: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    urls: Option<Vec<String>>,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct RawIndex {
    manifests: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawImageManifest {
    config: RawDescriptor,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

/// Parses `bytes`, the manifest of `reference` (named in errors).
pub fn parse(bytes: &[u8], reference: &str) -> Result<Manifest, RegistryError> {
    let invalid = |what: String| RegistryError::Invalid {
        message: format!("the manifest of {reference} {what}"),
    };
    let unsupported = |message: String| RegistryError::Unsupported {
        reference: reference.to_string(),
        message,
    };
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(invalid(format!(
            "is {} bytes, more than the {MAX_MANIFEST_SIZE} accepted",
            bytes.len()
        )));
    }
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|err| invalid(format!("is not a JSON manifest: {err}")))?;
    match header.schema_version {
        Some(2) => {}
        Some(1) => return Err(unsupported(SCHEMA1.to_string())),
        Some(other) => {
            return Err(unsupported(format!(
                "manifest schema version {other} is not supported"
            )));
        }
        None => return Err(invalid("has no schemaVersion".to_string())),
    }
    // OCI manifests may leave their media type out: their shape says which they are.
    let media_type = match header.media_type {
        Some(media_type) => media_type,
        None if header.manifests.is_some() => OCI_INDEX.to_string(),
        None if header.config.is_some() => OCI_MANIFEST.to_string(),
        None => return Err(invalid("has no mediaType, manifests or config".to_string())),
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let raw: RawIndex = serde_json::from_slice(bytes)
                .map_err(|err| invalid(format!("is not a valid index: {err}")))?;
            let entries = raw
                .manifests
                .into_iter()
                // A nested index (or anything else than an image) is not a candidate.
                .filter(|entry| {
                    entry
                        .media_type
                        .as_deref()
                        .is_none_or(|t| t == OCI_MANIFEST || t == DOCKER_MANIFEST)
                })
                .map(|entry| {
                    check_digest(&entry.digest, reference, "an index entry")?;
                    Ok(IndexEntry {
                        digest: entry.digest,
                        size: entry.size,
                        platform: entry.platform.map(|p| Platform {
                            os: p.os,
                            architecture: p.architecture,
                            variant: p.variant.filter(|v| !v.is_empty()),
                        }),
                    })
                })
                .collect::<Result<_, RegistryError>>()?;
            Ok(Manifest::Index(Index {
                media_type,
                entries,
            }))
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let raw: RawImageManifest = serde_json::from_slice(bytes)
                .map_err(|err| invalid(format!("is not a valid image manifest: {err}")))?;
            let config_type = raw.config.media_type.as_deref().unwrap_or_default();
            if config_type != DOCKER_CONFIG && config_type != OCI_CONFIG {
                return Err(unsupported(format!(
                    "not a container image: its config is {config_type:?}, not an image config"
                )));
            }
            check_digest(&raw.config.digest, reference, "the config")?;
            if raw.config.size > MAX_CONFIG_SIZE {
                return Err(invalid(format!(
                    "declares a config of {} bytes, more than the {MAX_CONFIG_SIZE} accepted",
                    raw.config.size
                )));
            }
            let layers = raw
                .layers
                .into_iter()
                .map(|layer| check_layer(layer, reference))
                .collect::<Result<_, RegistryError>>()?;
            Ok(Manifest::Image(ImageManifest {
                media_type,
                config_digest: raw.config.digest,
                config_size: raw.config.size,
                layers,
            }))
        }
        "application/vnd.docker.distribution.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v1+prettyjws" => {
            Err(unsupported(SCHEMA1.to_string()))
        }
        other => Err(unsupported(format!(
            "media type {other} is not an image manifest or index"
        ))),
    }
}

fn check_layer(
    layer: RawDescriptor,
    reference: &str,
) -> Result<super::LayerDescriptor, RegistryError> {
    let media_type = layer.media_type.unwrap_or_default();
    let unsupported = |message: String| RegistryError::Unsupported {
        reference: reference.to_string(),
        message,
    };
    if media_type.contains(".foreign.") || media_type.contains(".nondistributable.") {
        return Err(unsupported(format!(
            "layer {} is a foreign layer ({media_type}), to be fetched from elsewhere than the \
             registry: not supported",
            layer.digest
        )));
    }
    if !LAYERS.contains(&media_type.as_str()) {
        return Err(unsupported(format!(
            "layer {} has media type {media_type:?}, not a tar, tar+gzip or tar+zstd layer",
            layer.digest
        )));
    }
    check_digest(&layer.digest, reference, "a layer")?;
    Ok(super::LayerDescriptor {
        digest: layer.digest,
        size: layer.size,
        media_type,
        urls: layer.urls.unwrap_or_default(),
    })
}

/// Every digest Conti takes from a manifest is `sha256:` and 64 lower-case hex digits: the store
/// names files after them.
pub fn check_digest(digest: &str, reference: &str, what: &str) -> Result<(), RegistryError> {
    match digest.split_once(':') {
        Some(("sha256", hex))
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(())
        }
        Some(("sha384" | "sha512", _)) => Err(RegistryError::Unsupported {
            reference: reference.to_string(),
            message: format!("{what} has digest {digest}: only sha256 digests are supported"),
        }),
        _ => Err(RegistryError::Invalid {
            message: format!(
                "the manifest of {reference}: {what} has an invalid digest {digest:?}"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "127.0.0.1:5000/tiny:latest";
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(media_type: Option<&str>, config_type: &str, layer_type: &str) -> String {
        let media_type = media_type
            .map(|t| format!(r#""mediaType": "{t}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion": 2, {media_type}
                "config": {{"mediaType": "{config_type}", "digest": "{D1}", "size": 10}},
                "layers": [{{"mediaType": "{layer_type}", "digest": "{D2}", "size": 20,
                             "urls": ["https://example.com/l"]}}]}}"#
        )
    }

    #[test]
    fn docker_and_oci_image_manifests_are_read() {
        let docker = image(
            Some(DOCKER_MANIFEST),
            DOCKER_CONFIG,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        );
        let Manifest::Image(m) = parse(docker.as_bytes(), REF).unwrap() else {
            panic!("not an image")
        };
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert_eq!((m.config_digest.as_str(), m.config_size), (D1, 10));
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.layers[0].digest, D2);
        assert_eq!(m.layers[0].size, 20);
        assert_eq!(m.layers[0].urls, vec!["https://example.com/l"]);

        // Without a mediaType, the shape says it is an OCI manifest.
        let oci = image(
            None,
            OCI_CONFIG,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        );
        let Manifest::Image(m) = parse(oci.as_bytes(), REF).unwrap() else {
            panic!("not an image")
        };
        assert_eq!(m.media_type, OCI_MANIFEST);
    }

    #[test]
    fn indexes_list_their_images_with_platforms() {
        let index = format!(
            r#"{{"schemaVersion": 2, "mediaType": "{DOCKER_MANIFEST_LIST}", "manifests": [
                {{"mediaType": "{DOCKER_MANIFEST}", "digest": "{D1}", "size": 1,
                  "platform": {{"os": "linux", "architecture": "arm", "variant": "v7"}}}},
                {{"mediaType": "{OCI_INDEX}", "digest": "{D2}", "size": 2}},
                {{"digest": "{D2}", "size": 3,
                  "platform": {{"os": "linux", "architecture": "amd64", "variant": ""}}}}]}}"#
        );
        let Manifest::Index(index) = parse(index.as_bytes(), REF).unwrap() else {
            panic!("not an index")
        };
        assert_eq!(index.entries.len(), 2, "the nested index is skipped");
        assert_eq!(
            index.entries[0].platform.as_ref().unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(index.entries[1].platform.as_ref().unwrap().variant, None);
        let bare = r#"{"schemaVersion": 2, "manifests": []}"#;
        assert!(matches!(
            parse(bare.as_bytes(), REF).unwrap(),
            Manifest::Index(Index { media_type, .. }) if media_type == OCI_INDEX
        ));
    }

    #[test]
    fn schema_1_is_refused_clearly() {
        let v1 = r#"{"schemaVersion": 1, "name": "tiny", "tag": "latest", "fsLayers": []}"#;
        let err = parse(v1.as_bytes(), REF).unwrap_err();
        assert!(
            matches!(&err, RegistryError::Unsupported { reference, message }
                if reference == REF && message.contains("schema 1")),
            "{err:?}"
        );
    }

    #[test]
    fn artifacts_foreign_layers_and_odd_layers_are_unsupported() {
        let wasm = image(
            Some(OCI_MANIFEST),
            "application/vnd.wasm.config.v0+json",
            "application/wasm",
        );
        let err = parse(wasm.as_bytes(), REF).unwrap_err();
        assert!(
            matches!(&err, RegistryError::Unsupported { message, .. } if message.contains("not a container image")),
            "{err:?}"
        );
        let foreign = image(
            Some(DOCKER_MANIFEST),
            DOCKER_CONFIG,
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        );
        let err = parse(foreign.as_bytes(), REF).unwrap_err();
        assert!(
            matches!(&err, RegistryError::Unsupported { message, .. } if message.contains("foreign layer")),
            "{err:?}"
        );
        let odd = image(Some(OCI_MANIFEST), OCI_CONFIG, "application/x-bzip2");
        assert!(matches!(
            parse(odd.as_bytes(), REF),
            Err(RegistryError::Unsupported { .. })
        ));
        let artifact =
            r#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.artifact.manifest.v1+json"}"#;
        assert!(matches!(
            parse(artifact.as_bytes(), REF),
            Err(RegistryError::Unsupported { .. })
        ));
    }

    #[test]
    fn malformed_manifests_and_digests_are_invalid() {
        for bad in [
            "not json",
            r#"{"mediaType": "x"}"#,
            r#"{"schemaVersion": 2}"#,
            r#"{"schemaVersion": 2, "config": {"digest": 3}}"#,
        ] {
            assert!(
                matches!(
                    parse(bad.as_bytes(), REF),
                    Err(RegistryError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        let traversal = image(
            Some(OCI_MANIFEST),
            OCI_CONFIG,
            "application/vnd.oci.image.layer.v1.tar",
        )
        .replace(D2, "sha256:../../../etc/passwd");
        assert!(matches!(
            parse(traversal.as_bytes(), REF),
            Err(RegistryError::Invalid { .. })
        ));
        assert!(check_digest(&format!("sha256:{}", "A".repeat(64)), REF, "x").is_err());
        assert!(check_digest(&format!("sha256:{}", "a".repeat(63)), REF, "x").is_err());
        assert!(matches!(
            check_digest(&format!("sha512:{}", "a".repeat(128)), REF, "x"),
            Err(RegistryError::Unsupported { .. })
        ));
        let huge = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert!(matches!(
            parse(&huge, REF),
            Err(RegistryError::Invalid { .. })
        ));
    }
}
