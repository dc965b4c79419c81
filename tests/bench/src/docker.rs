//! The docker scenario: `docker run --rm --network none busybox true` with Debian's docker CLI
//! against contid's Docker API and against a real `dockerd` (Debian's docker.io, started here on
//! a socket, data root and exec root of the run's own, without touching the host's firewall,
//! and stopped at the end), interleaved round by round; and `conti-cli run --rm` for reference.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cleanup;
use crate::report::{summary_header, summary_row};
use crate::stats::Summary;

/// Debian's docker.io client and daemon.
const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const RUN: [&str; 7] = ["run", "--rm", "--network", "none", "busybox", "true", ""];
/// How long dockerd may take to answer its first ping.
const DOCKERD_READY: Duration = Duration::from_secs(60);

/// The rows, in the report's order: key, label.
const TARGETS: [(&str, &str); 3] = [
    ("docker_conti", "docker run --rm (docker CLI -> contid)"),
    ("docker_dockerd", "docker run --rm (docker CLI -> dockerd)"),
    ("conti_cli", "conti-cli run --rm (-> contid)"),
];

/// A dockerd of the run's own: its folder under the run's folder, its pid for the cleanup.
pub struct Dockerd {
    pub pid: i32,
    pub dir: PathBuf,
}

impl Dockerd {
    fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// Stops it (SIGTERM by pid, then SIGKILL): it stops the containerd it started itself.
    pub fn stop(&self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(self.pid);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while kill(pid, None).is_ok() && Instant::now() < deadline {
            // Reaps it when it is our child.
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            std::thread::sleep(Duration::from_millis(50));
        }
        if kill(pid, None).is_ok() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        // A containerd left behind by a killed dockerd, by the pid file it wrote.
        if let Ok(text) = fs::read_to_string(self.dir.join("exec/containerd/containerd.pid"))
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

pub struct DockerReport {
    samples: Vec<(&'static str, &'static str, Vec<Duration>)>,
    dockerd_version: String,
}

fn docker(socket: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(DOCKER);
    command
        .args(args.iter().filter(|a| !a.is_empty()))
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DOCKER_CONFIG", socket.with_file_name("docker-config"))
        .stdin(Stdio::null());
    command
}

fn check(command: &mut Command, what: &str) -> Result<String, String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts dockerd in `dir` with the cgroup parent `<name>-docker`, waits for its ping and
/// imports the busybox root filesystem as `busybox`.
fn start_dockerd(dir: &Path, name: &str, busybox_tar: &Path) -> Result<Dockerd, String> {
    for binary in [DOCKER, DOCKERD] {
        if !Path::new(binary).is_file() {
            return Err(format!("{binary} not found: apt-get install -y docker.io"));
        }
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
    let child = Command::new(DOCKERD)
        .arg("--host")
        .arg(format!("unix://{}", dir.join("docker.sock").display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
        .args(["--ip-forward=false", "--storage-driver", "overlay2"])
        .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
        .arg("--cgroup-parent")
        .arg(format!("{name}-docker"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{DOCKERD}: {e}"))?;
    let dockerd = Dockerd {
        pid: child.id() as i32,
        dir: dir.to_path_buf(),
    };
    cleanup::register_dockerd(Dockerd {
        pid: dockerd.pid,
        dir: dockerd.dir.clone(),
    });
    let deadline = Instant::now() + DOCKERD_READY;
    while docker(&dockerd.socket(), &["version"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        if Instant::now() > deadline {
            return Err(format!(
                "dockerd did not answer within {DOCKERD_READY:?}; its log: {}",
                dir.join("dockerd.log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check(
        &mut docker(
            &dockerd.socket(),
            &["import", &busybox_tar.to_string_lossy(), "busybox:latest"],
        ),
        "docker import into dockerd",
    )?;
    Ok(dockerd)
}

/// `conti-cli` next to `contid`.
fn conti_cli(contid: &Path) -> PathBuf {
    contid.with_file_name("conti-cli")
}

pub fn run(
    contid: &Path,
    conti_socket: &Path,
    work: &Path,
    name: &str,
    busybox_tar: &Path,
    warmup: usize,
    iterations: usize,
) -> Result<DockerReport, String> {
    let dockerd = start_dockerd(&work.join("dockerd"), name, busybox_tar)?;
    let dockerd_version = check(
        &mut docker(
            &dockerd.socket(),
            &["version", "--format", "{{.Server.Version}}"],
        ),
        "docker version",
    )?
    .trim()
    .to_string();
    let cli = conti_cli(contid);
    let socket = conti_socket.to_path_buf();
    let command = |key: &str| -> Command {
        match key {
            "docker_conti" => docker(&socket, &RUN),
            "docker_dockerd" => docker(&dockerd.socket(), &RUN),
            _ => {
                let mut command = Command::new(&cli);
                command
                    .arg("--socket")
                    .arg(&socket)
                    .args(RUN.iter().filter(|a| !a.is_empty()))
                    .stdin(Stdio::null());
                command
            }
        }
    };
    let mut samples: Vec<(&'static str, &'static str, Vec<Duration>)> =
        TARGETS.iter().map(|(k, l)| (*k, *l, Vec::new())).collect();
    eprintln!(
        "docker: {warmup} untimed and {iterations} timed rounds of `docker run --rm` against contid and dockerd {dockerd_version}, and conti-cli"
    );
    for round in 0..warmup + iterations {
        if cleanup::stopping() {
            return Err("interrupted".into());
        }
        for (key, _, times) in samples.iter_mut() {
            let started = Instant::now();
            check(&mut command(key), key)?;
            if round >= warmup {
                times.push(started.elapsed());
            }
        }
    }
    dockerd.stop();
    Ok(DockerReport {
        samples,
        dockerd_version,
    })
}

impl DockerReport {
    fn summary(&self, key: &str) -> Option<Summary> {
        self.samples
            .iter()
            .find(|(k, _, _)| *k == key)
            .and_then(|(_, _, times)| Summary::of(times))
    }

    /// docker CLI on contid / docker CLI on dockerd, medians.
    fn ratio(&self) -> Option<f64> {
        Some(self.summary("docker_conti")?.median_ms / self.summary("docker_dockerd")?.median_ms)
    }

    pub fn table(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "\n== The docker CLI ({DOCKER}) on contid's Docker API and on dockerd {} (network none) ==",
            self.dockerd_version
        );
        let width = 42;
        summary_header(out, width);
        for (key, label) in TARGETS {
            if let Some(summary) = self.summary(key) {
                summary_row(out, width, label, summary);
            }
        }
        if let Some(ratio) = self.ratio() {
            let _ = writeln!(
                out,
                "docker CLI on contid / on dockerd (medians): {ratio:.2}x (goal: at most 0.2x)"
            );
        }
    }

    pub fn to_json(&self) -> Value {
        let rows: serde_json::Map<String, Value> = TARGETS
            .iter()
            .filter_map(|(key, _)| Some((key.to_string(), self.summary(key)?.to_json())))
            .collect();
        json!({
            "dockerd_version": self.dockerd_version,
            "runs": rows,
            "docker_on_conti_vs_dockerd": self.ratio().map(crate::stats::round3),
        })
    }
}
