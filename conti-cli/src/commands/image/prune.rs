//! `conti-cli image prune [-a] [-f]`: remove dangling images, or with `-a` every image no
//! container uses; asks first unless `-f`, as docker does.

use clap::Args;
use conti_proto::ImagePruneReport;

use crate::client::Client;
use crate::commands::{CliError, confirm};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask.
    #[arg(short, long)]
    pub force: bool,
}

pub async fn prune(client: &Client, format: Format, args: PruneArgs) -> Result<u8, CliError> {
    let what = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !args.force && !confirm(what)? {
        return Ok(0);
    }
    let report = client.prune_images(args.all).await?;
    match format {
        Format::Json => output::print_json(&report)?,
        Format::Human => output::write_stdout(describe(&report).as_bytes())?,
    }
    Ok(0)
}

/// `Deleted Images:` and their ids, then the space reclaimed, as docker prints them.
fn describe(report: &ImagePruneReport) -> String {
    let deleted = report.deleted.iter().map(|id| format!("deleted: {id}"));
    output::prune_summary("Deleted Images:", deleted, report.space_reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_dockers() {
        assert_eq!(
            describe(&ImagePruneReport::default()),
            "Total reclaimed space: 0B\n"
        );
        let report = ImagePruneReport {
            deleted: vec!["sha256:aa".into(), "sha256:bb".into()],
            space_reclaimed: 4_260_000,
        };
        assert_eq!(
            describe(&report),
            "Deleted Images:\ndeleted: sha256:aa\ndeleted: sha256:bb\n\n\
             Total reclaimed space: 4.26MB\n"
        );
    }
}
