//! `conti-cli stats`: a live table of what running containers use, like `docker stats`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use conti_proto::ContainerStats;

use super::CliError;
use crate::client::{Client, ClientError};
use crate::output::{self, Format, human_size};

/// Pause between two refreshes (each sample itself takes half a second).
const REFRESH: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show one table and exit.
    #[arg(long)]
    pub no_stream: bool,
    /// Containers to show (default: every running one).
    pub containers: Vec<String>,
}

pub async fn stats(client: &Client, format: Format, args: StatsArgs) -> Result<u8, CliError> {
    let live = !args.no_stream && format == Format::Human && std::io::stdout().is_terminal();
    loop {
        let names = if args.containers.is_empty() {
            client
                .list_containers(false, &[])
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect()
        } else {
            args.containers.clone()
        };
        let samples = sample_all(client, &names, !args.containers.is_empty()).await?;
        if live {
            // Home and clear, then the table: the terminal shows the latest one only.
            print!("\x1b[H\x1b[2J");
            std::io::stdout().flush()?;
        }
        match format {
            Format::Json => {
                for sample in &samples {
                    output::print_json_line(sample)?;
                }
            }
            Format::Human => print_stats(&samples)?,
        }
        if args.no_stream {
            return Ok(0);
        }
        tokio::time::sleep(REFRESH).await;
    }
}

/// One sample per container, taken at the same time. A container that stopped meanwhile is left
/// out, unless it was named (then its error is the answer).
async fn sample_all(
    client: &Client,
    names: &[String],
    named: bool,
) -> Result<Vec<ContainerStats>, CliError> {
    let tasks: Vec<_> = names
        .iter()
        .map(|name| {
            let client = client.clone();
            let name = name.clone();
            tokio::spawn(async move { client.container_stats(&name).await })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(sample)) => samples.push(sample),
            Ok(Err(ClientError::Api { code, .. }))
                if !named && (code == "container_not_running" || code == "container_not_found") => {
            }
            Ok(Err(error)) => return Err(error.into()),
            Err(join) => return Err(CliError::Usage(format!("stats task failed: {join}"))),
        }
    }
    Ok(samples)
}

fn print_stats(samples: &[ContainerStats]) -> std::io::Result<()> {
    output::print_table(
        &[
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ],
        samples.iter().map(|s| {
            let limit = s.memory.limit.map_or("-".to_string(), human_size);
            let mem_percent = s
                .memory
                .limit
                .filter(|&l| l > 0)
                .map_or("-".to_string(), |l| {
                    format!("{:.2}%", s.memory.usage as f64 / l as f64 * 100.0)
                });
            let pids = match s.pids.limit {
                Some(limit) => format!("{} / {limit}", s.pids.current),
                None => s.pids.current.to_string(),
            };
            vec![
                s.id.chars().filter(|c| *c != '-').take(12).collect(),
                s.name.clone(),
                format!("{:.2}%", s.cpu.percent),
                format!("{} / {limit}", human_size(s.memory.usage)),
                mem_percent,
                net_io(s),
                format!(
                    "{} / {}",
                    human_size(s.blkio.read_bytes),
                    human_size(s.blkio.write_bytes)
                ),
                pids,
            ]
        }),
    )
}

/// Bytes received / sent over all its interfaces, as `docker stats` sums them.
fn net_io(sample: &ContainerStats) -> String {
    let (rx, tx) = sample.networks.values().fold((0u64, 0u64), |(rx, tx), n| {
        (rx.saturating_add(n.rx_bytes), tx.saturating_add(n.tx_bytes))
    });
    format!("{} / {}", human_size(rx), human_size(tx))
}

#[cfg(test)]
mod tests {
    use conti_proto::NetworkStats;

    use super::*;

    #[test]
    fn net_io_sums_every_interface_both_ways() {
        let mut sample = ContainerStats::default();
        assert_eq!(net_io(&sample), "0B / 0B");
        for (name, rx_bytes, tx_bytes) in [("lo", 1_500, 500), ("eth0", 2_000_000, 1_000)] {
            let counters = NetworkStats {
                rx_bytes,
                tx_bytes,
                ..Default::default()
            };
            sample.networks.insert(name.to_string(), counters);
        }
        assert_eq!(net_io(&sample), "2MB / 1.5kB");
    }
}
