//! Volumes of a create request: checked (400 `invalid_spec`), and turned into the bind mounts
//! the container's init makes. Named volumes themselves are objects: `named_volumes`.

use std::path::{Path, PathBuf};

use conti_proto::VolumeSpec;

use super::error::{EngineError, EngineResult};
use super::named_volumes::generated_name;
use super::spec::validate_volume_name;
use crate::runtime::container::volumes::BindMount;

/// Folder under the daemon's root that holds named volumes.
pub const VOLUMES_DIR: &str = "volumes";

/// Container paths no volume may cover: the kernel's own filesystems.
const REFUSED_TARGETS: [&str; 2] = ["/proc", "/sys"];

/// Checks every volume; `allow_root_bind` lets the host's `/` be a source.
pub fn validate(volumes: &[VolumeSpec], allow_root_bind: bool) -> EngineResult<()> {
    for volume in volumes {
        validate_target(&volume.target)?;
        if volume.source.starts_with('/') {
            validate_host_source(&volume.source, allow_root_bind)?;
        } else if !volume.source.is_empty() {
            validate_volume_name(&volume.source)?;
        }
    }
    Ok(())
}

fn invalid(message: String) -> EngineError {
    EngineError::InvalidSpec(message)
}

pub(super) fn validate_target(target: &str) -> EngineResult<()> {
    let path = Path::new(target);
    if !path.is_absolute() || target.contains('\0') {
        return Err(invalid(format!(
            "volume target {target:?} must be an absolute path"
        )));
    }
    if target.split('/').any(|c| c == "." || c == "..") {
        return Err(invalid(format!(
            "volume target {target:?} must not hold . or .. components"
        )));
    }
    if path.components().count() < 2 {
        return Err(invalid("a volume target can't be '/'".into()));
    }
    if let Some(kernel) = REFUSED_TARGETS.iter().find(|k| path.starts_with(k)) {
        return Err(invalid(format!(
            "volume target {target:?} is in {kernel}, which is the kernel's"
        )));
    }
    Ok(())
}

/// The source must exist, and be the host's `/` only when allowed: also through a symlink or
/// `..` (the init checks the folder it opens again: the path may change after this).
fn validate_host_source(source: &str, allow_root_bind: bool) -> EngineResult<()> {
    let resolved = std::fs::canonicalize(source)
        .map_err(|_| invalid(format!("bind source path does not exist: {source}")))?;
    if resolved == Path::new("/") && !allow_root_bind {
        return Err(invalid(format!(
            "binding the host's / ({source}) is refused (contid --allow-root-bind allows it)"
        )));
    }
    Ok(())
}

/// The folder of the named volumes' folders.
pub fn volumes_dir(root: &Path) -> PathBuf {
    root.join(VOLUMES_DIR)
}

/// Where a named volume keeps its files.
pub fn named_volume_dir(root: &Path, name: &str) -> PathBuf {
    volumes_dir(root).join(name)
}

/// The names of the named volumes among `volumes` (the others are host paths).
pub fn named_sources(volumes: &[VolumeSpec]) -> impl Iterator<Item = &str> {
    volumes
        .iter()
        .map(|volume| volume.source.as_str())
        .filter(|source| !source.starts_with('/'))
}

/// The create's volumes with a name for each anonymous one (no source, or a path of the image's
/// `Volumes` that no volume or tmpfs of the create covers), and those names. The image's paths
/// are checked as the create's targets are.
pub fn with_anonymous(
    volumes: Vec<VolumeSpec>,
    image_volumes: &[String],
    tmpfs_targets: &[&str],
) -> EngineResult<(Vec<VolumeSpec>, Vec<String>)> {
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    let mut anonymous = Vec::new();
    let mut name = |volume: VolumeSpec| match volume.source.is_empty() {
        true => {
            let source = generated_name();
            anonymous.push(source.clone());
            VolumeSpec { source, ..volume }
        }
        false => volume,
    };
    let mut named: Vec<VolumeSpec> = volumes.into_iter().map(&mut name).collect();
    let mut from_image = Vec::new();
    for path in image_volumes {
        let covered = named.iter().any(|v| same(&v.target, path))
            || tmpfs_targets.iter().any(|t| same(t, path));
        if covered {
            continue;
        }
        validate_target(path).map_err(|e| invalid(format!("the image's Volumes: {e}")))?;
        from_image.push(name(VolumeSpec {
            source: String::new(),
            target: path.trim_end_matches('/').to_string(),
            read_only: false,
        }));
    }
    named.extend(from_image);
    Ok((named, anonymous))
}

/// The bind mounts the init makes; `allow_root_bind` lets a source be the host's `/`. With
/// `first_start`, volumes (not host paths) are filled from the image where they are empty.
pub fn bind_mounts(
    root: &Path,
    volumes: &[VolumeSpec],
    allow_root_bind: bool,
    first_start: bool,
) -> Vec<BindMount> {
    volumes
        .iter()
        .map(|volume| {
            let is_host_path = volume.source.starts_with('/');
            BindMount {
                source: if is_host_path {
                    PathBuf::from(&volume.source)
                } else {
                    named_volume_dir(root, &volume.source)
                },
                target: volume.target.clone(),
                read_only: volume.read_only,
                may_be_host_root: allow_root_bind,
                copy_up: first_start && !is_host_path,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(source: &str, target: &str) -> VolumeSpec {
        VolumeSpec {
            source: source.into(),
            target: target.into(),
            read_only: false,
        }
    }

    #[test]
    fn targets_in_the_kernels_filesystems_or_outside_are_refused() {
        for bad in [
            "relative",
            "/",
            "//",
            "/proc",
            "/proc/self/fd/3",
            "/sys/fs",
            "/a/../b",
            "/a/./b",
        ] {
            assert!(validate(&[volume("data", bad)], false).is_err(), "{bad}");
        }
        assert!(validate(&[volume("data", "/data/x")], false).is_ok());
        assert!(validate(&[volume("data", "/process")], false).is_ok());
    }

    #[test]
    fn the_hosts_root_needs_the_daemons_permission() {
        assert!(validate(&[volume("/", "/host")], false).is_err());
        assert!(validate(&[volume("/", "/host")], true).is_ok());
        assert!(validate(&[volume("/nonexistent-conti", "/x")], true).is_err());
        assert!(validate(&[volume("bad name", "/x")], false).is_err());
        // Also when the path only leads there.
        assert!(validate(&[volume("/tmp/..", "/host")], false).is_err());
        assert!(validate(&[volume("/proc/self/root", "/host")], false).is_err());
        assert!(validate(&[volume("/tmp/..", "/host")], true).is_ok());
    }

    #[test]
    fn anonymous_volumes_get_names_and_the_images_paths_are_covered_once() {
        let (volumes, anonymous) = with_anonymous(
            vec![volume("", "/a"), volume("data", "/d/")],
            &["/d".into(), "/img/".into(), "/run".into()],
            &["/run"],
        )
        .unwrap();
        let targets: Vec<&str> = volumes.iter().map(|v| v.target.as_str()).collect();
        assert_eq!(targets, ["/a", "/d/", "/img"]);
        assert_eq!(anonymous.len(), 2);
        assert_eq!(volumes[0].source, anonymous[0]);
        assert_eq!(volumes[2].source, anonymous[1]);
        assert!(anonymous.iter().all(|n| n.len() == 64));
        assert!(validate(&volumes, false).is_ok());
        assert!(with_anonymous(vec![], &["/proc/x".into()], &[]).is_err());
    }

    #[test]
    fn named_volumes_live_under_the_root() {
        let mounts = bind_mounts(
            Path::new("/var/lib/conti"),
            &[volume("data", "/d"), volume("/srv", "/s")],
            false,
            true,
        );
        assert!(
            mounts[0].copy_up && !mounts[1].copy_up,
            "host paths are never filled"
        );
        assert_eq!(
            mounts[0].source,
            PathBuf::from("/var/lib/conti/volumes/data")
        );
        assert_eq!(mounts[1].source, PathBuf::from("/srv"));
        assert!(mounts.iter().all(|mount| !mount.may_be_host_root));
    }
}
