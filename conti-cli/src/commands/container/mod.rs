//! `conti-cli container ...`: verbs on containers as a whole (the others are top-level, as
//! `run`, `ps`, `rm`).

pub mod prune;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove every container that does not run.
    Prune(crate::commands::prune::FilteredPruneArgs),
}
