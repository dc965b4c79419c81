//! The pull scenario: a ~160 MB Debian image of five layers (see `pull_image`) pulled from a
//! registry of the run's own on `127.0.0.1` by conti (`POST /v1/images/pull`), by `podman pull`
//! and by `skopeo copy` into containers-storage and into `dir:`, round by round. Each round has
//! a pair of images of its own (no layer shared with another round's): its base image is pulled
//! into a store that has none of its layers (cold), then its warm image, the same five layers
//! and one small layer on top (warm: only that layer is new), then the just-pulled image runs
//! `/bin/echo x`, timed to its first output and to its exit. Nothing is deleted while rounds
//! are measured (see `pull_image::prepare` for why); every store is removed at the end.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufReader, Read, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use nix::sys::resource::{UsageWho, getrusage};

use conti_tests::{Client, Connection, ContainerSpec, NetworkMode, TestRegistry, host};

use crate::cleanup;
use crate::exec::{expect_upgrade, read_frame_header};
use crate::oci::read_timed;
use crate::pull_image::{self, PushedImages};
use crate::report::{conti_ratios, summary_header, summary_row};
use crate::scenario::call;
use crate::stats::{Summary, round3};

/// The command each run of the just-pulled image runs, and what it must print.
const ECHO: [&str; 2] = ["/bin/echo", "x"];
const ECHO_OUTPUT: &[u8] = b"x\n";
/// How long one pull or run may take before the round fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(600);
/// Podman's defaults (nofile 1048576, nproc 4194304) are above the hard limits of these
/// machines (see `podman::prepare`).
const PODMAN_ULIMITS: [&str; 2] = ["--ulimit=nofile=1024:1024", "--ulimit=nproc=4096:4096"];

#[derive(Clone)]
pub struct PullOptions {
    /// Timed rounds.
    pub rounds: usize,
    /// Untimed rounds first.
    pub warmup: usize,
    /// Where the Debian root filesystem and the OCI layout are kept between runs.
    pub cache: PathBuf,
    /// The Debian mirror for debootstrap; default: apt's.
    pub mirror: Option<String>,
}

/// What is timed, in the report's order: key, label.
pub const METRICS: [(&str, &str); 5] = [
    ("cold", "cold pull (empty store)"),
    (
        "cold_cpu",
        "CPU time of the cold pull (user + system; contid's process, the peer's process tree)",
    ),
    ("warm", "warm pull (base layers present, one new)"),
    ("run_first_output", "run /bin/echo x of it → first output"),
    ("run_exit", "run /bin/echo x of it → exit"),
];

/// One target's timings, in run order.
#[derive(Default)]
pub struct PullSamples {
    pub cold: Vec<Duration>,
    pub cold_cpu: Vec<Duration>,
    pub warm: Vec<Duration>,
    pub run_first_output: Vec<Duration>,
    pub run_exit: Vec<Duration>,
}

impl PullSamples {
    pub fn metric(&self, key: &str) -> &[Duration] {
        match key {
            "cold" => &self.cold,
            "cold_cpu" => &self.cold_cpu,
            "warm" => &self.warm,
            "run_first_output" => &self.run_first_output,
            "run_exit" => &self.run_exit,
            _ => &[],
        }
    }
}

/// One side of the comparison.
enum PullTarget<'a> {
    /// `POST /v1/images/pull`; the run through the API (create, attach, start, wait). `pid`:
    /// contid's, whose CPU time is read from `/proc`.
    Conti { client: &'a Client, pid: i32 },
    /// `podman pull` / `podman run --rm` on a store of its own (`--root`, `--runroot`,
    /// `--tmpdir` in `dir`), removed to empty it.
    Podman { dir: PathBuf, env: ToolEnv },
    /// `skopeo copy docker://… containers-storage:[overlay@ROOT+RUNROOT]…`.
    SkopeoStorage { dir: PathBuf, env: ToolEnv },
    /// `skopeo copy docker://… dir:…`: download and digest checks only (no layer unpacked).
    SkopeoDir { dir: PathBuf, env: ToolEnv },
}

/// What the peers get instead of the host's configuration: an empty registries.conf, and their
/// big temporary files on the same disk as their store.
#[derive(Clone)]
struct ToolEnv {
    registries_conf: PathBuf,
    tmpdir: PathBuf,
}

impl PullTarget<'_> {
    fn name(&self) -> &'static str {
        match self {
            PullTarget::Conti { .. } => "conti",
            PullTarget::Podman { .. } => "podman",
            PullTarget::SkopeoStorage { .. } => "skopeo",
            PullTarget::SkopeoDir { .. } => "skopeo-dir",
        }
    }

    /// The row label of `metric` for this target.
    fn label(&self, metric: &str) -> &'static str {
        let run = metric.starts_with("run");
        match self {
            PullTarget::Conti { .. } if run => "API create+attach+start",
            PullTarget::Conti { .. } => "POST /v1/images/pull",
            PullTarget::Podman { .. } if run => "podman run --rm",
            PullTarget::Podman { .. } => "podman pull",
            PullTarget::SkopeoStorage { .. } => "skopeo copy → containers-storage",
            PullTarget::SkopeoDir { .. } => "skopeo copy → dir: (no unpack)",
        }
    }

    /// Makes the round's store (the peers': a folder of its own; conti has its one store,
    /// where no round's images share a layer with another's).
    fn prepare_round(&self, round: usize) -> Result<(), String> {
        match self {
            PullTarget::Conti { .. } => Ok(()),
            PullTarget::Podman { dir, env }
            | PullTarget::SkopeoStorage { dir, env }
            | PullTarget::SkopeoDir { dir, env } => {
                for folder in [&round_dir(dir, round), &env.tmpdir] {
                    fs::create_dir_all(folder)
                        .map_err(|e| format!("creating {}: {e}", folder.display()))?;
                }
                Ok(())
            }
        }
    }

    /// Removes every round's images and stores (at the end: not while rounds are measured).
    fn remove_all(&self, images: &PushedImages) -> Result<(), String> {
        match self {
            PullTarget::Conti { client, .. } => {
                for round in &images.rounds {
                    for reference in [&round.warm, &round.base] {
                        delete_conti_image(client, reference)?;
                    }
                }
                Ok(())
            }
            PullTarget::Podman { dir, env }
            | PullTarget::SkopeoStorage { dir, env }
            | PullTarget::SkopeoDir { dir, env } => {
                remove_tree(dir)?;
                remove_tree(&env.tmpdir)
            }
        }
    }

    /// Pulls `reference` in `round`; it has `new` layers not in the store and `present` that
    /// are.
    fn pull(
        &self,
        round: usize,
        reference: &str,
        new: usize,
        present: usize,
    ) -> Result<PullTimes, String> {
        match self {
            PullTarget::Conti { client, pid } => {
                let before = process_cpu(*pid)?;
                let wall = conti_pull(client, reference, new, present)?;
                let cpu = process_cpu(*pid)?.saturating_sub(before);
                Ok(PullTimes { wall, cpu })
            }
            PullTarget::Podman { dir, env } => {
                let mut command = podman(&round_dir(dir, round), env);
                command.args(["pull", "--quiet", "--tls-verify=false", reference]);
                timed(&mut command, &format!("podman pull {reference}")).map(PullTimes::of)
            }
            PullTarget::SkopeoStorage { dir, env } => {
                let store = round_dir(dir, round);
                let destination = format!(
                    "containers-storage:[overlay@{}+{}]{reference}",
                    store.join("root").display(),
                    store.join("runroot").display()
                );
                skopeo_copy(env, reference, &destination)
            }
            PullTarget::SkopeoDir { dir, env } => {
                let image = round_dir(dir, round).join(format!("image-{}", present + new));
                skopeo_copy(env, reference, &format!("dir:{}", image.display()))
            }
        }
    }

    fn pulls_warm(&self) -> bool {
        !matches!(self, PullTarget::SkopeoDir { .. })
    }

    /// Runs `/bin/echo x` in the image; the time to its first output and to its exit.
    fn run(&self, round: usize, reference: &str) -> Result<Option<RunTimes>, String> {
        match self {
            PullTarget::Conti { client, .. } => conti_run(client, reference).map(Some),
            PullTarget::Podman { dir, env } => {
                let mut command = podman(&round_dir(dir, round), env);
                command
                    .args(["run", "--rm", "--network", "none"])
                    .args(PODMAN_ULIMITS)
                    .arg(reference)
                    .args(ECHO);
                let times = timed(&mut command, &format!("podman run {reference}"))?;
                if times.stdout != ECHO_OUTPUT {
                    return Err(format!(
                        "podman run {reference} /bin/echo x printed {:?}",
                        String::from_utf8_lossy(&times.stdout)
                    ));
                }
                let first_output = times.first_output.ok_or("podman run: no output")?;
                Ok(Some(RunTimes {
                    first_output,
                    exit: times.exit,
                }))
            }
            PullTarget::SkopeoStorage { .. } | PullTarget::SkopeoDir { .. } => Ok(None),
        }
    }
}

struct PullTimes {
    wall: Duration,
    cpu: Duration,
}

impl PullTimes {
    fn of(command: CommandTimes) -> PullTimes {
        PullTimes {
            wall: command.exit,
            cpu: command.cpu,
        }
    }
}

/// `<dir>/round-<n>`: a peer's store for one round.
fn round_dir(dir: &Path, round: usize) -> PathBuf {
    dir.join(format!("round-{round}"))
}

struct RunTimes {
    first_output: Duration,
    exit: Duration,
}

/// The scenario's figures.
pub struct PullReport {
    pub options: PullOptions,
    /// Per layer of the warm image (base first): compressed and uncompressed bytes.
    pub layers: Vec<pull_image::LayerFacts>,
    /// Lines saying how the registry, the images and the peers were set up.
    pub setup: Vec<String>,
    pub names: Vec<&'static str>,
    /// Row labels per target and metric: (name, metric, label).
    labels: Vec<(&'static str, &'static str, &'static str)>,
    pub samples: Vec<PullSamples>,
}

/// Starts the registry, pushes the images, runs the rounds, removes the peers' stores.
pub fn run(
    options: &PullOptions,
    conti: Option<&Client>,
    work: &Path,
) -> Result<PullReport, String> {
    for (tool, package) in [("podman", "podman"), ("skopeo", "skopeo")] {
        which(tool).ok_or_else(|| format!("pull: {tool} not found (apt-get install {package})"))?;
    }
    if !Path::new("/usr/bin/docker-registry").exists() {
        return Err(
            "pull: /usr/bin/docker-registry not found (apt-get install docker-registry)".into(),
        );
    }
    let registry = start_registry()?;
    let mut setup = vec![format!(
        "registry: docker-registry (Distribution) on {} in plain HTTP, its storage in {}",
        registry.0,
        registry.1.display()
    )];
    let images = cleanup::with_test_registry(|registry| {
        pull_image::prepare(
            &options.cache,
            options.mirror.as_deref(),
            registry,
            options.warmup + options.rounds,
        )
    })
    .ok_or("interrupted")??;
    let base = images.base_layers();
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let top = images.layers.last().expect("the warm image has layers");
    setup.push(format!(
        "images: {} ({} layers, {:.1} MiB compressed, {:.1} MiB of tar) and {} (the same and one \
         of {:.1} KiB / {:.1} KiB), n = 0..{}: each round its own pair, no layer shared with \
         another round's; OCI layout {}",
        images.rounds[0].base.replace("-0", "-<n>"),
        base.len(),
        mib(base.iter().map(|l| l.compressed).sum()),
        mib(base.iter().map(|l| l.uncompressed).sum()),
        images.rounds[0].warm.replace("-0", "-<n>"),
        top.compressed as f64 / 1024.0,
        top.uncompressed as f64 / 1024.0,
        images.rounds.len() - 1,
        images.origin
    ));
    eprintln!("  {}\n  {}", setup[0], setup[1]);

    let tools = work.join("pull-tools");
    fs::create_dir_all(&tools).map_err(|e| format!("creating {}: {e}", tools.display()))?;
    let registries_conf = tools.join("registries.conf");
    fs::write(&registries_conf, "").map_err(|e| format!("writing registries.conf: {e}"))?;
    let env = |name: &str| ToolEnv {
        registries_conf: registries_conf.clone(),
        tmpdir: work.join(format!("pull-{name}-tmp")),
    };
    let mut targets = Vec::new();
    if let Some(client) = conti {
        let pid = cleanup::with_daemon(|daemon| daemon.pid()).ok_or("interrupted")?;
        targets.push(PullTarget::Conti { client, pid });
    }
    targets.push(PullTarget::Podman {
        dir: work.join("pull-podman"),
        env: env("podman"),
    });
    targets.push(PullTarget::SkopeoStorage {
        dir: work.join("pull-skopeo"),
        env: env("skopeo"),
    });
    targets.push(PullTarget::SkopeoDir {
        dir: work.join("pull-skopeo-dir"),
        env: env("skopeo-dir"),
    });
    setup.push(format!(
        "podman {}: `podman --root --runroot --tmpdir <own> --storage-driver overlay \
         --cgroup-manager cgroupfs --events-backend file pull --tls-verify=false`; run --rm \
         --network none {}; skopeo {}: copy --src-tls-verify=false to \
         containers-storage:[overlay@<own>] and to dir:; both with an empty registries.conf and \
         TMPDIR on the store's disk",
        version("podman"),
        PODMAN_ULIMITS.join(" "),
        version("skopeo")
    ));

    let names: Vec<&'static str> = targets.iter().map(PullTarget::name).collect();
    eprintln!(
        "pull: {} warm-up + {} timed rounds of {}; each round: sync, cold pull, sync, warm pull, \
         run (targets in turn, rotated every round)",
        options.warmup,
        options.rounds,
        names.join(", ")
    );
    let result = rounds(options, &targets, &images);
    for target in &targets {
        if let Err(e) = target.remove_all(&images) {
            eprintln!("warning: {e}");
        }
    }
    cleanup::drop_test_registry();
    let samples = result?;
    let mut labels = Vec::new();
    for target in &targets {
        for (metric, _) in METRICS {
            labels.push((target.name(), metric, target.label(metric)));
        }
    }
    Ok(PullReport {
        options: options.clone(),
        layers: images.layers,
        setup,
        names,
        labels,
        samples,
    })
}

fn rounds(
    options: &PullOptions,
    targets: &[PullTarget],
    images: &PushedImages,
) -> Result<Vec<PullSamples>, String> {
    let base_layers = images.base_layers().len();
    let mut samples: Vec<PullSamples> = targets.iter().map(|_| PullSamples::default()).collect();
    for round in 0..options.warmup + options.rounds {
        let timed = round >= options.warmup;
        for turn in 0..targets.len() {
            if cleanup::stopping() {
                return Err("interrupted".to_string());
            }
            let index = (round + turn) % targets.len();
            let target = &targets[index];
            let fail = |e: String| format!("{} (round {}): {e}", target.name(), round + 1);
            let pair = &images.rounds[round];
            target.prepare_round(round).map_err(fail)?;
            sync();
            let cold = target
                .pull(round, &pair.base, base_layers, 0)
                .map_err(fail)?;
            let mut line = format!(
                "  round {:>2}{} {:<10} cold {:>5.0} ms (CPU {:>5.0} ms)",
                round + 1,
                if timed { "" } else { "*" },
                target.name(),
                ms(cold.wall),
                ms(cold.cpu)
            );
            let result = &mut samples[index];
            if target.pulls_warm() {
                sync();
                let warm = target
                    .pull(round, &pair.warm, 1, base_layers)
                    .map_err(fail)?;
                let _ = write!(line, "  warm {:>4.0} ms", ms(warm.wall));
                if timed {
                    result.warm.push(warm.wall);
                }
                if let Some(run) = target.run(round, &pair.warm).map_err(fail)? {
                    let _ = write!(
                        line,
                        "  run → output {:>4.0} ms, exit {:>4.0} ms",
                        ms(run.first_output),
                        ms(run.exit)
                    );
                    if timed {
                        result.run_first_output.push(run.first_output);
                        result.run_exit.push(run.exit);
                    }
                }
            }
            if timed {
                result.cold.push(cold.wall);
                result.cold_cpu.push(cold.cpu);
            }
            eprintln!("{line}");
        }
    }
    Ok(samples)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Starts the run's registry and hands it to the cleanup; its `host:port` and folder.
fn start_registry() -> Result<(String, PathBuf), String> {
    let registry = std::panic::catch_unwind(TestRegistry::plain)
        .map_err(|_| "pull: the registry did not start (see above)".to_string())?;
    let facts = (registry.host_port(), registry.dir().to_path_buf());
    cleanup::register_test_registry(registry);
    Ok(facts)
}

/// Writes back what earlier steps left dirty, so that no pull pays for another's writeback.
fn sync() {
    nix::unistd::sync();
}

// ----- conti -----

/// Deletes the image `reference` names, by its id: all its names go, and its layers with it
/// (deleting by the tag alone would leave a pulled image in the store under its repo digest).
/// Not there (404) is fine.
fn delete_conti_image(client: &Client, reference: &str) -> Result<(), String> {
    let path = format!("/v1/images/{}", reference.replace('/', "%2F"));
    let response = client
        .try_request("GET", &path, None)
        .map_err(|e| format!("conti: GET {path}: {e}"))?;
    let id = match response.status {
        404 => return Ok(()),
        200 => response.try_json::<Value>()?["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("conti: GET {path}: no id"))?,
        status => {
            return Err(format!(
                "conti: GET {path}: HTTP {status}: {}",
                response.text().trim()
            ));
        }
    };
    let path = format!("/v1/images/{id}");
    let response = client
        .try_request("DELETE", &path, None)
        .map_err(|e| format!("conti: DELETE {path}: {e}"))?;
    match response.status {
        200 | 204 | 404 => Ok(()),
        status => Err(format!(
            "conti: DELETE {path}: HTTP {status}: {}",
            response.text().trim()
        )),
    }
}

/// `POST /v1/images/pull?ref=…` read to the end of its stream, which must end with `done`,
/// having downloaded `new` layers and found `present` in the store.
fn conti_pull(
    client: &Client,
    reference: &str,
    new: usize,
    present: usize,
) -> Result<Duration, String> {
    let path = format!("/v1/images/pull?ref={reference}");
    let client = client.with_timeout(STEP_TIMEOUT);
    let start = Instant::now();
    let response = client
        .try_request("POST", &path, None)
        .map_err(|e| format!("conti pull {reference}: {e}"))?;
    let elapsed = start.elapsed();
    if response.status != 200 {
        return Err(format!(
            "conti pull {reference}: HTTP {}: {}",
            response.status,
            response.text().trim()
        ));
    }
    let text = response.text();
    let mut downloaded = std::collections::BTreeSet::new();
    let mut existing = 0;
    let mut done = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let event: Value = serde_json::from_str(line)
            .map_err(|e| format!("conti pull {reference}: event {line:?}: {e}"))?;
        match event["status"].as_str() {
            Some("downloading") => {
                downloaded.insert(event["layer"].as_str().unwrap_or_default().to_string());
            }
            Some("exists") => existing += 1,
            Some("done") => done = true,
            Some("error") => {
                return Err(format!("conti pull {reference}: {}", event["message"]));
            }
            _ => {}
        }
    }
    if !done {
        return Err(format!(
            "conti pull {reference}: the stream ended without done"
        ));
    }
    if downloaded.len() != new || existing != present {
        return Err(format!(
            "conti pull {reference}: downloaded {} layers and found {existing} in the store, \
             expected {new} and {present}",
            downloaded.len()
        ));
    }
    Ok(elapsed)
}

/// A container of `reference` running `/bin/echo x` through the API, as `conti-cli run` does
/// it: create, attach (upgraded, on a connection opened before the clock starts), start, the
/// frames to EOF, wait; timed from sending the create to the first payload byte and to the
/// wait's answer. Deleted after, untimed.
fn conti_run(client: &Client, reference: &str) -> Result<RunTimes, String> {
    let mut connection = client
        .connect()
        .map_err(|e| format!("conti run: connecting: {e}"))?;
    let stream = UnixStream::connect(client.socket())
        .and_then(|s| s.set_read_timeout(Some(STEP_TIMEOUT)).map(|()| s))
        .map_err(|e| format!("conti run: connecting: {e}"))?;
    let spec = ContainerSpec {
        image: reference.to_string(),
        cmd: ECHO.iter().map(|s| s.to_string()).collect(),
        network: NetworkMode::None,
        ..ContainerSpec::default()
    };
    let body = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;

    let start = Instant::now();
    let id =
        crate::scenario::create(&mut connection, &body).map_err(|e| format!("conti run: {e}"))?;
    let result = attach_start_wait(&mut connection, stream, &id, start);
    let path = format!("/v1/containers/{id}?force=true");
    let _ = connection.try_request("DELETE", &path, None);
    result
}

fn attach_start_wait(
    connection: &mut Connection,
    stream: UnixStream,
    id: &str,
    start: Instant,
) -> Result<RunTimes, String> {
    let mut reader = BufReader::new(stream);
    let request = format!(
        "POST /v1/containers/{id}/attach?stdout=true&stderr=true HTTP/1.1\r\nHost: localhost\r\n\
         Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    );
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("conti run: attach: {e}"))?;
    expect_upgrade(&mut reader).map_err(|e| format!("conti run: attach: {e}"))?;
    let path = format!("/v1/containers/{id}/start");
    call(connection, "POST", &path, None, 204, "conti run: start")?;
    let mut first_output = None;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some((kind, length)) =
        read_frame_header(&mut reader).map_err(|e| format!("conti run: attach stream: {e}"))?
    {
        let mut payload = vec![0u8; length];
        reader
            .read_exact(&mut payload)
            .map_err(|e| format!("conti run: attach stream: {e}"))?;
        first_output.get_or_insert_with(|| start.elapsed());
        match kind {
            1 => stdout.extend_from_slice(&payload),
            _ => stderr.extend_from_slice(&payload),
        }
    }
    let path = format!("/v1/containers/{id}/wait");
    let waited: Value =
        call(connection, "POST", &path, None, 200, "conti run: wait")?.try_json()?;
    let exit = start.elapsed();
    if waited["exit_code"] != 0 || stdout != ECHO_OUTPUT {
        return Err(format!(
            "conti run: exit code {}, stdout {:?}, stderr {:?}",
            waited["exit_code"],
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ));
    }
    Ok(RunTimes {
        first_output: first_output.ok_or("conti run: no output")?,
        exit,
    })
}

// ----- the peers -----

/// `podman` with its store, runtime state and temporary files in `dir` (nothing of the host's
/// store is read or written), cgroupfs (no systemd here), events in a file there.
fn podman(dir: &Path, env: &ToolEnv) -> Command {
    let mut command = Command::new("podman");
    command
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("runroot"))
        .arg("--tmpdir")
        .arg(dir.join("tmp"))
        .args([
            "--storage-driver=overlay",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
        ]);
    env.apply(&mut command);
    command
}

impl ToolEnv {
    fn apply(&self, command: &mut Command) {
        command
            .env("CONTAINERS_REGISTRIES_CONF", &self.registries_conf)
            .env("TMPDIR", &self.tmpdir);
    }
}

/// `skopeo copy docker://<reference> <destination>` (the test harness's skopeo: in a mount
/// namespace of its own, with its own policy, so that its caches never touch the host).
fn skopeo_copy(env: &ToolEnv, reference: &str, destination: &str) -> Result<PullTimes, String> {
    let mut command = conti_tests::image_tools::skopeo();
    env.apply(&mut command);
    command
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(destination);
    timed(
        &mut command,
        &format!("skopeo copy {reference} {destination}"),
    )
    .map(PullTimes::of)
}

struct CommandTimes {
    first_output: Option<Duration>,
    exit: Duration,
    /// User and system time of the command and the descendants it waited for.
    cpu: Duration,
    stdout: Vec<u8>,
}

/// Runs `command` in its own process group (a Ctrl-C reaches only the benchmark); the time from
/// spawn to its first byte on stdout and to its exit. Fails unless it exits with 0.
fn timed(command: &mut Command, what: &str) -> Result<CommandTimes, String> {
    // The benchmark waits for one child at a time: the children's total grows by this one's.
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut text);
        text
    });
    let (stdout, first_output) = match child.stdout.take().map(|p| read_timed(p, start)) {
        None => (Vec::new(), None),
        Some(Ok(read)) => read,
        Some(Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what}: reading its output: {e}"));
        }
    };
    let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
    let exit = start.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "{what} failed ({status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    Ok(CommandTimes {
        first_output,
        exit,
        cpu,
        stdout,
    })
}

/// User + system time of the children waited for so far.
fn children_cpu() -> Duration {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return Duration::ZERO;
    };
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}

/// User + system time of process `pid`, all its threads (also those that ended), from
/// `/proc/PID/stat`.
fn process_cpu(pid: i32) -> Result<Duration, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    // The fields after the command's `(name)`: state is the 3rd field, utime the 14th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err(format!("/proc/{pid}/stat: no utime and stime"));
    };
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Ok(Duration::from_micros(
        (user + system) * 1_000_000 / per_second,
    ))
}

/// Unmounts whatever is mounted under `dir` (the overlay driver mounts its folder on itself),
/// then removes it.
fn remove_tree(dir: &Path) -> Result<(), String> {
    for point in host::mount_points_under(dir) {
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", dir.display())),
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.is_file())
}

/// `<tool> --version`'s number.
fn version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .and_then(|text| text.split_whitespace().last().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

// ----- the report -----

impl PullReport {
    fn summary(&self, name: &str, metric: &str) -> Option<Summary> {
        let index = self.names.iter().position(|n| *n == name)?;
        Summary::of(self.samples[index].metric(metric))
    }

    /// conti's median / each peer's, for `metric`.
    fn ratios(&self, metric: &str) -> Vec<(&'static str, f64)> {
        conti_ratios(&self.names, |name| self.summary(name, metric))
    }

    fn label(&self, name: &str, metric: &str) -> &'static str {
        self.labels
            .iter()
            .find(|(n, m, _)| *n == name && *m == metric)
            .map_or("", |(_, _, label)| label)
    }

    pub fn table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n== Pull: {} timed rounds after {} warm-up(s); each round, per target in turn \
             (rotated): sync, the cold pull of the round's base image, sync, the warm pull of its \
             warm image, a run of the warm image",
            self.options.rounds, self.options.warmup
        );
        for line in &self.setup {
            let _ = writeln!(out, "{line}");
        }
        for (metric, what) in METRICS {
            let _ = writeln!(out, "\n{what}:");
            summary_header(out, 44);
            for name in &self.names {
                let Some(summary) = self.summary(name, metric) else {
                    continue;
                };
                let label = format!("{name:<10} {}", self.label(name, metric));
                summary_row(out, 44, &label, summary);
            }
            for (peer, ratio) in self.ratios(metric) {
                let _ = writeln!(out, "ratio conti/{peer} (median): {ratio:.2}");
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let samples_ms = |samples: &[Duration]| -> Vec<f64> {
            samples
                .iter()
                .map(|d| round3(d.as_secs_f64() * 1000.0))
                .collect()
        };
        let mut results = Map::new();
        for (name, samples) in self.names.iter().zip(&self.samples) {
            let mut entry = Map::new();
            for (metric, _) in METRICS {
                let Some(summary) = Summary::of(samples.metric(metric)) else {
                    continue;
                };
                let mut value = summary.to_json();
                value["samples_ms"] = json!(samples_ms(samples.metric(metric)));
                value["what"] = json!(self.label(name, metric));
                entry.insert(metric.to_string(), value);
            }
            results.insert(name.to_string(), Value::Object(entry));
        }
        let mut ratios = Map::new();
        for (metric, _) in METRICS {
            for (peer, ratio) in self.ratios(metric) {
                ratios.insert(
                    format!("{metric}_conti_{peer}_median"),
                    json!(round3(ratio)),
                );
            }
        }
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| json!({"compressed": l.compressed, "uncompressed": l.uncompressed}))
            .collect();
        json!({
            "workload": "a Debian bookworm minbase image (debootstrap, plus python3-minimal, curl, \
                ca-certificates, procps, less) in five gzip layers from a local docker-registry: \
                cold = into an empty store; warm = an image of the same five layers and one small \
                one, after the first; run = /bin/echo x in the warm image, from the request \
                (spawn) to the first output and to the exit",
            "rounds": self.options.rounds,
            "warmup": self.options.warmup,
            "layers_of_warm_image": layers,
            "setup": self.setup,
            "results": Value::Object(results),
            "ratios": Value::Object(ratios),
        })
    }
}
