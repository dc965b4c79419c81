//! `conti-cli image import FILE REF`: streams a root filesystem's archive to contid, which makes
//! an image of it; prints the image's id, as docker does.

use clap::Args;

use super::open_archive;
use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A Dockerfile instruction for the image's config, e.g. `CMD ["/bin/sh"]`, `ENV A=b`,
    /// `WORKDIR /srv`, `USER 1000`, `ENTRYPOINT …`, `EXPOSE 80`, `HEALTHCHECK --interval=5s CMD
    /// …`, `LABEL k=v`, `STOPSIGNAL SIGINT`, `VOLUME /data` (repeatable).
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Archive (tar or tar.gz) of the root filesystem; `-` reads it from stdin.
    pub file: String,
    /// Name of the new image: NAME[:TAG].
    #[arg(value_name = "REF")]
    pub name: String,
}

pub async fn import(client: &Client, format: Format, args: ImportArgs) -> Result<u8, CliError> {
    let archive = open_archive(&args.file)
        .await
        .map_err(|source| CliError::Input {
            path: args.file.clone(),
            source,
        })?;
    let image = client
        .import_image(&args.name, &args.changes, archive)
        .await?;
    match format {
        Format::Human => output::print_line(&image.id)?,
        Format::Json => output::print_json(&image)?,
    }
    Ok(0)
}
