//! `conti-cli volume ...`: named volumes, which containers mount with `-v NAME:TARGET`.

pub mod create;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use clap::Subcommand;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume; prints its name.
    Create(create::CreateArgs),
    /// List the volumes.
    #[command(visible_alias = "list")]
    Ls(ls::LsArgs),
    /// Show volumes in detail, as JSON.
    Inspect(inspect::InspectArgs),
    /// Remove volumes no container refers to, with their files.
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Remove every volume no container refers to.
    Prune(prune::PruneArgs),
}

pub async fn dispatch(
    client: &Client,
    format: Format,
    command: VolumeCommand,
) -> Result<u8, CliError> {
    match command {
        VolumeCommand::Create(args) => create::create(client, format, args).await,
        VolumeCommand::Ls(args) => ls::ls(client, format, args).await,
        VolumeCommand::Inspect(args) => inspect::inspect(client, args).await,
        VolumeCommand::Rm(args) => rm::rm(client, args).await,
        VolumeCommand::Prune(args) => prune::prune(client, format, args).await,
    }
}
