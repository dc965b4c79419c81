//! What a running container uses (`stats`) and which processes it has (`top`), read from its
//! cgroup and from `/proc`.

use std::time::{Duration, Instant};

use conti_proto::{
    BlkioStats, ContainerStats, ContainerTop, CpuStats, MemoryStats, PidsStats, ProcessInfo,
};
use futures_util::Stream;

use super::error::{EngineError, EngineResult};
use super::{Engine, blocking, now_rfc3339};
use crate::runtime::cgroup::CgroupStats;
use crate::runtime::process;

/// Between two samples of a stream.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// What a one-shot sample measures its CPU percentage over.
pub const ONE_SHOT_INTERVAL: Duration = Duration::from_millis(500);

/// The counters of one read, and when they were read.
#[derive(Clone)]
struct Sample {
    at: Instant,
    counters: CgroupStats,
}

impl Engine {
    /// The id and name of a running container, else 409.
    fn running_container(&self, reference: &str) -> EngineResult<(String, String)> {
        let table = self.table();
        let id = table.resolve(reference)?;
        let entry = table.entry(&id)?;
        if !entry.container.status.is_running() {
            return Err(EngineError::ContainerNotRunning(id));
        }
        Ok((id, entry.container.config.name.clone()))
    }

    async fn sample(&self, id: &str) -> EngineResult<Sample> {
        let cgroups = self.inner.cgroups.clone();
        let id = id.to_string();
        blocking(move || {
            let counters = cgroups
                .stats(&id)
                .map_err(|e| EngineError::internal("read the container's cgroup", e))?;
            Ok(Sample {
                at: Instant::now(),
                counters,
            })
        })
        .await
    }

    /// One sample, its CPU percentage measured over [`ONE_SHOT_INTERVAL`].
    pub async fn stats(&self, reference: &str) -> EngineResult<ContainerStats> {
        let (id, name) = self.running_container(reference)?;
        let first = self.sample(&id).await?;
        tokio::time::sleep(ONE_SHOT_INTERVAL).await;
        let second = self.sample(&id).await?;
        Ok(self.render(&id, &name, Some(&first), &second))
    }

    /// A sample every [`STATS_INTERVAL`] until the container stops running (the first at once,
    /// with a CPU percentage over a short first interval).
    pub fn stats_stream(
        &self,
        reference: &str,
    ) -> EngineResult<impl Stream<Item = ContainerStats> + Send + 'static> {
        let (id, name) = self.running_container(reference)?;
        let engine = self.clone();
        let state = (engine, id, name, None::<Sample>);
        Ok(futures_util::stream::unfold(
            state,
            |(engine, id, name, previous)| async move {
                let previous = match previous {
                    Some(previous) => {
                        tokio::time::sleep(STATS_INTERVAL).await;
                        previous
                    }
                    None => {
                        let first = engine.sample(&id).await.ok()?;
                        tokio::time::sleep(ONE_SHOT_INTERVAL).await;
                        first
                    }
                };
                engine.running_container(&id).ok()?;
                let current = engine.sample(&id).await.ok()?;
                let stats = engine.render(&id, &name, Some(&previous), &current);
                Some((stats, (engine, id, name, Some(current))))
            },
        ))
    }

    fn render(
        &self,
        id: &str,
        name: &str,
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
            id: id.to_string(),
            name: name.to_string(),
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
        }
    }

    /// The container's processes, by host pid.
    pub async fn top(&self, reference: &str) -> EngineResult<ContainerTop> {
        let (id, _) = self.running_container(reference)?;
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
