//! `conti-cli image ls`: the images, as a table.

use std::time::SystemTime;

use crate::client::Client;
use crate::commands::CliError;
use crate::output::{self, Format, human_size, time_ago};

pub async fn ls(client: &Client, format: Format) -> Result<u8, CliError> {
    let images = client.list_images().await?;
    if format == Format::Json {
        output::print_json(&images)?;
        return Ok(0);
    }
    let now = SystemTime::now();
    let rows = images.iter().map(|image| {
        vec![
            image.name.clone(),
            human_size(image.size),
            time_ago(&image.created, now),
        ]
    });
    output::print_table(&["NAME", "SIZE", "CREATED"], rows)?;
    Ok(0)
}
