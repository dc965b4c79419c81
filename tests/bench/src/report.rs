//! The results: a table for people on stdout, and the same figures as JSON.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::conti::Conti;
use crate::oci::OciRuntime;
use crate::scenario::{Phases, Sequential};
use crate::stats::{Summary, round3};

pub struct Machine {
    pub cpus: usize,
    pub kernel: String,
    pub cgroups: String,
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
            loadavg: read("/proc/loadavg")
                .split(' ')
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
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

pub struct ParallelResult {
    pub name: &'static str,
    pub walls: Vec<Duration>,
}

impl ParallelResult {
    fn median_s(&self) -> f64 {
        Summary::of(&self.walls).map_or(f64::NAN, |s| s.median_ms / 1000.0)
    }
}

pub struct Report {
    pub machine: Machine,
    pub iterations: usize,
    pub warmup: usize,
    pub parallel_total: usize,
    pub clients: usize,
    pub parallel_rounds: usize,
    /// Target names, in the order of `sequential` and `parallel`.
    pub names: Vec<&'static str>,
    pub sequential: Vec<Sequential>,
    pub parallel: Vec<ParallelResult>,
    pub notes: Vec<String>,
}

impl Report {
    fn sequential_summary(&self, name: &str) -> Option<Summary> {
        let index = self.names.iter().position(|n| *n == name)?;
        Summary::of(&self.sequential[index].totals)
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

    fn conti_phases(&self) -> Vec<(&'static str, Summary)> {
        let Some(index) = self.names.iter().position(|n| *n == "conti") else {
            return Vec::new();
        };
        let phases = &self.sequential[index].phases;
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

    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nConti benchmark: /bin/true in a busybox-static rootfs"
        );
        let _ = writeln!(
            out,
            "machine: {} CPUs, kernel {}, cgroups {}, load average at the end {}",
            m.cpus, m.kernel, m.cgroups, m.loadavg
        );
        let mut versions = Vec::new();
        versions.extend(m.contid.clone());
        versions.push(m.crun.clone());
        versions.extend(m.runc.clone());
        let _ = writeln!(out, "runtimes: {}", versions.join("; "));
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }

        let _ = writeln!(
            out,
            "\nSequential: {} timed lifecycles each after {} warm-ups, interleaved round by round",
            self.iterations, self.warmup
        );
        let _ = writeln!(
            out,
            "{:<36} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "", "median", "p90", "mean", "min", "max"
        );
        let row = |out: &mut String, label: &str, s: Summary| {
            let _ = writeln!(
                out,
                "{label:<36} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>6.2} ms",
                s.median_ms, s.p90_ms, s.mean_ms, s.min_ms, s.max_ms
            );
        };
        for (name, result) in self.names.iter().zip(&self.sequential) {
            let Some(summary) = Summary::of(&result.totals) else {
                continue;
            };
            let label = if *name == "conti" {
                "conti  API create+start+wait+delete".to_string()
            } else {
                format!("{name:<6} {name} run")
            };
            row(&mut out, &label, summary);
            if *name == "conti" {
                for (phase, summary) in self.conti_phases() {
                    row(&mut out, &format!("         {phase}"), summary);
                }
            }
        }
        for (peer, ratio) in self.ratios(|n| self.sequential_summary(n).map(|s| s.median_ms)) {
            let _ = writeln!(out, "ratio conti/{peer} (median): {ratio:.2}");
        }

        let _ = writeln!(
            out,
            "\nParallel: {} lifecycles with {} clients; median wall time of {} round(s)",
            self.parallel_total, self.clients, self.parallel_rounds
        );
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>15}   all rounds",
            "", "wall", "per lifecycle"
        );
        for result in &self.parallel {
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
        for (peer, ratio) in self.ratios(|n| self.parallel_median(n)) {
            let _ = writeln!(out, "ratio conti/{peer} (wall): {ratio:.2}");
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let m = &self.machine;
        let mut sequential = Map::new();
        for (name, result) in self.names.iter().zip(&self.sequential) {
            let Some(summary) = Summary::of(&result.totals) else {
                continue;
            };
            let mut entry = summary.to_json();
            if *name == "conti" {
                let phases: Map<String, Value> = self
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
        for (peer, ratio) in self.ratios(|n| self.sequential_summary(n).map(|s| s.median_ms)) {
            sequential.insert(format!("ratio_conti_{peer}_median"), json!(round3(ratio)));
        }
        let mut parallel = Map::new();
        parallel.insert("lifecycles".into(), json!(self.parallel_total));
        parallel.insert("clients".into(), json!(self.clients));
        parallel.insert("rounds".into(), json!(self.parallel_rounds));
        for result in &self.parallel {
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
        for (peer, ratio) in self.ratios(|n| self.parallel_median(n)) {
            parallel.insert(format!("ratio_conti_{peer}_wall"), json!(round3(ratio)));
        }
        json!({
            "workload": "/bin/true in a busybox-static rootfs; conti = POST create, start, wait, DELETE over the API; peers = `<runtime> run --bundle`",
            "machine": {
                "cpus": m.cpus,
                "kernel": m.kernel,
                "cgroups": m.cgroups,
                "loadavg_at_end": m.loadavg,
                "contid": m.contid,
                "crun": m.crun,
                "runc": m.runc,
            },
            "sequential": {
                "iterations": self.iterations,
                "warmup": self.warmup,
                "results": Value::Object(sequential),
            },
            "parallel": Value::Object(parallel),
            "notes": self.notes,
        })
    }
}
