//! What the prunes of containers, networks and the whole system share: the question before,
//! the `--filter`s, and the report after.

use std::io::{self, IsTerminal};

use clap::Args;
use serde::Serialize;

use super::{CliError, ask};
use crate::client::ClientError;
use crate::output::{self, Format};

/// `-f` and the `--filter`s of `container prune` and `network prune`.
#[derive(Debug, Args)]
pub struct FilteredPruneArgs {
    /// Do not ask.
    #[arg(short, long)]
    pub force: bool,
    /// Only those that match: until=TIME (created before; RFC 3339, Unix seconds or a duration
    /// ago such as 24h), label=KEY[=VALUE]. Repeatable.
    #[arg(long = "filter", value_name = "FILTER", value_parser = parse_prune_filter)]
    pub filters: Vec<(String, String)>,
}

/// Asks (see [`confirm_prune`]), prunes with `request`, and prints its report: JSON, or as
/// `describe` says.
pub async fn prune_and_report<T: Serialize>(
    format: Format,
    warning: &str,
    force: bool,
    request: impl AsyncFnOnce() -> Result<T, ClientError>,
    describe: impl Fn(&T) -> String,
) -> Result<u8, CliError> {
    if !confirm_prune(warning, force)? {
        return Ok(0);
    }
    let report = request().await?;
    match format {
        Format::Json => output::print_json(&report)?,
        Format::Human => output::write_stdout(describe(&report).as_bytes())?,
    }
    Ok(0)
}

/// Whether a prune may go on: yes with `force`; otherwise the person at the terminal answers
/// `warning`'s question, and without a terminal on stdin nobody can: refused.
pub fn confirm_prune(warning: &str, force: bool) -> Result<bool, CliError> {
    if force {
        return Ok(true);
    }
    if !io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "stdin is not a terminal, so nobody can confirm: give -f (--force) to prune without \
             asking"
                .into(),
        ));
    }
    ask(warning)
}

/// `KEY=VALUE` of a prune's `--filter`: `until=TIME` or `label=KEY[=VALUE]`.
fn parse_prune_filter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key @ ("until" | "label"), value)) if !value.is_empty() => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!(
            "{text:?}: expected until=TIME or label=KEY[=VALUE]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_until_and_label() {
        assert_eq!(
            parse_prune_filter("label=tier=cache").unwrap(),
            ("label".to_string(), "tier=cache".to_string())
        );
        assert_eq!(parse_prune_filter("until=24h").unwrap().1, "24h");
        for bad in ["until=", "status=exited", "label"] {
            assert!(parse_prune_filter(bad).is_err(), "{bad}");
        }
    }
}
