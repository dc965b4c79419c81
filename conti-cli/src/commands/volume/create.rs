//! `conti-cli volume create [--label KEY=VALUE]… [NAME]`: a volume; prints its name. An
//! existing one with the same labels is answered as it is, as with docker.

use clap::Args;
use conti_proto::VolumeCreateSpec;

use crate::client::Client;
use crate::commands::CliError;
use crate::commands::labels::{self, Label};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Set a label, KEY=VALUE or KEY (repeatable).
    #[arg(short, long = "label", value_name = "KEY[=VALUE]", value_parser = labels::parse_label)]
    pub labels: Vec<Label>,
    /// Its name (generated when absent).
    pub name: Option<String>,
}

pub async fn create(client: &Client, format: Format, args: CreateArgs) -> Result<u8, CliError> {
    let spec = VolumeCreateSpec {
        name: args.name,
        labels: labels::merged(&[], &args.labels),
    };
    let volume = client.create_volume(&spec).await?;
    match format {
        Format::Human => output::print_line(&volume.name)?,
        Format::Json => output::print_json(&volume)?,
    }
    Ok(0)
}
