//! Terminals, attach, resize and streaming exec, driven through `conti-cli` in a real
//! pseudo-terminal and through the raw API.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conti_tests::cli::{cli, stderr, stdout};
use conti_tests::{ContainerSpec, ContainerState, Daemon, bin_path, demux, sh, spec, wait_until};
use nix::libc;
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{Signal, kill};
use nix::sys::termios::{LocalFlags, Termios, tcgetattr};
use nix::unistd::Pid;

/// `conti-cli` running on the slave of a pty whose master the test holds.
struct Terminal {
    master: OwnedFd,
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
    /// The terminal's settings before `conti-cli` ran on it.
    initial: Termios,
}

impl Terminal {
    fn spawn(daemon: &Daemon, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).unwrap();
        let initial = tcgetattr(&pty.master).unwrap();
        let slave = pty.slave;
        let mut command = Command::new(bin_path("conti-cli"));
        command
            .arg("--socket")
            .arg(daemon.socket())
            .args(args)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        let raw_slave = slave.as_raw_fd();
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                libc::ioctl(raw_slave, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        drop(slave);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let reader = pty.master.try_clone().unwrap();
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::from(reader);
            let mut buffer = [0u8; 4096];
            while let Ok(n) = file.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            master: pty.master,
            child,
            screen,
            initial,
        }
    }

    /// The settings of the terminal now (a pty's master reads its slave's).
    fn termios(&self) -> Termios {
        tcgetattr(&self.master).unwrap()
    }

    fn type_keys(&self, keys: &[u8]) {
        nix::unistd::write(&self.master, keys).unwrap();
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `what` after what was there when called... or anywhere.
    fn expect(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{what:?} never showed; screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize through the pointer.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }

    fn child_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    fn exit_code(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "conti-cli did not exit:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn run_it_feels_like_a_local_shell() {
    let daemon = Daemon::start_with_busybox();
    let term = Terminal::spawn(
        &daemon,
        &["run", "--rm", "-it", "--hostname", "boxy", "busybox", "sh"],
        30,
        100,
    );
    term.expect("# ");
    term.type_keys(b"hostname; echo pid=$$; tty; stty size\r");
    term.expect("boxy");
    term.expect("pid=1");
    term.expect("/dev/pts/0");
    term.expect("30 100");
    term.resize(40, 120);
    std::thread::sleep(Duration::from_millis(500));
    term.type_keys(b"stty size\r");
    term.expect("40 120");
    term.type_keys(b"sleep 100; echo sl\"\"ept\r");
    std::thread::sleep(Duration::from_millis(500));
    term.type_keys(b"\x03");
    term.type_keys(b"echo after-$((40+2))\r");
    term.expect("after-42");
    assert!(!term.text().contains("slept"));
    term.type_keys(b"exit 3\r");
    assert_eq!(term.exit_code(), 3);
}

#[test]
fn detach_and_attach_again() {
    let daemon = Daemon::start_with_busybox();
    let term = Terminal::spawn(
        &daemon,
        &["run", "-it", "--name", "shell", "busybox", "sh"],
        24,
        80,
    );
    term.expect("# ");
    term.type_keys(b"echo one-$((1+1))\r");
    term.expect("one-2");
    term.type_keys(b"\x10\x11");
    assert_eq!(term.exit_code(), 0);
    assert_eq!(daemon.inspect("shell").state, ContainerState::Running);

    let term = Terminal::spawn(&daemon, &["attach", "shell"], 24, 80);
    std::thread::sleep(Duration::from_millis(500));
    term.type_keys(b"echo two-$((2+2))\r");
    term.expect("two-4");
    term.type_keys(b"exit 7\r");
    assert_eq!(term.exit_code(), 7);
    assert_eq!(daemon.wait("shell"), 7);
}

#[test]
fn a_megabyte_goes_through_run_i_cat_unchanged() {
    let daemon = Daemon::start_with_busybox();
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut child = Command::new(bin_path("conti-cli"))
        .arg("--socket")
        .arg(daemon.socket())
        .args(["run", "--rm", "-i", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = data.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(output.stdout.len(), data.len());
    assert!(output.stdout == data, "the bytes differ");

    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo hi | {} --socket {} run --rm -i busybox cat",
            bin_path("conti-cli").display(),
            daemon.socket().display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        (piped.status.code(), stdout_of(&piped)),
        (Some(0), "hi\n".into())
    );
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_non_tty_exec_keeps_stdout_and_stderr_apart() {
    let daemon = Daemon::start_with_busybox();
    let id = daemon.run_detached(&spec(&["sleep", "600"]));
    let body = serde_json::json!({
        "cmd": ["sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 4"],
        "attach": true
    });
    let created = daemon.post_json(&format!("/v1/containers/{id}/exec"), &body);
    created.expect_status(201);
    let exec_id = created.json::<serde_json::Value>()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (head, socket) = daemon
        .client()
        .upgrade(&format!("/v1/execs/{exec_id}/start"));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (out, err) = demux(socket);
    assert_eq!(String::from_utf8_lossy(&out), "out1\nout2\n");
    assert_eq!(String::from_utf8_lossy(&err), "err1\nerr2\n");
    let info: serde_json::Value = daemon.get(&format!("/v1/execs/{exec_id}")).json();
    assert_eq!(info["state"], "exited");
    assert_eq!(info["exit_code"], 4);
    // Starting it again is a conflict.
    let (head, _) = daemon
        .client()
        .upgrade(&format!("/v1/execs/{exec_id}/start"));
    assert!(head.starts_with("HTTP/1.1 409"), "{head}");
    // The buffered one-shot form still works.
    assert_eq!(daemon.exec(&id, &["echo", "plain"]).stdout, "plain\n");
}

#[test]
fn exec_it_runs_on_a_terminal_in_the_container() {
    let daemon = Daemon::start_with_busybox();
    daemon.run_detached(&ContainerSpec {
        name: Some("web".into()),
        ..spec(&["sleep", "600"])
    });
    let term = Terminal::spawn(&daemon, &["exec", "-it", "web", "sh"], 33, 99);
    term.expect("# ");
    term.type_keys(b"tty; stty size\r");
    term.expect("/dev/pts/0");
    term.expect("33 99");
    term.type_keys(b"exit 5\r");
    assert_eq!(term.exit_code(), 5);
}

#[test]
fn attach_before_start_loses_no_output() {
    let daemon = Daemon::start_with_busybox();
    let id = daemon.create(&sh("echo first; echo second >&2"));
    let (head, socket) = daemon.client().upgrade(&format!(
        "/v1/containers/{id}/attach?stdout=true&stderr=true"
    ));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    daemon.start_container(&id);
    let (out, err) = demux(socket);
    assert_eq!(
        (out.as_slice(), err.as_slice()),
        (&b"first\n"[..], &b"second\n"[..])
    );
    assert_eq!(daemon.wait(&id), 0);
}

#[test]
fn bad_attach_and_resize_requests_are_clear_4xx() {
    let daemon = Daemon::start_with_busybox();
    let (head, _) = daemon.client().upgrade("/v1/containers/nope/attach");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (_, exit, _) = daemon.run(&spec(&["true"]));
    assert_eq!(exit, 0);
    let exited = daemon.list_all()[0].id.clone();
    let (head, _) = daemon
        .client()
        .upgrade(&format!("/v1/containers/{exited}/attach"));
    assert!(head.starts_with("HTTP/1.1 409"), "{head}");
    let tty = daemon.create(&ContainerSpec {
        tty: true,
        ..spec(&["sh"])
    });
    for query in ["h=0&w=80", "h=24&w=0", "h=70000&w=80", "h=24&w=99999999999"] {
        daemon
            .post(&format!("/v1/containers/{tty}/resize?{query}"), b"")
            .expect_status(400);
    }
    daemon
        .post(&format!("/v1/containers/{tty}/resize?h=24&w=80"), b"")
        .expect_status(204);
    daemon
        .get("/v1/execs/nope")
        .expect_error(404, "exec_not_found");
    daemon
        .post("/v1/execs/nope/resize?h=1&w=1", b"")
        .expect_error(404, "exec_not_found");
    // Without the upgrade headers.
    daemon
        .post(&format!("/v1/containers/{tty}/attach"), b"")
        .expect_error(400, "upgrade_required");
}

#[test]
fn attach_works_again_after_a_daemon_restart() {
    let mut daemon = Daemon::start_with_busybox();
    let id = daemon.run_detached(&ContainerSpec {
        open_stdin: true,
        ..spec(&["cat"])
    });
    daemon.restart();
    assert_eq!(daemon.inspect(&id).state, ContainerState::Running);
    let (head, mut socket) = daemon
        .client()
        .upgrade(&format!("/v1/containers/{id}/attach?stdin=true"));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    socket.write_all(b"still here\n").unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, _) = demux(socket);
    assert_eq!(out, b"still here\n");
    assert_eq!(daemon.wait(&id), 0);
    // The output also went to the log.
    assert!(stdout(&cli(&daemon, &["logs", &id])).contains("still here"));
}

/// Collects whatever `reader` yields into a shared buffer, on a thread.
fn collect(mut reader: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = buffer.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buffer
}

/// `conti-cli` with its stdin, stdout and stderr on pipes the test holds (no terminal).
struct Piped {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Piped {
    fn spawn(daemon: &Daemon, args: &[&str]) -> Piped {
        let mut child = Command::new(bin_path("conti-cli"))
            .arg("--socket")
            .arg(daemon.socket())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Piped {
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    fn expect(&self, what: &str) {
        wait_until(
            Duration::from_secs(20),
            &format!("{what:?} on stdout"),
            || self.stdout().contains(what),
        );
    }

    fn write(&mut self, input: &str) {
        let stdin = self.stdin.as_mut().expect("stdin closed");
        stdin.write_all(input.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    fn wait(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "conti-cli did not exit; stdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Says which signals it got; TERM ends it with 3.
const TRAPS: &str = "trap 'echo got INT' INT; trap 'echo got HUP' HUP; \
                     trap 'echo got TERM; exit 3' TERM; echo ready; \
                     while true; do sleep 0.1; done";

#[test]
fn run_forwards_int_term_and_hup_to_the_container() {
    let daemon = Daemon::start_with_busybox();
    let run = Piped::spawn(&daemon, &["run", "--rm", "busybox", "sh", "-c", TRAPS]);
    run.expect("ready");
    run.signal(Signal::SIGINT);
    run.expect("got INT");
    run.signal(Signal::SIGHUP);
    run.expect("got HUP");
    run.signal(Signal::SIGTERM);
    let (out, err) = (run.out.clone(), run.err.clone());
    let status = run.wait();
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    assert_eq!(status.code(), Some(3), "{}{}", text(&out), text(&err));
    assert!(text(&out).contains("got TERM"), "{}", text(&out));
    assert!(text(&err).is_empty(), "{}", text(&err));
}

#[test]
fn without_the_signal_proxy_a_signal_ends_the_cli_and_not_the_container() {
    let daemon = Daemon::start_with_busybox();
    let run = Piped::spawn(
        &daemon,
        &[
            "run",
            "--sig-proxy=false",
            "--name",
            "traps",
            "busybox",
            "sh",
            "-c",
            TRAPS,
        ],
    );
    run.expect("ready");
    run.signal(Signal::SIGTERM);
    let status = run.wait();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.inspect("traps").state, ContainerState::Running);
    assert!(
        !daemon.logs("traps").contains("got"),
        "{}",
        daemon.logs("traps")
    );
    // The container's own signals still reach it, through `kill`.
    let killed = cli(&daemon, &["kill", "-s", "TERM", "traps"]);
    assert!(killed.status.success(), "{}", stderr(&killed));
    assert_eq!(daemon.wait("traps"), 3);
}

#[test]
fn attach_forwards_signals_without_a_tty() {
    let daemon = Daemon::start_with_busybox();
    daemon.run_detached(&ContainerSpec {
        name: Some("traps".into()),
        ..sh(TRAPS)
    });
    wait_until(Duration::from_secs(20), "ready in the logs", || {
        daemon.logs("traps").contains("ready")
    });
    let attach = Piped::spawn(&daemon, &["attach", "traps"]);
    // Attached once the output it gets is the container's.
    std::thread::sleep(Duration::from_millis(500));
    attach.signal(Signal::SIGHUP);
    attach.expect("got HUP");
    attach.signal(Signal::SIGTERM);
    attach.expect("got TERM");
    assert_eq!(attach.wait().code(), Some(3));
    assert_eq!(daemon.wait("traps"), 3);
}

#[test]
fn two_clients_attached_at_once_share_output_and_input() {
    let daemon = Daemon::start_with_busybox();
    daemon.run_detached(&ContainerSpec {
        name: Some("echo".into()),
        open_stdin: true,
        ..spec(&["cat"])
    });
    let mut first = Piped::spawn(&daemon, &["attach", "--sig-proxy=false", "echo"]);
    let mut second = Piped::spawn(&daemon, &["attach", "--sig-proxy=false", "echo"]);
    // Both are attached once a line typed into the first comes out of the second.
    let mut ping = 0;
    wait_until(Duration::from_secs(20), "both clients attached", || {
        ping += 1;
        first.write(&format!("ping-{ping}\n"));
        std::thread::sleep(Duration::from_millis(100));
        second.stdout().contains("ping-")
    });
    first.write("from-first\n");
    second.write("from-second\n");
    for client in [&first, &second] {
        client.expect("from-first\n");
        client.expect("from-second\n");
    }
    // The first one goes away: the second one and the container do not notice.
    first.signal(Signal::SIGKILL);
    first.wait();
    second.write("after-first\n");
    second.expect("after-first\n");
    assert_eq!(daemon.inspect("echo").state, ContainerState::Running);
    // The end of the second one's input is the end of cat's.
    second.close_stdin();
    let output = second.stdout();
    assert_eq!(second.wait().code(), Some(0), "{output}");
    assert_eq!(daemon.wait("echo"), 0);
}

#[test]
fn start_a_attaches_then_starts() {
    let daemon = Daemon::start_with_busybox();
    let created = cli(
        &daemon,
        &[
            "create",
            "--name",
            "job",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 4",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let started = cli(&daemon, &["start", "-a", "job"]);
    assert_eq!(
        (started.status.code(), stdout(&started), stderr(&started)),
        (Some(4), "out\n".to_string(), "err\n".to_string())
    );
    // Exited: nothing to attach to before a start, and it says so.
    let again = cli(&daemon, &["start", "-a", "job"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("has exited"), "{}", stderr(&again));
    assert!(
        !cli(&daemon, &["start", "-a", "job", "job"])
            .status
            .success()
    );

    let created = cli(
        &daemon,
        &["create", "-i", "--name", "cat", "busybox", "cat"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let mut cat = Piped::spawn(&daemon, &["start", "-a", "-i", "cat"]);
    cat.write("hello\n");
    cat.expect("hello\n");
    cat.close_stdin();
    let output = cat.stdout();
    assert_eq!(cat.wait().code(), Some(0), "{output}");
    assert_eq!(output, "hello\n");
}

#[test]
fn the_terminal_is_restored_when_the_daemon_goes_away() {
    let mut daemon = Daemon::start_with_busybox();
    let mut term = Terminal::spawn(
        &daemon,
        &["run", "-it", "--name", "shell", "busybox", "sh"],
        24,
        80,
    );
    term.expect("# ");
    let raw = term.termios();
    assert!(
        !raw.local_flags.contains(LocalFlags::ICANON),
        "not in raw mode"
    );
    assert!(
        term.initial
            .local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    );

    daemon.kill9();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = term.child_status() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "conti-cli did not exit:\n{}",
            term.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let after = term.termios();
    assert_eq!(status.code(), Some(125), "{}", term.text());
    assert_eq!(after.local_flags, term.initial.local_flags);
    assert_eq!(after.input_flags, term.initial.input_flags);
    assert_eq!(after.output_flags, term.initial.output_flags);
    assert_eq!(after.control_flags, term.initial.control_flags);
    let screen = term.text();
    let last = screen
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("conti-cli: lost the connection to contid"),
        "{screen}"
    );

    // The container lived on, and a new daemon finds it.
    daemon.launch();
    assert_eq!(daemon.inspect("shell").state, ContainerState::Running);
    assert!(cli(&daemon, &["rm", "-f", "shell"]).status.success());
}
