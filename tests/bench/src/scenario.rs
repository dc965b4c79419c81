//! The two scenarios: sequential lifecycles (each one timed) and a fixed number of lifecycles
//! spread over parallel clients (the wall time of the whole batch).

use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use conti_tests::{
    Client, Connection, ContainerInfo, ContainerSpec, CreatedContainer, NetworkMode, Response,
    WaitResult,
};

use crate::cleanup;
use crate::network::BenchBridge;
use crate::oci::OciRuntime;

/// One side of the comparison.
pub enum Target<'a> {
    /// A lifecycle through the Conti API: create (with `spec` as the body), start, wait, delete,
    /// each client on its own kept-alive connection. `name` is `conti`, or `conti-none` for
    /// the network scenario's lifecycles without a network.
    Conti {
        name: &'static str,
        client: &'a Client,
        spec: &'a [u8],
    },
    /// `<runtime> run --bundle DIR ID`.
    Oci {
        runtime: &'a OciRuntime,
        bundle: &'a Path,
    },
    /// The same in a network namespace with a veth on `bridge`, set up before and deleted after
    /// (see `network`).
    OciBridged {
        runtime: &'a OciRuntime,
        bundle: &'a Path,
        bridge: &'a BenchBridge,
    },
}

impl Target<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Conti { name, .. } => name,
            Target::Oci { runtime, .. } | Target::OciBridged { runtime, .. } => runtime.name,
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
    /// Bridged peers only: the network's setup within each total.
    pub network_setup: Vec<Duration>,
}

/// The create body (image `busybox`, cmd `/bin/true`, network `none`: a namespace with only
/// `lo`, as crun's default bundle has; all else default), serialized once.
pub fn container_spec() -> Vec<u8> {
    serde_json::to_vec(&only_lo(conti_tests::spec(&["/bin/true"]))).expect("a spec serializes")
}

/// The lifecycle's create body on the default bridge network (the network scenario).
pub fn bridged_container_spec() -> Vec<u8> {
    let mut spec = conti_tests::spec(&["/bin/true"]);
    spec.network = NetworkMode::Bridge;
    serde_json::to_vec(&spec).expect("a spec serializes")
}

/// `spec` with network `none`.
pub fn only_lo(mut spec: ContainerSpec) -> ContainerSpec {
    spec.network = NetworkMode::None;
    spec
}

/// The lifecycle's create body with the limits scenario's limits set.
pub fn container_spec_with_limits() -> Vec<u8> {
    serde_json::to_vec(&crate::limits::spec(&["/bin/true"])).expect("a spec serializes")
}

/// Creates and starts a conti container with `spec`, runs `check` on its inspect while it runs,
/// then deletes it (also when the check failed). Errors are prefixed with `what`.
pub fn with_running_conti(
    client: &Client,
    spec: &ContainerSpec,
    what: &str,
    check: impl FnOnce(&ContainerInfo) -> Result<String, String>,
) -> Result<String, String> {
    let mut connection = client
        .connect()
        .map_err(|e| format!("{what}: connecting: {e}"))?;
    let body = serde_json::to_vec(spec).map_err(|e| e.to_string())?;
    let created: CreatedContainer = call(
        &mut connection,
        "POST",
        "/v1/containers",
        Some(&body),
        201,
        &format!("{what}: create"),
    )?
    .try_json()?;
    let id = created.id;
    let base = format!("/v1/containers/{id}");
    let run = || -> Result<String, String> {
        call(
            &mut connection,
            "POST",
            &format!("{base}/start"),
            None,
            204,
            what,
        )?;
        let info: ContainerInfo = call(&mut connection, "GET", &base, None, 200, what)?
            .try_json()
            .map_err(|e| format!("{what}: inspect: {e}"))?;
        check(&info).map_err(|e| format!("{what}: {e}"))
    };
    let result = run();
    let _ = connection.try_request("DELETE", &format!("{base}?force=true"), None);
    result
}

/// One API call; an error naming `what` unless the answer has status `expected`.
pub fn call(
    connection: &mut Connection,
    method: &str,
    path: &str,
    json_body: Option<&[u8]>,
    expected: u16,
    what: &str,
) -> Result<Response, String> {
    let body = json_body.map(|bytes| ("application/json", bytes));
    let response = connection
        .try_request(method, path, body)
        .map_err(|e| format!("{what}: {e}"))?;
    if response.status == expected {
        Ok(response)
    } else {
        Err(format!(
            "{what}: HTTP {} (expected {expected}): {}",
            response.status,
            response.text().trim()
        ))
    }
}

/// `POST /v1/containers` with `spec` as the body; the new container's id.
pub fn create(connection: &mut Connection, spec: &[u8]) -> Result<String, String> {
    let created: CreatedContainer = call(
        connection,
        "POST",
        "/v1/containers",
        Some(spec),
        201,
        "create",
    )?
    .try_json()
    .map_err(|e| format!("create: {e}"))?;
    Ok(created.id)
}

/// One full lifecycle of `/bin/true` through the API. Fails unless every call answers as the
/// contract says and the exit code is 0.
pub fn conti_lifecycle(connection: &mut Connection, spec: &[u8]) -> Result<Phases, String> {
    let t0 = Instant::now();
    let id = create(connection, spec)?;
    let t1 = Instant::now();
    let result = finish_lifecycle(connection, &id);
    if result.is_err() {
        // Not timed any more: leave nothing behind for the next iteration.
        let path = format!("/v1/containers/{id}?force=true");
        let _ = connection.try_request("DELETE", &path, None);
    }
    let (t2, t3, t4) = result?;
    Ok(Phases {
        create: t1 - t0,
        start: t2 - t1,
        wait: t3 - t2,
        delete: t4 - t3,
    })
}

fn finish_lifecycle(
    connection: &mut Connection,
    id: &str,
) -> Result<(Instant, Instant, Instant), String> {
    let start = format!("/v1/containers/{id}/start");
    call(connection, "POST", &start, None, 204, "start")?;
    let t2 = Instant::now();
    let wait = format!("/v1/containers/{id}/wait");
    let waited: WaitResult = call(connection, "POST", &wait, None, 200, "wait")?
        .try_json()
        .map_err(|e| format!("wait: {e}"))?;
    if waited.exit_code != 0 {
        return Err(format!(
            "wait: /bin/true did not exit with 0 but {}",
            waited.exit_code
        ));
    }
    let t3 = Instant::now();
    let delete = format!("/v1/containers/{id}");
    call(connection, "DELETE", &delete, None, 204, "delete")?;
    Ok((t2, t3, Instant::now()))
}

/// `warmup` untimed lifecycles per target, then `iterations` rounds of one timed lifecycle per
/// target each, so that drift in the machine's speed hits every target alike.
///
/// Each lifecycle starts after `settle` of idle time. Back to back, a runtime inherits kernel
/// state that the one before it left warm: moving a process into a cgroup takes the cgroup
/// threadgroup lock for writing, which waits for an RCU grace period (~10 ms here) unless another
/// writer took it less than a grace period before. Whichever runtime follows another's migration
/// closely enough gets that wait for free, and the interleaving order decides who.
pub fn run_sequential(
    targets: &[Target],
    warmup: usize,
    iterations: usize,
    settle: Duration,
) -> Result<Vec<Sequential>, String> {
    let mut connections: Vec<Option<Connection>> = targets
        .iter()
        .map(|target| match target {
            Target::Conti { client, .. } => client
                .connect()
                .map(Some)
                .map_err(|e| format!("conti: connecting: {e}")),
            Target::Oci { .. } | Target::OciBridged { .. } => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    let mut results: Vec<Sequential> = targets.iter().map(|_| Sequential::default()).collect();
    for round in 0..warmup + iterations {
        for ((target, connection), result) in targets.iter().zip(&mut connections).zip(&mut results)
        {
            if cleanup::stopping() {
                return Err("interrupted".to_string());
            }
            let name = target.name();
            let timed = round >= warmup;
            std::thread::sleep(settle);
            match (target, connection) {
                (Target::Conti { spec, .. }, Some(connection)) => {
                    let phases = conti_lifecycle(connection, spec)
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
                (
                    Target::OciBridged {
                        runtime,
                        bundle,
                        bridge,
                    },
                    _,
                ) => {
                    let run = bridge
                        .run_once(runtime, bundle)
                        .map_err(|e| format!("round {round}: {e}"))?;
                    if timed {
                        result.totals.push(run.total);
                        result.network_setup.push(run.setup);
                    }
                }
                (Target::Conti { .. }, None) => unreachable!("every conti target has a connection"),
            }
        }
    }
    Ok(results)
}

/// `total` lifecycles handed out to `clients` threads as they become free; returns the wall
/// time from the moment all clients are ready to the end of the last lifecycle.
pub fn run_parallel(target: &Target, total: usize, clients: usize) -> Result<Duration, String> {
    match target {
        Target::Conti { client, spec, .. } => parallel(
            total,
            clients,
            || client.connect().map_err(|e| e.to_string()),
            |connection| conti_lifecycle(connection, spec).map(|_| ()),
        ),
        Target::Oci { runtime, bundle } => parallel(
            total,
            clients,
            || Ok(()),
            |()| runtime.run_once(bundle).map(|_| ()),
        ),
        Target::OciBridged {
            runtime,
            bundle,
            bridge,
        } => parallel(
            total,
            clients,
            || Ok(()),
            |()| bridge.run_once(runtime, bundle).map(|_| ()),
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
