//! `conti-cli image load [-i FILE]`: streams a `docker save` or OCI layout tar to contid; prints
//! what it loaded, as docker does.

use std::path::PathBuf;

use clap::Args;

use super::open_archive;
use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read the archive from FILE instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
}

pub async fn load(client: &Client, format: Format, args: LoadArgs) -> Result<u8, CliError> {
    let path = match &args.input {
        Some(path) => path.display().to_string(),
        None if crate::terminal::stdin_is_terminal() => {
            return Err(CliError::Usage(
                "no archive to load: stdin is a terminal (give -i FILE or pipe one in)".into(),
            ));
        }
        None => "-".to_string(),
    };
    let archive = open_archive(&path)
        .await
        .map_err(|source| CliError::Input {
            path: path.clone(),
            source,
        })?;
    let images = client.load_images(archive).await?;
    if format == Format::Json {
        output::print_json(&images)?;
        return Ok(0);
    }
    for image in &images {
        if image.repo_tags.is_empty() {
            output::print_line(&format!("Loaded image ID: {}", image.id))?;
        }
        for tag in &image.repo_tags {
            output::print_line(&format!("Loaded image: {tag}"))?;
        }
    }
    Ok(0)
}
