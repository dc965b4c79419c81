//! `conti-cli logs`: a container's output, stdout and stderr each to its own stream.

use clap::Args;

use super::CliError;
use crate::client::{Client, LogOptions, LogStream};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<u64>,
    pub container: String,
}

pub async fn logs(client: &Client, format: Format, args: LogsArgs) -> Result<u8, CliError> {
    let options = LogOptions {
        follow: args.follow,
        tail: args.tail,
    };
    let mut stream = client.container_logs(&args.container, options).await?;
    copy(&mut stream, format).await?;
    Ok(0)
}

/// Prints each record as it arrives: its text to our stdout or stderr as it was written, or the
/// record itself as a JSON line.
pub async fn copy(stream: &mut LogStream, format: Format) -> Result<(), CliError> {
    while let Some(record) = stream.next_line().await? {
        match format {
            Format::Json => output::print_json_line(&record)?,
            Format::Human if record.stream == "stderr" => {
                output::write_stderr(record.log.as_bytes())?;
            }
            Format::Human => output::write_stdout(record.log.as_bytes())?,
        }
    }
    Ok(())
}
