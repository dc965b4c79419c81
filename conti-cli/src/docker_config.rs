//! Registry credentials from the user's Docker config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), sent with a pull so that what `docker login` saved works here too.
//!
//! Only the `auths.<registry>.auth` entries (base64 of `user:password`) are read. Credential
//! helpers (`credsStore`, `credHelpers`) run a program per registry: they are out of scope, and a
//! registry they hold is pulled without credentials (contid's own, from `conti-cli login`, still
//! apply).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::client::RegistryAuth;
use crate::reference::normalize_registry;

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// Where Docker keeps its config: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The credentials the user's Docker config keeps for `registry` (`host[:port]`, `docker.io` for
/// Docker Hub), if any. A config that cannot be read is worth a warning, not a failed pull: the
/// image may well be public.
pub fn credentials_for(registry: &str) -> Option<RegistryAuth> {
    let path = config_path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            eprintln!("WARNING: cannot read {}: {error}", path.display());
            return None;
        }
    };
    match lookup(&text, registry) {
        Ok(auth) => auth,
        Err(error) => {
            eprintln!("WARNING: {}: {error}", path.display());
            None
        }
    }
}

/// The entry of `config` (the JSON of a config.json) for `registry`. Keys are compared as hosts,
/// as Docker does: `https://index.docker.io/v1/` is Docker Hub's, `https://host:5000` is
/// `host:5000`'s.
fn lookup(config: &str, registry: &str) -> Result<Option<RegistryAuth>, String> {
    let config: ConfigFile =
        serde_json::from_str(config).map_err(|e| format!("not a Docker config: {e}"))?;
    let registry = normalize_registry(registry);
    let Some(entry) = config
        .auths
        .iter()
        .find(|(key, _)| normalize_registry(key) == registry)
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(auth.trim())
        .map_err(|e| format!("the auth of {registry} is not base64: {e}"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| format!("the auth of {registry} is not text"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| format!("the auth of {registry} is not user:password"))?;
    Ok(Some(RegistryAuth {
        username: username.to_string(),
        password: password.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user_pass: &str) -> String {
        STANDARD.encode(user_pass)
    }

    fn config(entries: &[(&str, &str)]) -> String {
        let auths: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(key, value)| (key.to_string(), serde_json::json!({ "auth": value })))
            .collect();
        serde_json::json!({ "auths": auths, "credsStore": "desktop" }).to_string()
    }

    #[test]
    fn docker_hub_is_found_under_its_index_url() {
        let text = config(&[
            (
                "https://index.docker.io/v1/",
                &auth("me:secret:with:colons"),
            ),
            ("127.0.0.1:5000", &auth("local:pw")),
        ]);
        let hub = lookup(&text, "docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("me", "secret:with:colons")
        );
        let local = lookup(&text, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(local.username, "local");
        assert!(lookup(&text, "ghcr.io").unwrap().is_none());
    }

    #[test]
    fn keys_with_a_scheme_and_a_path_name_their_host() {
        let text = config(&[("https://registry.example.com:5000/v2/", &auth("u:p"))]);
        assert!(
            lookup(&text, "registry.example.com:5000")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn entries_without_auth_are_no_credentials() {
        assert!(
            lookup(r#"{"credsStore":"desktop"}"#, "docker.io")
                .unwrap()
                .is_none()
        );
        let text = r#"{"auths":{"https://index.docker.io/v1/":{}}}"#;
        assert!(lookup(text, "docker.io").unwrap().is_none());
    }

    #[test]
    fn broken_entries_are_errors() {
        assert!(lookup("not json", "docker.io").is_err());
        let text = config(&[("docker.io", "%%%")]);
        assert!(lookup(&text, "docker.io").is_err());
        let text = config(&[("docker.io", &auth("no-colon"))]);
        assert!(lookup(&text, "docker.io").is_err());
    }
}
