//! Hostile neighbours on a bridge: what a default container (which holds CAP_NET_RAW, as in
//! Docker) can send with crafted frames, and what the host and the other containers must not take
//! from it. The attacks are `syscall-probe`'s (`tests/probe/raw-network.c`); their traffic goes
//! to 127.0.0.1 on the host, which is what is checked, or stays on the test's own bridge.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conti_tests::network::{free_loopback_port, loopback_to_80, table_family_text};
use conti_tests::probe::{import_probe_image, probe_sh};
use conti_tests::{ContainerSpec, Daemon, run_command, sh, spec, wait_until};

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
        ports: vec![loopback_to_80(port)],
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

/// The MAC a container's neighbour table holds for `address`, or "" when it has none.
fn neighbour(d: &Daemon, id: &str, address: &str) -> String {
    let out = d.exec(id, &["ip", "neigh", "show", address]);
    assert_eq!(out.exit_code, 0, "{out:?}");
    let mut fields = out.stdout.split_whitespace();
    fields
        .find(|field| *field == "lladdr")
        .and_then(|_| fields.next())
        .unwrap_or_default()
        .to_string()
}

fn mac_of(d: &Daemon, id: &str) -> String {
    d.inspect(id).networks[0].mac_address.clone()
}

fn address_of(d: &Daemon, id: &str) -> String {
    d.inspect(id).networks[0].ip_address.clone()
}

/// `bridge fdb` lines of the bridge that name `mac`.
fn forwarding_entries(bridge: &str, mac: &str) -> Vec<String> {
    let out = run_command(
        Command::new("bridge").args(["fdb", "show", "br", bridge]),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.starts_with(mac))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_container_cannot_claim_the_gateways_or_a_neighbours_addresses() {
    let d = Daemon::start_with_busybox();
    import_probe_image(&d);
    let bridge = d.networking().bridge.clone();
    let bystander = d.run_detached(&spec(&["sleep", "600"]));
    let bystander_ip = address_of(&d, &bystander);
    // The victim knows the gateway and its neighbour, then listens for datagrams.
    let victim = d.run_detached(&probe_sh(&format!(
        "ping -c 1 -W 2 $(ip route | awk '/default/ {{print $3}}') && ping -c 1 -W 2 \
         {bystander_ip} && syscall-probe udp_receive 7777 60 > /tmp/received; sleep 600"
    )));
    let victim_ip = address_of(&d, &victim);
    let victim_mac = mac_of(&d, &victim);
    let gateway = d.inspect(&victim).networks[0].gateway.clone();
    wait_until(
        Duration::from_secs(10),
        "the victim to know its neighbours",
        || {
            !neighbour(&d, &victim, &gateway).is_empty()
                && !neighbour(&d, &victim, &bystander_ip).is_empty()
        },
    );
    let before = (
        neighbour(&d, &victim, &gateway),
        neighbour(&d, &victim, &bystander_ip),
    );
    let bridge_mac = std::fs::read_to_string(format!("/sys/class/net/{bridge}/address"))
        .expect("the bridge's MAC");
    assert_eq!(before.0, bridge_mac.trim());
    assert_eq!(before.1, mac_of(&d, &bystander));
    // Past the neighbour table's locktime (1 s), when an ARP could replace an entry.
    std::thread::sleep(Duration::from_millis(1200));

    // The attacker says, from its own MAC, that the gateway and the bystander are at its MAC;
    // sends a datagram as the bystander, then one as itself; then claims its own address from
    // the victim's MAC (which the bridge would learn on the attacker's port).
    let attacker = d.run_detached(&probe_sh("sleep 600"));
    let attacker_ip = address_of(&d, &attacker);
    let attack = format!(
        "syscall-probe arp_claim {gateway} && syscall-probe arp_claim {bystander_ip} && \
         syscall-probe udp_from {bystander_ip} {victim_ip} 7777 && \
         syscall-probe udp_from {attacker_ip} {victim_ip} 7777 && \
         syscall-probe arp_claim {attacker_ip} {victim_mac}"
    );
    let out = d.exec(&attacker, &["sh", "-c", &attack]);
    assert_eq!(out.exit_code, 0, "the attacker sent it all: {out:?}");
    let own = format!("from {attacker_ip}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut received = String::new();
    while Instant::now() < deadline && !received.contains(&own) {
        std::thread::sleep(Duration::from_millis(50));
        received = d.exec(&victim, &["cat", "/tmp/received"]).stdout;
    }

    assert_eq!(
        (
            neighbour(&d, &victim, &gateway),
            neighbour(&d, &victim, &bystander_ip)
        ),
        before,
        "the victim's neighbour table changed"
    );
    assert!(
        !received.contains(&format!("from {bystander_ip}")),
        "a datagram with a spoofed source reached the victim: {received}"
    );
    let victim_port = conti_tests::network::host_interface(&victim);
    let entries = forwarding_entries(&bridge, &victim_mac);
    assert!(
        !entries.is_empty() && entries.iter().all(|e| e.contains(&victim_port)),
        "the bridge learned the victim's MAC {victim_mac} elsewhere than on {victim_port}: \
         {entries:?}"
    );
    // Legitimate traffic still flows: the attacker's datagram from its own address came.
    assert!(received.contains(&own), "{received}");
    let ping = d.exec(&attacker, &["ping", "-c", "1", "-W", "2", &victim_ip]);
    assert_eq!(ping.exit_code, 0, "{ping:?}");
}

#[test]
fn port_guards_follow_the_containers_and_are_rebuilt_after_a_restart() {
    let mut d = Daemon::start_with_busybox();
    let table = d.networking().table.clone();
    let guards = || table_family_text("bridge", &table);
    let created = d.create(&spec(&["sleep", "600"]));
    let port = conti_tests::network::host_interface(&created);
    let element = format!(
        "\"{port}\" . {} . {}",
        mac_of(&d, &created),
        address_of(&d, &created)
    );
    assert!(guards().contains(&element), "{}", guards());

    // A daemon that died keeps nothing it cannot vouch for: an element nobody owns goes, a
    // missing one comes back.
    d.start_container(&created);
    d.kill9();
    let stray = "\"vc0123456789ab\" . 02:42:0a:00:00:09 . 10.0.0.9";
    for command in [
        format!("add element bridge {table} addresses {{ {stray} }}"),
        format!("delete element bridge {table} addresses {{ {element} }}"),
    ] {
        let out = run_command(Command::new("nft").arg(&command), Duration::from_secs(10));
        assert!(out.status.success(), "nft {command}: {out:?}");
    }
    d.launch();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !guards().contains(&element) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = guards();
    assert!(
        text.contains(&element) && !text.contains("vc0123456789ab"),
        "{text}"
    );
    let gateway = d.inspect(&created).networks[0].gateway.clone();
    let ping = d.exec(&created, &["ping", "-c", "1", "-W", "2", &gateway]);
    assert_eq!(ping.exit_code, 0, "{ping:?}");

    d.remove(&created);
    let text = guards();
    assert!(
        !text.contains(&port),
        "the element goes with the container: {text}"
    );
}
