//! `conti-cli info`: what the daemon runs with and what it holds.

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format, human_size};

pub async fn info(client: &Client, format: Format) -> Result<u8, CliError> {
    let info = client.info().await?;
    if format == Format::Json {
        output::print_json(&info)?;
        return Ok(0);
    }
    let counts = &info.containers;
    let quarantined: Vec<String> = info
        .quarantined
        .iter()
        .map(|q| format!("{} ({}; running: {})", q.path, q.reason, q.running))
        .collect();
    output::print_fields(&[
        (
            "Containers",
            format!(
                "{} (running: {}, created: {}, exited: {})",
                counts.total, counts.running, counts.created, counts.exited
            ),
        ),
        ("Images", info.images.to_string()),
        ("Root", info.root),
        ("Socket", info.socket),
        ("Cgroup layout", info.cgroup_layout),
        ("Cgroup parent", info.cgroup_parent),
        ("Kernel", info.kernel),
        (
            "Log rotation",
            format!(
                "{}, {} files",
                human_size(info.log_max_bytes),
                info.log_max_files
            ),
        ),
        (
            "Quarantined",
            match quarantined.is_empty() {
                true => "none".to_string(),
                false => quarantined.join(", "),
            },
        ),
    ])?;
    Ok(0)
}
