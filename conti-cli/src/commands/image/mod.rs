//! `conti-cli image ...`: the images containers run from, pulled from registries, imported from
//! a root filesystem, or loaded from `docker save` and OCI archives.

pub mod history;
pub mod import;
pub mod inspect;
pub mod load;
pub mod ls;
pub mod progress;
pub mod prune;
pub mod pull;
pub mod rm;
pub mod save;
pub mod tag;

use std::io;

use clap::Subcommand;
use tokio::io::AsyncRead;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Download an image from a registry.
    Pull(pull::PullArgs),
    /// List the images.
    #[command(visible_alias = "list")]
    Ls(ls::LsArgs),
    /// Show images in detail, as JSON.
    Inspect(inspect::InspectArgs),
    /// Show the steps that made an image.
    History(history::HistoryArgs),
    /// Give an image another name: TARGET refers to SOURCE.
    Tag(tag::TagArgs),
    /// Remove image names; an image goes with its last name (or when named by its id).
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Remove dangling images (with -a, every image no container uses).
    Prune(prune::PruneArgs),
    /// Make an image of a root filesystem from a tar or tar.gz archive.
    Import(import::ImportArgs),
    /// Load images from a `docker save` tar or an OCI layout tar.
    Load(load::LoadArgs),
    /// Write an image as a `docker save` tar.
    Save(save::SaveArgs),
}

pub async fn dispatch(
    client: &Client,
    format: Format,
    command: ImageCommand,
) -> Result<u8, CliError> {
    match command {
        ImageCommand::Pull(args) => pull::pull(client, format, args).await,
        ImageCommand::Ls(args) => ls::ls(client, format, args).await,
        ImageCommand::Inspect(args) => inspect::inspect(client, args).await,
        ImageCommand::History(args) => history::history(client, format, args).await,
        ImageCommand::Tag(args) => tag::tag(client, args).await,
        ImageCommand::Rm(args) => rm::rm(client, args).await,
        ImageCommand::Prune(args) => prune::prune(client, format, args).await,
        ImageCommand::Import(args) => import::import(client, format, args).await,
        ImageCommand::Load(args) => load::load(client, format, args).await,
        ImageCommand::Save(args) => save::save(client, args).await,
    }
}

/// The archive at `path`, or stdin for `-`.
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
