//! Filesystem flags of `run` and `create` besides `-v`: `--tmpfs PATH[:OPTIONS]`, Docker's
//! `--mount type=bind|volume|tmpfs,...` and `--shm-size`. The options are checked by contid;
//! what `--mount` cannot express in Conti's spec is refused here by name.

use clap::Args;
use conti_proto::{TmpfsSpec, VolumeSpec};

/// The container's tmpfs mounts, `--mount`s and `/dev/shm` size.
#[derive(Debug, Clone, Default, Args)]
pub struct MountArgs {
    /// Mount a tmpfs: PATH[:OPTIONS], options as Docker's (rw|ro, size=64m, mode=1777, exec,
    /// suid, dev, uid=, gid=; default noexec,nosuid,nodev); repeatable.
    #[arg(long, value_name = "PATH[:OPTIONS]", value_parser = parse_tmpfs)]
    pub tmpfs: Vec<TmpfsSpec>,
    /// Attach a filesystem, Docker's syntax: type=bind|volume|tmpfs, source|src=,
    /// target|dst|destination=, readonly|ro[=true|false], tmpfs-size=, tmpfs-mode=
    /// (repeatable). A volume without a source is anonymous.
    #[arg(long, value_name = "type=…,target=…", value_parser = parse_mount)]
    pub mount: Vec<Mount>,
    /// Size of /dev/shm (like 64m or 1g; default 64m).
    #[arg(long, value_name = "SIZE", value_parser = parse_shm_size)]
    pub shm_size: Option<u64>,
}

/// One `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Volume(VolumeSpec),
    Tmpfs(TmpfsSpec),
}

impl MountArgs {
    /// `-v`'s volumes, then `--mount`'s.
    pub fn volumes(&self, volumes: &[VolumeSpec]) -> Vec<VolumeSpec> {
        let mounted = self.mount.iter().filter_map(|mount| match mount {
            Mount::Volume(volume) => Some(volume.clone()),
            Mount::Tmpfs(_) => None,
        });
        volumes.iter().cloned().chain(mounted).collect()
    }

    /// `--tmpfs`'s, then `--mount`'s.
    pub fn tmpfs(&self) -> Vec<TmpfsSpec> {
        let mounted = self.mount.iter().filter_map(|mount| match mount {
            Mount::Tmpfs(tmpfs) => Some(tmpfs.clone()),
            Mount::Volume(_) => None,
        });
        self.tmpfs.iter().cloned().chain(mounted).collect()
    }
}

/// `PATH[:OPTIONS]`.
fn parse_tmpfs(text: &str) -> Result<TmpfsSpec, String> {
    let (target, options) = text.split_once(':').unwrap_or((text, ""));
    if !target.starts_with('/') {
        return Err(format!("{text:?}: the tmpfs path must be absolute"));
    }
    Ok(TmpfsSpec {
        target: target.to_string(),
        options: options.to_string(),
    })
}

fn parse_shm_size(text: &str) -> Result<u64, String> {
    match conti_proto::parse_size(text) {
        Ok(bytes) if bytes > 0 => Ok(bytes as u64),
        Ok(_) => Err(format!("{text:?}: the size must be positive")),
        Err(why) => Err(why),
    }
}

/// Docker's `--mount`: comma-separated `KEY=VALUE` (or a bare `readonly`/`ro`).
fn parse_mount(text: &str) -> Result<Mount, String> {
    let mut kind = "volume";
    let (mut source, mut target) = (String::new(), String::new());
    let mut read_only = false;
    let mut tmpfs_options = Vec::new();
    for field in text.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (field, None),
        };
        match (key, value) {
            ("type", Some(value)) => kind = value,
            ("source" | "src", Some(value)) => source = value.to_string(),
            ("target" | "dst" | "destination", Some(value)) => target = value.to_string(),
            ("readonly" | "ro", None) => read_only = true,
            ("readonly" | "ro", Some(value)) => {
                read_only = match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(format!("{field:?}: expected true or false")),
                }
            }
            ("tmpfs-size", Some(value)) => tmpfs_options.push(format!("size={value}")),
            ("tmpfs-mode", Some(value)) => tmpfs_options.push(format!("mode={value}")),
            (
                "volume-opt" | "volume-driver" | "volume-label" | "volume-nocopy"
                | "volume-subpath" | "bind-propagation" | "bind-recursive" | "bind-nonrecursive"
                | "consistency" | "tmpfs-options",
                _,
            ) => return Err(format!("--mount option {key} is not supported by Conti")),
            _ => return Err(format!("--mount: unknown option {field:?}")),
        }
    }
    if target.is_empty() {
        return Err(format!("{text:?}: target= is required"));
    }
    match kind {
        "bind" | "volume" => {
            if kind == "bind" && !source.starts_with('/') {
                return Err(format!(
                    "{text:?}: a bind mount's source must be an absolute host path"
                ));
            }
            if kind == "volume" && source.starts_with('/') {
                return Err(format!(
                    "{text:?}: a volume's source is its name; use type=bind for a host path"
                ));
            }
            Ok(Mount::Volume(VolumeSpec {
                source,
                target,
                read_only,
            }))
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(format!("{text:?}: a tmpfs mount takes no source"));
            }
            let access = if read_only { "ro" } else { "rw" };
            tmpfs_options.insert(0, access.to_string());
            Ok(Mount::Tmpfs(TmpfsSpec {
                target,
                options: tmpfs_options.join(","),
            }))
        }
        other => Err(format!(
            "--mount type {other:?} is not supported (bind, volume, tmpfs)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(source: &str, target: &str, read_only: bool) -> Mount {
        Mount::Volume(VolumeSpec {
            source: source.into(),
            target: target.into(),
            read_only,
        })
    }

    #[test]
    fn mounts_read_as_dockers() {
        assert_eq!(
            parse_mount("type=bind,source=/srv,target=/data,readonly"),
            Ok(volume("/srv", "/data", true))
        );
        assert_eq!(
            parse_mount("src=cache,dst=/cache,ro=false"),
            Ok(volume("cache", "/cache", false))
        );
        assert_eq!(
            parse_mount("type=volume,destination=/anon"),
            Ok(volume("", "/anon", false))
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700,ro=true"),
            Ok(Mount::Tmpfs(TmpfsSpec {
                target: "/t".into(),
                options: "ro,size=1m,mode=700".into()
            }))
        );
    }

    #[test]
    fn what_conti_cannot_do_is_refused_by_name() {
        for (bad, named) in [
            (
                "type=volume,source=v,target=/d,volume-opt=type=nfs",
                "volume-opt",
            ),
            (
                "type=bind,source=/s,target=/d,bind-propagation=shared",
                "bind-propagation",
            ),
            ("type=npipe,source=x,target=/d", "npipe"),
            ("type=bind,source=relative,target=/d", "absolute"),
            ("type=tmpfs,source=x,target=/d", "no source"),
            ("source=v", "target"),
            ("type=volume,target=/d,colour=blue", "colour"),
            ("type=bind,source=/s,target=/d,ro=maybe", "ro=maybe"),
        ] {
            let error = parse_mount(bad).unwrap_err();
            assert!(error.contains(named), "{bad}: {error}");
        }
        assert!(parse_tmpfs("relative").is_err());
        assert_eq!(
            parse_tmpfs("/run:size=1m,exec").unwrap().options,
            "size=1m,exec"
        );
        assert_eq!(parse_shm_size("1g"), Ok(1 << 30));
        assert!(parse_shm_size("0").is_err());
    }

    #[test]
    fn volumes_and_tmpfs_keep_their_order() {
        let args = MountArgs {
            tmpfs: vec![parse_tmpfs("/run").unwrap()],
            mount: vec![
                parse_mount("type=tmpfs,target=/t").unwrap(),
                parse_mount("source=v,target=/v").unwrap(),
            ],
            shm_size: None,
        };
        let tmpfs: Vec<String> = args.tmpfs().into_iter().map(|t| t.target).collect();
        assert_eq!(tmpfs, ["/run", "/t"]);
        let volumes = args.volumes(&[VolumeSpec {
            source: "a".into(),
            target: "/a".into(),
            read_only: false,
        }]);
        let targets: Vec<&str> = volumes.iter().map(|v| v.target.as_str()).collect();
        assert_eq!(targets, ["/a", "/v"]);
    }
}
