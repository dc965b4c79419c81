//! `conti-cli image import FILE NAME`: streams the archive to contid.

use std::io;

use clap::Args;
use tokio::io::AsyncRead;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Archive (tar or tar.gz) of the root filesystem; `-` reads it from stdin.
    pub file: String,
    /// Name of the new image.
    pub name: String,
}

pub async fn import(client: &Client, format: Format, args: ImportArgs) -> Result<u8, CliError> {
    let archive = open_archive(&args.file)
        .await
        .map_err(|source| CliError::Input {
            path: args.file.clone(),
            source,
        })?;
    let image = client.import_image(&args.name, archive).await?;
    match format {
        Format::Human => output::print_line(&image.name)?,
        Format::Json => output::print_json(&image)?,
    }
    Ok(0)
}

async fn open_archive(path: &str) -> io::Result<Box<dyn AsyncRead + Send + Unpin>> {
    if path == "-" {
        return Ok(Box::new(tokio::io::stdin()));
    }
    let file = tokio::fs::File::open(path).await?;
    // Opening a directory works; reading it fails only once the upload has begun.
    if file.metadata().await?.is_dir() {
        return Err(io::ErrorKind::IsADirectory.into());
    }
    Ok(Box::new(file))
}
