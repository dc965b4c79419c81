//! What the daemon counts for Prometheus (`GET /metrics`): lifecycle operations and API
//! requests as they happen; containers by state, events by type and each running container's
//! CPU, memory, pids and network bytes read when scraped.

use std::time::{Duration, Instant};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::container::ContainerStatus;
use super::{Engine, EngineError, EngineResult, blocking};
use crate::runtime::network::interface_counters;

/// Latency buckets of the lifecycle operations, in seconds (a start is tens of milliseconds; a
/// stop may wait its whole grace period).
const OPERATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The counters kept between scrapes.
pub struct Metrics {
    registry: Registry,
    operations: HistogramVec,
    api_requests: IntCounterVec,
    health_failures: prometheus::IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let operations = HistogramVec::new(
            HistogramOpts::new(
                "conti_operation_duration_seconds",
                "Lifecycle operations by verb and result (ok or error), and how long they took",
            )
            .buckets(OPERATION_BUCKETS.to_vec()),
            &["verb", "result"],
        )
        .expect("a valid histogram");
        let api_requests = IntCounterVec::new(
            Opts::new(
                "conti_api_requests_total",
                "API requests by route (as routed), method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("a valid counter");
        let health_failures = prometheus::IntCounter::new(
            "conti_health_check_failures_total",
            "Health checks that failed (a non-zero exit or a timeout) since the daemon started",
        )
        .expect("a valid counter");
        for collector in [
            Box::new(operations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(api_requests.clone()),
            Box::new(health_failures.clone()),
        ] {
            registry.register(collector).expect("registered once");
        }
        Metrics {
            registry,
            operations,
            api_requests,
            health_failures,
        }
    }

    pub fn count_health_failure(&self) {
        self.health_failures.inc();
    }

    pub fn count_request(&self, route: &str, method: &str, status: u16) {
        self.api_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A running container's counters, read for one scrape.
struct Usage {
    id: String,
    name: String,
    cpu_seconds: Option<f64>,
    memory_bytes: Option<u64>,
    pids: Option<u64>,
    /// By interface: received and sent bytes.
    networks: Vec<(String, u64, u64)>,
}

impl Engine {
    /// Runs a lifecycle operation, counting it and its latency under `verb`.
    pub(super) async fn timed<T>(
        &self,
        verb: &'static str,
        operation: impl Future<Output = EngineResult<T>>,
    ) -> EngineResult<T> {
        let started = Instant::now();
        let result = operation.await;
        self.observe(verb, started.elapsed(), result.is_ok());
        result
    }

    pub(super) fn observe(&self, verb: &'static str, elapsed: Duration, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.inner
            .metrics
            .operations
            .with_label_values(&[verb, result])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an API request (the API layer calls it for each answer).
    pub fn count_request(&self, route: &str, method: &str, status: u16) {
        self.inner.metrics.count_request(route, method, status);
    }

    /// Everything, in the Prometheus text format.
    pub async fn metrics(&self) -> EngineResult<String> {
        let scrape = Registry::new();
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
            scrape
                .register(Box::new(vec.clone()))
                .expect("registered once");
            vec
        };
        let by_state = gauge("conti_containers", "Containers by state", &["state"]);
        let info = self.info();
        for (state, count) in [
            ("created", info.containers.created),
            ("running", info.containers.running),
            ("exited", info.containers.exited),
        ] {
            by_state.with_label_values(&[state]).set(count as i64);
        }
        // Totals kept elsewhere (the event bus, the kernel), restated as counters each scrape.
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
            scrape
                .register(Box::new(vec.clone()))
                .expect("registered once");
            vec
        };
        let events = counter(
            "conti_events_total",
            "Events since the daemon started, by type",
            &["type"],
        );
        let counts = self.events().counts();
        for (kind, count) in &counts {
            events.with_label_values(&[kind]).inc_by(*count);
        }
        let single = |name: &str, help: &str, value: u64| {
            counter(name, help, &[])
                .with_label_values(&[] as &[&str])
                .inc_by(value);
        };
        single(
            "conti_execs_total",
            "Commands exec'd into containers since the daemon started",
            counts.get("exec_start").copied().unwrap_or(0),
        );
        single(
            "conti_restarts_total",
            "Containers started again by their restart policy (that the daemon saw) since it started",
            counts.get("restart").copied().unwrap_or(0),
        );
        single(
            "conti_oom_kills_total",
            "Processes of containers killed for lack of memory since the daemon started",
            counts.get("oom").copied().unwrap_or(0),
        );
        gauge("conti_images", "Images in the store", &[])
            .with_label_values(&[] as &[&str])
            .set(info.images as i64);

        let per_container = ["id", "name"];
        let cpu = prometheus::CounterVec::new(
            Opts::new(
                "conti_container_cpu_seconds_total",
                "CPU time a running container has used",
            ),
            &per_container,
        )
        .expect("a valid counter");
        scrape
            .register(Box::new(cpu.clone()))
            .expect("registered once");
        let memory = gauge(
            "conti_container_memory_bytes",
            "Memory a running container uses",
            &per_container,
        );
        let pids = gauge(
            "conti_container_pids",
            "Processes of a running container",
            &per_container,
        );
        let received = counter(
            "conti_container_network_receive_bytes_total",
            "Bytes a running container's interface received",
            &["id", "name", "interface"],
        );
        let sent = counter(
            "conti_container_network_transmit_bytes_total",
            "Bytes a running container's interface sent",
            &["id", "name", "interface"],
        );
        for usage in self.usage_of_running().await? {
            let labels = [usage.id.as_str(), usage.name.as_str()];
            if let Some(seconds) = usage.cpu_seconds {
                cpu.with_label_values(&labels).inc_by(seconds);
            }
            if let Some(bytes) = usage.memory_bytes {
                memory.with_label_values(&labels).set(bytes as i64);
            }
            if let Some(count) = usage.pids {
                pids.with_label_values(&labels).set(count as i64);
            }
            for (interface, rx, tx) in &usage.networks {
                let labels = [usage.id.as_str(), usage.name.as_str(), interface.as_str()];
                received.with_label_values(&labels).inc_by(*rx);
                sent.with_label_values(&labels).inc_by(*tx);
            }
        }

        let mut families = self.inner.metrics.registry.gather();
        families.extend(scrape.gather());
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut text)
            .map_err(|e| EngineError::internal("encode the metrics", e))?;
        String::from_utf8(text).map_err(|e| EngineError::internal("encode the metrics", e))
    }

    /// One read of each running container's cgroup and interfaces; a container that stops
    /// meanwhile is left out.
    async fn usage_of_running(&self) -> EngineResult<Vec<Usage>> {
        let running: Vec<(String, String, i32, u64)> = self
            .table()
            .entries
            .values()
            .filter_map(|entry| match entry.container.status {
                ContainerStatus::Running {
                    init_pid,
                    init_start_time,
                    ..
                } => Some((
                    entry.container.config.id.clone(),
                    entry.container.config.name.clone(),
                    init_pid,
                    init_start_time,
                )),
                _ => None,
            })
            .collect();
        let cgroups = self.inner.cgroups.clone();
        blocking(move || {
            Ok(running
                .into_iter()
                .filter_map(|(id, name, init_pid, init_start_time)| {
                    let counters = cgroups.stats(&id).ok()?;
                    let networks =
                        interface_counters::read_interface_counters(init_pid, init_start_time)
                            .ok()
                            .flatten()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(interface, n)| (interface, n.rx_bytes, n.tx_bytes))
                            .collect();
                    Some(Usage {
                        cpu_seconds: counters.cpu_usage_ns.map(|ns| ns as f64 / 1e9),
                        memory_bytes: counters.memory_usage,
                        pids: counters.pids_current,
                        networks,
                        id,
                        name,
                    })
                })
                .collect())
        })
        .await
    }
}
