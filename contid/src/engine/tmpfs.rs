//! tmpfs mounts and `/dev/shm` of a create request: checked (400 `invalid_spec`, every option
//! Docker's `--tmpfs` takes that Conti acts on, any other refused by name), and turned into the
//! mounts the container's init makes.

use conti_proto::{DEFAULT_SHM_SIZE, TmpfsSpec, parse_size};

use super::error::{EngineError, EngineResult};
use super::volumes::validate_target;
use crate::runtime::container::tmpfs::TmpfsMount;

/// What a tmpfs gets when its options do not say, as Docker's `--tmpfs`.
const DEFAULT_MODE: u32 = 0o1777;

/// The options `ContainerSpec.tmpfs` takes, for the refusal of any other.
const KNOWN_OPTIONS: &str = "rw, ro, size=, mode=, uid=, gid=, nr_inodes=, exec, noexec, suid, \
                             nosuid, dev, nodev";

/// Checks every tmpfs (targets as volumes', options) and `/dev/shm`'s size.
pub fn validate(tmpfs: &[TmpfsSpec], shm_size: Option<u64>) -> EngineResult<()> {
    if shm_size == Some(0) {
        return Err(invalid("shm_size must be at least 1 byte".into()));
    }
    mounts(tmpfs).map(drop)
}

/// The size of `/dev/shm`.
pub fn shm_size(asked: Option<u64>) -> u64 {
    asked.unwrap_or(DEFAULT_SHM_SIZE)
}

/// The mounts the init makes, in order.
pub fn mounts(tmpfs: &[TmpfsSpec]) -> EngineResult<Vec<TmpfsMount>> {
    tmpfs.iter().map(mount).collect()
}

fn invalid(message: String) -> EngineError {
    EngineError::InvalidSpec(message)
}

fn mount(spec: &TmpfsSpec) -> EngineResult<TmpfsMount> {
    validate_target(&spec.target).map_err(|_| {
        invalid(format!(
            "tmpfs target {:?} must be an absolute path, not /, without . or .., not in /proc or /sys",
            spec.target
        ))
    })?;
    let mut mount = TmpfsMount {
        target: spec.target.clone(),
        read_only: false,
        no_exec: true,
        no_suid: true,
        no_dev: true,
        data: String::new(),
    };
    let mut mode = DEFAULT_MODE;
    let mut data = Vec::new();
    let bad = |option: &str, why: &str| {
        invalid(format!("tmpfs {}: option {option:?} {why}", spec.target))
    };
    for option in spec.options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = match option.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (option, None),
        };
        match (key, value) {
            ("rw", None) => mount.read_only = false,
            ("ro", None) => mount.read_only = true,
            ("exec", None) => mount.no_exec = false,
            ("noexec", None) => mount.no_exec = true,
            ("suid", None) => mount.no_suid = false,
            ("nosuid", None) => mount.no_suid = true,
            ("dev", None) => mount.no_dev = false,
            ("nodev", None) => mount.no_dev = true,
            ("size", Some(size)) => {
                let bytes = parse_size(size)
                    .ok()
                    .filter(|b| *b > 0)
                    .ok_or_else(|| bad(option, "is not a size (like 64m, 1g or bytes)"))?;
                data.push(format!("size={bytes}"));
            }
            ("mode", Some(text)) => {
                mode = u32::from_str_radix(text, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| bad(option, "is not an octal mode (like 1777 or 755)"))?;
            }
            ("uid" | "gid" | "nr_inodes", Some(number)) => {
                number
                    .parse::<u32>()
                    .map_err(|_| bad(option, "is not a number"))?;
                data.push(format!("{key}={number}"));
            }
            _ => {
                return Err(bad(
                    option,
                    &format!("is not supported (supported: {KNOWN_OPTIONS})"),
                ));
            }
        }
    }
    data.insert(0, format!("mode={mode:o}"));
    mount.data = data.join(",");
    Ok(mount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpfs(target: &str, options: &str) -> TmpfsSpec {
        TmpfsSpec {
            target: target.into(),
            options: options.into(),
        }
    }

    #[test]
    fn options_become_flags_and_data() {
        let default = mount(&tmpfs("/run", "")).unwrap();
        assert!(default.no_exec && default.no_suid && default.no_dev && !default.read_only);
        assert_eq!(default.data, "mode=1777");
        let asked = mount(&tmpfs(
            "/cache",
            "ro,size=64m,mode=755,exec,uid=1000,nr_inodes=400",
        ))
        .unwrap();
        assert!(asked.read_only && !asked.no_exec && asked.no_suid);
        assert_eq!(asked.data, "mode=755,size=67108864,uid=1000,nr_inodes=400");
    }

    #[test]
    fn bad_options_and_targets_are_refused_by_name() {
        for (target, options, named) in [
            ("/t", "huge=always", "huge=always"),
            ("/t", "size=lots", "size=lots"),
            ("/t", "size=0", "size=0"),
            ("/t", "mode=999", "mode=999"),
            ("/t", "uid=root", "uid=root"),
            ("/t", "rw=1", "rw=1"),
            ("relative", "", "relative"),
            ("/", "", "\"/\""),
            ("/proc/x", "", "/proc/x"),
        ] {
            let error = mount(&tmpfs(target, options)).unwrap_err().to_string();
            assert!(error.contains(named), "{error}");
        }
        assert!(validate(&[], Some(0)).is_err());
        assert_eq!(shm_size(None), 64 << 20);
    }
}
