//! `conti-cli system df [-v]`: docker's table of disk usage by kind (images, containers, local
//! volumes, build cache), and with `-v` each object.

use std::time::SystemTime;

use clap::Args;
use conti_proto::{DiskUsage, UsageSummary};

use crate::client::Client;
use crate::commands::CliError;
use crate::commands::ps::short_id;
use crate::output::{self, Format, human_size, time_ago};
use crate::reference::{short_image_id, split_tag};

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show each image, container and volume too.
    #[arg(short, long)]
    pub verbose: bool,
}

pub async fn df(client: &Client, format: Format, args: DfArgs) -> Result<u8, CliError> {
    let usage = client.disk_usage().await?;
    if format == Format::Json {
        output::print_json(&usage)?;
    } else if args.verbose {
        print_each(&usage)?;
    } else {
        let rows = [
            ("Images", &usage.images),
            ("Containers", &usage.containers),
            ("Local Volumes", &usage.volumes),
            ("Build Cache", &usage.build_cache),
        ]
        .into_iter()
        .map(|(kind, summary)| summary_row(kind, summary));
        output::print_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows)?;
    }
    Ok(0)
}

fn summary_row(kind: &str, summary: &UsageSummary) -> Vec<String> {
    vec![
        kind.to_string(),
        summary.total.to_string(),
        summary.active.to_string(),
        human_size(summary.size),
        reclaimable(summary),
    ]
}

/// `1.2MB (40%)`, as docker shows it; no share of nothing.
fn reclaimable(summary: &UsageSummary) -> String {
    let bytes = human_size(summary.reclaimable);
    match summary
        .reclaimable
        .saturating_mul(100)
        .checked_div(summary.size)
    {
        Some(percent) => format!("{bytes} ({percent}%)"),
        None => bytes,
    }
}

fn print_each(usage: &DiskUsage) -> Result<(), CliError> {
    let now = SystemTime::now();
    output::print_line("Images space usage:\n")?;
    let images = usage.image_usage.iter().flat_map(|image| {
        let names: Vec<(String, String)> = if image.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            image
                .repo_tags
                .iter()
                .map(|tag| {
                    let (repository, tag) = split_tag(tag);
                    (repository.to_string(), tag.unwrap_or("<none>").to_string())
                })
                .collect()
        };
        names.into_iter().map(move |(repository, tag)| {
            vec![
                repository,
                tag,
                short_image_id(&image.id),
                time_ago(&image.created, now),
                human_size(image.size),
                human_size(image.shared_size),
                human_size(image.size - image.shared_size.min(image.size)),
                image.containers.to_string(),
            ]
        })
    });
    output::print_table(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        images,
    )?;
    output::print_line("\nContainers space usage:\n")?;
    let containers = usage.container_usage.iter().map(|container| {
        vec![
            short_id(&container.id),
            container.image.clone(),
            container.volumes.to_string(),
            human_size(container.size),
            container.name.clone(),
        ]
    });
    output::print_table(
        &["CONTAINER ID", "IMAGE", "LOCAL VOLUMES", "SIZE", "NAMES"],
        containers,
    )?;
    output::print_line("\nLocal Volumes space usage:\n")?;
    let volumes = usage.volume_usage.iter().map(|volume| {
        vec![
            volume.name.clone(),
            volume.links.to_string(),
            human_size(volume.size),
        ]
    });
    output::print_table(&["VOLUME NAME", "LINKS", "SIZE"], volumes)?;
    output::print_line(&format!(
        "\nBuild cache usage: {}",
        human_size(usage.build_cache.size)
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaimable_space_reads_like_dockers() {
        let summary = |size, reclaimable| UsageSummary {
            total: 2,
            active: 1,
            size,
            reclaimable,
        };
        assert_eq!(reclaimable(&summary(4_000, 1_000)), "1kB (25%)");
        assert_eq!(reclaimable(&summary(0, 0)), "0B");
        assert_eq!(
            summary_row("Images", &summary(16_430_000, 16_430_000)),
            ["Images", "2", "1", "16.4MB", "16.4MB (100%)"]
        );
    }
}
