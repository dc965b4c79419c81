//! What a running container uses (`stats`) and which processes it has (`top`), read from its
//! cgroup and from `/proc`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use conti_proto::{
    BlkioStats, ContainerStats, ContainerTop, CpuStats, MemoryStats, NetworkStats, PidsStats,
    ProcessInfo,
};
use futures_util::Stream;

use super::container::ContainerStatus;
use super::error::{EngineError, EngineResult};
use super::{Engine, blocking, now_rfc3339};
use crate::runtime::cgroup::CgroupStats;
use crate::runtime::network::interface_counters::{self, InterfaceCounters};
use crate::runtime::sys::process;

/// Between two samples of a stream.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// What a one-shot sample measures its CPU percentage over.
pub const ONE_SHOT_INTERVAL: Duration = Duration::from_millis(500);

/// The counters of one read, and when they were read.
#[derive(Clone)]
struct Sample {
    at: Instant,
    counters: CgroupStats,
    /// Empty when its first process has exited meanwhile.
    networks: BTreeMap<String, InterfaceCounters>,
}

/// A running container as stats and top need it.
#[derive(Clone)]
struct RunningContainer {
    id: String,
    name: String,
    /// Its first process, by pid and start time: its network namespace is the container's.
    init_pid: i32,
    init_start_time: u64,
}

impl Engine {
    /// A running container, else 409.
    fn running_container(&self, reference: &str) -> EngineResult<RunningContainer> {
        let table = self.table();
        let id = table.resolve(reference)?;
        let entry = table.entry(&id)?;
        let ContainerStatus::Running {
            init_pid,
            init_start_time,
            ..
        } = entry.container.status
        else {
            return Err(EngineError::ContainerNotRunning(id));
        };
        Ok(RunningContainer {
            name: entry.container.config.name.clone(),
            id,
            init_pid,
            init_start_time,
        })
    }

    async fn sample(&self, container: &RunningContainer) -> EngineResult<Sample> {
        let cgroups = self.inner.cgroups.clone();
        let container = container.clone();
        blocking(move || {
            let counters = cgroups
                .stats(&container.id)
                .map_err(|e| EngineError::internal("read the container's cgroup", e))?;
            let networks = interface_counters::read_interface_counters(
                container.init_pid,
                container.init_start_time,
            )
            .map_err(|e| EngineError::internal("read the container's network counters", e))?
            .unwrap_or_default();
            Ok(Sample {
                at: Instant::now(),
                counters,
                networks,
            })
        })
        .await
    }

    /// One sample, its CPU percentage measured over [`ONE_SHOT_INTERVAL`].
    pub async fn stats(&self, reference: &str) -> EngineResult<ContainerStats> {
        let container = self.running_container(reference)?;
        let first = self.sample(&container).await?;
        tokio::time::sleep(ONE_SHOT_INTERVAL).await;
        let second = self.sample(&container).await?;
        Ok(self.render(&container, Some(&first), &second))
    }

    /// A sample every [`STATS_INTERVAL`] until the container stops running (the first at once,
    /// with a CPU percentage over a short first interval).
    pub fn stats_stream(
        &self,
        reference: &str,
    ) -> EngineResult<impl Stream<Item = ContainerStats> + Send + 'static> {
        let container = self.running_container(reference)?;
        let engine = self.clone();
        let state = (engine, container, None::<Sample>);
        Ok(futures_util::stream::unfold(
            state,
            |(engine, container, previous)| async move {
                let previous = match previous {
                    Some(previous) => {
                        tokio::time::sleep(STATS_INTERVAL).await;
                        previous
                    }
                    None => {
                        let first = engine.sample(&container).await.ok()?;
                        tokio::time::sleep(ONE_SHOT_INTERVAL).await;
                        first
                    }
                };
                engine.running_container(&container.id).ok()?;
                let current = engine.sample(&container).await.ok()?;
                let stats = engine.render(&container, Some(&previous), &current);
                Some((stats, (engine, container, Some(current))))
            },
        ))
    }

    fn render(
        &self,
        container: &RunningContainer,
        previous: Option<&Sample>,
        current: &Sample,
    ) -> ContainerStats {
        let c = &current.counters;
        let online_cpus = self.inner.host.cpus.len() as u32;
        let percent = match (previous, c.cpu_usage_ns) {
            (Some(previous), Some(now)) => {
                let used = now.saturating_sub(previous.counters.cpu_usage_ns.unwrap_or(now));
                let wall = current.at.duration_since(previous.at).as_nanos() as f64;
                if wall > 0.0 {
                    used as f64 / wall * 100.0
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        ContainerStats {
            id: container.id.clone(),
            name: container.name.clone(),
            read: now_rfc3339(),
            cpu: CpuStats {
                usage_ns: c.cpu_usage_ns.unwrap_or(0),
                percent: (percent * 100.0).round() / 100.0,
                online_cpus,
            },
            memory: MemoryStats {
                usage: c.memory_usage.unwrap_or(0),
                limit: c.memory_limit,
                cache: c.memory_cache.unwrap_or(0),
            },
            pids: PidsStats {
                current: c.pids_current.unwrap_or(0),
                limit: c.pids_limit,
            },
            blkio: BlkioStats {
                read_bytes: c.io_read_bytes.unwrap_or(0),
                write_bytes: c.io_write_bytes.unwrap_or(0),
            },
            networks: current
                .networks
                .iter()
                .map(|(name, n)| {
                    let stats = NetworkStats {
                        rx_bytes: n.rx_bytes,
                        rx_packets: n.rx_packets,
                        tx_bytes: n.tx_bytes,
                        tx_packets: n.tx_packets,
                    };
                    (name.clone(), stats)
                })
                .collect(),
        }
    }

    /// The container's processes, by host pid.
    pub async fn top(&self, reference: &str) -> EngineResult<ContainerTop> {
        let id = self.running_container(reference)?.id;
        let cgroups = self.inner.cgroups.clone();
        blocking(move || {
            let pids = cgroups
                .procs(&id)
                .map_err(|e| EngineError::internal("list the container's processes", e))?;
            let processes = pids
                .into_iter()
                .filter_map(process::describe)
                .map(|p| ProcessInfo {
                    pid: p.pid,
                    container_pid: p.namespace_pid,
                    ppid: p.ppid,
                    uid: p.uid,
                    user: p.user.unwrap_or_else(|| p.uid.to_string()),
                    command: p.command,
                })
                .collect();
            Ok(ContainerTop { processes })
        })
        .await
    }
}
