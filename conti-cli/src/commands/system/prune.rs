//! `conti-cli system prune [-a] [--volumes] [-f]`: stopped containers, unused networks, dangling
//! images (every unused one with `-a`), unused volumes only with `--volumes`; prints what went
//! and the space reclaimed, as docker does.

use clap::Args;
use conti_proto::{ContainerPruneReport, ImagePruneReport, NetworkPruneReport, VolumePruneReport};
use serde::Serialize;

use crate::client::Client;
use crate::commands::prune::prune_and_report;
use crate::commands::{CliError, container};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Remove the volumes no container refers to as well.
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask.
    #[arg(short, long)]
    pub force: bool,
}

/// What went, by kind (`--json`).
#[derive(Debug, Default, Serialize)]
struct SystemPruneReport {
    containers: ContainerPruneReport,
    networks: NetworkPruneReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    volumes: Option<VolumePruneReport>,
    images: ImagePruneReport,
}

pub async fn prune(client: &Client, format: Format, args: PruneArgs) -> Result<u8, CliError> {
    let request = async || {
        let mut report = SystemPruneReport {
            containers: client.prune_containers(&[]).await?,
            networks: client.prune_networks(&[]).await?,
            ..Default::default()
        };
        if args.volumes {
            report.volumes = Some(client.prune_volumes().await?);
        }
        report.images = client.prune_images(args.all).await?;
        Ok(report)
    };
    prune_and_report(format, &warning(&args), args.force, request, describe).await
}

/// Docker's list of what will go.
fn warning(args: &PruneArgs) -> String {
    let mut text = "WARNING! This will remove:\n  - all stopped containers\n  \
                    - all networks not used by at least one container\n"
        .to_string();
    if args.volumes {
        text.push_str("  - all volumes not used by at least one container\n");
    }
    text.push_str(if args.all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    text.push('\n');
    text
}

fn describe(report: &SystemPruneReport) -> String {
    let volumes = report.volumes.clone().unwrap_or_default();
    let sections = [
        output::deleted_section(
            "Deleted Containers:",
            container::prune::deleted(&report.containers),
        ),
        output::deleted_section("Deleted Networks:", report.networks.deleted.iter().cloned()),
        output::deleted_section("Deleted Volumes:", volumes.deleted.iter().cloned()),
        output::deleted_section(
            "Deleted Images:",
            report
                .images
                .deleted
                .iter()
                .map(|id| format!("deleted: {id}")),
        ),
    ];
    let space =
        report.containers.space_reclaimed + volumes.space_reclaimed + report.images.space_reclaimed;
    sections.concat() + &output::reclaimed_line(space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_dockers() {
        let report = SystemPruneReport {
            containers: ContainerPruneReport {
                deleted: vec!["0f3c2a9e-5b1d".into()],
                space_reclaimed: 1_000,
            },
            networks: NetworkPruneReport {
                deleted: vec!["front".into()],
            },
            volumes: None,
            images: ImagePruneReport {
                deleted: vec!["sha256:aa".into()],
                space_reclaimed: 2_000,
            },
        };
        assert_eq!(
            describe(&report),
            "Deleted Containers:\n0f3c2a9e5b1d\n\nDeleted Networks:\nfront\n\n\
             Deleted Images:\ndeleted: sha256:aa\n\nTotal reclaimed space: 3kB\n"
        );
        assert_eq!(
            describe(&SystemPruneReport::default()),
            "Total reclaimed space: 0B\n"
        );
    }

    #[test]
    fn the_warning_names_what_goes() {
        let args = |all, volumes| PruneArgs {
            all,
            volumes,
            force: false,
        };
        assert!(warning(&args(false, false)).contains("all dangling images"));
        assert!(!warning(&args(false, false)).contains("volumes"));
        let all = warning(&args(true, true));
        assert!(all.contains("all volumes not used") && all.contains("all images without"));
    }
}
