//! `conti-cli logs`: a container's output, stdout and stderr each to its own stream.

use clap::Args;

use super::CliError;
use crate::client::{Client, ClientError, LogOptions, LogStream, OutputKind, OutputStream};
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
        timestamps: args.timestamps,
    };
    let mut source = open(client, &args.container, options, format).await?;
    copy(&mut source).await?;
    Ok(0)
}

/// What the CLI shows of a container's log: its output as it was written, or (`--json`) its
/// records.
enum LogSource {
    Output(OutputStream),
    Records(LogStream),
}

async fn open(
    client: &Client,
    container: &str,
    options: LogOptions,
    format: Format,
) -> Result<LogSource, ClientError> {
    Ok(match format {
        Format::Human => LogSource::Output(client.container_output(container, options).await?),
        Format::Json => LogSource::Records(client.container_logs(container, options).await?),
    })
}

/// Prints the log as it arrives: the bytes to our stdout or stderr, as the container wrote them
/// to its own; or each record as a JSON line.
async fn copy(source: &mut LogSource) -> Result<(), CliError> {
    match source {
        LogSource::Output(stream) => {
            while let Some((kind, bytes)) = stream.next().await? {
                match kind {
                    OutputKind::Stdout => output::write_stdout(&bytes)?,
                    OutputKind::Stderr => output::write_stderr(&bytes)?,
                }
            }
        }
        LogSource::Records(stream) => {
            while let Some(record) = stream.next_line().await? {
                output::print_json_line(&record)?;
            }
        }
    }
    Ok(())
}
