//! The two scenarios: sequential lifecycles (each one timed) and a fixed number of lifecycles
//! spread over parallel clients (the wall time of the whole batch).

use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cleanup;
use crate::http::Client;
use crate::oci::OciRuntime;

/// The image name the rootfs is imported as.
pub const IMAGE: &str = "busybox";

/// One side of the comparison.
pub enum Target<'a> {
    /// A lifecycle through the Conti API: create, start, wait, delete.
    Conti { socket: &'a Path },
    /// `<runtime> run --bundle DIR ID`.
    Oci {
        runtime: &'a OciRuntime,
        bundle: &'a Path,
    },
}

impl Target<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Conti { .. } => "conti",
            Target::Oci { runtime, .. } => runtime.name,
        }
    }
}

/// The time each API call of one lifecycle took.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    pub create: Duration,
    pub start: Duration,
    pub wait: Duration,
    pub delete: Duration,
}

impl Phases {
    pub fn total(&self) -> Duration {
        self.create + self.start + self.wait + self.delete
    }
}

/// Timings of the sequential scenario for one target.
#[derive(Default)]
pub struct Sequential {
    pub totals: Vec<Duration>,
    /// Conti only.
    pub phases: Vec<Phases>,
}

pub fn container_spec() -> Value {
    json!({"image": IMAGE, "cmd": ["/bin/true"]})
}

/// One full lifecycle of `/bin/true` through the API. Fails unless every call answers as the
/// contract says and the exit code is 0.
pub fn conti_lifecycle(client: &mut Client, spec: &Value) -> Result<Phases, String> {
    let t0 = Instant::now();
    let created = client
        .post_json("/v1/containers", Some(spec))
        .map_err(|e| format!("create: {e}"))?
        .expect(201, "create")?
        .json()?;
    let id = created
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("create: no id in {created}"))?
        .to_string();
    let t1 = Instant::now();
    let result = finish_lifecycle(client, &id);
    if result.is_err() {
        // Not timed any more: leave nothing behind for the next iteration.
        let _ = client.delete(&format!("/v1/containers/{id}?force=true"));
    }
    let (t2, t3, t4) = result?;
    Ok(Phases {
        create: t1 - t0,
        start: t2 - t1,
        wait: t3 - t2,
        delete: t4 - t3,
    })
}

fn finish_lifecycle(client: &mut Client, id: &str) -> Result<(Instant, Instant, Instant), String> {
    client
        .post_json(&format!("/v1/containers/{id}/start"), None)
        .map_err(|e| format!("start: {e}"))?
        .expect(204, "start")?;
    let t2 = Instant::now();
    let waited = client
        .post_json(&format!("/v1/containers/{id}/wait"), None)
        .map_err(|e| format!("wait: {e}"))?
        .expect(200, "wait")?
        .json()?;
    if waited.get("exit_code").and_then(Value::as_i64) != Some(0) {
        return Err(format!("wait: /bin/true did not exit with 0: {waited}"));
    }
    let t3 = Instant::now();
    client
        .delete(&format!("/v1/containers/{id}"))
        .map_err(|e| format!("delete: {e}"))?
        .expect(204, "delete")?;
    Ok((t2, t3, Instant::now()))
}

/// `warmup` untimed lifecycles per target, then `iterations` rounds of one timed lifecycle per
/// target each, so that drift in the machine's speed hits every target alike.
pub fn run_sequential(
    targets: &[Target],
    warmup: usize,
    iterations: usize,
) -> Result<Vec<Sequential>, String> {
    let spec = container_spec();
    let mut clients: Vec<Option<Client>> = targets
        .iter()
        .map(|target| match target {
            Target::Conti { socket } => Some(Client::new(socket)),
            Target::Oci { .. } => None,
        })
        .collect();
    let mut results: Vec<Sequential> = targets.iter().map(|_| Sequential::default()).collect();
    for round in 0..warmup + iterations {
        for ((target, client), result) in targets.iter().zip(&mut clients).zip(&mut results) {
            if cleanup::stopping() {
                return Err("interrupted".to_string());
            }
            let name = target.name();
            let timed = round >= warmup;
            match (target, client) {
                (Target::Conti { .. }, Some(client)) => {
                    let phases = conti_lifecycle(client, &spec)
                        .map_err(|e| format!("{name}, round {round}: {e}"))?;
                    if timed {
                        result.totals.push(phases.total());
                        result.phases.push(phases);
                    }
                }
                (Target::Oci { runtime, bundle }, _) => {
                    let elapsed = runtime
                        .run_once(bundle)
                        .map_err(|e| format!("round {round}: {e}"))?;
                    if timed {
                        result.totals.push(elapsed);
                    }
                }
                (Target::Conti { .. }, None) => unreachable!("every conti target has a client"),
            }
        }
    }
    Ok(results)
}

/// `total` lifecycles handed out to `clients` threads as they become free; returns the wall
/// time from the moment all clients are ready to the end of the last lifecycle.
pub fn run_parallel(target: &Target, total: usize, clients: usize) -> Result<Duration, String> {
    match target {
        Target::Conti { socket } => {
            let spec = container_spec();
            parallel(
                total,
                clients,
                || {
                    let mut client = Client::new(socket);
                    client.connect().map_err(|e| e.to_string())?;
                    Ok(client)
                },
                |client| conti_lifecycle(client, &spec).map(|_| ()),
            )
        }
        Target::Oci { runtime, bundle } => parallel(
            total,
            clients,
            || Ok(()),
            |()| runtime.run_once(bundle).map(|_| ()),
        ),
    }
}

fn parallel<C>(
    total: usize,
    clients: usize,
    init: impl Fn() -> Result<C, String> + Sync,
    job: impl Fn(&mut C) -> Result<(), String> + Sync,
) -> Result<Duration, String> {
    let next = AtomicUsize::new(0);
    let ready = Barrier::new(clients + 1);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let context = init();
                    ready.wait();
                    let mut context = context?;
                    while next.fetch_add(1, Ordering::SeqCst) < total {
                        if cleanup::stopping() {
                            return Err("interrupted".to_string());
                        }
                        if let Err(e) = job(&mut context) {
                            // The others stop taking work.
                            next.store(total, Ordering::SeqCst);
                            return Err(e);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        let mut first_error = None;
        for worker in workers {
            let outcome = worker
                .join()
                .unwrap_or_else(|_| Err("a client thread panicked".to_string()));
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        let elapsed = start.elapsed();
        match first_error {
            Some(e) => Err(e),
            None => Ok(elapsed),
        }
    })
}
