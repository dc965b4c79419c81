//! `conti-bench`: the full lifecycle of a `/bin/true` container through the Conti API side by
//! side with `crun run` (and `runc run` when installed) on the same busybox root filesystem,
//! sequentially and with parallel clients; and execs into a running container through the API
//! side by side with `crun exec` (and `runc exec`); and the same lifecycles with memory, CPU and
//! pids limits set on both sides; and pulls of a multi-layer image from a local registry side by
//! side with `podman pull` and `skopeo copy`. See README.md.

mod cleanup;
mod conti;
mod docker;
mod exec;
mod hardened;
mod limits;
mod network;
mod oci;
mod podman;
mod pull;
mod pull_image;
mod report;
mod scale;
mod scenario;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::oci::OciRuntime;
use crate::pull::PullOptions;
use crate::report::{
    ExecReport, HardenedReport, Lifecycle, LimitsReport, Machine, NetworkReport, ParallelResult,
    Report,
};
use crate::scale::{ScaleOptions, ScaleReport, ScaleTarget};
use crate::scenario::Target;

const USAGE: &str = "\
usage: conti-bench [options]

Lifecycle scenario: N lifecycles of /bin/true (create, start, wait, delete) through its own
contid and N x `crun run` (and `runc run` when installed) on the same busybox rootfs, then a batch
of lifecycles with parallel clients. Exec scenario: N execs of /bin/true (to the exit code) and of
/bin/echo x (to the first output byte and to the exit code) into a running container through the
API, and N x `crun exec` (and `runc exec`) into a running container of theirs. Limits scenario:
the lifecycle scenario with memory 64 MiB, cpus 0.5 and pids 100 set on both sides (checked once
first). Network scenario: the lifecycle with conti on its default bridge network and crun in a
network namespace with a veth on a bridge, set up with `ip` and deleted around each run; plus
conti with network none, for the cost of the network setup alone. Hardened scenario: the
lifecycle scenario with conti's default hardening (capabilities, no_new_privileges, seccomp,
masked paths) and crun given the same in config.json, then both without it (checked once first).
Scale scenario (not part of all): running containers added one at a time up to the largest of
--scale-sizes on a user network and with network none (and podman on a network of its own with
--podman), every run -d timed, then removed newest first, every rm -f timed.
Pull scenario (not part of all): a ~160 MB Debian image in five layers (debootstrap minbase and a
few packages, made once and cached in --pull-cache) pushed to a docker-registry of the run's own
on 127.0.0.1, then rounds of: every store emptied, a cold pull of it, a warm pull of an image with
the same layers and one small one on top, and a run of /bin/echo x in it to the first output; by
conti (POST /v1/images/pull, its API for the run), `podman pull` / `podman run` on a store of
their own, and `skopeo copy` into containers-storage and into dir:.
Docker scenario (not part of all): `docker run --rm --network none busybox true` with Debian's
docker CLI against contid's Docker API and against a dockerd of the run's own (its own socket,
data root and exec root, no firewall changes; stopped at the end), interleaved, -n rounds after
--warmup; and `conti-cli run --rm` for reference.
Needs root, a release build of contid, crun, busybox-static, iproute2 and nftables; the pull
scenario also podman, skopeo, docker-registry and debootstrap; the docker scenario docker.io.

options:
  --scenario S           lifecycle, limits, exec, network, hardened, scale, pull, docker or all
                         (default all: every scenario but scale, pull and docker)
  --contid PATH          contid binary (default: next to this binary, else target/release/contid)
  -n, --iterations N     timed sequential lifecycles / exec rounds per runtime (default 50)
  --warmup N             untimed lifecycles / exec rounds per runtime first (default 5)
  --parallel-total N     lifecycles in the parallel scenario (default 50)
  --clients N            parallel clients (default 8)
  --parallel-rounds N    repetitions of the parallel scenario; the median is reported (default 3)
  --settle-ms N          idle time before each sequential lifecycle (default 30; 0 = back to back,
                         where each runtime inherits the kernel state the one before left)
  --scale-sizes N,N...   member counts the scale scenario reports (default 10,500)
  --scale-window N       operations per reported size (default 10)
  --podman               also podman in the scale scenario (podman installed)
  --pull-rounds N        timed rounds of the pull scenario (default 5)
  --pull-warmup N        untimed rounds of the pull scenario first (default 1)
  --pull-cache DIR       where the pull scenario keeps its Debian rootfs and OCI layout between
                         runs (default /var/cache/conti-bench)
  --debian-mirror URL    debootstrap's mirror (default: the Debian mirror apt uses here)
  --json FILE            also write the figures as JSON to FILE
  --no-runc              leave runc out even when installed
  --no-conti             measure the OCI runtimes only (checks the harness without a daemon)
  --log-level LEVEL      passed to contid (default: contid's own default)
  -h, --help             this text";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Lifecycle,
    Limits,
    Exec,
    Network,
    Hardened,
    Scale,
    Pull,
    Docker,
    All,
}

impl Scenario {
    fn lifecycle(self) -> bool {
        matches!(self, Scenario::Lifecycle | Scenario::All)
    }

    fn limits(self) -> bool {
        matches!(self, Scenario::Limits | Scenario::All)
    }

    fn exec(self) -> bool {
        matches!(self, Scenario::Exec | Scenario::All)
    }

    fn network(self) -> bool {
        matches!(self, Scenario::Network | Scenario::All)
    }

    fn hardened(self) -> bool {
        matches!(self, Scenario::Hardened | Scenario::All)
    }

    fn scale(self) -> bool {
        self == Scenario::Scale
    }

    fn pull(self) -> bool {
        self == Scenario::Pull
    }

    fn docker(self) -> bool {
        self == Scenario::Docker
    }
}

struct Options {
    scenario: Scenario,
    contid: Option<PathBuf>,
    iterations: usize,
    warmup: usize,
    parallel_total: usize,
    clients: usize,
    parallel_rounds: usize,
    settle_ms: u64,
    scale: ScaleOptions,
    podman: bool,
    pull: PullOptions,
    json: Option<PathBuf>,
    runc: bool,
    conti: bool,
    log_level: Option<String>,
}

impl Options {
    /// Idle time before each sequential lifecycle (see `scenario::run_sequential`).
    fn settle(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.settle_ms)
    }

    fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            scenario: Scenario::All,
            contid: None,
            iterations: 50,
            warmup: 5,
            parallel_total: 50,
            clients: 8,
            parallel_rounds: 3,
            settle_ms: 30,
            scale: ScaleOptions {
                sizes: vec![10, 500],
                window: 10,
            },
            podman: false,
            pull: PullOptions {
                rounds: 5,
                warmup: 1,
                cache: PathBuf::from("/var/cache/conti-bench"),
                mirror: None,
            },
            json: None,
            runc: true,
            conti: true,
            log_level: None,
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_string(), Some(value.to_string()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = || -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            let count = |text: String, min: usize| -> Result<usize, String> {
                match text.parse::<usize>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(format!(
                        "{flag}: expected a whole number >= {min}, got {text:?}"
                    )),
                }
            };
            match flag.as_str() {
                "--scenario" => {
                    options.scenario = match value()?.as_str() {
                        "lifecycle" => Scenario::Lifecycle,
                        "limits" => Scenario::Limits,
                        "exec" => Scenario::Exec,
                        "network" => Scenario::Network,
                        "hardened" => Scenario::Hardened,
                        "scale" => Scenario::Scale,
                        "pull" => Scenario::Pull,
                        "docker" => Scenario::Docker,
                        "all" => Scenario::All,
                        other => {
                            return Err(format!(
                                "--scenario: expected lifecycle, limits, exec, network, hardened, \
                                 scale, pull, docker or all, got {other:?}"
                            ));
                        }
                    }
                }
                "--contid" => options.contid = Some(PathBuf::from(value()?)),
                "-n" | "--iterations" => options.iterations = count(value()?, 1)?,
                "--warmup" => options.warmup = count(value()?, 0)?,
                "--parallel-total" => options.parallel_total = count(value()?, 1)?,
                "--clients" => options.clients = count(value()?, 1)?,
                "--parallel-rounds" => options.parallel_rounds = count(value()?, 1)?,
                "--settle-ms" => options.settle_ms = count(value()?, 0)? as u64,
                "--scale-sizes" => options.scale.sizes = ScaleOptions::parse_sizes(&value()?)?,
                "--scale-window" => options.scale.window = count(value()?, 1)?,
                "--podman" => options.podman = true,
                "--pull-rounds" => options.pull.rounds = count(value()?, 1)?,
                "--pull-warmup" => options.pull.warmup = count(value()?, 0)?,
                "--pull-cache" => options.pull.cache = PathBuf::from(value()?),
                "--debian-mirror" => options.pull.mirror = Some(value()?),
                "--json" => options.json = Some(PathBuf::from(value()?)),
                "--log-level" => options.log_level = Some(value()?),
                "--no-runc" => options.runc = false,
                "--no-conti" => options.conti = false,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                _ => return Err(format!("unknown argument {arg:?}\n\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("conti-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let result = {
        let _cleanup = cleanup::Guard;
        run(&options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conti-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "must run as root (containers need namespaces, mounts and cgroups)".to_string(),
        );
    }
    let name = format!("conti-bench-{}", std::process::id());
    // Without conti the daemon is never started; it still owns (and removes) the run's folder.
    let contid = match options.conti {
        true => resolve_contid(options.contid.as_deref())?,
        false => PathBuf::from("contid"),
    };
    let daemon = conti::unstarted(&contid, &name, options.log_level.as_deref());
    let work = daemon.dir().to_path_buf();
    cleanup::init(daemon);
    if std::fs::read_dir(&work).is_ok_and(|mut entries| entries.next().is_some()) {
        // A previous process with the same pid left it: not ours to keep.
        std::fs::remove_dir_all(&work)
            .and_then(|()| std::fs::create_dir_all(&work))
            .map_err(|e| format!("emptying stale {}: {e}", work.display()))?;
    }

    let loadavg_start = report::loadavg();
    let mut notes = Vec::new();
    let crun = OciRuntime::find("crun", &name).ok_or("crun not found: apt-get install -y crun")?;
    let runc = if options.runc {
        OciRuntime::find("runc", &name)
    } else {
        None
    };
    if options.runc && runc.is_none() {
        notes.push("runc not installed: left out".to_string());
    }
    if let Some(note) = oci::ensure_hugetlb_v1()? {
        eprintln!("note: {note}");
        notes.push(note);
    }

    eprintln!(
        "preparing the busybox rootfs tar and the OCI bundle in {}",
        work.display()
    );
    let bundle = work.join("bundle");
    oci::prepare_bundle(&crun, &bundle, conti_tests::busybox_tar())?;

    let mut daemon = None;
    if options.conti {
        if !contid.to_string_lossy().contains("release") {
            let note = format!("{} does not look like a release build", contid.display());
            eprintln!("warning: {note}");
            notes.push(note);
        }
        eprintln!("starting {} (cgroup parent {name})", contid.display());
        daemon = Some(conti::start(&contid)?);
    }

    let peers: Vec<&OciRuntime> = std::iter::once(&crun).chain(runc.as_ref()).collect();
    let conti_client = daemon.as_ref().map(|d| &d.client);

    let plain = if options.scenario.lifecycle() {
        let spec = scenario::container_spec();
        let targets = targets(conti_client, &spec, &peers, &bundle);
        Some(lifecycle(options, &targets, "")?)
    } else {
        None
    };

    let limits = if options.scenario.limits() {
        let limits_bundle = work.join("bundle-limits");
        limits::prepare_bundle(&bundle, &limits_bundle)?;
        let check_bundle = work.join("bundle-limits-check");
        limits::prepare_check_bundle(&bundle, &check_bundle)?;
        eprintln!(
            "limits: {}; checking that every runtime applies them",
            limits::describe()
        );
        let verified = verify(conti_client, &peers, limits::verify_conti, |runtime| {
            limits::verify_oci(runtime, &check_bundle)
        })?;
        let spec = scenario::container_spec_with_limits();
        let targets = targets(conti_client, &spec, &peers, &limits_bundle);
        Some(LimitsReport {
            runs: lifecycle(options, &targets, " with limits")?,
            verified,
        })
    } else {
        None
    };

    let hardened = if options.scenario.hardened() {
        let [hardened_bundle, unhardened_bundle, check_bundle] =
            hardened::prepare_bundles(&bundle, &work)?;
        eprintln!(
            "hardened: {}; checking that every runtime applies it",
            hardened::describe()
        );
        let verified = verify(conti_client, &peers, hardened::verify_conti, |runtime| {
            hardened::verify_oci(runtime, &check_bundle)
        })?;
        let body = |hardened: bool| {
            serde_json::to_vec(&hardened::spec(&["/bin/true"], hardened))
                .expect("a spec serializes")
        };
        let (hardened_spec, unhardened_spec) = (body(true), body(false));
        let on = targets(conti_client, &hardened_spec, &peers, &hardened_bundle);
        let off = targets(conti_client, &unhardened_spec, &peers, &unhardened_bundle);
        Some(HardenedReport {
            hardened: lifecycle(options, &on, " hardened")?,
            unhardened: lifecycle(options, &off, " unhardened")?,
            verified,
        })
    } else {
        None
    };

    let exec = if options.scenario.exec() {
        let exec_bundle = work.join("bundle-exec");
        oci::prepare_exec_bundle(&bundle, &exec_bundle, &exec::SLEEPER)?;
        Some(exec_scenario(options, conti_client, &peers, &exec_bundle)?)
    } else {
        None
    };

    let network = if options.scenario.network() {
        Some(network_scenario(
            options,
            conti_client,
            &crun,
            &bundle,
            &name,
            &work,
        )?)
    } else {
        None
    };

    let scale = if options.scenario.scale() {
        Some(scale_scenario(
            options,
            conti_client,
            &name,
            conti_tests::busybox_tar(),
        )?)
    } else {
        None
    };

    let pull = if options.scenario.pull() {
        Some(pull::run(&options.pull, conti_client, &work).map_err(with_daemon_log)?)
    } else {
        None
    };

    let docker = if options.scenario.docker() {
        let started = daemon
            .as_ref()
            .ok_or("the docker scenario needs conti (drop --no-conti)")?;
        let socket = cleanup::with_daemon(|d| d.socket().to_path_buf()).ok_or("interrupted")?;
        Some(
            docker::run(
                &started.binary,
                &socket,
                &work,
                &name,
                conti_tests::busybox_tar(),
                options.warmup,
                options.iterations,
            )
            .map_err(with_daemon_log)?,
        )
    } else {
        None
    };

    if let Some(started) = &daemon {
        let left = count_containers(&started.client)?;
        if left > 0 {
            notes.push(format!(
                "{left} container(s) still listed by contid after the benchmark"
            ));
        }
    }

    let mut machine = Machine::detect(daemon.as_ref(), &crun, runc.as_ref());
    machine.loadavg_start = loadavg_start;
    let report = Report {
        machine,
        iterations: options.iterations,
        warmup: options.warmup,
        parallel_total: options.parallel_total,
        clients: options.clients,
        parallel_rounds: options.parallel_rounds,
        settle_ms: options.settle_ms,
        lifecycle: plain,
        limits,
        hardened,
        exec,
        network,
        scale,
        pull,
        docker,
        notes,
    };
    print!("{}", report.table());
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&report.to_json()).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("figures written to {}", path.display());
    }
    Ok(())
}

/// The check before a scenario's timed runs: conti's (when started), then each peer's; one line
/// each, printed as they come.
fn verify(
    conti: Option<&conti_tests::Client>,
    peers: &[&OciRuntime],
    check_conti: impl Fn(&conti_tests::Client) -> Result<String, String>,
    check_peer: impl Fn(&OciRuntime) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let mut verified = Vec::new();
    if let Some(client) = conti {
        verified.push(check_conti(client).map_err(with_daemon_log)?);
    }
    for runtime in peers {
        verified.push(check_peer(runtime)?);
    }
    for line in &verified {
        eprintln!("  {line}");
    }
    Ok(verified)
}

/// conti (when started) with `spec` as its create body, then the peers on `bundle`.
fn targets<'a>(
    conti: Option<&'a conti_tests::Client>,
    spec: &'a [u8],
    peers: &[&'a OciRuntime],
    bundle: &'a Path,
) -> Vec<Target<'a>> {
    let conti = conti.map(|client| Target::Conti {
        name: "conti",
        client,
        spec,
    });
    let peers = peers.iter().map(|runtime| Target::Oci { runtime, bundle });
    conti.into_iter().chain(peers).collect()
}

/// The sequential and the parallel lifecycles; `with` qualifies them in the progress lines.
fn lifecycle(options: &Options, targets: &[Target], with: &str) -> Result<Lifecycle, String> {
    let names: Vec<&'static str> = targets.iter().map(Target::name).collect();
    eprintln!(
        "sequential{with}: {} warm-ups + {} timed lifecycles each of {}, interleaved",
        options.warmup,
        options.iterations,
        names.join(", ")
    );
    let sequential = scenario::run_sequential(
        targets,
        options.warmup,
        options.iterations,
        options.settle(),
    )
    .map_err(with_daemon_log)?;

    eprintln!(
        "parallel{with}: {} lifecycles with {} clients, {} round(s) each",
        options.parallel_total, options.clients, options.parallel_rounds
    );
    let mut parallel: Vec<ParallelResult> = targets
        .iter()
        .map(|t| ParallelResult {
            name: t.name(),
            walls: Vec::new(),
        })
        .collect();
    for _ in 0..options.parallel_rounds {
        for (target, result) in targets.iter().zip(&mut parallel) {
            let wall = scenario::run_parallel(target, options.parallel_total, options.clients)
                .map_err(|e| with_daemon_log(format!("parallel {}: {e}", target.name())))?;
            result.walls.push(wall);
        }
    }
    Ok(Lifecycle {
        names,
        sequential,
        parallel,
    })
}

/// conti on its default bridge network against crun with a namespace and veth set up for each
/// run (see `network`), interleaved with conti on network `none` (`conti-none`) for the cost of
/// the network's setup alone.
fn network_scenario(
    options: &Options,
    conti: Option<&conti_tests::Client>,
    crun: &OciRuntime,
    bundle: &Path,
    name: &str,
    work: &Path,
) -> Result<NetworkReport, String> {
    let bridge = network::BenchBridge::create(name, work)?;
    eprintln!("network: peers' bridge {}", bridge.name);
    let bridged_spec = scenario::bridged_container_spec();
    let plain_spec = scenario::container_spec();
    let mut targets: Vec<Target> = Vec::new();
    if let Some(client) = conti {
        targets.push(Target::Conti {
            name: "conti",
            client,
            spec: &bridged_spec,
        });
    }
    targets.push(Target::OciBridged {
        runtime: crun,
        bundle,
        bridge: &bridge,
    });
    if let Some(client) = conti {
        targets.push(Target::Conti {
            name: "conti-none",
            client,
            spec: &plain_spec,
        });
    }
    Ok(NetworkReport {
        runs: lifecycle(options, &targets, " on a bridge")?,
    })
}

/// conti on a user network of its own and with network none (and podman on a network of its
/// own), filled and emptied one container at a time (see `scale`).
fn scale_scenario(
    options: &Options,
    conti: Option<&conti_tests::Client>,
    name: &str,
    busybox_tar: &Path,
) -> Result<ScaleReport, String> {
    let largest = *options.scale.sizes.last().expect("at least one size");
    let mut targets = Vec::new();
    let mut setup = Vec::new();
    if let Some(client) = conti {
        let network = format!("{name}-scale");
        let subnet = scale::create_conti_network(client, &network, largest)?;
        setup.push(format!("conti: user network {network} on {subnet}"));
        targets.push(ScaleTarget::Conti {
            name: "conti (user network)",
            client,
            spec: scale::conti_spec(conti_tests::NetworkMode::Network(network)),
        });
        targets.push(ScaleTarget::Conti {
            name: "conti (network none)",
            client,
            spec: scale::conti_spec(conti_tests::NetworkMode::None),
        });
    }
    if options.podman {
        let (target, line) = podman::prepare(name, busybox_tar, largest)?;
        setup.push(line);
        targets.push(target);
    }
    eprintln!(
        "scale: {} filled to {largest} running containers one at a time, then emptied",
        targets
            .iter()
            .map(ScaleTarget::name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let runs = scale::run(&targets, &options.scale, options.settle()).map_err(with_daemon_log);
    podman::remove(name);
    Ok(ScaleReport {
        options: options.scale.clone(),
        runs: runs?,
        setup,
    })
}

/// A running container per runtime, the exec rounds, then the containers deleted (also when a
/// round failed; on a signal the cleanup deletes them).
fn exec_scenario(
    options: &Options,
    conti: Option<&conti_tests::Client>,
    peers: &[&OciRuntime],
    exec_bundle: &Path,
) -> Result<ExecReport, String> {
    let mut targets = Vec::new();
    let mut setup = || -> Result<(), String> {
        if let Some(client) = conti {
            targets.push(exec::conti_target(client).map_err(with_daemon_log)?);
        }
        for runtime in peers {
            targets.push(exec::oci_target(runtime, exec_bundle)?);
        }
        Ok(())
    };
    let result = setup().and_then(|()| {
        let names: Vec<&str> = targets.iter().map(exec::ExecTarget::name).collect();
        eprintln!(
            "exec: a running container (sleep) each of {}; {} warm-up + {} timed rounds of \
             exec /bin/true and /bin/echo x, interleaved",
            names.join(", "),
            options.warmup,
            options.iterations
        );
        exec::run(&mut targets, options.warmup, options.iterations).map_err(with_daemon_log)
    });
    let names = targets.iter().map(exec::ExecTarget::name).collect();
    exec::remove(&mut targets);
    Ok(ExecReport {
        names,
        samples: result?,
    })
}

/// `--contid`, else `contid` next to this binary (both built into `target/release`), else
/// `target/release/contid` from the current folder or from the workspace this was built in.
fn resolve_contid(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(format!("{} does not exist", path.display()))
        };
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("contid")));
    let candidates = [
        beside_exe,
        Some(PathBuf::from("target/release/contid")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/contid")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
        .ok_or_else(|| {
            "contid not found: run `cargo build --release --workspace` or pass --contid PATH"
                .to_string()
        })
}

fn count_containers(client: &conti_tests::Client) -> Result<usize, String> {
    let response = client
        .try_request("GET", "/v1/containers?all=true", None)
        .map_err(|e| format!("listing containers: {e}"))?;
    if response.status != 200 {
        return Err(format!(
            "listing containers: HTTP {}: {}",
            response.status,
            response.text().trim()
        ));
    }
    let listed: Vec<serde_json::Value> = response.try_json()?;
    Ok(listed.len())
}

/// Appends the daemon's last log lines to an error about conti.
fn with_daemon_log(error: String) -> String {
    if !(error.starts_with("conti") || error.starts_with("parallel conti")) {
        return error;
    }
    match cleanup::with_daemon(cleanup::log_tail) {
        Some(tail) => format!("{error}\ncontid's log (last lines):\n{tail}"),
        None => error,
    }
}
