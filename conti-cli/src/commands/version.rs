//! `conti-cli version`: this client's version and the daemon's.

use serde_json::json;

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format};

const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn version(client: &Client, format: Format) -> Result<u8, CliError> {
    // Asked first: with no daemon, the error is the whole output.
    let server = client.version().await?;
    if format == Format::Json {
        let versions = json!({ "client": { "version": CLIENT_VERSION }, "server": server });
        output::print_json(&versions)?;
        return Ok(0);
    }
    output::print_line("Client:")?;
    output::print_fields(&[(" Version", CLIENT_VERSION.to_string())])?;
    output::print_line("Server:")?;
    output::print_fields(&[
        (" Version", server.version),
        (" API version", server.api_version),
        (" OS/Arch", format!("{}/{}", server.os, server.arch)),
    ])?;
    Ok(0)
}
