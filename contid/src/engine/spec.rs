//! Validation of what a caller asks for, and the defaults a container gets.

use conti_proto::{
    ContainerSpec, ExecSpec, ImageConfig, LogLimits, MAX_LOG_FILES, NetworkMode, SecurityOptions,
};

use super::error::{EngineError, EngineResult};
use super::labels::validate_labels;
use crate::runtime::ContainerSecurity;

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const MAX_NAME_LEN: usize = 64;
const MAX_HOSTNAME_LEN: usize = 64;
/// The longest stop timeout, a day (for `stop` and `ContainerSpec.stop_timeout`).
pub const MAX_STOP_TIMEOUT_SECS: u64 = 24 * 3600;

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters, not `prune` (the routes
/// `/v1/containers/prune` and `/v1/networks/prune` would hide it; networks' names are checked
/// here too).
pub fn validate_container_name(name: &str) -> EngineResult<()> {
    validate_identifier(name, MAX_NAME_LEN, "_.-")
        .and_then(|()| match name {
            "prune" => Err("it is reserved (the prune routes)".to_string()),
            _ => Ok(()),
        })
        .map_err(|why| EngineError::InvalidSpec(format!("invalid container name {name:?}: {why}")))
}

/// A named volume: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters, not `prune` (the
/// route `/v1/volumes/prune` would hide it).
pub fn validate_volume_name(name: &str) -> EngineResult<()> {
    validate_identifier(name, MAX_NAME_LEN, "_.-")
        .and_then(|()| match name {
            "prune" => Err("it is reserved (POST /v1/volumes/prune)".to_string()),
            _ => Ok(()),
        })
        .map_err(|why| EngineError::InvalidSpec(format!("invalid volume name {name:?}: {why}")))
}

/// Aliases are names as containers' and need a network made through the API: the default
/// network answers containers' own names only, as Docker's does.
fn validate_network_aliases(aliases: &[String], network: &NetworkMode) -> EngineResult<()> {
    if aliases.is_empty() {
        return Ok(());
    }
    if !matches!(network, NetworkMode::Network(_)) {
        return Err(EngineError::InvalidSpec(format!(
            "network aliases need a network made with POST /v1/networks, not network {network}"
        )));
    }
    for alias in aliases {
        validate_identifier(alias, MAX_NAME_LEN, "_.-").map_err(|why| {
            EngineError::InvalidSpec(format!("invalid network alias {alias:?}: {why}"))
        })?;
    }
    Ok(())
}

/// `[a-zA-Z0-9][a-zA-Z0-9<punctuation>]*`, at most `max_len` characters.
fn validate_identifier(name: &str, max_len: usize, punctuation: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err("it must start with a letter or a digit".into());
        }
        _ => {}
    }
    if name.len() > max_len {
        return Err(format!("it is longer than {max_len} characters"));
    }
    if let Some(bad) = chars.find(|c| !c.is_ascii_alphanumeric() && !punctuation.contains(*c)) {
        return Err(format!(
            "{bad:?} is not allowed (letters, digits and {punctuation:?} are)"
        ));
    }
    Ok(())
}

/// RFC 1123 host name: labels of letters, digits and `-`, separated by dots.
fn validate_hostname(hostname: &str) -> EngineResult<()> {
    let invalid = |why: &str| {
        Err(EngineError::InvalidSpec(format!(
            "invalid hostname {hostname:?}: {why}"
        )))
    };
    if hostname.is_empty() || hostname.len() > MAX_HOSTNAME_LEN {
        return invalid("it must have 1 to 64 characters");
    }
    for label in hostname.split('.') {
        if label.is_empty() || label.starts_with('-') || label.ends_with('-') {
            return invalid("labels must not be empty or start or end with '-'");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return invalid("only letters, digits, '-' and '.' are allowed");
        }
    }
    Ok(())
}

fn validate_cmd(cmd: &[String]) -> EngineResult<()> {
    if cmd.is_empty() || cmd[0].is_empty() {
        return Err(EngineError::InvalidSpec("cmd must name a command".into()));
    }
    if cmd.iter().any(|arg| arg.contains('\0')) {
        return Err(EngineError::InvalidSpec(
            "cmd must not contain NUL bytes".into(),
        ));
    }
    Ok(())
}

fn validate_env(env: &[String]) -> EngineResult<()> {
    for entry in env {
        match entry.split_once('=') {
            Some((key, _)) if !key.is_empty() && !entry.contains('\0') => {}
            _ => {
                return Err(EngineError::InvalidSpec(format!(
                    "env entry {entry:?} must be KEY=VALUE"
                )));
            }
        }
    }
    Ok(())
}

fn validate_cwd(cwd: &str) -> EngineResult<()> {
    if !cwd.starts_with('/') {
        return Err(EngineError::InvalidSpec(format!(
            "cwd {cwd:?} must be an absolute path"
        )));
    }
    if cwd.contains('\0') {
        return Err(EngineError::InvalidSpec(
            "cwd must not contain NUL bytes".into(),
        ));
    }
    // `/proc/self/fd/N` and the like name whatever an fd points at, possibly outside the root
    // (CVE-2024-21626); the init checks again where it lands.
    if std::path::Path::new(cwd).starts_with("/proc") {
        return Err(EngineError::InvalidSpec(format!(
            "cwd {cwd:?} must not be in /proc"
        )));
    }
    Ok(())
}

/// Checks a create request; returns nothing new, the spec is stored as given plus defaults.
pub fn validate_container_spec(spec: &ContainerSpec) -> EngineResult<()> {
    if let Some(name) = &spec.name {
        validate_container_name(name)?;
    }
    if spec.image.is_empty() {
        return Err(EngineError::InvalidSpec("image must be given".into()));
    }
    if !spec.cmd.is_empty() {
        validate_cmd(&spec.cmd)?;
    }
    if let Some(entrypoint) = &spec.entrypoint
        && entrypoint.iter().any(|arg| arg.contains('\0'))
    {
        return Err(EngineError::InvalidSpec(
            "entrypoint must not contain NUL bytes".into(),
        ));
    }
    validate_env(&spec.env)?;
    if let Some(cwd) = &spec.cwd {
        validate_cwd(cwd)?;
    }
    if let Some(hostname) = &spec.hostname {
        validate_hostname(hostname)?;
    }
    if let Some(user) = &spec.user {
        validate_user(user)?;
    }
    validate_labels(&spec.labels)?;
    validate_network_aliases(&spec.network_aliases, &spec.network)?;
    if let Some(signal) = &spec.stop_signal {
        super::parse_signal(signal)
            .map_err(|_| EngineError::InvalidSpec(format!("unknown stop_signal {signal:?}")))?;
    }
    if spec.stop_timeout.is_some_and(|t| t > MAX_STOP_TIMEOUT_SECS) {
        return Err(EngineError::InvalidSpec(format!(
            "stop_timeout must be at most {MAX_STOP_TIMEOUT_SECS} seconds"
        )));
    }
    validate_log_limits(&spec.log_limits)?;
    validate_group_add(&spec.group_add)?;
    container_security(&spec.security, None, &[]).map(drop)
}

fn validate_log_limits(limits: &LogLimits) -> EngineResult<()> {
    if limits.max_size == Some(0) {
        return Err(EngineError::InvalidSpec(
            "log_limits.max_size must be at least 1 byte".into(),
        ));
    }
    if limits
        .max_files
        .is_some_and(|n| !(1..=MAX_LOG_FILES).contains(&n))
    {
        return Err(EngineError::InvalidSpec(format!(
            "log_limits.max_files must be 1 to {MAX_LOG_FILES}"
        )));
    }
    Ok(())
}

/// What the security options mean for the container's processes, running as `user`, the seccomp
/// profile compiled; 400 `invalid_spec` for an unknown capability or a profile that does not
/// compile.
pub fn container_security(
    options: &SecurityOptions,
    user: Option<&str>,
    group_add: &[String],
) -> EngineResult<ContainerSecurity> {
    let mut security = ContainerSecurity::from_options(options)
        .map_err(|why| EngineError::InvalidSpec(format!("security: {why}")))?;
    security.confinement.user = user.map(str::to_string);
    security.confinement.group_add = group_add.to_vec();
    Ok(security)
}

/// A user or group name (letters, digits, `_.-`, not starting with `-`, at most 32
/// characters) or id.
fn valid_account_name(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 32
        && !part.starts_with('-')
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Groups as `/etc/group` spells them, or GIDs (whether a name exists is known at start).
fn validate_group_add(groups: &[String]) -> EngineResult<()> {
    for group in groups {
        if !valid_account_name(group) {
            return Err(EngineError::InvalidSpec(format!(
                "group_add {group:?} must be a group name or a GID"
            )));
        }
    }
    Ok(())
}

/// `NAME`, `UID`, `NAME:GROUP`, `UID:GID`…: names as `/etc/passwd` spells them (letters,
/// digits, `_.-`, not starting with `-`), ids as decimal numbers. Whether they exist is only
/// known inside the container, at start.
fn validate_user(user: &str) -> EngineResult<()> {
    let valid = match user.split_once(':') {
        Some((name, group)) => valid_account_name(name) && valid_account_name(group),
        None => valid_account_name(user),
    };
    if !valid {
        return Err(EngineError::InvalidSpec(format!(
            "user {user:?} must be NAME or UID, optionally with :GROUP or :GID"
        )));
    }
    Ok(())
}

pub fn validate_exec_spec(spec: &ExecSpec) -> EngineResult<()> {
    validate_cmd(&spec.cmd)?;
    if let Some(user) = &spec.user {
        validate_user(user)?;
    }
    validate_env(&spec.env)?;
    if let Some(cwd) = &spec.cwd {
        validate_cwd(cwd)?;
    }
    Ok(())
}

/// What a process with a terminal gets as `TERM` unless set (Docker's default): without it
/// bash falls back to `dumb` and `top` refuses to run.
pub const DEFAULT_TERM: &str = "TERM=xterm";

/// The environment a process in the container starts with: defaults (with `tty`, the process
/// has a terminal: [`DEFAULT_TERM`]), then `layers` in order, a later `KEY=` replacing an earlier
/// one.
/// What a container runs, as Docker combines it: the entrypoint (the create's, else the image's),
/// then the create's command, else the image's `Cmd` (not when the create replaced the
/// entrypoint). 400 when that leaves nothing to run.
pub fn container_argv(spec: &ContainerSpec, image: &ImageConfig) -> EngineResult<Vec<String>> {
    let (entrypoint, default_cmd) = match &spec.entrypoint {
        Some(entrypoint) => (entrypoint.clone(), Vec::new()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            image.cmd.clone().unwrap_or_default(),
        ),
    };
    let cmd = if spec.cmd.is_empty() {
        default_cmd
    } else {
        spec.cmd.clone()
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(EngineError::InvalidSpec(format!(
            "no command: the image {:?} has neither Entrypoint nor Cmd; give cmd",
            spec.image
        )));
    }
    validate_cmd(&argv)?;
    Ok(argv)
}

/// The image's environment with the create's entries over it (the same key: the create wins).
pub fn merge_env_entries(image: &[String], create: &[String]) -> Vec<String> {
    let mut env = Vec::new();
    for entry in image.iter().chain(create) {
        set_env(&mut env, entry);
    }
    env
}

/// Adds `entry` (`KEY=VALUE`, or `KEY`), replacing an entry of the same key.
fn set_env(env: &mut Vec<String>, entry: &str) {
    let key = entry.split_once('=').map_or(entry, |(k, _)| k);
    env.retain(|existing| {
        existing
            .split_once('=')
            .map_or(existing.as_str(), |(k, _)| k)
            != key
    });
    env.push(entry.to_string());
}

pub fn merge_env<'a>(
    hostname: &str,
    tty: bool,
    layers: impl IntoIterator<Item = &'a [String]>,
) -> Vec<String> {
    // HOME comes from the user's /etc/passwd entry, inside the container, unless set here.
    let mut env: Vec<String> = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        env.push(DEFAULT_TERM.to_string());
    }
    for layer in layers {
        for entry in layer {
            set_env(&mut env, entry);
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cmd: &[&str]) -> ContainerSpec {
        ContainerSpec {
            image: "busybox".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        assert!(validate_container_name("web-1.a_b").is_ok());
        for bad in ["", "-web", "web/1", "a b", "prune", &"x".repeat(65)] {
            assert!(validate_container_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn volume_names_are_names_but_not_the_prune_route() {
        assert!(validate_volume_name("data_1.v").is_ok());
        assert!(validate_volume_name("pruned").is_ok());
        for bad in ["prune", "", ".x", "a/b"] {
            assert!(validate_volume_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn specs_are_checked() {
        assert!(validate_container_spec(&spec(&["sh"])).is_ok());
        // No command: the image's.
        assert!(validate_container_spec(&spec(&[])).is_ok());
        assert!(validate_container_spec(&spec(&[""])).is_err());
        let mut s = spec(&["sh"]);
        s.cwd = Some("tmp".into());
        assert!(validate_container_spec(&s).is_err());
        let mut s = spec(&["sh"]);
        s.env = vec!["NOEQUALS".into()];
        assert!(validate_container_spec(&s).is_err());
        let mut s = spec(&["sh"]);
        s.hostname = Some("bad_host".into());
        assert!(validate_container_spec(&s).is_err());
        let mut s = spec(&["sh"]);
        s.security.cap_add = vec!["CAP_TELEPORT".into()];
        assert!(validate_container_spec(&s).is_err());
        for (user, ok) in [
            ("nobody", true),
            ("1000:1000", true),
            ("www-data:adm", true),
            ("", false),
            (":0", false),
            ("a:b:c", false),
            ("-x", false),
            ("a b", false),
        ] {
            let mut s = spec(&["sh"]);
            s.user = Some(user.into());
            assert_eq!(validate_container_spec(&s).is_ok(), ok, "{user:?}");
        }
    }

    #[test]
    fn aliases_need_a_user_network_and_a_name_shape() {
        let with = |network: NetworkMode, aliases: &[&str]| {
            let mut s = spec(&["sh"]);
            s.network = network;
            s.network_aliases = aliases.iter().map(|a| a.to_string()).collect();
            validate_container_spec(&s)
        };
        let front = || NetworkMode::Network("front".into());
        assert!(with(front(), &["db", "db.internal", "db_1"]).is_ok());
        assert!(with(NetworkMode::Bridge, &[]).is_ok());
        for mode in [
            NetworkMode::Bridge,
            NetworkMode::Host,
            NetworkMode::None,
            NetworkMode::Container("web".into()),
        ] {
            assert!(
                matches!(
                    with(mode.clone(), &["db"]),
                    Err(EngineError::InvalidSpec(_))
                ),
                "{mode}"
            );
        }
        for bad in ["", "-db", "a b", "db/1"] {
            assert!(with(front(), &[bad]).is_err(), "{bad:?}");
        }
        let mut s = spec(&["sh"]);
        s.labels.insert(String::new(), "x".into());
        assert!(validate_container_spec(&s).is_err());
    }

    #[test]
    fn later_env_layers_override_defaults() {
        let user = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let exec = vec!["A=2".to_string()];
        let env = merge_env("h", false, [user.as_slice(), exec.as_slice()]);
        assert_eq!(env, vec!["HOSTNAME=h", "PATH=/bin", "A=2"]);
    }

    #[test]
    fn a_terminal_gets_term_unless_it_is_set() {
        let none: &[String] = &[];
        assert!(
            !merge_env("h", false, [none])
                .iter()
                .any(|e| e.starts_with("TERM="))
        );
        let env = merge_env("h", true, [none]);
        assert_eq!(env, vec![DEFAULT_PATH, "HOSTNAME=h", "TERM=xterm"]);
        let user = vec!["TERM=vt100".to_string()];
        let env = merge_env("h", true, [user.as_slice(), none]);
        assert_eq!(env, vec![DEFAULT_PATH, "HOSTNAME=h", "TERM=vt100"]);
    }
}
