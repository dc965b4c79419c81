//! The pull scenario's images: a Debian root filesystem made once with `debootstrap
//! --variant=minbase` plus a few packages, split into five layers by folder, written as an OCI
//! image layout: `base` (the five layers) and `warm` (the same five and one small layer on top),
//! and for every round `n` a pair `base-<n>` / `warm-<n>` whose layers carry a marker of the
//! round; each round's pair is pushed to the run's own registry. The root filesystem and the
//! layout (with the rounds' images made so far) are cached under `--pull-cache` (default
//! `/var/cache/conti-bench/`), so only the first run pays for debootstrap (~2 minutes) and for
//! compressing the layers (~15 s).

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use conti_tests::TestRegistry;
use conti_tests::oci_images::{LayerCompression, ManifestFormat, copy_to_registry};
use conti_tests::oci_layout::{Descriptor, OciLayout, gzip, media_type, sha256_digest};

pub const SUITE: &str = "bookworm";
/// Added to minbase to bring the image to ~160 MB unpacked.
pub const PACKAGES: &[&str] = &[
    "python3-minimal",
    "curl",
    "ca-certificates",
    "procps",
    "less",
];
/// The repository the images are pushed to, tagged `base` and `warm`.
pub const REPOSITORY: &str = "conti-bench/debian";
/// Part of the layout's cache name: changed whenever the layers would come out differently.
const LAYOUT_VERSION: &str = "layout-v2";
/// How long debootstrap may take (it downloads ~50 MB of packages).
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(1200);
/// Left out of every layer: what a container runtime provides, and apt's caches (as Docker's
/// Debian images leave them out).
const NEVER_IN_A_LAYER: &[&str] = &[
    "dev/*",
    "proc/*",
    "sys/*",
    "run/*",
    "tmp/*",
    "var/cache/apt/*",
    "var/lib/apt/lists/*",
    "debootstrap",
];

/// One layer of the base image: what it takes from the root filesystem.
struct LayerPlan {
    /// Its `created_by` in the image's history.
    describe: &'static str,
    /// Paths given to tar, relative to the root; none: every top-level entry.
    paths: &'static [&'static str],
    /// Patterns left out (anchored), besides [`NEVER_IN_A_LAYER`].
    exclude: &'static [&'static str],
}

/// Base first. Sizes on bookworm with [`PACKAGES`]: ~8, ~36, ~12, ~51 and ~59 MB unpacked.
const BASE_LAYERS: [LayerPlan; 5] = [
    LayerPlan {
        describe: "the root's skeleton: /etc, /var, the merged-/usr symlinks",
        paths: &[],
        exclude: &["usr/*"],
    },
    LayerPlan {
        describe: "/usr but lib and share: bin, sbin, libexec",
        paths: &["usr"],
        exclude: &["usr/lib", "usr/share"],
    },
    LayerPlan {
        describe: "/usr/lib but x86_64-linux-gnu: python3.11, apt, systemd bits",
        paths: &["usr/lib"],
        exclude: &["usr/lib/x86_64-linux-gnu"],
    },
    LayerPlan {
        describe: "/usr/lib/x86_64-linux-gnu: the shared libraries",
        paths: &["usr/lib/x86_64-linux-gnu"],
        exclude: &[],
    },
    LayerPlan {
        describe: "/usr/share: locales, docs, zoneinfo, perl modules",
        paths: &["usr/share"],
        exclude: &[],
    },
];

/// The images as pushed, and what they are made of.
pub struct PushedImages {
    /// One pair per round, each of layers no other pair has.
    pub rounds: Vec<RoundImages>,
    /// Per layer of the warm image (base first): compressed and uncompressed bytes.
    pub layers: Vec<LayerFacts>,
    /// How the layout was had: built now, or from the cache (with its path).
    pub origin: String,
}

/// One round's images: `127.0.0.1:PORT/conti-bench/debian:base-<n>` and `…:warm-<n>`.
pub struct RoundImages {
    pub base: String,
    pub warm: String,
}

#[derive(Clone, Debug)]
pub struct LayerFacts {
    pub compressed: u64,
    pub uncompressed: u64,
}

impl PushedImages {
    /// The base image's layers (all of `warm`'s but the last).
    pub fn base_layers(&self) -> &[LayerFacts] {
        &self.layers[..self.layers.len() - 1]
    }
}

/// The cached layout (made first if missing), with `rounds` pairs of images of its layers
/// (added to it when missing), pushed to `registry`.
///
/// Each round has images of its own, whose layers differ from every other round's by a small
/// file at their start (a gzip member of its own before the layer's, so that the big part of
/// the blob is the same bytes): a cold pull needs no deletion just before it. That matters on
/// an ext4 without a journal (these machines): there, every new inode skips the inodes deleted
/// in the last 60 s (360 s while their inode table block is dirty), one buffer lookup each
/// (`recently_deleted`), so a pull right after deleting the previous round's ~9,000 files paid
/// ~1-2 s in the kernel, more or less depending on where the files landed.
pub fn prepare(
    cache: &Path,
    mirror: Option<&str>,
    registry: &TestRegistry,
    rounds: usize,
) -> Result<PushedImages, String> {
    let key = cache_key();
    let rootfs_dir = cache.join(format!("debian-{SUITE}-minbase-{key}"));
    let layout_dir = cache.join(format!("debian-{SUITE}-minbase-{key}-{LAYOUT_VERSION}"));
    let origin = if layout_dir.join("index.json").is_file() {
        format!("cached in {}", layout_dir.display())
    } else {
        let rootfs = cached_rootfs(&rootfs_dir, mirror)?;
        eprintln!(
            "pull: writing the layers of {} as an OCI layout in {}",
            rootfs.display(),
            layout_dir.display()
        );
        build_layout(&rootfs, &layout_dir)?;
        format!("built now into {}", layout_dir.display())
    };
    let layout = OciLayout::open(&layout_dir);
    let layers = layer_facts(&layout, "warm")?;
    add_round_images(&layout, rounds)?;
    eprintln!("pull: pushing {rounds} pairs of images to the registry");
    let push = |tag: &str| {
        copy_to_registry(
            &layout.reference(tag),
            registry,
            &format!("{REPOSITORY}:{tag}"),
            ManifestFormat::Oci,
            LayerCompression::Gzip,
            false,
        )
        .map(|pushed| pushed.reference)
        .map_err(|e| format!("pushing the {tag} image: {e}"))
    };
    let rounds = (0..rounds)
        .map(|round| {
            Ok(RoundImages {
                base: push(&format!("base-{round}"))?,
                warm: push(&format!("warm-{round}"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(PushedImages {
        rounds,
        layers,
        origin,
    })
}

/// Adds to the layout the images `base-<n>` and `warm-<n>` of each round `n` it lacks: `base`'s
/// layers, each with the file `.conti-bench-round-<n>-layer-<i>` at its start, and for `warm` on
/// top of them the warm layer with the round's number in its file.
fn add_round_images(layout: &OciLayout, rounds: usize) -> Result<(), String> {
    let missing: Vec<usize> = (0..rounds)
        .filter(|round| tagged(layout, &format!("warm-{round}")).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "pull: adding the images of rounds {missing:?} to {}",
        layout.dir().display()
    );
    let (manifest, _) = tagged(layout, "base")?;
    let base_layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let mut stored: Vec<Vec<StoredLayer>> = missing.iter().map(|_| Vec::new()).collect();
    for (index, layer) in base_layers.iter().enumerate() {
        let digest = layer["digest"].as_str().unwrap_or_default();
        let blob = fs::read(layout.blob_path(digest))
            .map_err(|e| format!("reading layer {digest}: {e}"))?;
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(blob.as_slice())
            .read_to_end(&mut tar)
            .map_err(|e| format!("decompressing layer {digest}: {e}"))?;
        for (round, layers) in missing.iter().zip(&mut stored) {
            let marker = marker_entry(&format!(".conti-bench-round-{round}-layer-{index}"))?;
            let mut compressed = gzip(&marker);
            compressed.extend_from_slice(&blob);
            let mut diff_id = Sha256::new();
            diff_id.update(&marker);
            diff_id.update(&tar);
            let blob = layout
                .add_blob(media_type::OCI_LAYER_GZIP, &compressed)
                .map_err(|e| format!("writing a layer blob: {e}"))?;
            layers.push(StoredLayer {
                blob,
                diff_id: hex_digest(diff_id.finalize().as_slice()),
                describe: BASE_LAYERS[index].describe,
            });
        }
    }
    for (round, mut layers) in missing.into_iter().zip(stored) {
        add_image(layout, &format!("base-{round}"), &layers)?;
        let top = "/etc/conti-bench/warm: the warm image's own layer";
        layers.push(add_layer(layout, &warm_layer_tar(round)?, top)?);
        add_image(layout, &format!("warm-{round}"), &layers)?;
    }
    Ok(())
}

/// A tar entry (header and data, without the end of the archive): the file `name` at the root,
/// saying its own name.
fn marker_entry(name: &str) -> Result<Vec<u8>, String> {
    let text = format!("{name}: the benchmark's mark, so that no round shares a layer\n");
    let mut header = entry_header(tar::EntryType::Regular, 0o644, text.len() as u64);
    header
        .set_path(name)
        .map_err(|e| format!("a marker named {name}: {e}"))?;
    header.set_cksum();
    let mut entry = header.as_bytes().to_vec();
    entry.extend_from_slice(text.as_bytes());
    entry.resize(entry.len().next_multiple_of(512), 0);
    Ok(entry)
}

fn hex_digest(bytes: &[u8]) -> String {
    let mut digest = String::from("sha256:");
    for byte in bytes {
        let _ = write!(digest, "{byte:02x}");
    }
    digest
}

/// The manifest and config of the image tagged `tag`.
fn tagged(layout: &OciLayout, tag: &str) -> Result<(Value, Value), String> {
    let broken = |e: String| {
        format!(
            "the cached layout {} is broken ({e}): delete it",
            layout.dir().display()
        )
    };
    let index = layout.index().map_err(|e| broken(e.to_string()))?;
    let manifest = index["manifests"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        })
        .and_then(|m| m["digest"].as_str())
        .ok_or_else(|| format!("no image tagged {tag}"))?;
    let manifest = layout
        .blob_json(manifest)
        .map_err(|e| broken(e.to_string()))?;
    let config = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| broken("a manifest without a config".into()))?;
    let config = layout
        .blob_json(config)
        .map_err(|e| broken(e.to_string()))?;
    Ok((manifest, config))
}

/// A short digest of what the root filesystem is made of.
fn cache_key() -> String {
    let recipe = format!("{SUITE} minbase {}", PACKAGES.join(","));
    sha256_digest(recipe.as_bytes())["sha256:".len()..][..12].to_string()
}

/// `<dir>/rootfs`, made with debootstrap when missing (in a temporary folder, renamed into
/// place once complete).
fn cached_rootfs(dir: &Path, mirror: Option<&str>) -> Result<PathBuf, String> {
    let rootfs = dir.join("rootfs");
    if rootfs.join("etc/os-release").exists() {
        return Ok(rootfs);
    }
    let mirror = mirror.map_or_else(apt_mirror, str::to_string);
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial).map_err(|e| format!("creating {}: {e}", partial.display()))?;
    eprintln!(
        "pull: debootstrap --variant=minbase --include={} {SUITE} from {mirror} into {} (once; \
         cached for later runs)",
        PACKAGES.join(","),
        dir.display()
    );
    let target = partial.join("rootfs");
    let result = run_debootstrap(&target, &mirror).and_then(|()| {
        fs::rename(&partial, dir).map_err(|e| format!("renaming {}: {e}", partial.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    result.map(|()| rootfs)
}

fn run_debootstrap(target: &Path, mirror: &str) -> Result<(), String> {
    let mut command = Command::new("debootstrap");
    command
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(target)
        .arg(mirror);
    let output = conti_tests::run_command(&mut command, DEBOOTSTRAP_TIMEOUT);
    if output.status.success() {
        return Ok(());
    }
    let log = fs::read_to_string(target.join("debootstrap/debootstrap.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    Err(format!(
        "debootstrap failed ({}; apt-get install debootstrap): {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

/// The Debian mirror apt uses here: the first `URIs:` (deb822) or `deb` line naming a path
/// that ends in `/debian`; else deb.debian.org.
fn apt_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    let text: String = files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .collect::<Vec<_>>()
        .join("\n");
    mirror_in(&text).unwrap_or_else(|| "http://deb.debian.org/debian".to_string())
}

fn mirror_in(sources: &str) -> Option<String> {
    sources
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .flat_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first() {
                Some(&"URIs:") => words[1..].to_vec(),
                Some(&"deb") => words
                    .iter()
                    .skip(1)
                    .find(|w| !w.starts_with('['))
                    .into_iter()
                    .copied()
                    .collect(),
                _ => Vec::new(),
            }
        })
        .map(|uri| uri.trim_end_matches('/').to_string())
        .find(|uri| uri.starts_with("http") && uri.ends_with("/debian"))
}

/// Writes the layout into `dir` (through a temporary folder renamed into place).
fn build_layout(rootfs: &Path, dir: &Path) -> Result<(), String> {
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    let result = write_layout(rootfs, &partial).and_then(|()| {
        fs::rename(&partial, dir).map_err(|e| format!("renaming {}: {e}", partial.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    result
}

fn write_layout(rootfs: &Path, dir: &Path) -> Result<(), String> {
    let layout = OciLayout::create(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut layers = Vec::new();
    for plan in &BASE_LAYERS {
        let tar = layer_tar(rootfs, plan)?;
        layers.push(add_layer(&layout, &tar, plan.describe)?);
    }
    add_image(&layout, "base", &layers)?;
    let top = "/etc/conti-bench/warm: the warm image's own layer";
    layers.push(add_layer(&layout, &warm_layer_tar("-")?, top)?);
    add_image(&layout, "warm", &layers)
}

/// A layer as stored: its blob's descriptor, its diff id, its history line.
struct StoredLayer {
    blob: Descriptor,
    diff_id: String,
    describe: &'static str,
}

fn add_layer(
    layout: &OciLayout,
    tar: &[u8],
    describe: &'static str,
) -> Result<StoredLayer, String> {
    let blob = layout
        .add_blob(media_type::OCI_LAYER_GZIP, &gzip(tar))
        .map_err(|e| format!("writing a layer blob: {e}"))?;
    Ok(StoredLayer {
        blob,
        diff_id: sha256_digest(tar),
        describe,
    })
}

fn add_image(layout: &OciLayout, tag: &str, layers: &[StoredLayer]) -> Result<(), String> {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["/bin/bash"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        },
        "history": layers
            .iter()
            .map(|l| json!({"created_by": format!("conti-bench: {}", l.describe)}))
            .collect::<Vec<_>>(),
    });
    let bytes = |value: &Value| serde_json::to_vec(value).expect("JSON serializes");
    let write = |what: &str, media: &str, value: &Value| {
        layout
            .add_blob(media, &bytes(value))
            .map_err(|e| format!("writing the {tag} image's {what}: {e}"))
    };
    let config = write("config", media_type::OCI_CONFIG, &config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": config.to_json(),
        "layers": layers.iter().map(|l| l.blob.to_json()).collect::<Vec<_>>(),
    });
    let manifest = write("manifest", media_type::OCI_MANIFEST, &manifest)?;
    layout
        .tag(tag, &manifest)
        .map_err(|e| format!("tagging {tag}: {e}"))
}

/// The layer's tar, from GNU tar: entries sorted by name, numeric owners, no leading `./`.
fn layer_tar(rootfs: &Path, plan: &LayerPlan) -> Result<Vec<u8>, String> {
    let mut command = Command::new("tar");
    command
        .arg("--create")
        .arg("--file=-")
        .arg("--directory")
        .arg(rootfs)
        .args([
            "--sort=name",
            "--numeric-owner",
            "--format=gnu",
            "--anchored",
        ]);
    for pattern in plan.exclude.iter().chain(NEVER_IN_A_LAYER) {
        command.arg(format!("--exclude={pattern}"));
    }
    if plan.paths.is_empty() {
        let mut top: Vec<String> = fs::read_dir(rootfs)
            .map_err(|e| format!("reading {}: {e}", rootfs.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        command.args(top);
    } else {
        command.args(plan.paths);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running tar: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "tar of {} for a layer failed: {}",
            plan.paths.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// A tar header owned by root, with a fixed mtime (the layers come out the same every time).
fn entry_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    header.set_mtime(1_700_000_000);
    header
}

/// The warm image's own layer: one folder and a 64 KiB file, `round` in its first line (none
/// for the layout's own `warm`).
fn warm_layer_tar(round: impl std::fmt::Display) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| format!("writing the warm layer: {e}");
    builder
        .append_data(
            &mut entry_header(tar::EntryType::Directory, 0o755, 0),
            "etc/conti-bench/",
            std::io::empty(),
        )
        .map_err(io)?;
    let mut text = Vec::new();
    let _ = writeln!(text, "round {round}");
    for line in 0..1024 {
        let _ = writeln!(
            text,
            "{line:05} the warm image's own layer, 64 bytes a line ...."
        );
    }
    text.truncate(64 * 1024);
    let size = text.len() as u64;
    builder
        .append_data(
            &mut entry_header(tar::EntryType::Regular, 0o644, size),
            "etc/conti-bench/warm",
            text.as_slice(),
        )
        .map_err(io)?;
    builder.into_inner().map_err(io)
}

/// Compressed and uncompressed sizes of the layers of the image tagged `tag`.
fn layer_facts(layout: &OciLayout, tag: &str) -> Result<Vec<LayerFacts>, String> {
    let broken = |e: String| {
        format!(
            "the cached layout {} is broken ({e}): delete it",
            layout.dir().display()
        )
    };
    let (manifest, config) = tagged(layout, tag).map_err(broken)?;
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if layers.len() != diff_ids.len() || layers.len() < 2 {
        return Err(broken("layers and diff ids do not match".into()));
    }
    layers
        .iter()
        .map(|layer| {
            let digest = layer["digest"].as_str().unwrap_or_default();
            let compressed = layer["size"].as_u64().unwrap_or_default();
            let blob = fs::read(layout.blob_path(digest)).map_err(|e| broken(e.to_string()))?;
            let mut decoder = flate2::read::GzDecoder::new(blob.as_slice());
            let uncompressed = std::io::copy(&mut decoder, &mut std::io::sink())
                .map_err(|e| broken(e.to_string()))?;
            Ok(LayerFacts {
                compressed,
                uncompressed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_comes_from_deb822_or_one_line_sources() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n\
                      URIs: http://deb.debian.org/debian\nSuites: bookworm\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let list = "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n";
        assert_eq!(
            mirror_in(list).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_in("deb https://packages.example/apt stable main"),
            None
        );
    }
}
