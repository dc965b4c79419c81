//! `conti-cli network ...`: bridge networks containers join with `run --network NAME`.

pub mod create;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network; prints its name.
    Create(create::CreateArgs),
    /// List the networks.
    #[command(visible_alias = "list")]
    Ls,
    /// Show networks in detail, as JSON.
    Inspect(inspect::InspectArgs),
    /// Remove networks no container is on.
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Remove every network no container is on.
    Prune(crate::commands::prune::FilteredPruneArgs),
}
