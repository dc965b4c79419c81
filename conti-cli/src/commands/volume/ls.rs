//! `conti-cli volume ls`: the volumes, as a table, or their names with `-q`.

use std::time::SystemTime;

use clap::Args;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format, time_ago};

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only print the names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Only the volumes with this label: label=KEY[=VALUE] (repeatable: all must match).
    #[arg(short, long = "filter", value_name = "label=KEY[=VALUE]", value_parser = parse_filter)]
    pub filters: Vec<(String, String)>,
}

/// `label=KEY[=VALUE]`, the one filter volumes take.
fn parse_filter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some(("label", value)) => Ok(("label".to_string(), value.to_string())),
        _ => Err(format!("{text:?}: expected label=KEY[=VALUE]")),
    }
}

pub async fn ls(client: &Client, format: Format, args: LsArgs) -> Result<u8, CliError> {
    let volumes = client.list_volumes(&args.filters).await?;
    if args.quiet {
        for volume in &volumes {
            output::print_line(&volume.name)?;
        }
        return Ok(0);
    }
    if format == Format::Json {
        output::print_json(&volumes)?;
        return Ok(0);
    }
    let now = SystemTime::now();
    let rows = volumes.iter().map(|volume| {
        vec![
            volume.name.clone(),
            time_ago(&volume.created, now),
            volume.in_use_by.len().to_string(),
        ]
    });
    output::print_table(&["VOLUME NAME", "CREATED", "CONTAINERS"], rows)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_label_filters() {
        assert_eq!(
            parse_filter("label=a=b").unwrap(),
            ("label".to_string(), "a=b".to_string())
        );
        assert!(parse_filter("name=x").is_err() && parse_filter("label").is_err());
    }
}
