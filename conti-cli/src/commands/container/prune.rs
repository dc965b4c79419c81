//! `conti-cli container prune [-f] [--filter until=…|label=…]`: remove every container that
//! does not run; asks first unless `-f`.

use conti_proto::ContainerPruneReport;

use crate::client::Client;
use crate::commands::CliError;
use crate::commands::prune::{FilteredPruneArgs, prune_and_report};
use crate::output::{self, Format};

pub async fn prune(
    client: &Client,
    format: Format,
    args: FilteredPruneArgs,
) -> Result<u8, CliError> {
    let warning = "WARNING! This will remove all stopped containers.\n";
    let request = async || client.prune_containers(&args.filters).await;
    prune_and_report(format, warning, args.force, request, describe).await
}

/// `Deleted Containers:` and their ids, then the space reclaimed, as docker prints them.
pub fn describe(report: &ContainerPruneReport) -> String {
    output::prune_summary(
        "Deleted Containers:",
        deleted(report),
        report.space_reclaimed,
    )
}

/// The ids of the containers deleted, as docker prints them (no dashes).
pub fn deleted(report: &ContainerPruneReport) -> impl Iterator<Item = String> + '_ {
    report.deleted.iter().map(|id| id.replace('-', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_dockers() {
        let report = ContainerPruneReport {
            deleted: vec!["0f3c2a9e-5b1d-4c8e-9a7f-123456789abc".into()],
            space_reclaimed: 1_500,
        };
        assert_eq!(
            describe(&report),
            "Deleted Containers:\n0f3c2a9e5b1d4c8e9a7f123456789abc\n\n\
             Total reclaimed space: 1.5kB\n"
        );
    }
}
