//! A real `contid` on a private socket, root folder and cgroup parent, torn down completely when
//! dropped.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use conti_proto::{
    ContainerInfo, ContainerSpec, CreatedContainer, Event, ExecResult, ExecSpec, WaitResult,
};

use crate::http::{Client, Response};
use crate::network::TestNetworking;
use crate::{BUSYBOX_IMAGE, host, rootfs, util};

/// How long the daemon may take to answer `GET /v1/version` after it was started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// What systemd hands a service in its environment: never taken from the test's own, and
/// nothing contid starts may see them.
pub const SYSTEMD_VARIABLES: [&str; 6] = [
    "NOTIFY_SOCKET",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
];
/// How long a `wait` on a container may block.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of a workspace binary: `$CONTI_BIN_DIR/<name>`, else the cargo target folder this test
/// binary was built in (`target/debug/deps/..` → `target/debug`).
pub fn bin_path(name: &str) -> PathBuf {
    let path = match std::env::var_os("CONTI_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => {
            let from_exe = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
                .filter(|p| p.exists());
            from_exe.unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/debug")
                    .join(name)
            })
        }
    };
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo build --workspace --bins` first (or set CONTI_BIN_DIR)",
        path.display()
    );
    path
}

/// Panics unless the tests run as root: they create namespaces, mounts and cgroups.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the Conti end-to-end tests must run as root (they start a real contid that creates \
         namespaces, mounts and cgroups)"
    );
}

/// What [`Daemon::unstarted_with`] starts; the tests use [`DaemonOptions::for_tests`].
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The `contid` binary.
    pub bin: PathBuf,
    /// Name of the daemon's folder (`/tmp/<name>`) and of its cgroup parent.
    pub name: String,
    /// `--log-level`; `None` leaves contid's default.
    pub log_level: Option<String>,
    /// More `contid` flags, given on every launch.
    pub extra_args: Vec<String>,
    /// Starts contid in its own process group, so that a Ctrl-C on the terminal reaches only
    /// the caller, which then shuts it down in order. Off for tests: a test killed by Ctrl-C
    /// never drops its `Daemon`, so contid must get the signal too.
    pub own_process_group: bool,
    /// Gives contid `--resolv-conf` naming `resolv.conf` in the daemon's folder, made without a
    /// nameserver: what the networks' resolvers do not know is never forwarded to a real
    /// resolver (a test that wants an upstream writes its own into [`Daemon::resolv_conf`]).
    pub own_resolv_conf: bool,
}

impl DaemonOptions {
    /// This build's `contid` (see [`bin_path`]) with debug logs, under a unique `conti-test-*`
    /// name.
    pub fn for_tests() -> DaemonOptions {
        DaemonOptions {
            log_level: Some("debug".to_string()),
            own_resolv_conf: true,
            ..DaemonOptions::new(bin_path("contid"), util::unique_name("conti-test"))
        }
    }

    /// `bin` with contid's default flags under `name`, in the caller's process group.
    pub fn new(bin: impl Into<PathBuf>, name: impl Into<String>) -> DaemonOptions {
        DaemonOptions {
            bin: bin.into(),
            name: name.into(),
            log_level: None,
            extra_args: Vec::new(),
            own_process_group: false,
            own_resolv_conf: false,
        }
    }
}

pub struct Daemon {
    /// `conti-test-<unique>`: the name of the test folder and of the cgroup parent.
    name: String,
    dir: PathBuf,
    root: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    log_level: Option<String>,
    /// More `contid` flags, given on every launch.
    extra_args: Vec<String>,
    own_process_group: bool,
    /// `RLIMIT_NOFILE` (soft, hard) contid is started with; `None`: the test's own.
    open_files_limit: Option<(u64, u64)>,
    own_resolv_conf: bool,
    /// Started by `systemd-socket-activate`, which listens on the socket and hands it to
    /// contid as systemd does.
    socket_activated: bool,
    /// More environment variables for contid (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    env: Vec<(String, String)>,
    /// Its own default bridge, subnet and nftables table.
    networking: TestNetworking,
    child: Option<Child>,
    client: Client,
}

impl Daemon {
    /// Starts `contid` on a fresh socket, root and cgroup parent and waits until it answers.
    pub fn start() -> Daemon {
        let mut daemon = Daemon::unstarted();
        daemon.launch();
        daemon
    }

    /// [`Daemon::start`] and import the busybox image.
    pub fn start_with_busybox() -> Daemon {
        let daemon = Daemon::start();
        daemon.import_busybox();
        daemon
    }

    /// [`Daemon::start_with_busybox`], with more `contid` flags (`--log-max-bytes 4096`).
    pub fn start_with_busybox_and_args(args: &[&str]) -> Daemon {
        let mut daemon = Daemon::unstarted();
        daemon.set_args(args);
        daemon.launch();
        daemon.import_busybox();
        daemon
    }

    /// The open-file limit (soft, hard) the next [`Daemon::launch`] starts contid with, as a
    /// shell's `ulimit -n` would (set by util-linux's `prlimit`, which then execs contid).
    pub fn set_open_files_limit(&mut self, soft: u64, hard: u64) {
        self.open_files_limit = Some((soft, hard));
    }

    /// Makes the root folder a tmpfs of `size` (`64m`), for a test to fill up (a full state
    /// disk); before [`Daemon::launch`]. The teardown unmounts it with everything under the
    /// test's folder.
    pub fn mount_small_root(&self, size: &str) {
        fs::create_dir_all(&self.root)
            .unwrap_or_else(|e| panic!("creating {}: {e}", self.root.display()));
        nix::mount::mount(
            Some("tmpfs"),
            &self.root,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some(format!("size={size},mode=0711").as_str()),
        )
        .unwrap_or_else(|e| panic!("mounting a tmpfs on {}: {e}", self.root.display()));
    }

    /// Fills the root's filesystem until not one more byte fits, with `<root>/filler`; removing
    /// that file gives the room back.
    pub fn fill_root(&self) -> PathBuf {
        let path = self.root.join("filler");
        let mut file = File::create(&path).expect("creating the filler");
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0u8; chunk];
            while file.write_all(&bytes).is_ok() {}
        }
        path
    }

    /// Whether the next [`Daemon::launch`] starts contid through `systemd-socket-activate -l
    /// SOCKET` (from the `systemd` package): it makes the socket file, listens, and starts
    /// contid with the socket as fd 3 (`LISTEN_FDS=1`) when the first connection comes.
    pub fn set_socket_activation(&mut self, activated: bool) {
        self.socket_activated = activated;
    }

    /// Environment variables for the next [`Daemon::launch`] (systemd's are never inherited
    /// from the test's own environment: only these reach contid).
    pub fn set_env(&mut self, vars: &[(&str, &str)]) {
        self.env = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
    }

    /// More `contid` flags for the next [`Daemon::launch`].
    pub fn set_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|arg| arg.to_string()).collect();
    }

    /// Creates the folders but starts nothing (to prepare the root or socket first); cleaned up
    /// on drop like a started one.
    pub fn unstarted() -> Daemon {
        Daemon::unstarted_with(DaemonOptions::for_tests())
    }

    /// [`Daemon::unstarted`] with another binary, name or flags (a benchmark runs a release
    /// build at contid's default log level).
    pub fn unstarted_with(options: DaemonOptions) -> Daemon {
        require_root();
        let DaemonOptions {
            bin,
            name,
            log_level,
            extra_args,
            own_process_group,
            own_resolv_conf,
        } = options;
        let dir = PathBuf::from("/tmp").join(&name);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let socket = dir.join("contid.sock");
        Daemon {
            root: dir.join("root"),
            log: dir.join("contid.log"),
            client: Client::new(&socket),
            socket,
            name,
            dir,
            bin,
            log_level,
            extra_args,
            own_process_group,
            open_files_limit: None,
            own_resolv_conf,
            socket_activated: false,
            env: Vec::new(),
            networking: TestNetworking::unique(),
            child: None,
        }
    }

    /// Starts `contid` (again) on this root and socket and waits until it answers.
    pub fn launch(&mut self) {
        self.try_launch().unwrap_or_else(|e| panic!("{e}"));
    }

    /// [`Daemon::launch`], with an error instead of a panic when contid cannot be started,
    /// exits, or does not answer in time (it is killed then).
    pub fn try_launch(&mut self) -> Result<(), String> {
        self.launch_without_waiting()?;
        self.wait_until_answering()
    }

    /// Starts `contid` (again) on this root and socket, and returns at once.
    pub fn launch_without_waiting(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "contid is already running");
        let child = self.spawn_contid(&self.socket)?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the contid started by [`Daemon::launch_without_waiting`] answers `GET
    /// /v1/version`; an error when it exits first or does not answer in time (it is killed
    /// then).
    pub fn wait_until_answering(&mut self) -> Result<(), String> {
        let probe = self.client.with_timeout(Duration::from_secs(1));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(resp) = probe.try_request("GET", "/v1/version", None)
                && resp.status == 200
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "contid exited with {status} before answering; its log:\n{}",
                    self.log_text()
                ));
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(format!(
                    "contid did not answer GET /v1/version within {READY_TIMEOUT:?}; its log:\n{}",
                    self.log_text()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The command line that starts contid: `prlimit` and `systemd-socket-activate` exec what
    /// follows them, so the process started is contid's.
    fn contid_command_line(&self, socket: &Path) -> Result<Vec<OsString>, String> {
        let mut line: Vec<OsString> = Vec::new();
        if let Some((soft, hard)) = self.open_files_limit {
            line.extend([
                "prlimit".into(),
                format!("--nofile={soft}:{hard}").into(),
                "--".into(),
            ]);
        }
        if self.socket_activated {
            // It passes contid no environment but what `-E` gives.
            line.extend(["systemd-socket-activate".into(), "-l".into(), socket.into()]);
            for (name, value) in self.contid_env() {
                line.extend(["-E".into(), format!("{name}={value}").into()]);
            }
        }
        line.push(self.bin.clone().into());
        line.extend([
            "--socket".into(),
            socket.into(),
            "--root".into(),
            self.root.clone().into(),
        ]);
        line.extend(["--cgroup-parent".into(), self.name.clone().into()]);
        if let Some(level) = &self.log_level {
            line.extend(["--log-level".into(), level.into()]);
        }
        line.extend(self.networking.args().into_iter().map(OsString::from));
        if self.own_resolv_conf {
            let path = self.resolv_conf();
            if !path.exists() {
                fs::write(&path, "# conti tests: no upstream nameserver\n")
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            line.extend(["--resolv-conf".into(), path.into()]);
        }
        // A configuration file of the test's own (empty unless it gives one), so that a host's
        // /etc/conti/contid.toml never changes what a test daemon does.
        if !self.extra_args.iter().any(|arg| arg == "--config") {
            let config = self.dir.join("contid.toml");
            if !config.exists() {
                fs::write(&config, "").expect("writing the test daemon's empty config");
            }
            line.extend(["--config".into(), config.into()]);
        }
        line.extend(self.extra_args.iter().map(OsString::from));
        Ok(line)
    }

    /// The variables contid gets besides the test's own environment.
    fn contid_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("RUST_BACKTRACE".to_string(), "1".to_string())];
        env.extend(self.env.iter().cloned());
        env
    }

    fn spawn_contid(&self, socket: &Path) -> Result<Child, String> {
        let log = self.open_log();
        let line = self.contid_command_line(socket)?;
        let mut command = Command::new(&line[0]);
        command.args(&line[1..]);
        for inherited in SYSTEMD_VARIABLES {
            command.env_remove(inherited);
        }
        command
            .envs(self.contid_env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log);
        if self.own_process_group {
            command.process_group(0);
        }
        command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", line[0].to_string_lossy()))
    }

    fn open_log(&self) -> File {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log.display()));
        let _ = writeln!(log, "---- contid started by the test harness ----");
        log
    }

    /// Runs a second `contid` on the same root (with its own socket) and returns how it ended;
    /// kills it and panics if it is still running after 10 s.
    pub fn run_second_contid(&self, socket: &Path) -> Output {
        util::run_command(
            Command::new(&self.bin)
                .arg("--socket")
                .arg(socket)
                .arg("--root")
                .arg(&self.root)
                .arg("--cgroup-parent")
                .arg(&self.name),
            Duration::from_secs(10),
        )
    }

    /// SIGKILLs contid and reaps it; containers and their monitors are left alone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs contid and waits (at most 15 s) for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        assert!(self.child.is_some(), "contid is not running");
        match self.try_terminate(Duration::from_secs(15)) {
            Some(status) => status,
            None => {
                self.kill9();
                panic!(
                    "contid did not exit within 15 s of SIGTERM; its log:\n{}",
                    self.log_text()
                );
            }
        }
    }

    /// SIGTERMs contid and waits at most `timeout` for it to exit. `None` when it is still
    /// running then (it is left running: [`Daemon::kill9`] or the drop ends it), or was not
    /// running.
    pub fn try_terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait, start again on the same root.
    pub fn restart(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "contid exited with {status} on SIGTERM; its log:\n{}",
            self.log_text()
        );
        self.launch();
    }

    /// The daemon's pid; panics when it is not running.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("contid is not running").id() as i32
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store's folder of the base layer of `image` (`<root>/images/layers/<hex>`): `fs/` is
    /// the unpacked tree, `rootfs-<uid>-<gid>/` a shifted copy for `--userns`.
    pub fn image_layer_dir(&self, image: &str) -> PathBuf {
        let info: crate::ImageInfo = self.get(&format!("/v1/images/{image}")).json();
        let diff_id = info.layers[0].trim_start_matches("sha256:").to_string();
        self.root.join("images/layers").join(diff_id)
    }

    /// The test's private folder (holds the root, the socket and the daemon's log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The daemon's default bridge, subnet and nftables table.
    /// The host resolver configuration contid reads (with [`DaemonOptions::own_resolv_conf`]);
    /// contid reads it again when it changes.
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    pub fn networking(&self) -> &TestNetworking {
        &self.networking
    }

    pub fn cgroup_parent(&self) -> &str {
        &self.name
    }

    /// A container's state folder.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log.display()))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.get(path)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Response {
        self.client.post(path, body)
    }

    pub fn post_json(&self, path: &str, body: &impl Serialize) -> Response {
        self.client.post_json(path, body)
    }

    /// `POST /v1/volumes` of a volume named `name` with these labels; the answer, unchecked.
    pub fn create_volume(&self, name: &str, labels: &[(&str, &str)]) -> Response {
        let spec = conti_proto::VolumeCreateSpec {
            name: Some(name.to_string()),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        self.post_json("/v1/volumes", &spec)
    }

    pub fn delete(&self, path: &str) -> Response {
        self.client.delete(path)
    }

    /// Imports the busybox root filesystem as image `busybox`.
    pub fn import_busybox(&self) {
        self.import_busybox_as(BUSYBOX_IMAGE);
    }

    pub fn import_busybox_as(&self, name: &str) {
        let tar = fs::read(rootfs::busybox_tar()).expect("reading the busybox tar");
        let resp = self.client.post_bytes(
            &format!("/v1/images/import?name={name}"),
            "application/x-tar",
            &tar,
        );
        resp.expect_status(201);
    }

    /// Creates a container; panics unless the answer is 201. Returns its id.
    #[track_caller]
    pub fn create(&self, spec: &ContainerSpec) -> String {
        let resp = self.post_json("/v1/containers", spec);
        resp.expect_status(201);
        resp.json::<CreatedContainer>().id
    }

    #[track_caller]
    pub fn start_container(&self, reference: &str) {
        self.post(&format!("/v1/containers/{reference}/start"), b"")
            .expect_status(204);
    }

    /// Creates and starts a container; returns its id.
    #[track_caller]
    pub fn run_detached(&self, spec: &ContainerSpec) -> String {
        let id = self.create(spec);
        self.start_container(&id);
        id
    }

    /// Blocks until the container has exited; its exit code.
    #[track_caller]
    pub fn wait(&self, reference: &str) -> i32 {
        let resp = self
            .client
            .with_timeout(WAIT_TIMEOUT)
            .post(&format!("/v1/containers/{reference}/wait"), b"");
        resp.expect_status(200);
        resp.json::<WaitResult>().exit_code
    }

    #[track_caller]
    pub fn inspect(&self, reference: &str) -> ContainerInfo {
        let resp = self.get(&format!("/v1/containers/{reference}"));
        resp.expect_status(200);
        resp.json()
    }

    /// All containers (`?all=true`).
    pub fn list_all(&self) -> Vec<ContainerInfo> {
        let resp = self.get("/v1/containers?all=true");
        resp.expect_status(200);
        resp.json()
    }

    /// The events of container `id` the daemon remembers (`GET /v1/events`, replayed up to now).
    #[track_caller]
    pub fn events_of(&self, id: &str) -> Vec<Event> {
        let resp = self.get("/v1/events?since=1h&until=0s");
        resp.expect_status(200);
        resp.text()
            .lines()
            .map(|line| serde_json::from_str::<Event>(line).expect("an event"))
            .filter(|event| event.container_id == id)
            .collect()
    }

    /// The container's output so far (text format).
    #[track_caller]
    pub fn logs(&self, reference: &str) -> String {
        let resp = self.get(&format!("/v1/containers/{reference}/logs"));
        resp.expect_status(200);
        resp.text()
    }

    #[track_caller]
    pub fn exec(&self, reference: &str, cmd: &[&str]) -> ExecResult {
        self.exec_spec(
            reference,
            &ExecSpec {
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                ..ExecSpec::default()
            },
        )
    }

    #[track_caller]
    pub fn exec_spec(&self, reference: &str, spec: &ExecSpec) -> ExecResult {
        let resp = self
            .client
            .with_timeout(WAIT_TIMEOUT)
            .post_json(&format!("/v1/containers/{reference}/exec"), spec);
        resp.expect_status(200);
        resp.json()
    }

    /// Stops with the given timeout (seconds).
    #[track_caller]
    pub fn stop(&self, reference: &str, timeout: u32) {
        self.post(
            &format!("/v1/containers/{reference}/stop?timeout={timeout}"),
            b"",
        )
        .expect_status(204);
    }

    /// `DELETE ?force=true`.
    #[track_caller]
    pub fn remove(&self, reference: &str) {
        self.delete(&format!("/v1/containers/{reference}?force=true"))
            .expect_status(204);
    }

    /// Create, start, wait, read the logs: `(id, exit_code, logs)`. The container is kept.
    #[track_caller]
    pub fn run(&self, spec: &ContainerSpec) -> (String, i32, String) {
        let id = self.run_detached(spec);
        let code = self.wait(&id);
        let logs = self.logs(&id);
        (id, code, logs)
    }

    /// Processes that belong to this test: the daemon and its descendants, every process in a
    /// cgroup under the test's cgroup parent, and every process using a file in the test folder.
    pub fn processes(&self) -> Vec<i32> {
        let roots: Vec<i32> = self
            .child
            .as_ref()
            .map(|c| c.id() as i32)
            .into_iter()
            .collect();
        host::processes_of(&self.dir, &self.name, &roots)
            .into_iter()
            .collect()
    }

    /// Cgroup directories named after the test's cgroup parent, in every hierarchy.
    pub fn cgroup_parent_dirs(&self) -> Vec<PathBuf> {
        host::cgroup_dirs_named(&self.name)
    }

    fn teardown(&mut self) {
        let mut leftovers = Vec::new();
        // The daemon's descendants are collected before it dies: afterwards they are orphans.
        let mut doomed = self.processes();
        self.kill9();
        for _round in 0..20 {
            if doomed.is_empty() {
                break;
            }
            for &pid in &doomed {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while doomed.iter().any(|&p| host::is_alive(p)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            // A monitor may have forked between the scan and the kill: look again.
            doomed = self.processes();
        }
        if !doomed.is_empty() {
            leftovers.push(format!("processes still alive: {doomed:?}"));
        }
        for point in host::mount_points_under(&self.dir) {
            if let Err(e) = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH) {
                leftovers.push(format!("umount {}: {e}", point.display()));
            }
        }
        leftovers.extend(self.networking.remove_all(&self.root));
        for dir in self.cgroup_parent_dirs() {
            for left in host::remove_cgroup_tree(&dir, Duration::from_secs(5)) {
                leftovers.push(format!("cgroup {} could not be removed", left.display()));
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            leftovers.push(format!("removing {}: {e}", self.dir.display()));
        }
        if !leftovers.is_empty() {
            eprintln!(
                "conti-tests: cleanup of {} left things behind:\n  {}",
                self.name,
                leftovers.join("\n  ")
            );
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "---- last lines of contid's log ({}) ----\n{}\n----",
                self.name,
                tail.join("\n")
            );
        }
        self.teardown();
    }
}
