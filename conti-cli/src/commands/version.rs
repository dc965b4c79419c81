//! `conti-cli version`: this client's version and the daemon's.

use serde_json::json;

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format};

const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub async fn version(client: &Client, format: Format) -> Result<u8, CliError> {
    if format == Format::Json {
        let server = client.version().await?;
        output::print_json(&json!({ "client": { "version": CLIENT_VERSION }, "server": server }))?;
        return Ok(0);
    }
    // The client's part is worth showing even when the daemon cannot be reached.
    output::print_line("Client:")?;
    output::print_fields(&[(" Version", CLIENT_VERSION.to_string())])?;
    let server = client.version().await?;
    output::print_line("Server:")?;
    output::print_fields(&[
        (" Version", server.version),
        (" API version", server.api_version),
        (" OS/Arch", format!("{}/{}", server.os, server.arch)),
    ])?;
    Ok(0)
}
