//! contid's settings: the flags, over the configuration file (`--config FILE`, else
//! [`DEFAULT_CONFIG_FILE`] when it exists), over the defaults. Nothing here touches the system
//! beyond reading the file: `contid --validate` prints what [`Settings::load`] made of them.

mod file;
mod layer;
mod values;

use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::api::DEFAULT_MAX_CONNECTIONS;
use crate::runtime::confinement::sealed_exe::SealMethod;
use crate::runtime::process::logfile::{DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES};

pub use layer::SettingsLayer;
pub use values::{CgroupParent, FirewallTable, InterfaceName, LogFilter, LogMaxFiles};

/// The configuration file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/conti/contid.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("userns-no-idmap needs userns-remap (from a flag or the configuration file)")]
    NoIdmapWithoutRemap,
}

/// The settings contid runs with (the keys of the configuration file, every one given).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    pub socket: PathBuf,
    pub root: PathBuf,
    pub log_level: LogFilter,
    pub cgroup_parent: CgroupParent,
    pub log_max_bytes: u64,
    pub log_max_files: u32,
    pub bridge: InterfaceName,
    pub default_subnet: ipnet::Ipv4Net,
    /// `None`: the subnet's first address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_gateway: Option<Ipv4Addr>,
    pub firewall_table: FirewallTable,
    pub resolv_conf: PathBuf,
    pub registry_certs_dir: PathBuf,
    pub insecure_registries: Vec<String>,
    /// `None`: `conti` when that group exists, else root only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub allow_root_bind: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_remap: Option<String>,
    pub userns_no_idmap: bool,
    pub max_connections: NonZeroU32,
    pub exe_seal: SealMethod,
}

impl Default for Settings {
    fn default() -> Settings {
        fn text<T: std::str::FromStr<Err: std::fmt::Debug>>(default: &str) -> T {
            default.parse().expect("a valid default")
        }
        Settings {
            socket: PathBuf::from("/var/run/conti.sock"),
            root: PathBuf::from("/var/lib/conti"),
            log_level: text("info"),
            cgroup_parent: text("conti"),
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
            log_max_files: DEFAULT_LOG_MAX_FILES,
            bridge: text("conti0"),
            default_subnet: text("10.88.0.0/16"),
            default_gateway: None,
            firewall_table: text("conti"),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            registry_certs_dir: PathBuf::from("/etc/conti/certs.d"),
            insecure_registries: Vec::new(),
            group: None,
            allow_root_bind: false,
            userns_remap: None,
            userns_no_idmap: false,
            max_connections: NonZeroU32::new(DEFAULT_MAX_CONNECTIONS).expect("not zero"),
            exe_seal: SealMethod::Auto,
        }
    }
}

impl Settings {
    /// `flags` over the configuration file (`config`, else `default_file` when it exists) over
    /// the defaults; also which file was read.
    pub fn load(
        flags: SettingsLayer,
        config: Option<&Path>,
        default_file: &Path,
    ) -> Result<(Settings, Option<PathBuf>), ConfigError> {
        let path = match config {
            Some(path) => Some(path.to_path_buf()),
            None => default_file.exists().then(|| default_file.to_path_buf()),
        };
        let from_file = match &path {
            Some(path) => file::read(path)?,
            None => SettingsLayer::default(),
        };
        Ok((Settings::from_layer(flags.over(from_file))?, path))
    }

    /// `layer` with the defaults for what it does not give.
    fn from_layer(layer: SettingsLayer) -> Result<Settings, ConfigError> {
        let default = Settings::default();
        let settings = Settings {
            socket: layer.socket.unwrap_or(default.socket),
            root: layer.root.unwrap_or(default.root),
            log_level: layer.log_level.unwrap_or(default.log_level),
            cgroup_parent: layer.cgroup_parent.unwrap_or(default.cgroup_parent),
            log_max_bytes: layer.log_max_bytes.unwrap_or(default.log_max_bytes),
            log_max_files: layer.log_max_files.map_or(default.log_max_files, |n| n.0),
            bridge: layer.bridge.unwrap_or(default.bridge),
            default_subnet: layer.default_subnet.unwrap_or(default.default_subnet),
            default_gateway: layer.default_gateway,
            firewall_table: layer.firewall_table.unwrap_or(default.firewall_table),
            resolv_conf: layer.resolv_conf.unwrap_or(default.resolv_conf),
            registry_certs_dir: layer
                .registry_certs_dir
                .unwrap_or(default.registry_certs_dir),
            insecure_registries: layer.insecure_registries.unwrap_or_default(),
            group: layer.group,
            allow_root_bind: layer.allow_root_bind.unwrap_or(default.allow_root_bind),
            userns_remap: layer.userns_remap,
            userns_no_idmap: layer.userns_no_idmap.unwrap_or(default.userns_no_idmap),
            max_connections: layer.max_connections.unwrap_or(default.max_connections),
            exe_seal: layer.exe_seal.unwrap_or(default.exe_seal),
        };
        if settings.userns_no_idmap && settings.userns_remap.is_none() {
            return Err(ConfigError::NoIdmapWithoutRemap);
        }
        Ok(settings)
    }

    /// The settings as a configuration file that gives every key (fails only for a path
    /// that is not UTF-8, which TOML cannot hold).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

#[cfg(test)]
mod tests;
