//! The scale scenario: does a container's `run -d` and `rm -f` cost the same with 500 or 1,000
//! containers already on its network as with 10? Each target is filled one container at a time
//! (a running `sleep`), every `run -d` timed, up to the largest size; then emptied the same way,
//! newest first, every `rm -f` timed. The targets take turns at each step, so that drift in the
//! machine's speed hits all of them alike. A size's figure is the median of the `window`
//! operations that happened with `size - window` to `size` containers there.

use std::fmt::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use conti_tests::{Client, Connection, NetworkMode, NetworkSpec};

use crate::cleanup;
use crate::scenario::{call, create};
use crate::stats::{Summary, round3};

/// The scenario's options (`--scale-sizes`, `--scale-window`).
#[derive(Clone, Debug)]
pub struct ScaleOptions {
    /// Member counts to report, ascending; the largest is how far each target is filled.
    pub sizes: Vec<usize>,
    /// Operations per reported size.
    pub window: usize,
}

impl ScaleOptions {
    pub fn parse_sizes(text: &str) -> Result<Vec<usize>, String> {
        let mut sizes = text
            .split(',')
            .map(|part| part.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("--scale-sizes: expected numbers like 10,500, got {text:?}"))?;
        sizes.sort_unstable();
        sizes.dedup();
        match sizes.first() {
            Some(&smallest) if smallest > 0 => Ok(sizes),
            _ => Err(format!(
                "--scale-sizes: expected sizes above 0, got {text:?}"
            )),
        }
    }

    fn largest(&self) -> usize {
        *self.sizes.last().expect("at least one size")
    }

    fn check(&self) -> Result<(), String> {
        match self.sizes.first() {
            Some(&smallest) if smallest >= self.window => Ok(()),
            _ => Err(format!(
                "--scale-window {} is larger than the smallest size",
                self.window
            )),
        }
    }
}

/// What a target runs its containers with.
pub enum ScaleTarget<'a> {
    /// Through the Conti API: `POST /v1/containers` + `.../start`, then `DELETE ...?force=true`.
    Conti {
        name: &'static str,
        client: &'a Client,
        /// The create body.
        spec: Vec<u8>,
    },
    /// `podman run -d --network NETWORK IMAGE sleep ...` and `podman rm -f -t 0 NAME`, each
    /// timed from spawn to exit.
    Podman {
        network: String,
        image: String,
        /// Container names are `<prefix>-<n>`.
        prefix: String,
        /// `--ulimit=...` options for `run`.
        ulimits: Vec<String>,
    },
}

impl ScaleTarget<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            ScaleTarget::Conti { name, .. } => name,
            ScaleTarget::Podman { .. } => "podman",
        }
    }
}

/// One target's timings, in the order they were taken.
pub struct ScaleRun {
    pub name: &'static str,
    /// `run_d[k]`: the `run -d` made with `k` containers already there.
    pub run_d: Vec<Duration>,
    /// `rm_f[k]`: the `rm -f` made with `k + 1` containers there (itself included).
    pub rm_f: Vec<Duration>,
}

pub struct ScaleReport {
    pub options: ScaleOptions,
    pub runs: Vec<ScaleRun>,
    /// How each target was set up, one line each.
    pub setup: Vec<String>,
}

/// The command each container runs.
pub const SLEEPER: [&str; 2] = ["sleep", "1000000"];

/// The create body of a scale container on `network`.
pub fn conti_spec(network: NetworkMode) -> Vec<u8> {
    let mut spec = conti_tests::spec(&SLEEPER);
    spec.network = network;
    serde_json::to_vec(&spec).expect("a spec serializes")
}

/// Creates a user network big enough for the largest size on the benchmark's daemon.
pub fn create_conti_network(client: &Client, name: &str, size: usize) -> Result<String, String> {
    // Room for the members, the gateway, the network and broadcast addresses.
    let prefix = 32 - (size + 3).next_power_of_two().trailing_zeros().max(8);
    let subnet = conti_tests::network::unique_subnet_of(prefix as u8);
    let body = serde_json::to_vec(&NetworkSpec {
        name: name.to_string(),
        subnet: Some(subnet.clone()),
        gateway: None,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let mut connection = client.connect().map_err(|e| format!("connecting: {e}"))?;
    call(
        &mut connection,
        "POST",
        "/v1/networks",
        Some(&body),
        201,
        "conti: create the scale network",
    )?;
    Ok(subnet)
}

/// Fills every target to the largest size, then empties them, timing each operation.
pub fn run(
    targets: &[ScaleTarget],
    options: &ScaleOptions,
    settle: Duration,
) -> Result<Vec<ScaleRun>, String> {
    options.check()?;
    let largest = options.largest();
    let mut sides: Vec<Side> = targets
        .iter()
        .map(|target| Side::open(target, largest))
        .collect::<Result<_, _>>()?;
    let mut runs: Vec<ScaleRun> = targets
        .iter()
        .map(|target| ScaleRun {
            name: target.name(),
            run_d: Vec::with_capacity(largest),
            rm_f: vec![Duration::ZERO; largest],
        })
        .collect();
    let result = (|| {
        for count in 0..largest {
            for (side, run) in sides.iter_mut().zip(&mut runs) {
                interrupted()?;
                std::thread::sleep(settle);
                let elapsed = side
                    .run_detached()
                    .map_err(|e| format!("{}, run -d #{}: {e}", run.name, count + 1))?;
                run.run_d.push(elapsed);
            }
            if (count + 1) % 100 == 0 {
                eprintln!("  {} containers per target", count + 1);
            }
        }
        for count in (0..largest).rev() {
            for (side, run) in sides.iter_mut().zip(&mut runs) {
                interrupted()?;
                std::thread::sleep(settle);
                run.rm_f[count] = side
                    .remove_newest()
                    .map_err(|e| format!("{}, rm -f with {} there: {e}", run.name, count + 1))?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        for side in &mut sides {
            side.remove_all();
        }
    }
    result.map(|()| runs)
}

fn interrupted() -> Result<(), String> {
    match cleanup::stopping() {
        true => Err("interrupted".to_string()),
        false => Ok(()),
    }
}

/// A target while it is filled: its connection and the containers it made, oldest first.
struct Side<'a> {
    target: &'a ScaleTarget<'a>,
    connection: Option<Connection>,
    containers: Vec<String>,
    made: usize,
}

impl<'a> Side<'a> {
    fn open(target: &'a ScaleTarget<'a>, largest: usize) -> Result<Side<'a>, String> {
        let connection = match target {
            ScaleTarget::Conti { client, .. } => Some(
                client
                    .connect()
                    .map_err(|e| format!("conti: connecting: {e}"))?,
            ),
            ScaleTarget::Podman { .. } => None,
        };
        Ok(Side {
            target,
            connection,
            containers: Vec::with_capacity(largest),
            made: 0,
        })
    }

    /// Creates and starts one container; the time from the first request to the last answer.
    fn run_detached(&mut self) -> Result<Duration, String> {
        self.made += 1;
        match (self.target, &mut self.connection) {
            (ScaleTarget::Conti { spec, .. }, Some(connection)) => {
                let start = Instant::now();
                let id = create(connection, spec)?;
                let path = format!("/v1/containers/{id}/start");
                self.containers.push(id);
                call(connection, "POST", &path, None, 204, "start")?;
                Ok(start.elapsed())
            }
            (
                ScaleTarget::Podman {
                    network,
                    image,
                    prefix,
                    ulimits,
                },
                _,
            ) => {
                let name = format!("{prefix}-{}", self.made);
                let network = format!("--network={network}");
                let mut args = vec!["run", "-d", "--name", &name, &network];
                args.extend(ulimits.iter().map(String::as_str));
                args.push(image);
                args.extend(SLEEPER);
                let elapsed = podman(&args)?;
                self.containers.push(name);
                Ok(elapsed)
            }
            (ScaleTarget::Conti { .. }, None) => unreachable!("conti targets have a connection"),
        }
    }

    /// Force-removes the newest container; the time to the answer.
    fn remove_newest(&mut self) -> Result<Duration, String> {
        let id = self.containers.pop().ok_or("no container left")?;
        match &mut self.connection {
            Some(connection) => {
                let start = Instant::now();
                let path = format!("/v1/containers/{id}?force=true");
                call(connection, "DELETE", &path, None, 204, "delete")?;
                Ok(start.elapsed())
            }
            None => podman(&["rm", "-f", "-t", "0", &id]),
        }
    }

    /// After a failure: removes what is left, untimed (conti's are also removed by the cleanup).
    fn remove_all(&mut self) {
        while !self.containers.is_empty() {
            if self.remove_newest().is_err() {
                break;
            }
        }
    }
}

/// Runs `podman args`; the time from spawn to exit, or its stderr when it fails.
pub fn podman(args: &[&str]) -> Result<Duration, String> {
    let start = Instant::now();
    let output = Command::new("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("podman {}: {e}", args.join(" ")))?;
    let elapsed = start.elapsed();
    match output.status.success() {
        true => Ok(elapsed),
        false => Err(format!(
            "podman {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

impl ScaleReport {
    /// The window of samples for `size`: the operations made with `size - window` to `size`
    /// containers there.
    fn window<'s>(&self, samples: &'s [Duration], size: usize) -> &'s [Duration] {
        &samples[size - self.options.window..size]
    }

    fn summaries(&self, samples: &[Duration]) -> Vec<(usize, Summary)> {
        self.options
            .sizes
            .iter()
            .filter_map(|&size| Some((size, Summary::of(self.window(samples, size))?)))
            .collect()
    }

    pub fn table(&self, out: &mut String, settle_ms: u64) {
        let _ = writeln!(
            out,
            "\n== Scale: each target filled with running `sleep` containers one at a time up to \
             {}, then emptied newest first; per size, the median (p90) of the {} operations made \
             with size-{} to size containers there; {settle_ms} ms idle before each operation. \
             conti: API create+start / DELETE?force=true; podman: `podman run -d` / `podman rm \
             -f -t 0`, spawn to exit",
            self.options.largest(),
            self.options.window,
            self.options.window
        );
        for line in &self.setup {
            let _ = writeln!(out, "{line}");
        }
        for (what, pick) in [
            (
                "run -d",
                (|run: &ScaleRun| &run.run_d) as fn(&ScaleRun) -> &Vec<Duration>,
            ),
            ("rm -f", |run: &ScaleRun| &run.rm_f),
        ] {
            let mut header = format!("{:<24}", what);
            for size in &self.options.sizes {
                let _ = write!(header, " {:>18}", format!("at {size}"));
            }
            let _ = writeln!(out, "{header} {:>10}", "last/first");
            for run in &self.runs {
                let summaries = self.summaries(pick(run));
                let mut row = format!("{:<24}", run.name);
                for (_, s) in &summaries {
                    let cell = format!("{:.2} ({:.2}) ms", s.median_ms, s.p90_ms);
                    let _ = write!(row, " {cell:>18}");
                }
                if let (Some((_, first)), Some((_, last))) = (summaries.first(), summaries.last()) {
                    let _ = write!(row, " {:>10.2}", last.median_ms / first.median_ms);
                }
                let _ = writeln!(out, "{row}");
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let per_size = |samples: &[Duration]| -> Value {
            let sizes: Map<String, Value> = self
                .summaries(samples)
                .into_iter()
                .map(|(size, s)| (size.to_string(), s.to_json()))
                .collect();
            Value::Object(sizes)
        };
        let ms = |samples: &[Duration]| -> Vec<f64> {
            samples
                .iter()
                .map(|d| round3(d.as_secs_f64() * 1000.0))
                .collect()
        };
        let targets: Vec<Value> = self
            .runs
            .iter()
            .map(|run| {
                json!({
                    "name": run.name,
                    "run_d": per_size(&run.run_d),
                    "rm_f": per_size(&run.rm_f),
                    "run_d_ms_by_count_before": ms(&run.run_d),
                    "rm_f_ms_by_count_before": ms(&run.rm_f),
                })
            })
            .collect();
        json!({
            "workload": "running `sleep` containers added one at a time up to the largest size, \
                then removed newest first; conti = API create+start and DELETE?force=true over a \
                kept-alive connection; podman = `podman run -d` / `podman rm -f`",
            "sizes": self.options.sizes,
            "window": self.options.window,
            "setup": self.setup,
            "targets": targets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_sorted_and_positive() {
        assert_eq!(
            ScaleOptions::parse_sizes("500, 10,500").unwrap(),
            vec![10, 500]
        );
        assert!(ScaleOptions::parse_sizes("0,10").is_err());
        assert!(ScaleOptions::parse_sizes("ten").is_err());
    }
}
