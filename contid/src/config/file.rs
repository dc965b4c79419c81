//! The configuration file: TOML, the keys of [`SettingsLayer`]. An unknown key or a bad value
//! is refused with the file, line and column it stands at, and the reason.

use std::path::{Path, PathBuf};

use super::{ConfigError, SettingsLayer};

/// Reads and checks the configuration file at `path`.
pub(super) fn read(path: &Path) -> Result<SettingsLayer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| refusal(path.to_path_buf(), &text, &error))
}

fn refusal(path: PathBuf, text: &str, error: &toml::de::Error) -> ConfigError {
    // toml gives the byte range of the key or value at fault; an error without one (none is
    // known) points at the start of the file.
    let at = error.span().map_or(0, |span| span.start).min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    ConfigError::Invalid {
        path,
        line,
        column,
        reason: error.message().trim().replace('\n', " "),
    }
}
