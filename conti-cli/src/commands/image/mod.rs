//! `conti-cli image ...`: the root filesystems containers run from.

pub mod import;
pub mod ls;
pub mod rm;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import a root filesystem from a tar or tar.gz archive.
    Import(import::ImportArgs),
    /// List the images.
    #[command(visible_alias = "list")]
    Ls,
    /// Remove images no container uses.
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
}
