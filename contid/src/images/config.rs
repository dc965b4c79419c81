//! An image's config blob (the OCI image config, with Docker's extra `Healthcheck`): read for
//! what it gives containers, and written for imported root filesystems.

use std::collections::BTreeMap;

use conti_proto::{HealthDuration, ImageConfig, ImageHealthcheck, ImageHistoryEntry};
use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// The parts of the config the store and containers use; the blob itself is kept as it came.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: ContainerDefaults,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// The config's `config` object (capitalised keys, as Docker and OCI write them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub start_period: u64,
    #[serde(default)]
    pub retries: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ConfigFile {
    /// Parses a config blob; the message says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<ConfigFile, String> {
        let config: ConfigFile = serde_json::from_slice(bytes)
            .map_err(|e| format!("the image config is not valid: {e}"))?;
        if config.rootfs.kind != "layers" {
            return Err(format!(
                "the image config's rootfs type is {:?}, not \"layers\"",
                config.rootfs.kind
            ));
        }
        Ok(config)
    }

    /// The config of a root filesystem imported as one layer, with `changes` applied.
    pub fn for_import(
        diff_id: Digest,
        created: String,
        changes: &[String],
    ) -> Result<ConfigFile, String> {
        let mut config = ConfigFile {
            created: Some(created.clone()),
            architecture: host_architecture().to_string(),
            os: "linux".into(),
            variant: None,
            config: ContainerDefaults::default(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id],
            },
            history: vec![History {
                created: Some(created),
                created_by: Some("conti-cli image import".into()),
                comment: Some("Imported from a root filesystem archive".into()),
                empty_layer: false,
            }],
        };
        for change in changes {
            config.config.apply_change(change)?;
        }
        Ok(config)
    }

    pub fn defaults(&self) -> ImageConfig {
        let c = &self.config;
        let keys = |map: &Option<BTreeMap<String, serde_json::Value>>| {
            map.iter().flat_map(|m| m.keys().cloned()).collect()
        };
        ImageConfig {
            user: c.user.clone().filter(|u| !u.is_empty()),
            env: c.env.clone().unwrap_or_default(),
            entrypoint: c.entrypoint.clone(),
            cmd: c.cmd.clone(),
            working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
            labels: c.labels.clone().unwrap_or_default(),
            stop_signal: c.stop_signal.clone().filter(|s| !s.is_empty()),
            exposed_ports: keys(&c.exposed_ports),
            volumes: keys(&c.volumes),
            healthcheck: c.healthcheck.as_ref().map(|h| ImageHealthcheck {
                test: h.test.clone(),
                interval: h.interval,
                timeout: h.timeout,
                start_period: h.start_period,
                retries: h.retries,
            }),
        }
    }

    /// The history, newest first, each non-empty step with the size of its layer.
    pub fn history(&self, layer_sizes: &[u64]) -> Vec<ImageHistoryEntry> {
        let mut sizes = layer_sizes.iter();
        let mut entries: Vec<ImageHistoryEntry> = self
            .history
            .iter()
            .map(|step| ImageHistoryEntry {
                created: step.created.clone(),
                created_by: step.created_by.clone().unwrap_or_default(),
                comment: step.comment.clone().unwrap_or_default(),
                empty_layer: step.empty_layer,
                size: if step.empty_layer {
                    0
                } else {
                    sizes.next().copied().unwrap_or(0)
                },
            })
            .collect();
        entries.reverse();
        entries
    }
}

impl ContainerDefaults {
    /// One `docker import --change` instruction: `CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`,
    /// `EXPOSE`, `HEALTHCHECK`, `LABEL`, `STOPSIGNAL`, `VOLUME` (Dockerfile syntax, JSON or shell
    /// form).
    pub fn apply_change(&mut self, change: &str) -> Result<(), String> {
        let change = change.trim();
        let (instruction, rest) = change
            .split_once(char::is_whitespace)
            .map(|(i, r)| (i, r.trim()))
            .unwrap_or((change, ""));
        let refused = |why: &str| format!("change {change:?}: {why}");
        if rest.is_empty() {
            return Err(refused("it has no value"));
        }
        match instruction.to_ascii_uppercase().as_str() {
            "CMD" => self.cmd = Some(command_form(rest)),
            "ENTRYPOINT" => self.entrypoint = Some(command_form(rest)),
            "WORKDIR" => {
                if !rest.starts_with('/') {
                    return Err(refused("WORKDIR must be an absolute path"));
                }
                self.working_dir = Some(rest.to_string());
            }
            "USER" => self.user = Some(rest.to_string()),
            "STOPSIGNAL" => self.stop_signal = Some(rest.to_string()),
            "HEALTHCHECK" => self.healthcheck = Some(healthcheck(rest).map_err(|e| refused(&e))?),
            "ENV" => {
                let env = self.env.get_or_insert_with(Vec::new);
                for (key, value) in key_values(rest).map_err(|e| refused(&e))? {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                    env.push(format!("{key}={value}"));
                }
            }
            "LABEL" => {
                let labels = self.labels.get_or_insert_with(BTreeMap::new);
                for (key, value) in key_values(rest).map_err(|e| refused(&e))? {
                    labels.insert(key, value);
                }
            }
            "EXPOSE" => {
                let ports = self.exposed_ports.get_or_insert_with(BTreeMap::new);
                for port in rest.split_whitespace() {
                    let port = if port.contains('/') {
                        port.to_string()
                    } else {
                        format!("{port}/tcp")
                    };
                    ports.insert(port, serde_json::json!({}));
                }
            }
            "VOLUME" => {
                let volumes = self.volumes.get_or_insert_with(BTreeMap::new);
                // `VOLUME ["/a", "/b"]` or `VOLUME /a /b`: paths, never a shell command.
                let paths = serde_json::from_str::<Vec<String>>(rest)
                    .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect());
                for path in paths {
                    volumes.insert(path, serde_json::json!({}));
                }
            }
            other => {
                return Err(refused(&format!(
                    "{other} is not a change an import takes (CMD, ENTRYPOINT, ENV, EXPOSE, \
                     HEALTHCHECK, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)"
                )));
            }
        }
        Ok(())
    }
}

/// `["a", "b"]` as it is; anything else is the shell form, `/bin/sh -c TEXT`, as Docker does.
fn command_form(text: &str) -> Vec<String> {
    if let Ok(words) = serde_json::from_str::<Vec<String>>(text) {
        return words;
    }
    vec!["/bin/sh".into(), "-c".into(), text.to_string()]
}

/// A Dockerfile's `HEALTHCHECK [--interval=DUR] [--timeout=DUR] [--start-period=DUR]
/// [--retries=N] CMD command` (JSON or shell form), or `HEALTHCHECK NONE`.
fn healthcheck(text: &str) -> Result<Healthcheck, String> {
    let mut check = Healthcheck::default();
    let mut rest = text.trim_start();
    while let Some(option) = rest.strip_prefix("--") {
        let (option, after) = option
            .split_once(char::is_whitespace)
            .unwrap_or((option, ""));
        let (name, value) = option
            .split_once('=')
            .ok_or_else(|| format!("--{option}: expected --NAME=VALUE"))?;
        let duration = || {
            HealthDuration::parse(value).map(|d| u64::try_from(d.0.as_nanos()).unwrap_or(u64::MAX))
        };
        match name {
            "interval" => check.interval = duration()?,
            "timeout" => check.timeout = duration()?,
            "start-period" => check.start_period = duration()?,
            "retries" => {
                check.retries = value
                    .parse()
                    .map_err(|_| format!("--retries={value}: expected a whole number"))?
            }
            _ => {
                return Err(format!(
                    "--{name}: expected --interval, --timeout, --start-period or --retries"
                ));
            }
        }
        rest = after.trim_start();
    }
    let (instruction, command) = rest
        .split_once(char::is_whitespace)
        .map(|(i, c)| (i, c.trim()))
        .unwrap_or((rest, ""));
    check.test = match (instruction.to_ascii_uppercase().as_str(), command) {
        ("NONE", "") if check == Healthcheck::default() => vec!["NONE".into()],
        ("CMD", command) if !command.is_empty() => {
            match serde_json::from_str::<Vec<String>>(command) {
                Ok(words) => std::iter::once("CMD".to_string()).chain(words).collect(),
                Err(_) => vec!["CMD-SHELL".into(), command.to_string()],
            }
        }
        _ => return Err("expected [OPTIONS] CMD command, or NONE alone".into()),
    };
    Ok(check)
}

/// `KEY=VALUE KEY2="two words"`, or the old `KEY VALUE` form.
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    if !text.contains('=') {
        let (key, value) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| "expected KEY=VALUE".to_string())?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE at {rest:?}"))?;
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').ok_or("an unclosed quote")?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(char::is_whitespace).unwrap_or((after, ""))
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("invalid key {key:?}"));
        }
        pairs.push((key.to_string(), value.to_string()));
        rest = after.trim_start();
    }
    Ok(pairs)
}

/// The architecture as OCI names it.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_of_an_import_are_dockerfile_instructions() {
        let mut d = ContainerDefaults::default();
        d.apply_change(r#"CMD ["/bin/echo", "hi"]"#).unwrap();
        d.apply_change("ENTRYPOINT echo x").unwrap();
        d.apply_change(r#"ENV A=1 B="two words""#).unwrap();
        d.apply_change("ENV A 3").unwrap();
        d.apply_change("WORKDIR /srv").unwrap();
        d.apply_change("EXPOSE 80 53/udp").unwrap();
        d.apply_change("LABEL k=v").unwrap();
        assert_eq!(d.cmd.as_deref().unwrap(), ["/bin/echo", "hi"]);
        assert_eq!(
            d.entrypoint.as_deref().unwrap(),
            ["/bin/sh", "-c", "echo x"]
        );
        assert_eq!(d.env.as_deref().unwrap(), ["B=two words", "A=3"]);
        assert_eq!(d.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            d.exposed_ports.clone().unwrap().keys().collect::<Vec<_>>(),
            ["53/udp", "80/tcp"]
        );
        d.apply_change("VOLUME /data /cache").unwrap();
        d.apply_change(r#"VOLUME ["/logs"]"#).unwrap();
        assert_eq!(
            d.volumes.clone().unwrap().keys().collect::<Vec<_>>(),
            ["/cache", "/data", "/logs"],
            "paths, not a shell command"
        );
        d.apply_change("HEALTHCHECK --interval=1s --retries=2 CMD test -f /ready")
            .unwrap();
        let check = d.healthcheck.clone().unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "test -f /ready"]);
        assert_eq!(
            (check.interval, check.timeout, check.retries),
            (1_000_000_000, 0, 2)
        );
        d.apply_change(r#"HEALTHCHECK CMD ["true"]"#).unwrap();
        assert_eq!(d.healthcheck.clone().unwrap().test, ["CMD", "true"]);
        d.apply_change("HEALTHCHECK NONE").unwrap();
        assert_eq!(d.healthcheck.clone().unwrap().test, ["NONE"]);
        for bad in [
            "HEALTHCHECK CMD",
            "HEALTHCHECK --interval=soon CMD true",
            "HEALTHCHECK --every=1s CMD true",
            "HEALTHCHECK --retries=1 NONE",
            "HEALTHCHECK true",
        ] {
            assert!(d.apply_change(bad).is_err(), "{bad}");
        }
        assert!(d.apply_change("RUN rm -rf /").is_err());
        assert!(d.apply_change("WORKDIR relative").is_err());
        assert!(d.apply_change("CMD").is_err());
    }

    #[test]
    fn a_docker_config_is_read_with_its_healthcheck() {
        let digest = Digest::of(b"x");
        let json = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "StopSignal": "SIGUSR1",
                       "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 2},
                       "ExposedPorts": {"8080/tcp": {}}},
            "rootfs": {"type": "layers", "diff_ids": [digest]},
            "history": [{"created_by": "a"}, {"created_by": "b", "empty_layer": true}]
        });
        let config = ConfigFile::parse(json.to_string().as_bytes()).unwrap();
        let defaults = config.defaults();
        assert_eq!(defaults.stop_signal.as_deref(), Some("SIGUSR1"));
        assert_eq!(defaults.healthcheck.unwrap().retries, 2);
        assert_eq!(defaults.exposed_ports, ["8080/tcp"]);
        let history = config.history(&[42]);
        assert_eq!(history[0].created_by, "b");
        assert_eq!(history[1].size, 42);
        assert!(ConfigFile::parse(b"{\"rootfs\": {\"type\": \"x\", \"diff_ids\": []}}").is_err());
    }
}
