//! `conti-cli volume prune [-f]`: remove every volume no container refers to; asks first
//! unless `-f`, as docker does.

use clap::Args;
use conti_proto::VolumePruneReport;

use crate::client::Client;
use crate::commands::{CliError, confirm};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask.
    #[arg(short, long)]
    pub force: bool,
}

pub async fn prune(client: &Client, format: Format, args: PruneArgs) -> Result<u8, CliError> {
    if !args.force && !confirm("all local volumes not used by at least one container")? {
        return Ok(0);
    }
    let report = client.prune_volumes().await?;
    match format {
        Format::Json => output::print_json(&report)?,
        Format::Human => output::write_stdout(describe(&report).as_bytes())?,
    }
    Ok(0)
}

/// `Deleted Volumes:` and their names, then the space reclaimed, as docker prints them.
fn describe(report: &VolumePruneReport) -> String {
    let deleted = report.deleted.iter().cloned();
    output::prune_summary("Deleted Volumes:", deleted, report.space_reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_dockers() {
        let report = VolumePruneReport {
            deleted: vec!["cache".into(), "db".into()],
            space_reclaimed: 2_000,
        };
        assert_eq!(
            describe(&report),
            "Deleted Volumes:\ncache\ndb\n\nTotal reclaimed space: 2kB\n"
        );
        assert_eq!(
            describe(&VolumePruneReport::default()),
            "Total reclaimed space: 0B\n"
        );
    }
}
