//! `conti-cli image prune [-a] [-f]`: remove dangling images, or with `-a` every image no
//! container uses; asks first unless `-f`, as docker does.

use std::io::{self, BufRead, Write};

use clap::Args;
use conti_proto::ImagePruneReport;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format, human_size};

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
    if !args.force && !confirm(args.all)? {
        return Ok(0);
    }
    let report = client.prune_images(args.all).await?;
    match format {
        Format::Json => output::print_json(&report)?,
        Format::Human => output::write_stdout(describe(&report).as_bytes())?,
    }
    Ok(0)
}

/// Docker's question, answered on stdin: only `y` or `yes` go on (no answer is no).
fn confirm(all: bool) -> Result<bool, CliError> {
    let what = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let mut out = io::stdout().lock();
    write!(
        out,
        "WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] "
    )?;
    out.flush()?;
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Input {
            path: "stdin".into(),
            source,
        })?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `Deleted Images:` and their ids, then the space reclaimed, as docker prints them.
fn describe(report: &ImagePruneReport) -> String {
    let mut text = String::new();
    if !report.deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for id in &report.deleted {
            text.push_str(&format!("deleted: {id}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(report.space_reclaimed)
    ));
    text
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
