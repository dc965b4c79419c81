//! `conti-cli network prune [-f] [--filter until=…|label=…]`: remove every network no
//! container is on; asks first unless `-f`.

use conti_proto::NetworkPruneReport;

use crate::client::Client;
use crate::commands::CliError;
use crate::commands::prune::{FilteredPruneArgs, prune_and_report};
use crate::output::{self, Format};

pub async fn prune(
    client: &Client,
    format: Format,
    args: FilteredPruneArgs,
) -> Result<u8, CliError> {
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.\n";
    let request = async || client.prune_networks(&args.filters).await;
    prune_and_report(format, warning, args.force, request, describe).await
}

/// `Deleted Networks:` and their names, as docker prints them (networks take no space).
fn describe(report: &NetworkPruneReport) -> String {
    output::deleted_section("Deleted Networks:", report.deleted.iter().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_dockers() {
        let report = NetworkPruneReport {
            deleted: vec!["back".into(), "front".into()],
        };
        assert_eq!(describe(&report), "Deleted Networks:\nback\nfront\n\n");
        assert_eq!(describe(&NetworkPruneReport::default()), "");
    }
}
