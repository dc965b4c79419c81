//! `conti-cli system ...`: the daemon's disk as a whole.

pub mod df;
pub mod prune;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show what images, containers and volumes take on disk, and what a prune would free.
    Df(df::DfArgs),
    /// Remove stopped containers, unused networks and dangling images (all unused images with
    /// -a; unused volumes with --volumes).
    Prune(prune::PruneArgs),
}
