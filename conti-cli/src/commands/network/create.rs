//! `conti-cli network create`: a bridge network; prints its name.

use clap::Args;
use conti_proto::NetworkSpec;

use crate::client::Client;
use crate::commands::CliError;
use crate::commands::labels::{self, Label};
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// IPv4 subnet in CIDR form (default: the first free /24 of 10.90.0.0/16).
    #[arg(long)]
    pub subnet: Option<String>,
    /// The bridge's address in the subnet (default: its first address).
    #[arg(long)]
    pub gateway: Option<String>,
    /// Set a label, KEY=VALUE or KEY (repeatable).
    #[arg(long = "label", value_name = "KEY[=VALUE]", value_parser = labels::parse_label)]
    pub labels: Vec<Label>,
    pub name: String,
}

pub async fn create(client: &Client, format: Format, args: CreateArgs) -> Result<u8, CliError> {
    let spec = NetworkSpec {
        name: args.name,
        subnet: args.subnet,
        gateway: args.gateway,
        labels: labels::merged(&[], &args.labels),
    };
    let network = client.create_network(&spec).await?;
    match format {
        Format::Human => output::print_line(&network.name)?,
        Format::Json => output::print_json(&network)?,
    }
    Ok(0)
}
