//! `conti-cli image history REF`: the steps that made an image, newest first, as docker's table.

use std::time::SystemTime;

use clap::Args;
use conti_proto::ImageHistoryEntry;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format, human_size, time_ago};
use crate::reference::short_image_id;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show the commands whole.
    #[arg(long)]
    pub no_trunc: bool,
    /// The image: a name or an id.
    #[arg(value_name = "REF")]
    pub image: String,
}

/// Docker cuts CREATED BY to this many characters.
const CREATED_BY_WIDTH: usize = 45;

pub async fn history(client: &Client, format: Format, args: HistoryArgs) -> Result<u8, CliError> {
    // By id, so that both answers are of the same image even if the name moves in between.
    let image = client.inspect_image(&args.image).await?;
    let entries = client.image_history(&image.id).await?;
    if format == Format::Json {
        output::print_json(&entries)?;
        return Ok(0);
    }
    let now = SystemTime::now();
    let rows = entries.iter().enumerate().map(|(n, entry)| {
        row(
            entry,
            (n == 0).then_some(image.id.as_str()),
            args.no_trunc,
            now,
        )
    });
    output::print_table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows)?;
    Ok(0)
}

/// A step's line; only the newest step is the image itself (`id`), the others have no id of
/// their own (`<missing>`, as docker shows a pulled image's).
fn row(
    entry: &ImageHistoryEntry,
    id: Option<&str>,
    no_trunc: bool,
    now: SystemTime,
) -> Vec<String> {
    let created_by = if no_trunc {
        entry.created_by.clone()
    } else {
        truncate(&entry.created_by, CREATED_BY_WIDTH)
    };
    vec![
        id.map_or_else(|| "<missing>".to_string(), short_image_id),
        entry
            .created
            .as_deref()
            .map_or_else(String::new, |created| time_ago(created, now)),
        created_by,
        human_size(entry.size),
        entry.comment.clone(),
    ]
}

/// `text` on one line, cut to `width` characters with `…`.
fn truncate(text: &str, width: usize) -> String {
    let line = text.replace(['\n', '\t'], " ");
    if line.chars().count() <= width {
        line
    } else {
        line.chars().take(width - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_like_dockers() {
        let now = humantime::parse_rfc3339("2026-05-04T12:00:00Z").unwrap();
        let entry = ImageHistoryEntry {
            created: Some("2026-05-01T12:00:00Z".into()),
            created_by: "/bin/sh -c #(nop) ADD file:0123456789abcdef in / ".into(),
            comment: "imported".into(),
            empty_layer: false,
            size: 4_260_000,
        };
        assert_eq!(
            row(&entry, Some("sha256:0123456789abcdef"), false, now),
            [
                "0123456789ab",
                "3 days ago",
                "/bin/sh -c #(nop) ADD file:0123456789abcdef …",
                "4.26MB",
                "imported"
            ]
        );
        let empty = ImageHistoryEntry {
            created: None,
            created_by: "CMD [\"sh\"]".into(),
            comment: String::new(),
            empty_layer: true,
            size: 0,
        };
        assert_eq!(
            row(&empty, None, true, now),
            ["<missing>", "", "CMD [\"sh\"]", "0B", ""]
        );
    }
}
