//! Terminals, attach, resize and streaming exec, driven through `conti-cli` in a real
//! pseudo-terminal and through the raw API.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conti_tests::cli::{cli, stdout};
use conti_tests::{ContainerSpec, ContainerState, Daemon, bin_path, sh, spec};
use nix::libc;
use nix::pty::{Winsize, openpty};

/// `conti-cli` running on the slave of a pty whose master the test holds.
struct Terminal {
    master: OwnedFd,
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
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
        }
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

/// Sends a POST asking for an upgrade; returns the status line and the socket.
fn upgrade(daemon: &Daemon, path: &str) -> (String, UnixStream) {
    let mut socket = UnixStream::connect(daemon.socket()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        socket,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    (head, socket)
}

/// Reads Docker frames to EOF: (stdout, stderr).
fn demux(mut socket: UnixStream) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut head = [0u8; 8];
    while socket.read_exact(&mut head).is_ok() {
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).unwrap();
        match head[0] {
            1 => out.extend(payload),
            2 => err.extend(payload),
            other => panic!("stream {other}"),
        }
    }
    (out, err)
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
    let (head, socket) = upgrade(&daemon, &format!("/v1/execs/{exec_id}/start"));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (out, err) = demux(socket);
    assert_eq!(String::from_utf8_lossy(&out), "out1\nout2\n");
    assert_eq!(String::from_utf8_lossy(&err), "err1\nerr2\n");
    let info: serde_json::Value = daemon.get(&format!("/v1/execs/{exec_id}")).json();
    assert_eq!(info["state"], "exited");
    assert_eq!(info["exit_code"], 4);
    // Starting it again is a conflict.
    let (head, _) = upgrade(&daemon, &format!("/v1/execs/{exec_id}/start"));
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
    let (head, socket) = upgrade(
        &daemon,
        &format!("/v1/containers/{id}/attach?stdout=true&stderr=true"),
    );
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
    let (head, _) = upgrade(&daemon, "/v1/containers/nope/attach");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (_, exit, _) = daemon.run(&spec(&["true"]));
    assert_eq!(exit, 0);
    let exited = daemon.list_all()[0].id.clone();
    let (head, _) = upgrade(&daemon, &format!("/v1/containers/{exited}/attach"));
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
    let (head, mut socket) = upgrade(&daemon, &format!("/v1/containers/{id}/attach?stdin=true"));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    socket.write_all(b"still here\n").unwrap();
    socket.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, _) = demux(socket);
    assert_eq!(out, b"still here\n");
    assert_eq!(daemon.wait(&id), 0);
    // The output also went to the log.
    assert!(stdout(&cli(&daemon, &["logs", &id])).contains("still here"));
}
