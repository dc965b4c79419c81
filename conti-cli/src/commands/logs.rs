//! `conti-cli logs`: a container's output, stdout and stderr each to its own stream.

use clap::Args;

use super::CliError;
use crate::client::{Client, ClientError, LogOptions, LogStream};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<u64>,
    /// Only lines written since TIME: RFC 3339 (2026-05-01T12:00:00Z), Unix seconds, or a
    /// duration ago (10m, 1h30m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines written until TIME (same forms); a follow ends there.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Start each line with the time it was written (RFC 3339).
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

pub async fn logs(client: &Client, format: Format, args: LogsArgs) -> Result<u8, CliError> {
    let options = LogOptions {
        follow: args.follow,
        tail: args.tail,
        since: args.since,
        until: args.until,
    };
    let mut stream = client.container_logs(&args.container, options).await?;
    print_records(&mut stream, format, args.timestamps).await?;
    Ok(0)
}

/// Prints each record as it arrives: its text to our stdout or stderr as it was written, or the
/// record itself as a JSON line.
pub async fn copy(stream: &mut LogStream, format: Format) -> Result<(), CliError> {
    print_records(stream, format, false).await
}

/// [`copy`], each line after its time when `timestamps` (text only: JSON records carry it).
async fn print_records(
    stream: &mut LogStream,
    format: Format,
    timestamps: bool,
) -> Result<(), CliError> {
    while let Some(record) = stream.next_line().await? {
        if format == Format::Json {
            output::print_json_line(&record)?;
            continue;
        }
        let line = record
            .bytes()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut text = Vec::with_capacity(record.time.len() + 1 + line.len());
        if timestamps {
            text.extend_from_slice(record.time.as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(&line);
        if record.stream == "stderr" {
            output::write_stderr(&text)?;
        } else {
            output::write_stdout(&text)?;
        }
    }
    Ok(())
}
