//! The results: a table for people on stdout, and the same figures as JSON.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::conti::Conti;
use crate::docker::DockerReport;
use crate::exec::{ExecSamples, METRICS};
use crate::oci::OciRuntime;
use crate::pull::PullReport;
use crate::scale::ScaleReport;
use crate::scenario::{Phases, Sequential};
use crate::stats::{Summary, round3};

pub struct Machine {
    pub cpus: usize,
    pub kernel: String,
    pub cgroups: String,
    /// `/proc/loadavg`'s three figures before the first measurement (set by the caller).
    pub loadavg_start: String,
    pub loadavg: String,
    pub contid: Option<String>,
    pub crun: String,
    pub runc: Option<String>,
}

impl Machine {
    pub fn detect(conti: Option<&Conti>, crun: &OciRuntime, runc: Option<&OciRuntime>) -> Machine {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let cgroups = conti
            .and_then(|d| {
                d.info
                    .as_ref()?
                    .get("cgroup_layout")?
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| {
                if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                    "v2".to_string()
                } else if Path::new("/sys/fs/cgroup/unified").exists() {
                    "hybrid".to_string()
                } else {
                    "v1".to_string()
                }
            });
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: read("/proc/sys/kernel/osrelease"),
            cgroups,
            loadavg_start: String::new(),
            loadavg: loadavg(),
            contid: conti.map(|d| {
                let version = d
                    .version
                    .get("version")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                format!("contid {version} ({})", d.binary.display())
            }),
            crun: crun.version.clone(),
            runc: runc.map(|r| r.version.clone()),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exec scenario's timings, one entry per runtime.
pub struct ExecReport {
    pub names: Vec<&'static str>,
    pub samples: Vec<ExecSamples>,
}

/// conti's median over each peer's, as `summary` gives them (peers without one left out).
pub fn conti_ratios(
    names: &[&'static str],
    summary: impl Fn(&str) -> Option<Summary>,
) -> Vec<(&'static str, f64)> {
    let Some(conti) = summary("conti") else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|n| **n != "conti")
        .filter_map(|peer| Some((*peer, conti.median_ms / summary(peer)?.median_ms)))
        .collect()
}

impl ExecReport {
    fn summary(&self, name: &str, metric: &str) -> Option<Summary> {
        let index = self.names.iter().position(|n| *n == name)?;
        Summary::of(self.samples[index].metric(metric))
    }

    /// conti's median / each peer's, for `metric`.
    fn ratios(&self, metric: &str) -> Vec<(&'static str, f64)> {
        conti_ratios(&self.names, |name| self.summary(name, metric))
    }
}

/// Conti's breakdown of the streaming exec: key, label (all from sending the create).
const CONTI_STREAM_PHASES: [(&str, &str); 3] = [
    ("echo_created", "create answered (201)"),
    ("echo_upgraded", "start answered (101)"),
    ("echo_stream_end", "stream ended (EOF)"),
];

pub struct ParallelResult {
    pub name: &'static str,
    pub walls: Vec<Duration>,
}

impl ParallelResult {
    fn median_s(&self) -> f64 {
        Summary::of(&self.walls).map_or(f64::NAN, |s| s.median_ms / 1000.0)
    }
}

/// The sequential and parallel lifecycles of one configuration (plain, or with limits).
pub struct Lifecycle {
    /// Target names, in the order of `sequential` and `parallel`.
    pub names: Vec<&'static str>,
    pub sequential: Vec<Sequential>,
    pub parallel: Vec<ParallelResult>,
}

impl Lifecycle {
    fn sequential_median(&self, name: &str) -> Option<f64> {
        let index = self.names.iter().position(|n| *n == name)?;
        Summary::of(&self.sequential.get(index)?.totals).map(|s| s.median_ms)
    }

    fn parallel_median(&self, name: &str) -> Option<f64> {
        self.parallel
            .iter()
            .find(|p| p.name == name)
            .map(ParallelResult::median_s)
    }

    /// conti / `peer` for every peer measured, when conti was.
    fn ratios(&self, value: impl Fn(&str) -> Option<f64>) -> Vec<(&'static str, f64)> {
        let Some(conti) = value("conti") else {
            return Vec::new();
        };
        self.names
            .iter()
            .filter(|n| **n != "conti")
            .filter_map(|peer| Some((*peer, conti / value(peer)?)))
            .collect()
    }

    fn sequential_ratios(&self) -> Vec<(&'static str, f64)> {
        self.ratios(|n| self.sequential_median(n))
    }

    fn parallel_ratios(&self) -> Vec<(&'static str, f64)> {
        self.ratios(|n| self.parallel_median(n))
    }

    fn conti_phases(&self) -> Vec<(&'static str, Summary)> {
        let index = self.names.iter().position(|n| *n == "conti");
        let Some(sequential) = index.and_then(|index| self.sequential.get(index)) else {
            return Vec::new();
        };
        let phases = &sequential.phases;
        let phase = |name: &'static str, of: fn(&Phases) -> Duration| {
            Some((
                name,
                Summary::of(&phases.iter().map(of).collect::<Vec<_>>())?,
            ))
        };
        [
            phase("create", |p| p.create),
            phase("start", |p| p.start),
            phase("wait", |p| p.wait),
            phase("delete", |p| p.delete),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The lifecycles with memory, CPU and pids limits set, and what the check before them found.
pub struct LimitsReport {
    pub runs: Lifecycle,
    /// One line per runtime: the limits its container's cgroup held.
    pub verified: Vec<String>,
}

/// The lifecycles with the full default hardening on both sides and without it.
pub struct HardenedReport {
    pub hardened: Lifecycle,
    pub unhardened: Lifecycle,
    /// One line per runtime: what a running hardened container of it showed.
    pub verified: Vec<String>,
}

/// Per runtime: median of `runs` / median of `baseline`, sequential and parallel.
fn cost(runs: &Lifecycle, baseline: &Lifecycle) -> Vec<(&'static str, Option<f64>, Option<f64>)> {
    runs.names
        .iter()
        .map(|name| {
            let ratio = |of: &dyn Fn(&Lifecycle) -> Option<f64>| Some(of(runs)? / of(baseline)?);
            let sequential = ratio(&|l| l.sequential_median(name));
            let parallel = ratio(&|l| l.parallel_median(name));
            (*name, sequential, parallel)
        })
        .collect()
}

/// `cost` as JSON, by runtime.
fn cost_json(runs: &Lifecycle, baseline: &Lifecycle) -> Value {
    let mut out = Map::new();
    for (name, sequential, parallel) in cost(runs, baseline) {
        out.insert(
            name.to_string(),
            json!({
                "sequential_median": sequential.map(round3),
                "parallel_wall": parallel.map(round3),
            }),
        );
    }
    Value::Object(out)
}

/// The cost of `what` per runtime (`runs` / `baseline`, same run) and conti's ratios to its
/// peers with and without it.
fn cost_table(out: &mut String, what: &str, runs: &Lifecycle, baseline: &Lifecycle) {
    let _ = writeln!(
        out,
        "\nCost of the {what} (with / without, same run): median sequential, median wall parallel"
    );
    let ratio = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
    for (name, sequential, parallel) in cost(runs, baseline) {
        let _ = writeln!(
            out,
            "{name:<8} sequential {:>5}   parallel {:>5}",
            ratio(sequential),
            ratio(parallel)
        );
    }
    let comparisons = [
        (
            "sequential median",
            baseline.sequential_ratios(),
            runs.sequential_ratios(),
        ),
        (
            "parallel wall",
            baseline.parallel_ratios(),
            runs.parallel_ratios(),
        ),
    ];
    for (kind, without, with) in comparisons {
        for ((peer, without), (_, with)) in without.into_iter().zip(with) {
            let _ = writeln!(
                out,
                "ratio conti/{peer} ({kind}): {without:.2} without the {what}, {with:.2} with"
            );
        }
    }
}

/// Lifecycles on a bridge network: conti on its default network, the peer in a namespace with a
/// veth on a bridge set up (and deleted) around each run.
pub struct NetworkReport {
    /// conti (bridge), the bridged peers, and `conti-none` (network `none`), interleaved.
    pub runs: Lifecycle,
}

impl NetworkReport {
    /// conti's start phase (median) on the bridge and without a network.
    fn conti_start_medians(&self) -> Option<(f64, f64)> {
        let start = |phases: &[Phases]| {
            Summary::of(&phases.iter().map(|p| p.start).collect::<Vec<_>>()).map(|s| s.median_ms)
        };
        let phases = |name: &str| {
            let index = self.runs.names.iter().position(|n| *n == name)?;
            Some(&self.runs.sequential.get(index)?.phases)
        };
        Some((start(phases("conti")?)?, start(phases("conti-none")?)?))
    }

    /// The peers' network setup (`ip` netns, veth, address, route) within each run.
    fn peer_setups(&self) -> Vec<(&'static str, Summary)> {
        self.runs
            .names
            .iter()
            .zip(&self.runs.sequential)
            .filter_map(|(name, result)| Some((*name, Summary::of(&result.network_setup)?)))
            .collect()
    }
}

pub struct Report {
    pub machine: Machine,
    pub iterations: usize,
    pub warmup: usize,
    pub parallel_total: usize,
    pub clients: usize,
    pub parallel_rounds: usize,
    /// Idle time before each sequential lifecycle.
    pub settle_ms: u64,
    /// `None` when the lifecycle scenario was not run.
    pub lifecycle: Option<Lifecycle>,
    /// `None` when the limits scenario was not run.
    pub limits: Option<LimitsReport>,
    /// `None` when the hardened scenario was not run.
    pub hardened: Option<HardenedReport>,
    /// `None` when the exec scenario was not run.
    pub exec: Option<ExecReport>,
    /// `None` when the network scenario was not run.
    pub network: Option<NetworkReport>,
    /// `None` when the scale scenario was not run.
    pub scale: Option<ScaleReport>,
    /// `None` when the pull scenario was not run.
    pub pull: Option<PullReport>,
    /// `None` when the docker scenario was not run.
    pub docker: Option<DockerReport>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "\nConti benchmark: a busybox-static rootfs");
        let _ = writeln!(
            out,
            "machine: {} CPUs, kernel {}, cgroups {}, load average before {} and at the end {}",
            m.cpus, m.kernel, m.cgroups, m.loadavg_start, m.loadavg
        );
        let mut versions = Vec::new();
        versions.extend(m.contid.clone());
        versions.push(m.crun.clone());
        versions.extend(m.runc.clone());
        let _ = writeln!(out, "runtimes: {}", versions.join("; "));
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if let Some(lifecycle) = &self.lifecycle {
            self.lifecycle_table(&mut out, lifecycle, "");
        }
        if let Some(limits) = &self.limits {
            self.limits_table(&mut out, limits);
        }
        if let Some(hardened) = &self.hardened {
            self.hardened_table(&mut out, hardened);
        }
        if let Some(exec) = &self.exec {
            self.exec_table(&mut out, exec);
        }
        if let Some(network) = &self.network {
            self.network_table(&mut out, network);
        }
        if let Some(scale) = &self.scale {
            scale.table(&mut out, self.settle_ms);
        }
        if let Some(pull) = &self.pull {
            pull.table(&mut out);
        }
        if let Some(docker) = &self.docker {
            docker.table(&mut out);
        }
        out
    }

    fn network_table(&self, out: &mut String, network: &NetworkReport) {
        let _ = writeln!(
            out,
            "\n== Lifecycles on a bridge: conti on its default network (veth, address, route, NAT \
             rules); peers in a network namespace with a veth on a bridge, set up with `ip` \
             (netns add, one batch on the host, one in the namespace) before and deleted after \
             each run, all within the time"
        );
        self.lifecycle_table(out, &network.runs, " on a bridge");
        let _ = writeln!(out, "\nNetwork setup alone (median):");
        if let Some((bridged, isolated)) = network.conti_start_medians() {
            let _ = writeln!(
                out,
                "conti  start on the bridge {bridged:.2} ms, with network none {isolated:.2} ms: \
                 the network costs {:.2} ms of the start",
                bridged - isolated
            );
        }
        for (name, setup) in network.peer_setups() {
            let _ = writeln!(
                out,
                "{name:<6} ip netns add + veth + address + route: {:.2} ms (p90 {:.2} ms)",
                setup.median_ms, setup.p90_ms
            );
        }
    }

    fn network_json(&self, network: &NetworkReport) -> Value {
        let setups: Map<String, Value> = network
            .peer_setups()
            .into_iter()
            .map(|(name, s)| (name.to_string(), s.to_json()))
            .collect();
        let conti = network.conti_start_medians().map(|(bridged, isolated)| {
            json!({
                "start_median_ms_bridge": round3(bridged),
                "start_median_ms_none": round3(isolated),
                "network_setup_ms": round3(bridged - isolated),
            })
        });
        json!({
            "workload": "the lifecycle on a bridge: conti = the default bridge network; peers = \
                `ip netns add`, a veth with eth0 in it on a bridge, address, lo and eth0 up, default \
                route, `<runtime> run` with the namespace's path in config.json, `ip netns del`",
            "sequential": self.sequential_json(&network.runs),
            "parallel": self.parallel_json(&network.runs),
            "conti_network_setup": conti,
            "peer_network_setup": Value::Object(setups),
        })
    }

    fn limits_table(&self, out: &mut String, limits: &LimitsReport) {
        let _ = writeln!(
            out,
            "\n== Lifecycles with limits: {} (conti: its defaults, the limits in the create body; \
             peers: the same hardening and linux.resources in config.json)",
            crate::limits::describe()
        );
        for line in &limits.verified {
            let _ = writeln!(out, "checked: {line}");
        }
        self.lifecycle_table(out, &limits.runs, " with limits");
        if let Some(hardened) = &self.hardened {
            cost_table(out, "limits", &limits.runs, &hardened.hardened);
        }
    }

    fn hardened_table(&self, out: &mut String, hardened: &HardenedReport) {
        let _ = writeln!(
            out,
            "\n== Lifecycles hardened: {} (conti: its defaults; crun: the same in config.json); \
             unhardened: conti privileged, crun without seccomp, masks or no_new_privileges",
            crate::hardened::describe()
        );
        for line in &hardened.verified {
            let _ = writeln!(out, "checked: {line}");
        }
        self.lifecycle_table(out, &hardened.hardened, " hardened");
        self.lifecycle_table(out, &hardened.unhardened, " unhardened");
        cost_table(out, "hardening", &hardened.hardened, &hardened.unhardened);
    }

    fn lifecycle_table(&self, out: &mut String, lifecycle: &Lifecycle, with: &str) {
        let _ = writeln!(
            out,
            "\nSequential{with}: {} timed lifecycles each after {} warm-ups, interleaved round by round, {} ms idle before each",
            self.iterations, self.warmup, self.settle_ms
        );
        summary_header(out, 36);
        let row = |out: &mut String, label: &str, s: Summary| summary_row(out, 36, label, s);
        for (name, result) in lifecycle.names.iter().zip(&lifecycle.sequential) {
            let Some(summary) = Summary::of(&result.totals) else {
                continue;
            };
            let label = if name.starts_with("conti") {
                format!("{name:<6} API create+start+wait+delete")
            } else {
                format!("{name:<6} {name} run")
            };
            row(out, &label, summary);
            if *name == "conti" {
                for (phase, summary) in lifecycle.conti_phases() {
                    row(out, &format!("         {phase}"), summary);
                }
            }
        }
        for (peer, ratio) in lifecycle.sequential_ratios() {
            let _ = writeln!(out, "ratio conti/{peer} (median): {ratio:.2}");
        }

        let _ = writeln!(
            out,
            "\nParallel{with}: {} lifecycles with {} clients; median wall time of {} round(s)",
            self.parallel_total, self.clients, self.parallel_rounds
        );
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>15}   all rounds",
            "", "wall", "per lifecycle"
        );
        for result in &lifecycle.parallel {
            let median = result.median_s();
            let rounds: Vec<String> = result
                .walls
                .iter()
                .map(|w| format!("{:.3}", w.as_secs_f64()))
                .collect();
            let _ = writeln!(
                out,
                "{:<8} {:>7.3} s {:>12.2} ms   {}",
                result.name,
                median,
                median * 1000.0 / self.parallel_total as f64,
                rounds.join(" ")
            );
        }
        for (peer, ratio) in lifecycle.parallel_ratios() {
            let _ = writeln!(out, "ratio conti/{peer} (wall): {ratio:.2}");
        }
    }

    fn exec_table(&self, out: &mut String, exec: &ExecReport) {
        let _ = writeln!(
            out,
            "\nExec: {} timed rounds after {} warm-ups into one running container (sleep) per \
             runtime; each round one exec of each kind per runtime, interleaved",
            self.iterations, self.warmup
        );
        let _ = writeln!(
            out,
            "conti: POST /v1/containers/ID/exec over a kept-alive connection (/bin/true buffered; \
             /bin/echo x streaming: create, start with Upgrade, frames, GET /v1/execs/ID);\n\
             peers: `<runtime> exec ID ...` from spawn (first byte: on its stdout pipe)"
        );
        summary_header(out, 48);
        let row = |out: &mut String, label: &str, s: Summary| summary_row(out, 48, label, s);
        for (metric, label) in METRICS {
            for name in &exec.names {
                let Some(summary) = exec.summary(name, metric) else {
                    continue;
                };
                row(out, &format!("{name:<6} {label}"), summary);
                if *name == "conti" && metric == "echo_exit" {
                    for (phase, label) in CONTI_STREAM_PHASES {
                        if let Some(summary) = exec.summary(name, phase) {
                            row(out, &format!("         {label}"), summary);
                        }
                    }
                }
            }
            for (peer, ratio) in exec.ratios(metric) {
                let _ = writeln!(out, "ratio conti/{peer} (median): {ratio:.2}");
            }
        }
    }

    fn exec_json(&self, exec: &ExecReport) -> Value {
        let samples_ms = |samples: &[Duration]| -> Vec<f64> {
            samples
                .iter()
                .map(|d| round3(d.as_secs_f64() * 1000.0))
                .collect()
        };
        let mut results = Map::new();
        for (name, samples) in exec.names.iter().zip(&exec.samples) {
            let mut entry = Map::new();
            let phases = if *name == "conti" {
                &CONTI_STREAM_PHASES[..]
            } else {
                &[]
            };
            for (metric, _) in METRICS.iter().chain(phases) {
                let Some(summary) = Summary::of(samples.metric(metric)) else {
                    continue;
                };
                let mut value = summary.to_json();
                // In run order, for plots and for spotting interference.
                value["samples_ms"] = json!(samples_ms(samples.metric(metric)));
                entry.insert(metric.to_string(), value);
            }
            results.insert(name.to_string(), Value::Object(entry));
        }
        let mut ratios = Map::new();
        for (metric, _) in METRICS {
            for (peer, ratio) in exec.ratios(metric) {
                ratios.insert(
                    format!("{metric}_conti_{peer}_median"),
                    json!(round3(ratio)),
                );
            }
        }
        json!({
            "workload": "execs into one running `sleep` container per runtime (busybox-static rootfs); \
                true_exit: /bin/true, request (spawn) to exit code; echo_first_byte / echo_exit: \
                /bin/echo x, request (spawn) to the first output byte / to the exit code. \
                conti = POST /v1/containers/ID/exec over a kept-alive connection (buffered for \
                true; for echo attach:true, then POST /v1/execs/ID/start upgraded, then \
                GET /v1/execs/ID; echo_* phases from the create); peers = `<runtime> exec ID ...`",
            "iterations": self.iterations,
            "warmup": self.warmup,
            "results": Value::Object(results),
            "ratios": Value::Object(ratios),
        })
    }

    fn sequential_json(&self, lifecycle: &Lifecycle) -> Value {
        let mut sequential = Map::new();
        for (name, result) in lifecycle.names.iter().zip(&lifecycle.sequential) {
            let Some(summary) = Summary::of(&result.totals) else {
                continue;
            };
            let mut entry = summary.to_json();
            if *name == "conti" {
                let phases: Map<String, Value> = lifecycle
                    .conti_phases()
                    .into_iter()
                    .map(|(phase, s)| (phase.to_string(), s.to_json()))
                    .collect();
                entry["phases"] = Value::Object(phases);
            }
            // In run order, for plots and for spotting interference.
            let samples: Vec<f64> = result
                .totals
                .iter()
                .map(|d| round3(d.as_secs_f64() * 1000.0))
                .collect();
            entry["samples_ms"] = json!(samples);
            sequential.insert(name.to_string(), entry);
        }
        for (peer, ratio) in lifecycle.sequential_ratios() {
            sequential.insert(format!("ratio_conti_{peer}_median"), json!(round3(ratio)));
        }
        json!({
            "iterations": self.iterations,
            "warmup": self.warmup,
            "settle_ms": self.settle_ms,
            "results": Value::Object(sequential),
        })
    }

    fn parallel_json(&self, lifecycle: &Lifecycle) -> Value {
        let mut parallel = Map::new();
        parallel.insert("lifecycles".into(), json!(self.parallel_total));
        parallel.insert("clients".into(), json!(self.clients));
        parallel.insert("rounds".into(), json!(self.parallel_rounds));
        for result in &lifecycle.parallel {
            let walls: Vec<f64> = result
                .walls
                .iter()
                .map(|w| round3(w.as_secs_f64() * 1000.0) / 1000.0)
                .collect();
            parallel.insert(
                result.name.to_string(),
                json!({"wall_s_median": round3(result.median_s()), "wall_s": walls}),
            );
        }
        for (peer, ratio) in lifecycle.parallel_ratios() {
            parallel.insert(format!("ratio_conti_{peer}_wall"), json!(round3(ratio)));
        }
        Value::Object(parallel)
    }

    fn limits_json(&self, limits: &LimitsReport) -> Value {
        let cost = self.hardened.as_ref().map_or(Value::Null, |hardened| {
            cost_json(&limits.runs, &hardened.hardened)
        });
        json!({
            "workload": "the hardened lifecycle scenario with limits: conti = its defaults and \
                resources {memory, cpus, pids_limit} in the create body; peers = the same \
                hardening and linux.resources.memory.limit, cpu.quota/period and pids.limit in \
                the bundle's config.json",
            "limits": crate::limits::to_json(),
            "checked": limits.verified,
            "sequential": self.sequential_json(&limits.runs),
            "parallel": self.parallel_json(&limits.runs),
            "cost_with_limits_over_hardened_without": cost,
        })
    }

    fn hardened_json(&self, hardened: &HardenedReport) -> Value {
        json!({
            "workload": "the lifecycle scenario hardened: conti = its defaults; crun = the same \
                capabilities, noNewPrivileges, conti's default seccomp profile, maskedPaths and \
                readonlyPaths in config.json. Unhardened: conti privileged; crun without \
                seccomp, masked/read-only paths and noNewPrivileges",
            "checked": hardened.verified,
            "hardened": {
                "sequential": self.sequential_json(&hardened.hardened),
                "parallel": self.parallel_json(&hardened.hardened),
            },
            "unhardened": {
                "sequential": self.sequential_json(&hardened.unhardened),
                "parallel": self.parallel_json(&hardened.unhardened),
            },
            "cost_hardened_over_unhardened": cost_json(&hardened.hardened, &hardened.unhardened),
        })
    }

    pub fn to_json(&self) -> Value {
        let m = &self.machine;
        json!({
            "workload": "/bin/true in a busybox-static rootfs; conti = POST create, start, wait, DELETE over the API; peers = `<runtime> run --bundle`",
            "machine": {
                "cpus": m.cpus,
                "kernel": m.kernel,
                "cgroups": m.cgroups,
                "loadavg_at_start": m.loadavg_start,
                "loadavg_at_end": m.loadavg,
                "contid": m.contid,
                "crun": m.crun,
                "runc": m.runc,
            },
            "sequential": self.lifecycle.as_ref().map(|l| self.sequential_json(l)),
            "parallel": self.lifecycle.as_ref().map(|l| self.parallel_json(l)),
            "limits": self.limits.as_ref().map(|l| self.limits_json(l)),
            "hardened": self.hardened.as_ref().map(|h| self.hardened_json(h)),
            "exec": self.exec.as_ref().map(|exec| self.exec_json(exec)),
            "network": self.network.as_ref().map(|n| self.network_json(n)),
            "scale": self.scale.as_ref().map(ScaleReport::to_json),
            "pull": self.pull.as_ref().map(PullReport::to_json),
            "docker": self.docker.as_ref().map(DockerReport::to_json),
            "notes": self.notes,
        })
    }
}

/// The header of a table of [`Summary`] rows whose labels take `width` characters.
pub fn summary_header(out: &mut String, width: usize) {
    let _ = writeln!(
        out,
        "{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "median", "p90", "mean", "min", "max"
    );
}

pub fn summary_row(out: &mut String, width: usize, label: &str, s: Summary) {
    let _ = writeln!(
        out,
        "{label:<width$} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>6.2} ms",
        s.median_ms, s.p90_ms, s.mean_ms, s.min_ms, s.max_ms
    );
}
