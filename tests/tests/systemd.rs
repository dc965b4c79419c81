//! contid under systemd, without systemd as PID 1: socket activation through
//! `systemd-socket-activate` (it listens and hands contid the socket as fd 3, as systemd does),
//! and `sd_notify` messages to a datagram socket the test binds as `NOTIFY_SOCKET`.

use std::fs;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use conti_tests::as_nobody::curl_as_nobody;
use conti_tests::daemon::SYSTEMD_VARIABLES;
use conti_tests::{Daemon, DaemonInfo, spec, unique_name, wait_until};

/// The messages contid sends to the test's `NOTIFY_SOCKET`, as they arrive (read by a thread
/// that ends when this is dropped).
struct Notifications {
    received: Receiver<String>,
}

impl Notifications {
    /// Reads what `socket` receives.
    fn listen(socket: UnixDatagram) -> Notifications {
        let (sender, received) = mpsc::channel();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                if let Ok(len) = socket.recv(&mut buf) {
                    let message = String::from_utf8_lossy(&buf[..len]).into_owned();
                    if sender.send(message).is_err() {
                        return;
                    }
                } else if sender.send(String::new()).is_err() {
                    // A read timed out and nobody waits any more.
                    return;
                }
            }
        });
        Notifications { received }
    }

    /// The first message with `line` among its lines, and those that came before it; panics
    /// after `timeout`.
    fn wait_for(&self, line: &str, timeout: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.received.recv_timeout(left) {
                Ok(message) if message.lines().any(|l| l == line) => return (message, before),
                Ok(message) if message.is_empty() => {}
                Ok(message) => before.push(message),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("no {line:?} within {timeout:?}; received before: {before:?}")
                }
            }
        }
    }

    /// How many messages that are exactly `message` arrive during `period`.
    fn count(&self, message: &str, period: Duration) -> usize {
        let deadline = Instant::now() + period;
        let mut count = 0;
        while let Ok(received) = self
            .received
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            count += usize::from(received == message);
        }
        count
    }
}

/// A `NOTIFY_SOCKET` bound in the daemon's folder.
fn notify_socket(d: &Daemon) -> (String, Notifications) {
    let path = d.dir().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
    (path.display().to_string(), Notifications::listen(socket))
}

/// Panics when `text` (a process's environment) shows one of systemd's variables.
fn assert_no_systemd_variables(text: &str, whose: &str) {
    for name in SYSTEMD_VARIABLES {
        assert!(
            !text
                .lines()
                .any(|line| line.starts_with(&format!("{name}="))),
            "{whose} sees {name}:\n{text}"
        );
    }
}

/// The socket behind `/proc/<pid>/fd/<fd>` (`socket:[inode]`).
fn fd_target(pid: i32, fd: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|target| target.display().to_string())
}

#[test]
fn socket_activation_serves_the_socket_systemd_made_as_it_is() {
    let mut d = Daemon::unstarted();
    d.set_socket_activation(true);
    let (notify, _notifications) = notify_socket(&d);
    d.set_env(&[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "2000000")]);
    d.launch_without_waiting()
        .expect("systemd-socket-activate starts");
    wait_until(
        Duration::from_secs(10),
        "systemd-socket-activate to make the socket",
        || d.socket().exists(),
    );
    let made = fs::metadata(d.socket()).expect("the socket file");
    // contid is started by the first connection, which it then answers.
    d.wait_until_answering().expect("contid answers");
    let served = fs::metadata(d.socket()).expect("the socket file");
    assert_eq!(
        (served.ino(), served.uid(), served.gid(), served.mode()),
        (made.ino(), made.uid(), made.gid(), made.mode()),
        "contid made the socket again or changed its owner or mode (systemd owns it)"
    );
    assert!(
        ![0o600, 0o660].contains(&(made.mode() & 0o777)),
        "systemd-socket-activate's mode is the one contid would set: the check proves nothing"
    );
    let info: DaemonInfo = d.get("/v1/info").json();
    assert_eq!(info.socket, d.socket().display().to_string());
    assert!(
        d.log_text().contains("socket activation"),
        "{}",
        d.log_text()
    );

    // Neither the listening socket nor systemd's variables reach anything contid starts.
    d.import_busybox();
    let mut sleeper = spec(&["sleep", "1000"]);
    sleeper.name = Some(unique_name("sleeper"));
    let id = d.run_detached(&sleeper);
    let (_, code, env) = d.run(&spec(&["env"]));
    assert_eq!(code, 0);
    assert_no_systemd_variables(&env, "a container");
    assert_no_systemd_variables(&d.exec(&id, &["env"]).stdout, "an exec");
    let listening = fd_target(d.pid(), "3").expect("contid holds fd 3");
    assert!(listening.starts_with("socket:"), "{listening}");
    let others: Vec<i32> = d
        .processes()
        .into_iter()
        .filter(|&pid| pid != d.pid())
        .collect();
    assert!(others.len() >= 3, "helper, monitor, init: {others:?}");
    for pid in others {
        let fds = fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten();
        for fd in fds.flatten() {
            let fd = fd.file_name().to_string_lossy().into_owned();
            assert_ne!(
                fd_target(pid, &fd).as_deref(),
                Some(listening.as_str()),
                "process {pid} holds the API's listening socket (fd {fd})"
            );
        }
    }

    // A socket made more open than contid would make it still answers only root and its group.
    fs::set_permissions(d.socket(), fs::Permissions::from_mode(0o666)).expect("chmod");
    let (_, status, body) = curl_as_nobody(d.socket(), None, "GET", "/v1/containers", None);
    assert_eq!(status, "403", "{body}");

    let status = d.terminate();
    assert!(status.success(), "{status}; log:\n{}", d.log_text());
    let left = fs::metadata(d.socket()).expect("systemd's socket file stays");
    assert_eq!(left.ino(), made.ino());
}

#[test]
fn notify_says_ready_once_the_api_answers_then_the_status_the_watchdog_and_stopping() {
    let mut d = Daemon::unstarted();
    let (notify, notifications) = notify_socket(&d);
    d.set_env(&[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "400000")]);
    d.launch_without_waiting().expect("contid starts");
    let (ready, before) = notifications.wait_for("READY=1", Duration::from_secs(20));
    // Right when READY=1 arrives, the API answers, on the first try.
    let version = d
        .client()
        .with_timeout(Duration::from_secs(5))
        .try_request("GET", "/v1/version", None)
        .expect("the API answers when READY=1 arrives");
    assert_eq!(version.status, 200);
    assert!(
        before.iter().any(|m| m == "STATUS=adopting 0 containers"),
        "{before:?}"
    );
    let serving = |running: usize| {
        format!(
            "STATUS=serving on {}: {running} running",
            d.socket().display()
        )
    };
    assert!(ready.lines().any(|l| l == serving(0)), "{ready:?}");

    d.import_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    notifications.wait_for(&serving(1), Duration::from_secs(10));
    let (_, _, env) = d.run(&spec(&["env"]));
    assert_no_systemd_variables(&env, "a container");
    d.remove(&id);
    notifications.wait_for(&serving(0), Duration::from_secs(10));

    // Every 0.2 s: at half of WATCHDOG_USEC.
    let pings = notifications.count("WATCHDOG=1", Duration::from_secs(2));
    assert!((5..=15).contains(&pings), "{pings} watchdog pings in 2 s");

    // The messages wait in the channel: SIGTERM first, then look.
    assert!(d.terminate().success());
    let (stopping, _) = notifications.wait_for("STOPPING=1", Duration::from_secs(5));
    assert!(stopping.contains("STATUS=stopping"), "{stopping:?}");
}

#[test]
fn the_watchdog_of_another_process_is_not_pinged_and_abstract_sockets_are_notified() {
    let mut d = Daemon::unstarted();
    let name = unique_name("conti-notify");
    let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).expect("name"))
        .expect("binding an abstract socket");
    let notifications = Notifications::listen(socket);
    d.set_env(&[
        ("NOTIFY_SOCKET", &format!("@{name}")),
        ("WATCHDOG_USEC", "200000"),
        ("WATCHDOG_PID", "1"),
    ]);
    d.launch_without_waiting().expect("contid starts");
    notifications.wait_for("READY=1", Duration::from_secs(20));
    assert_eq!(
        notifications.count("WATCHDOG=1", Duration::from_secs(1)),
        0,
        "contid pinged a watchdog that watches pid 1"
    );
}
