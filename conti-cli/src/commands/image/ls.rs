//! `conti-cli image ls` (and `images`): the images, as docker's table: a row per name, dangling
//! images as `<none>`, newest first.

use std::time::SystemTime;

use clap::Args;
use conti_proto::ImageInfo;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format, human_size, time_ago};
use crate::reference::{short_image_id, split_tag};

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only print the image ids (each once).
    #[arg(short, long)]
    pub quiet: bool,
    /// Only the images of this repository (REPOSITORY or REPOSITORY:TAG).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

const NONE: &str = "<none>";

pub async fn ls(client: &Client, format: Format, args: LsArgs) -> Result<u8, CliError> {
    let mut images = client.list_images().await?;
    let now = SystemTime::now();
    sort_newest_first(&mut images, now);
    let rows = rows(&images, args.repository.as_deref());
    if args.quiet {
        let mut seen = Vec::new();
        for row in &rows {
            if !seen.contains(&row.image.id) {
                seen.push(row.image.id.clone());
                output::print_line(&short_image_id(&row.image.id))?;
            }
        }
    } else if format == Format::Json {
        let mut shown: Vec<&ImageInfo> = Vec::new();
        for row in &rows {
            if !shown.iter().any(|image| image.id == row.image.id) {
                shown.push(row.image);
            }
        }
        output::print_json(&shown)?;
    } else {
        let lines = rows.iter().map(|row| {
            vec![
                row.repository.to_string(),
                row.tag.to_string(),
                short_image_id(&row.image.id),
                time_ago(&row.image.created, now),
                human_size(row.image.size),
            ]
        });
        output::print_table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], lines)?;
    }
    Ok(0)
}

/// One line of the table: an image under one of its names.
struct Row<'a> {
    repository: &'a str,
    tag: &'a str,
    image: &'a ImageInfo,
}

fn sort_newest_first(images: &mut [ImageInfo], now: SystemTime) {
    let age = |image: &ImageInfo| output::elapsed(&image.created, now).unwrap_or_default();
    images.sort_by_key(age);
}

/// A row per tag; an image with no tag is shown once, by the repository of a digest it was
/// pulled by (tag `<none>`) or as `<none>` `<none>`. With `filter`, only the rows of that
/// repository (and tag, when it names one).
fn rows<'a>(images: &'a [ImageInfo], filter: Option<&str>) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    for image in images {
        for name in &image.repo_tags {
            let (repository, tag) = split_tag(name);
            rows.push(Row {
                repository,
                tag: tag.unwrap_or(NONE),
                image,
            });
        }
        if image.repo_tags.is_empty() {
            let repository = image
                .repo_digests
                .first()
                .and_then(|digest| digest.split_once('@'))
                .map_or(NONE, |(repository, _)| repository);
            rows.push(Row {
                repository,
                tag: NONE,
                image,
            });
        }
    }
    if let Some(filter) = filter {
        let (repository, tag) = split_tag(filter);
        rows.retain(|row| row.repository == repository && tag.is_none_or(|tag| row.tag == tag));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id_byte: &str, tags: &[&str], digests: &[&str], created: &str) -> ImageInfo {
        ImageInfo {
            id: format!("sha256:{}", id_byte.repeat(32)),
            repo_tags: tags.iter().map(|t| t.to_string()).collect(),
            repo_digests: digests.iter().map(|d| d.to_string()).collect(),
            size: 4_260_000,
            created: created.to_string(),
            architecture: "amd64".into(),
            os: "linux".into(),
            layers: vec![],
            config: Default::default(),
        }
    }

    fn table(rows: &[Row]) -> Vec<(String, String, String)> {
        rows.iter()
            .map(|row| {
                (
                    row.repository.to_string(),
                    row.tag.to_string(),
                    short_image_id(&row.image.id),
                )
            })
            .collect()
    }

    #[test]
    fn each_name_is_a_row_and_dangling_images_are_none() {
        let images = [
            image(
                "ab",
                &["busybox:latest", "127.0.0.1:5000/team/box:1"],
                &[],
                "t",
            ),
            image("cd", &[], &["alpine@sha256:0123"], "t"),
            image("ef", &[], &[], "t"),
        ];
        let owned = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            table(&rows(&images, None)),
            [
                owned("busybox", "latest", "abababababab"),
                owned("127.0.0.1:5000/team/box", "1", "abababababab"),
                owned("alpine", "<none>", "cdcdcdcdcdcd"),
                owned("<none>", "<none>", "efefefefefef"),
            ]
        );
        assert_eq!(
            table(&rows(&images, Some("busybox"))),
            [owned("busybox", "latest", "abababababab")]
        );
        assert!(rows(&images, Some("busybox:1.36")).is_empty());
        assert_eq!(rows(&images, Some("127.0.0.1:5000/team/box:1")).len(), 1);
    }

    #[test]
    fn newest_images_come_first() {
        let now = humantime::parse_rfc3339("2026-05-01T12:00:00Z").unwrap();
        let mut images = vec![
            image("aa", &["old:1"], &[], "2026-04-01T12:00:00Z"),
            image("bb", &["new:1"], &[], "2026-04-30T12:00:00Z"),
        ];
        sort_newest_first(&mut images, now);
        assert_eq!(images[0].repo_tags, ["new:1"]);
    }
}
