//! `GET /containers/{id}/stats` and `/top`: the engine's samples in Docker's shapes.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use conti_proto::{ContainerStats, ContainerTop};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::error::DockerResult;
use super::query::DockerQuery;
use super::shapes::docker_id;
use crate::api::json_line;
use crate::engine::Engine;

pub async fn stats(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    query: DockerQuery,
) -> DockerResult<Response> {
    let host_memory = engine.info().memory_bytes;
    // `stream` defaults to true, as Docker's does.
    let stream = query.get("stream").is_none_or(|_| query.flag("stream"));
    if !stream || query.flag("one-shot") {
        let sample = engine.stats(&id).await?;
        return Ok(Json(docker_stats(&sample, host_memory)).into_response());
    }
    let samples = engine
        .stats_stream(&id)?
        .map(move |sample| Ok::<Bytes, Infallible>(json_line(&docker_stats(&sample, host_memory))));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(samples),
    )
        .into_response())
}

/// One nanosecond-based second of the whole machine: Docker's clients compute the CPU
/// percentage as (container delta / system delta) × CPUs × 100. The engine measured the
/// percentage over its own interval; these deltas restate that measurement in Docker's terms.
const SYSTEM_DELTA_PER_CPU: u64 = 1_000_000_000;

fn docker_stats(sample: &ContainerStats, host_memory: u64) -> Value {
    let cpus = u64::from(sample.cpu.online_cpus.max(1));
    let system_delta = SYSTEM_DELTA_PER_CPU * cpus;
    let container_delta = (sample.cpu.percent / 100.0 * SYSTEM_DELTA_PER_CPU as f64) as u64;
    let total = sample.cpu.usage_ns;
    let networks: serde_json::Map<String, Value> = sample
        .networks
        .iter()
        .map(|(name, n)| {
            (
                name.clone(),
                json!({
                    "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets, "rx_errors": 0, "rx_dropped": 0,
                    "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets, "tx_errors": 0, "tx_dropped": 0,
                }),
            )
        })
        .collect();
    json!({
        "id": docker_id(&sample.id),
        "name": format!("/{}", sample.name),
        "read": sample.read,
        "preread": "0001-01-01T00:00:00Z",
        "num_procs": 0,
        "pids_stats": { "current": sample.pids.current, "limit": sample.pids.limit },
        "cpu_stats": {
            "cpu_usage": { "total_usage": total, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
            "system_cpu_usage": system_delta * 2,
            "online_cpus": cpus,
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
        },
        "precpu_stats": {
            "cpu_usage": { "total_usage": total.saturating_sub(container_delta), "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
            "system_cpu_usage": system_delta,
            "online_cpus": cpus,
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
        },
        "memory_stats": {
            "usage": sample.memory.usage,
            "limit": sample.memory.limit.unwrap_or(host_memory),
            "stats": { "cache": sample.memory.cache },
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                { "major": 0, "minor": 0, "op": "read", "value": sample.blkio.read_bytes },
                { "major": 0, "minor": 0, "op": "write", "value": sample.blkio.write_bytes },
            ],
        },
        "networks": networks,
    })
}

/// `docker top`: Docker's `ps -ef`-like table.
pub async fn top(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> DockerResult<Json<Value>> {
    let top: ContainerTop = engine.top(&id).await?;
    let processes: Vec<Vec<String>> = top
        .processes
        .iter()
        .map(|p| {
            vec![
                p.user.clone(),
                p.pid.to_string(),
                p.ppid.to_string(),
                p.command.clone(),
            ]
        })
        .collect();
    Ok(Json(json!({
        "Titles": ["UID", "PID", "PPID", "CMD"],
        "Processes": processes,
    })))
}
