//! The Docker Engine API, driven by the real clients, unchanged: Debian's `docker` CLI (20.10,
//! `/usr/bin/docker`) and the `docker` Python SDK, pointed at a test contid with `DOCKER_HOST`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use conti_tests::network::free_loopback_port;
use conti_tests::{
    ContainerState, Daemon, LayerCompression, ManifestFormat, TempDir, TestRegistry, run_command,
    shared_base_image, unique_name, wait_until,
};

/// Debian's docker.io client; `.ci/run` installs it.
const DOCKER: &str = "/usr/bin/docker";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The docker CLI, or `None` (and a loud skip) off CI when it is not installed.
fn docker_cli() -> Option<PathBuf> {
    if Path::new(DOCKER).is_file() {
        return Some(PathBuf::from(DOCKER));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{DOCKER} is missing (.ci/run installs docker.io)"
    );
    eprintln!("SKIPPED: {DOCKER} is not installed (apt-get install docker.io)");
    None
}

struct DockerCli {
    bin: PathBuf,
    host: String,
    /// `DOCKER_CONFIG`: a config folder of the test's own, so that no user's settings count.
    config: TempDir,
}

impl DockerCli {
    fn new(daemon: &Daemon) -> Option<DockerCli> {
        Some(DockerCli {
            bin: docker_cli()?,
            host: format!("unix://{}", daemon.socket().display()),
            config: TempDir::new("docker-config"),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        run_command(&mut self.command(args), TIMEOUT)
    }

    /// Runs and expects success; its stdout.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `docker run FLAGS busybox true` fails as a refused create does (exit 125), saying `why`.
#[track_caller]
fn expect_refused(docker: &DockerCli, flags: &[&str], why: &str) {
    let mut args = vec!["run"];
    args.extend(flags);
    args.extend(["busybox", "true"]);
    let out = docker.run(&args);
    assert_eq!(code(&out), 125, "{flags:?}: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(why),
        "{flags:?}: {}",
        text(&out.stderr)
    );
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn docker_run_passes_output_and_exit_codes_through() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    assert_eq!(
        docker.ok(&["run", "--rm", "busybox", "echo", "hello from docker"]),
        "hello from docker\n"
    );
    let out = docker.run(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "stderr: {}", text(&out.stderr));
    let out = docker.run(&["run", "--rm", "busybox", "/no/such/command"]);
    assert_eq!(code(&out), 127, "stderr: {}", text(&out.stderr));
    wait_until(Duration::from_secs(5), "the --rm containers to go", || {
        d.list_all().is_empty()
    });

    // stdin through -i; env, workdir, user and entrypoint through their flags.
    let mut command = docker.command(&["run", "-i", "--rm", "busybox", "cat"]);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "piped in\n");
    let out = docker.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp/work",
        "-u",
        "nobody",
        "--entrypoint",
        "sh",
        "busybox",
        "-c",
        "echo $GREETING $(pwd) $(id -un)",
    ]);
    assert_eq!(out, "hi /tmp/work nobody\n");
}

#[test]
fn a_detached_container_is_listed_logged_execd_into_stopped_and_removed() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let name = unique_name("web");
    let port = free_loopback_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = docker.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "echo started; exec httpd -f -p 80",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 32, "a hex id: {id}");

    let ps = docker.ok(&["ps"]);
    assert!(ps.contains(&name) && ps.contains(&id[..12]), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // The published port answers on the host (httpd's 404 for `/` is an answer).
    wait_until(
        Duration::from_secs(10),
        "the published port to answer",
        || {
            let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer.starts_with("HTTP/1")
        },
    );

    let out = docker.run(&["exec", &name, "sh", "-c", "echo in-exec; exit 5"]);
    assert_eq!((code(&out), text(&out.stdout)), (5, "in-exec\n".into()));
    let out = docker.ok(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/etc",
        &name,
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(out, "1 /etc\n");
    assert_eq!(docker.ok(&["logs", &name]), "started\n");
    // `exec -d` leaves the command running on its own.
    docker.ok(&[
        "exec",
        "-d",
        &name,
        "sh",
        "-c",
        "sleep 0.2; echo detached > /tmp/mark",
    ]);
    wait_until(
        Duration::from_secs(10),
        "the detached exec to write",
        || docker.run(&["exec", &name, "cat", "/tmp/mark"]).stdout == b"detached\n",
    );
    docker.ok(&["restart", "-t", "1", &name]);
    assert_eq!(
        docker.ok(&["logs", &name]),
        "started\nstarted\n",
        "restarted: logged twice"
    );
    let inspect = docker.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.Name}} {{.Config.Image}}",
        &name,
    ]);
    assert_eq!(inspect.trim(), format!("running /{name} busybox"));

    docker.ok(&["stop", "-t", "1", &name]);
    assert_eq!(d.inspect(&name).state, ContainerState::Exited);
    assert!(!docker.ok(&["ps"]).contains(&name));
    let all = docker.ok(&["ps", "-a", "--filter", "status=exited"]);
    assert!(all.contains(&name) && all.contains("Exited ("), "{all}");
    // Starting it again and killing it: the code a SIGKILL gives.
    docker.ok(&["start", &name]);
    docker.ok(&["kill", &name]);
    assert_eq!(docker.ok(&["wait", &name]).trim(), "137");
    let renamed = unique_name("renamed");
    docker.ok(&["rename", &name, &renamed]);
    assert!(docker.ok(&["ps", "-a"]).contains(&renamed));
    let name = renamed;
    docker.ok(&["rm", &name]);
    // `logs -f` follows a container to its end.
    let counter = unique_name("counter");
    docker.ok(&[
        "run",
        "-d",
        "--name",
        &counter,
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    ]);
    assert_eq!(docker.ok(&["logs", "-f", &counter]), "1\n2\n3\n");
    docker.ok(&["rm", &counter]);
    let out = docker.run(&["inspect", &name]);
    assert_ne!(code(&out), 0);
    assert!(d.list_all().is_empty());
}

#[test]
fn images_are_listed_tagged_saved_loaded_removed_and_pulled() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let images = docker.ok(&["images"]);
    assert!(
        images.contains("busybox") && images.contains("latest"),
        "{images}"
    );
    // Nothing dangling: the prunes answer and keep what is used or tagged.
    for what in ["image", "network", "volume"] {
        let out = docker.ok(&[what, "prune", "-f"]);
        assert!(
            out.contains("Total reclaimed space") || out.is_empty(),
            "{what}: {out}"
        );
    }
    assert!(docker.ok(&["images", "-q"]).lines().count() >= 1);
    let history = docker.ok(&["history", "busybox"]);
    assert!(history.contains("IMAGE"), "{history}");
    docker.ok(&["tag", "busybox", "mybox:1"]);
    assert!(docker.ok(&["images", "mybox"]).contains("mybox"));

    let dir = TempDir::new("docker-save");
    let archive = dir.path().join("mybox.tar");
    docker.ok(&["save", "-o", archive.to_str().unwrap(), "mybox:1"]);
    let removed = docker.ok(&["rmi", "mybox:1"]);
    assert!(removed.contains("Untagged: mybox:1"), "{removed}");
    let loaded = docker.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: mybox:1"), "{loaded}");
    assert_eq!(
        docker.ok(&["run", "--rm", "mybox:1", "echo", "loaded"]),
        "loaded\n"
    );

    // A named volume, made and then used by two containers in turn.
    let volume = unique_name("vol");
    docker.ok(&["volume", "create", "--label", "purpose=test", &volume]);
    let mount = format!("{volume}:/data");
    docker.ok(&[
        "run",
        "--rm",
        "-v",
        &mount,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/file",
    ]);
    assert_eq!(
        docker.ok(&["run", "--rm", "-v", &mount, "busybox", "cat", "/data/file"]),
        "kept\n"
    );
    let inspect = docker.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Driver}} {{.Labels.purpose}}",
        &volume,
    ]);
    assert_eq!(inspect.trim(), "local test");
    docker.ok(&["volume", "rm", &volume]);
    assert!(!docker.ok(&["volume", "ls", "-q"]).contains(&volume));

    // A pull from a registry of the test's own, then a run of what it pulled.
    let registry = TestRegistry::plain();
    let pushed = shared_base_image()
        .push(
            &registry,
            "conti/base:1",
            ManifestFormat::DockerV2s2,
            LayerCompression::Gzip,
        )
        .expect("push the base image");
    let reference = registry.reference("conti/base:1");
    let out = docker.ok(&["pull", &reference]);
    assert!(
        out.contains("Pull complete") || out.contains("Already exists"),
        "{out}"
    );
    assert!(out.contains(&pushed.digest), "{out}");
    let again = docker.ok(&["pull", &reference]);
    assert!(again.contains("Image is up to date"), "{again}");
    docker.ok(&["run", "--rm", &reference, "true"]);
    let out = docker.run(&["pull", &registry.reference("conti/absent:1")]);
    assert_ne!(code(&out), 0);
    assert!(
        text(&out.stderr).contains("conti/absent"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn what_conti_cannot_do_is_refused_by_name_and_nothing_is_created() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    for (flags, field) in [
        (vec!["--volumes-from", "other"], "HostConfig.VolumesFrom"),
        (vec!["--restart", "sometimes"], "restart policy"),
        (vec!["--mac-address", "02:42:ac:11:00:02"], "MacAddress"),
        (vec!["--tmpfs", "/t:huge=always"], "huge=always"),
        (vec!["-p", "80"], "random host port"),
    ] {
        expect_refused(&docker, &flags, field);
    }
    assert!(d.list_all().is_empty(), "a refused create leaves nothing");

    // An unknown route of a versioned path answers in Docker's shape; a version past ours
    // is refused with the one the daemon speaks.
    let response = d.get("/v1.41/no/such/route");
    assert_eq!(response.status, 404);
    let body: serde_json::Value = response.json();
    assert_eq!(body, serde_json::json!({ "message": "page not found" }));
    let response = d.get("/v1.99/containers/json");
    assert_eq!(response.status, 400);
    let body: serde_json::Value = response.json();
    assert!(body["message"].as_str().unwrap().contains("1.47"), "{body}");
    let ping = d.get("/_ping");
    assert_eq!(ping.status, 200);
    assert_eq!(ping.body, b"OK");
    assert_eq!(ping.header("api-version"), Some("1.47"));
}

#[test]
fn files_and_names_flags_reach_the_container() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let out = docker.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--tmpfs",
        "/t:size=1m,mode=700",
        "--shm-size",
        "8m",
        "--add-host",
        "db.local:10.9.8.7",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "corp.example",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /t | /dev/shm ' /proc/mounts; cat /etc/hosts /etc/resolv.conf",
    ]);
    let tmpfs = out.lines().find(|l| l.contains(" /t ")).unwrap_or_default();
    assert!(
        tmpfs.contains("size=1024k") && tmpfs.contains("mode=700"),
        "{out}"
    );
    let shm = out
        .lines()
        .find(|l| l.contains(" /dev/shm "))
        .unwrap_or_default();
    assert!(shm.contains("size=8192k"), "{out}");
    assert!(out.contains("10.9.8.7\tdb.local\n"), "{out}");
    assert!(
        out.contains("nameserver 192.0.2.53\n") && out.contains("search corp.example\n"),
        "{out}"
    );

    // -v /path: an anonymous volume, which rm -v removes.
    let id = docker.ok(&["create", "-v", "/anon", "busybox", "true"]);
    let id = id.trim();
    let volumes = docker.ok(&["volume", "ls", "-q"]);
    assert_eq!(volumes.lines().count(), 1, "{volumes}");
    assert!(
        docker
            .ok(&[
                "inspect",
                "-f",
                "{{range .Mounts}}{{.Destination}}{{end}}",
                id
            ])
            .contains("/anon")
    );
    docker.ok(&["rm", "-v", id]);
    assert_eq!(docker.ok(&["volume", "ls", "-q"]), "");
}

const SDK_SCRIPT: &str = r#"
import sys, docker
client = docker.DockerClient(base_url=sys.argv[1])
assert client.ping()
out = client.containers.run("busybox", ["sh", "-c", "echo sdk $A"], environment={"A": "1"}, remove=True)
assert out == b"sdk 1\n", out
c = client.containers.run("busybox", ["sleep", "60"], detach=True, name=sys.argv[2], working_dir="/tmp")
c.reload()
assert c.status == "running", c.status
r = c.exec_run(["sh", "-c", "pwd; exit 4"])
assert (r.exit_code, r.output) == (4, b"/tmp\n"), r
c.kill()
assert c.wait()["StatusCode"] == 137
c.remove()
assert not client.containers.list(all=True)
assert any("busybox:latest" in i.tags for i in client.images.list())
try:
    client.containers.run("busybox", ["true"], volumes_from=["other"])
    raise SystemExit("the unsupported field was accepted")
except docker.errors.APIError as e:
    assert e.status_code == 400 and "HostConfig.VolumesFrom" in str(e.explanation), e
print("ok")
"#;

/// The Python interpreter that has the `docker` SDK: `$CONTI_PYTHON` (`.ci/run`'s venv),
/// else `python3` when it can import it.
fn sdk_python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONTI_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let has_sdk = Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_sdk {
        return Some(PathBuf::from("python3"));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the docker Python SDK is missing (.ci/run installs it)"
    );
    eprintln!("SKIPPED: the docker Python SDK is not installed (pip install docker)");
    None
}

#[test]
fn the_python_sdk_runs_execs_and_removes_containers() {
    let d = Daemon::start_with_busybox();
    let Some(python) = sdk_python() else {
        return;
    };
    let host = format!("unix://{}", d.socket().display());
    let out = run_command(
        Command::new(python)
            .args(["-c", SDK_SCRIPT, &host, &unique_name("sdk")])
            .env_remove("DOCKER_HOST"),
        TIMEOUT,
    );
    assert!(
        out.status.success() && text(&out.stdout).trim() == "ok",
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A tmux server of the test's own (its own socket), killed at the end.
struct Tmux {
    socket: PathBuf,
    _dir: TempDir,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let dir = TempDir::new("tmux");
        let tmux = Tmux {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        };
        tmux.ok(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "t",
            command,
        ]);
        tmux
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = run_command(
            Command::new("tmux").arg("-S").arg(&self.socket).args(args),
            TIMEOUT,
        );
        assert!(out.status.success(), "tmux {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn type_line(&self, line: &str) {
        self.ok(&["send-keys", "-t", "t", "-l", line]);
        self.ok(&["send-keys", "-t", "t", "Enter"]);
    }

    fn expect(&self, what: &str) {
        let mut screen = String::new();
        let found = (0..400).any(|_| {
            screen = self.ok(&["capture-pane", "-p", "-t", "t"]);
            screen.contains(what) || {
                std::thread::sleep(Duration::from_millis(50));
                false
            }
        });
        assert!(found, "{what:?} never showed; screen:\n{screen}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn docker_run_it_and_exec_it_give_a_terminal() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let name = unique_name("tty");
    let shell = format!(
        "env DOCKER_HOST={} DOCKER_CONFIG={} {} run -it --name {name} busybox sh; echo EXITED:$?; sleep 60",
        docker.host,
        docker.config.path().display(),
        docker.bin.display()
    );
    let tmux = Tmux::start(&shell);
    // Keys typed before the CLI has its terminal raw and the attach up would be lost.
    tmux.expect("/ #");
    tmux.type_line("echo $((6*7)) $(stty size) $TERM");
    tmux.expect("42 30 100 xterm");
    // A second terminal into the same container.
    let exec = format!(
        "env DOCKER_HOST={} DOCKER_CONFIG={} {} exec -it {name} sh; echo EXEC-EXITED:$?; sleep 60",
        docker.host,
        docker.config.path().display(),
        docker.bin.display()
    );
    let second = Tmux::start(&exec);
    second.expect("/ #");
    second.type_line("tty; exit 4");
    second.expect("/dev/pts/");
    second.expect("EXEC-EXITED:4");
    tmux.type_line("exit 7");
    tmux.expect("EXITED:7");
    assert_eq!(
        docker
            .ok(&["inspect", "-f", "{{.State.ExitCode}}", &name])
            .trim(),
        "7"
    );
    docker.ok(&["rm", &name]);
}

#[test]
fn networks_events_stats_top_and_prunes() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let network = unique_name("net");
    docker.ok(&["network", "create", &network]);
    assert!(docker.ok(&["network", "ls"]).contains(&network));
    let server = unique_name("srv");
    docker.ok(&[
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &network,
        "busybox",
        "sleep",
        "300",
    ]);
    // The second container finds the first by name on their network.
    let out = docker.ok(&[
        "run",
        "--rm",
        "--network",
        &network,
        "busybox",
        "ping",
        "-c1",
        "-W2",
        &server,
    ]);
    assert!(out.contains("1 packets received"), "{out}");
    let members = docker.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        &network,
    ]);
    assert_eq!(members.trim(), server);
    let out = docker.run(&["network", "rm", &network]);
    assert_ne!(code(&out), 0, "a network in use stays");

    // Events, as `docker events` prints them, filtered.
    let mut events = docker
        .command(&[
            "events",
            "--filter",
            "event=die",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let short = unique_name("short");
    let out = docker.run(&["run", "--name", &short, "busybox", "sh", "-c", "exit 9"]);
    assert_eq!(code(&out), 9);
    let mut reader = std::io::BufReader::new(events.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let _ = events.kill();
    let _ = events.wait();
    assert_eq!(line.trim(), format!("die {short} 9"));

    let stats = docker.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        &server,
    ]);
    assert_eq!(stats.trim(), format!("{server} 1"));
    let top = docker.ok(&["top", &server]);
    assert!(top.contains("sleep 300"), "{top}");
    let df = docker.ok(&["system", "df"]);
    assert!(df.contains("Images") && df.contains("Containers"), "{df}");

    let short_id = d.inspect(&short).id.replace('-', "");
    let pruned = docker.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains(&short_id), "{pruned}");
    assert!(
        d.list_all().iter().all(|c| c.name != short),
        "the exited one is pruned"
    );
    assert_eq!(
        d.inspect(&server).state,
        ContainerState::Running,
        "the running one stays"
    );
    docker.ok(&["rm", "-f", &server]);
    docker.ok(&["network", "rm", &network]);
    assert!(!docker.ok(&["network", "ls"]).contains(&network));
}

const COMPOSE: &str = "/usr/bin/docker-compose";

/// Two services on a user network: `db` serves a named volume's file over HTTP, `web` (after
/// it, publishing a port) serves its own page.
const COMPOSE_FILE: &str = r#"version: "3"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo stored > /data/file; echo db-up; exec httpd -f -p 80 -h /data"]
    volumes:
      - data:/data
    networks: [back]
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; echo front > /www/index.html; echo web-up; exec httpd -f -p 80 -h /www"]
    depends_on: [db]
    ports: ["127.0.0.1:PORT:80"]
    networks: [back]
volumes:
  data: {}
networks:
  back: {}
"#;

#[test]
fn docker_compose_brings_up_a_two_service_project_and_takes_it_down() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    if !Path::new(COMPOSE).is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{COMPOSE} is missing (.ci/run installs docker-compose)"
        );
        eprintln!("SKIPPED: {COMPOSE} is not installed (apt-get install docker-compose)");
        return;
    }
    let dir = TempDir::new("compose");
    let port = free_loopback_port();
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(&file, COMPOSE_FILE.replace("PORT", &port.to_string())).unwrap();
    let project = unique_name("proj").replace('-', "");
    let compose = |args: &[&str]| {
        let out = run_command(
            Command::new(COMPOSE)
                .arg("-f")
                .arg(&file)
                .args(["-p", &project])
                .args(args)
                .env("DOCKER_HOST", &docker.host)
                .env("DOCKER_CONFIG", docker.config.path()),
            TIMEOUT,
        );
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    compose(&["up", "-d"]);
    let ps = compose(&["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    wait_until(Duration::from_secs(10), "both services to log", || {
        let logs = compose(&["logs", "--no-color"]);
        logs.contains("db-up") && logs.contains("web-up")
    });
    // web finds db by its service name and reads the named volume's file through it.
    let fetched = compose(&["exec", "-T", "web", "wget", "-q", "-O-", "http://db/file"]);
    assert_eq!(fetched, "stored\n");
    let mut page = String::new();
    wait_until(Duration::from_secs(10), "the published port", || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
        page.clear();
        let _ = stream.read_to_string(&mut page);
        page.ends_with("front\n")
    });
    let labels = docker.ok(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "-q",
    ]);
    assert_eq!(labels.lines().count(), 2, "{labels}");
    let volume = format!("{project}_data");
    assert!(docker.ok(&["volume", "ls", "-q"]).contains(&volume));

    compose(&["down", "-v"]);
    assert!(d.list_all().is_empty(), "down removes the containers");
    assert!(
        !docker
            .ok(&["network", "ls"])
            .contains(&format!("{project}_back"))
    );
    assert!(!docker.ok(&["volume", "ls", "-q"]).contains(&volume));
}

#[test]
fn log_options_limit_the_log_and_unknown_ones_are_refused() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let script = "i=1; while [ $i -le 400 ]; do echo \"line $i 0123456789012345678901234567890123456789\"; \
                  i=$((i+1)); done";
    let id = docker
        .ok(&[
            "run",
            "-d",
            "--log-opt",
            "max-size=2k",
            "--log-opt",
            "max-file=3",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .trim()
        .to_string();
    assert_eq!(docker.ok(&["wait", &id]).trim(), "0");
    let config = docker.ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &id]);
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        config,
        serde_json::json!({"Type": "json-file", "Config": {"max-size": "2048", "max-file": "3"}})
    );
    // Docker's id is Conti's without its dashes.
    let folder = d.container_dir(&d.inspect(&id).id);
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("container.log"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["container.log", "container.log.1", "container.log.2"]
    );
    let logs = docker.ok(&["logs", &id]);
    assert!(logs.ends_with("line 400 0123456789012345678901234567890123456789\n"));
    assert!(
        !logs.starts_with("line 1 "),
        "older lines were rotated away"
    );
    docker.ok(&["rm", &id]);

    for (flags, why) in [
        (
            vec!["--log-opt", "compress=true"],
            "option compress is not supported",
        ),
        (vec!["--log-opt", "max-size=big"], "max-size"),
        (vec!["--log-driver", "syslog"], "syslog is not supported"),
    ] {
        expect_refused(&docker, &flags, why);
    }
    assert!(d.list_all().is_empty(), "a refused create leaves nothing");
}

#[test]
fn docker_ps_filters_df_sizes_filtered_prunes_and_exec_detached() {
    let d = Daemon::start_with_busybox();
    let Some(docker) = DockerCli::new(&d) else {
        return;
    };
    let (web, failed) = (unique_name("web"), unique_name("failed"));
    docker.ok(&["run", "-d", "--name", &web, "busybox", "sleep", "300"]);
    let out = docker.run(&["run", "--name", &failed, "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3);
    let listed = docker.ok(&["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"]);
    assert_eq!(listed.trim(), failed);
    let listed = docker.ok(&["ps", "-a", "--filter", &format!("since={web}"), "-q"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");

    // docker exec -d: the command runs on after the CLI returns.
    docker.ok(&[
        "exec",
        "-d",
        &web,
        "sh",
        "-c",
        "sleep 1; echo later > /tmp/later",
    ]);
    wait_until(Duration::from_secs(20), "the detached exec's file", || {
        code(&docker.run(&["exec", &web, "test", "-s", "/tmp/later"])) == 0
    });
    docker.ok(&["exec", &web, "sh", "-c", "head -c 40000 /dev/zero > /big"]);

    // Sizes in docker's df, from the engine's measure.
    let df = docker.ok(&["system", "df", "-v"]);
    let row = df
        .lines()
        .find(|line| line.ends_with(&web))
        .unwrap_or_else(|| panic!("{df}"));
    assert!(row.contains("40kB") || row.contains("40.0kB"), "{row}");

    // Filtered prunes: nothing older than 2000, then the exited one; networks too.
    let pruned = docker.ok(&[
        "container",
        "prune",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]);
    assert!(!pruned.contains("Deleted"), "{pruned}");
    let pruned = docker.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert!(docker.ok(&["ps", "-aq"]).lines().count() == 1);
    let network = unique_name("net");
    docker.ok(&["network", "create", &network]);
    let pruned = docker.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains(&network), "{pruned}");
    docker.ok(&["rm", "-f", &web]);
}
