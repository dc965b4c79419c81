//! `conti-cli network ls`: the networks, as a table.

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format};

pub async fn ls(client: &Client, format: Format) -> Result<u8, CliError> {
    let networks = client.list_networks().await?;
    if format == Format::Json {
        output::print_json(&networks)?;
        return Ok(0);
    }
    let rows = networks.iter().map(|network| {
        vec![
            network.name.clone(),
            network.subnet.clone(),
            network.gateway.clone(),
            network.bridge.clone(),
            network.containers.len().to_string(),
        ]
    });
    output::print_table(&["NAME", "SUBNET", "GATEWAY", "BRIDGE", "CONTAINERS"], rows)?;
    Ok(0)
}
