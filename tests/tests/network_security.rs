//! Hostile neighbours on a bridge: what a default container (which holds CAP_NET_RAW, as in
//! Docker) can send with crafted frames, and what the host and the other containers must not take
//! from it. The attacks are `syscall-probe`'s (`tests/probe/raw-network.c`); their traffic goes
//! to 127.0.0.1 on the host, which is what is checked, or stays on the test's own bridge.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conti_tests::network::free_loopback_port;
use conti_tests::probe::{import_probe_image, probe_sh};
use conti_tests::{ContainerSpec, Daemon, PortBinding, run_command, sh, wait_until};

/// A server of the test on the host's 127.0.0.1: records the first line of every request it
/// gets until it is dropped.
struct LoopbackServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    fn start() -> LoopbackServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("its address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok((mut connection, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let _ = connection.set_nonblocking(false);
                    let _ = connection.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut request = vec![0; 512];
                    let read = connection.read(&mut request).unwrap_or(0);
                    let text = String::from_utf8_lossy(&request[..read]);
                    let line = text.lines().next().unwrap_or("(nothing)").to_string();
                    requests.lock().unwrap().push(line);
                }
            })
        };
        LoopbackServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// busybox httpd serving `page` on port 80, published on the host's `127.0.0.1:port`.
fn published_web_server(page: &str, port: u16) -> ContainerSpec {
    ContainerSpec {
        ports: vec![PortBinding {
            host_ip: "127.0.0.1".into(),
            host_port: port,
            container_port: 80,
            protocol: Default::default(),
        }],
        ..sh(&format!(
            "mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www"
        ))
    }
}

fn host_fetch(url: &str) -> Option<String> {
    let out = run_command(
        Command::new("busybox").args(["wget", "-q", "-O-", url]),
        Duration::from_secs(5),
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn a_container_cannot_reach_the_hosts_loopback_but_published_ports_still_work() {
    let d = Daemon::start_with_busybox();
    import_probe_image(&d);
    let server = LoopbackServer::start();
    let closed = free_loopback_port();
    // The bridge routes 127.0.0.0/8 (for ports published on the host's loopback), so a frame
    // sent to its MAC with a loopback destination reaches the host's own services unless
    // something drops it: an open port would answer SYN-ACK and take a request, a closed one
    // RST, letting a container scan the host's loopback.
    let (_, _, logs) = d.run(&probe_sh(&format!(
        "syscall-probe loopback_tcp {}; syscall-probe loopback_tcp {closed}",
        server.port
    )));
    assert_eq!(
        logs, "loopback_tcp: Connection timed out\nloopback_tcp: Connection timed out\n",
        "the host's loopback answered a container"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.requests(),
        Vec::<String>::new(),
        "requests the server got"
    );
    let localnet = format!(
        "/proc/sys/net/ipv4/conf/{}/route_localnet",
        d.networking().bridge
    );
    assert_eq!(std::fs::read_to_string(&localnet).unwrap().trim(), "1");

    // What route_localnet is for still works: a port published on 127.0.0.1, from the host and
    // from another container (through its gateway).
    let port = free_loopback_port();
    let id = d.run_detached(&published_web_server("still-published", port));
    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut page = None;
    wait_until(Duration::from_secs(10), "the published page", || {
        page = host_fetch(&url);
        page.is_some()
    });
    assert_eq!(page.as_deref(), Some("still-published"));
    let gateway = d.inspect(&id).networks[0].gateway.clone();
    let (_, code, logs) = d.run(&sh(&format!(
        "wget -q -O- http://{gateway}:{port}/index.html"
    )));
    assert_eq!((code, logs.trim()), (0, "still-published"));
    // The same loopback attack on the published port is DNATed to its container: that one is
    // reachable by design, and only it.
    let (_, code, logs) = d.run(&probe_sh(&format!("syscall-probe loopback_tcp {port}")));
    assert_eq!((code, logs.as_str()), (0, "loopback_tcp: ok\n"));
}
