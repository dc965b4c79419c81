//! `conti-cli image load [-i FILE]`: streams a `docker save` or OCI layout tar to contid; prints
//! what it loaded, as docker does.

use std::path::PathBuf;

use clap::Args;
use conti_proto::ImageInfo;

use super::open_archive;
use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read the archive from FILE instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
}

pub async fn load(client: &Client, format: Format, args: LoadArgs) -> Result<u8, CliError> {
    let path = match &args.input {
        Some(path) => path.display().to_string(),
        None if crate::terminal::stdin_is_terminal() => {
            return Err(CliError::Usage(
                "no archive to load: stdin is a terminal (give -i FILE or pipe one in)".into(),
            ));
        }
        None => "-".to_string(),
    };
    let archive = open_archive(&path)
        .await
        .map_err(|source| CliError::Input {
            path: path.clone(),
            source,
        })?;
    let images = client.load_images(archive).await?;
    if format == Format::Json {
        output::print_json(&images)?;
        return Ok(0);
    }
    for line in loaded(&images) {
        output::print_line(&line)?;
    }
    Ok(0)
}

/// `Loaded image: NAME` for each name, `Loaded image ID: sha256:…` for an image without one.
fn loaded(images: &[ImageInfo]) -> Vec<String> {
    images
        .iter()
        .flat_map(|image| {
            if image.repo_tags.is_empty() {
                vec![format!("Loaded image ID: {}", image.id)]
            } else {
                image
                    .repo_tags
                    .iter()
                    .map(|tag| format!("Loaded image: {tag}"))
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_images_are_named_or_given_by_id() {
        let image = |id: &str, tags: &[&str]| ImageInfo {
            id: id.to_string(),
            repo_tags: tags.iter().map(|tag| tag.to_string()).collect(),
            repo_digests: vec![],
            size: 0,
            created: String::new(),
            architecture: String::new(),
            os: String::new(),
            layers: vec![],
            config: Default::default(),
        };
        let images = [
            image("sha256:a", &["busybox:latest", "box:1"]),
            image("sha256:b", &[]),
        ];
        assert_eq!(
            loaded(&images),
            [
                "Loaded image: busybox:latest",
                "Loaded image: box:1",
                "Loaded image ID: sha256:b"
            ]
        );
    }
}
