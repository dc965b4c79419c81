//! Container networking from the outside: bridges, veths, addresses and routes, isolation
//! between networks, names, published ports, IPAM across restarts, bad input. Traffic goes only
//! to 127.0.0.0/8 and to addresses inside the namespaces these tests create.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use conti_tests::network::{
    bridge_ports, free_loopback_port, interfaces, ruleset_in_namespace_of, table_exists,
};
use conti_tests::probe::{import_probe_image, probe_sh};
use conti_tests::{
    ContainerSpec, Daemon, NetworkInfo, NetworkMode, NetworkSpec, PortBinding, run_command, sh,
    spec, unique_name, wait_until,
};

const GONE: Duration = Duration::from_secs(10);

/// A shell loop that fetches `url` until it answers (the server may still be starting).
fn fetch(url: &str) -> String {
    format!("for i in $(seq 50); do timeout 3 wget -q -O- {url} && exit 0; sleep 0.1; done; exit 1")
}

/// busybox httpd serving `page` as /index.html on port 80.
fn web_server(page: &str) -> ContainerSpec {
    sh(&format!(
        "mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www"
    ))
}

fn on(network: &str, mut spec: ContainerSpec) -> ContainerSpec {
    spec.network = NetworkMode::parse(network).expect("a network mode");
    spec
}

fn create_network(d: &Daemon, name: &str) -> NetworkInfo {
    let spec = NetworkSpec {
        name: name.to_string(),
        subnet: Some(conti_tests::network::unique_subnet()),
        gateway: None,
        ..Default::default()
    };
    let resp = d.post_json("/v1/networks", &spec);
    resp.expect_status(201);
    resp.json()
}

fn address_of(d: &Daemon, id: &str) -> String {
    let info = d.inspect(id);
    assert_eq!(info.networks.len(), 1, "{info:?}");
    info.networks[0].ip_address.clone()
}

#[test]
fn the_default_networks_gateway_is_configurable_and_checked() {
    let mut d = Daemon::unstarted();
    let prefix = d.networking().subnet.trim_end_matches(".0/24").to_string();
    let gateway = format!("{prefix}.254");
    d.set_args(&["--default-gateway", &gateway]);
    d.launch();
    d.import_busybox();
    let bridge: NetworkInfo = d.get("/v1/networks/bridge").json();
    assert_eq!(bridge.gateway, gateway);
    let (id, code, logs) = d.run(&sh("ip route"));
    assert_eq!(code, 0, "{logs}");
    assert!(
        logs.contains(&format!("default via {gateway} dev eth0")),
        "{logs}"
    );
    // The subnet's first address is then a container's.
    assert_eq!(d.inspect(&id).networks[0].ip_address, format!("{prefix}.1"));

    // A gateway outside the subnet: contid says why and does not start.
    let mut outside = Daemon::unstarted();
    outside.set_args(&["--default-gateway", "192.0.2.1"]);
    let error = outside.try_launch().expect_err("contid started");
    assert!(error.contains("gateway 192.0.2.1"), "{error}");
}

#[test]
fn a_bridge_container_has_lo_and_eth0_one_default_route_and_its_own_empty_ruleset() {
    let d = Daemon::start_with_busybox();
    let bridge = d.networking().bridge.clone();
    let id = d.run_detached(&spec(&["sleep", "600"]));
    let info = d.inspect(&id);
    assert_eq!(info.network, NetworkMode::Bridge);
    let [endpoint] = info.networks.as_slice() else {
        panic!("one network expected: {info:?}");
    };
    let subnet = &d.networking().subnet;
    let prefix = subnet.trim_end_matches(".0/24");
    assert!(
        endpoint.ip_address.starts_with(&format!("{prefix}.")),
        "{endpoint:?} in {subnet}"
    );
    assert_eq!(endpoint.gateway, format!("{prefix}.1"));
    assert_eq!(endpoint.prefix_len, 24);

    let ip_link = d.exec(&id, &["ip", "link"]).stdout;
    let links = interfaces(&ip_link);
    let names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["lo", "eth0"], "{links:?}");
    assert!(
        links.iter().all(|(_, flags)| flags.contains(",UP")),
        "{links:?}"
    );
    assert!(
        ip_link.contains(&format!("link/ether {} ", endpoint.mac_address)),
        "eth0 has the MAC inspect shows ({}): {ip_link}",
        endpoint.mac_address,
    );
    let addresses = d
        .exec(&id, &["ip", "-o", "-4", "addr", "show", "eth0"])
        .stdout;
    assert!(
        addresses.contains(&format!("inet {}/24", endpoint.ip_address)),
        "{addresses}"
    );
    let routes = d.exec(&id, &["ip", "route"]).stdout;
    let defaults: Vec<&str> = routes
        .lines()
        .filter(|l| l.starts_with("default"))
        .collect();
    assert_eq!(
        defaults,
        [format!("default via {} dev eth0 ", endpoint.gateway).as_str()],
        "{routes}"
    );
    let ping = d.exec(&id, &["ping", "-c", "1", "-W", "2", &endpoint.gateway]);
    assert_eq!(ping.exit_code, 0, "the gateway answers: {ping:?}");
    let pid = info.pid.expect("running");
    assert_eq!(
        ruleset_in_namespace_of(pid).trim(),
        "",
        "the container's own firewall"
    );
    // The host's end is on the bridge, and the host has no eth0 of the container.
    let ports = bridge_ports(&bridge);
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert!(d.networking().table.starts_with("conti_t") && table_exists(&d.networking().table));

    d.remove(&id);
    wait_until(GONE, "the veth to go with the container", || {
        bridge_ports(&bridge).is_empty()
    });
}

#[test]
fn none_host_and_container_modes() {
    let d = Daemon::start_with_busybox();
    let owner = d.run_detached(&spec(&["sleep", "600"]));
    let owner_address = address_of(&d, &owner);
    let owner_name = d.inspect(&owner).name;

    // container:<name> joins the owner's namespace: same interfaces, same address.
    let joined = d.run_detached(&on(
        &format!("container:{owner_name}"),
        spec(&["sleep", "600"]),
    ));
    let joined_info = d.inspect(&joined);
    assert_eq!(joined_info.network, NetworkMode::Container(owner.clone()));
    assert_eq!(joined_info.networks, []);
    let net_ns = |id: &str| {
        let pid = d.inspect(id).pid.expect("running");
        conti_tests::host::namespace(&pid.to_string(), "net").expect("a net namespace")
    };
    assert_eq!(net_ns(&joined), net_ns(&owner));
    let addresses = d.exec(&joined, &["ip", "-o", "-4", "addr"]).stdout;
    assert!(addresses.contains(&owner_address), "{addresses}");

    // none: only lo; host: the host's namespace.
    let none = d.run_detached(&on("none", spec(&["sleep", "600"])));
    let links = interfaces(&d.exec(&none, &["ip", "link"]).stdout);
    assert_eq!(links.len(), 1, "{links:?}");
    let host = d.run_detached(&on("host", spec(&["sleep", "600"])));
    let own = conti_tests::host::namespace("self", "net").expect("our net namespace");
    assert_eq!(net_ns(&host), own);
    assert_ne!(net_ns(&none), own);
    assert_ne!(net_ns(&owner), own);

    // The owner cannot go while a running container shares its namespace.
    d.delete(&format!("/v1/containers/{owner}?force=true"))
        .expect_error(409, "network_in_use");
    // The owner must run for a container to join it; unknown references are 404 at create.
    d.stop(&owner, 0);
    let late = d.create(&on(&format!("container:{owner}"), spec(&["true"])));
    d.post(&format!("/v1/containers/{late}/start"), b"")
        .expect_error(409, "container_not_running");
    d.post_json(
        "/v1/containers",
        &on("container:nobody-here", spec(&["true"])),
    )
    .expect_error(404, "container_not_found");
}

#[test]
fn containers_on_one_network_reach_each_other_by_address_and_name_not_across_networks() {
    let d = Daemon::start_with_busybox();
    let front = create_network(&d, &unique_name("front"));
    let back = create_network(&d, &unique_name("back"));
    let mut server = on(&front.name, web_server("hello-front"));
    let server_name = unique_name("web");
    server.name = Some(server_name.clone());
    let server_id = d.run_detached(&server);
    let server_address = address_of(&d, &server_id);
    assert!(server_address.starts_with(front.subnet.trim_end_matches("0/24")));

    for target in [&server_address, &server_name] {
        let (_, code, logs) = d.run(&on(
            &front.name,
            sh(&fetch(&format!("http://{target}/index.html"))),
        ));
        assert_eq!(
            (code, logs.trim()),
            (0, "hello-front"),
            "fetching from {target}"
        );
    }
    // A member that came later is found by name too (through the network's resolver, see
    // dns.rs), and not once deleted.
    let late = d.run_detached(&on(&front.name, spec(&["sleep", "600"])));
    let late_name = d.inspect(&late).name;
    let late_address = address_of(&d, &late);
    let ping = d.exec(&server_id, &["ping", "-c", "1", "-W", "2", &late_name]);
    assert!(
        ping.exit_code == 0 && ping.stdout.contains(&late_address),
        "{ping:?}"
    );
    d.remove(&late);
    let ping = d.exec(&server_id, &["ping", "-c", "1", "-W", "1", &late_name]);
    assert!(
        ping.exit_code != 0 && !ping.stdout.contains(&late_address),
        "a deleted member's name is gone: {ping:?}"
    );

    // From the other network: its own gateway answers, the server does not.
    let probe = format!(
        "ping -c 1 -W 2 {} || exit 10; timeout 3 wget -q -O- http://{server_address}/index.html && exit 0; exit 20",
        back.gateway
    );
    let (_, code, logs) = d.run(&on(&back.name, sh(&probe)));
    assert_eq!(
        code, 20,
        "a container on another network must not reach the server: {logs}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1",
        "forwarding is on, so the isolation comes from the rules"
    );
}

#[test]
fn a_published_port_serves_the_host_on_loopback_and_a_second_claim_is_409() {
    let d = Daemon::start_with_busybox();
    let port = free_loopback_port();
    let mut server = web_server("published");
    server.ports = vec![PortBinding {
        host_ip: "127.0.0.1".into(),
        host_port: port,
        container_port: 80,
        protocol: Default::default(),
    }];
    let id = d.run_detached(&server);
    assert_eq!(d.inspect(&id).ports, server.ports);
    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut page = String::new();
    wait_until(Duration::from_secs(10), "the published page", || {
        let out = run_command(
            Command::new("busybox").args(["wget", "-q", "-O-", &url]),
            Duration::from_secs(5),
        );
        page = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
    });
    assert_eq!(page.trim(), "published");
    // Other containers reach it through their gateway, and so does the server itself
    // (hairpin).
    let gateway = d.inspect(&id).networks[0].gateway.clone();
    let through_gateway = fetch(&format!("http://{gateway}:{port}/index.html"));
    let (_, code, logs) = d.run(&sh(&through_gateway));
    assert_eq!((code, logs.trim()), (0, "published"));
    let hairpin = d.exec(&id, &["sh", "-c", &through_gateway]);
    assert_eq!(
        (hairpin.exit_code, hairpin.stdout.trim()),
        (0, "published"),
        "{hairpin:?}"
    );

    // The port is held: a second container cannot have it, at create or at start.
    d.post_json("/v1/containers", &server)
        .expect_error(409, "port_in_use");
    let mut same_port_later = web_server("second");
    same_port_later.ports = server.ports.clone();
    d.stop(&id, 0);
    let second = d.create(&same_port_later);
    d.start_container(&id);
    d.post(&format!("/v1/containers/{second}/start"), b"")
        .expect_error(409, "port_in_use");
    // Its rules go with it.
    d.remove(&id);
    wait_until(GONE, "the DNAT rule to go", || {
        !conti_tests::network::table_text(&d.networking().table).contains(&format!("dport {port}"))
    });
}

#[test]
fn ipam_gives_100_containers_distinct_addresses_and_reuses_freed_ones_across_a_restart() {
    let mut d = Daemon::start_with_busybox();
    let ids: Vec<String> = (0..100).map(|_| d.create(&spec(&["true"]))).collect();
    let addresses: Vec<Ipv4Addr> = ids
        .iter()
        .map(|id| address_of(&d, id).parse().expect("an IPv4 address"))
        .collect();
    let distinct: HashSet<_> = addresses.iter().collect();
    assert_eq!(distinct.len(), 100, "{addresses:?}");
    let freed: HashSet<Ipv4Addr> = ids[10..20]
        .iter()
        .map(|id| address_of(&d, id).parse().unwrap())
        .collect();
    for id in &ids[10..20] {
        d.remove(id);
    }
    d.terminate();
    d.launch();
    let again: HashSet<Ipv4Addr> = (0..10)
        .map(|_| address_of(&d, &d.create(&spec(&["true"]))).parse().unwrap())
        .collect();
    assert_eq!(
        again, freed,
        "freed addresses are handed out again, and only those"
    );
    let all: Vec<String> = d
        .list_all()
        .iter()
        .map(|c| c.networks[0].ip_address.clone())
        .collect();
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        100,
        "no collision after the restart"
    );
    let network: NetworkInfo = d.get("/v1/networks/bridge").json();
    assert_eq!(network.containers.len(), 100);
}

#[test]
fn bad_network_input_is_a_clear_4xx_and_leaves_nothing() {
    let d = Daemon::start_with_busybox();
    let name = unique_name("net");
    let first = create_network(&d, &name);
    for (body, status, code) in [
        (
            format!(r#"{{"name":"x{name}","subnet":"10.1.2.3"}}"#),
            400,
            "invalid_spec",
        ),
        (
            format!(r#"{{"name":"x{name}","subnet":"10.1.2.0/33"}}"#),
            400,
            "invalid_spec",
        ),
        (
            format!(r#"{{"name":"x{name}","subnet":"{}"}}"#, first.subnet),
            409,
            "subnet_in_use",
        ),
        (
            format!(r#"{{"name":"x{name}","subnet":"10.1.2.0/24","gateway":"10.9.9.9"}}"#),
            400,
            "invalid_spec",
        ),
        (
            format!(r#"{{"name":"{name}","subnet":"10.1.2.0/24"}}"#),
            409,
            "network_exists",
        ),
        (r#"{"name":"bridge"}"#.to_string(), 400, "invalid_spec"),
        (r#"{"name":"bad name"}"#.to_string(), 400, "invalid_spec"),
        (r#"{"name":"n","mtu":1}"#.to_string(), 400, "invalid_json"),
    ] {
        d.post("/v1/networks", body.as_bytes())
            .expect_error(status, code);
    }
    let names: Vec<String> = d
        .get("/v1/networks")
        .json::<Vec<NetworkInfo>>()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names.len(), 2, "only bridge and {name}: {names:?}");

    // A network in use cannot go; the default one never.
    let (member, code, _) = d.run(&on(&name, spec(&["true"])));
    assert_eq!(code, 0);
    let table = &d.networking().table;
    assert!(conti_tests::network::table_text(table).contains(&first.bridge));
    d.delete(&format!("/v1/networks/{name}"))
        .expect_error(409, "network_in_use");
    d.delete("/v1/networks/bridge")
        .expect_error(409, "network_in_use");
    d.delete("/v1/networks/nothing-here")
        .expect_error(404, "network_not_found");
    d.remove(&member);
    d.delete(&format!("/v1/networks/{name}")).expect_status(204);
    assert!(!conti_tests::network::interface_exists(&first.bridge));
    assert!(
        !table_exists(table),
        "the table goes with the last network in use"
    );

    // Containers: unknown network, bad ports, ports without a bridge.
    let before = d.list_all().len();
    d.post_json("/v1/containers", &on("no-such-net", spec(&["true"])))
        .expect_error(404, "network_not_found");
    for ports in [
        r#"[{"host_port":0,"container_port":80}]"#,
        r#"[{"host_port":8080,"container_port":0}]"#,
        r#"[{"host_ip":"localhost","host_port":8080,"container_port":80}]"#,
        r#"[{"host_port":8080,"container_port":80},{"host_port":8080,"container_port":81}]"#,
    ] {
        let body = format!(r#"{{"image":"busybox","cmd":["true"],"ports":{ports}}}"#);
        d.post("/v1/containers", body.as_bytes())
            .expect_error(400, "invalid_spec");
    }
    let body =
        r#"{"image":"busybox","cmd":["true"],"ports":[{"host_port":70000,"container_port":80}]}"#;
    d.post("/v1/containers", body.as_bytes())
        .expect_error(400, "invalid_json");
    let body = r#"{"image":"busybox","cmd":["true"],"network":"none","ports":[{"host_port":8080,"container_port":80}]}"#;
    d.post("/v1/containers", body.as_bytes())
        .expect_error(400, "invalid_spec");
    assert_eq!(d.list_all().len(), before, "nothing half-created");

    // A start that fails on a bridge with a published port leaves no veth, socket or rule.
    let port = free_loopback_port();
    let mut broken = spec(&["/no/such/command"]);
    broken.ports = vec![PortBinding {
        host_ip: "127.0.0.1".into(),
        host_port: port,
        container_port: 80,
        protocol: Default::default(),
    }];
    let id = d.create(&broken);
    d.post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "command_not_found");
    wait_until(GONE, "the failed start's veth to go", || {
        bridge_ports(&d.networking().bridge).is_empty()
    });
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
    let rules = conti_tests::network::table_text(&d.networking().table);
    assert!(!rules.contains("dnat to"), "{rules}");
}

#[test]
fn the_cli_manages_networks_and_publishes_ports() {
    use conti_tests::cli::stdout;
    let code = |output: &std::process::Output| output.status.code().unwrap_or(-1);
    let d = Daemon::start_with_busybox();
    let name = unique_name("clinet");
    let subnet = conti_tests::network::unique_subnet();
    let created = conti_tests::cli(&d, &["network", "create", "--subnet", &subnet, &name]);
    assert_eq!(
        (code(&created), stdout(&created).trim()),
        (0, name.as_str())
    );
    let listed = stdout(&conti_tests::cli(&d, &["network", "ls"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains(&subnet), "{row}");
    assert!(listed.lines().any(|l| l.starts_with("bridge ")), "{listed}");
    let inspected: Vec<NetworkInfo> =
        serde_json::from_slice(&conti_tests::cli(&d, &["network", "inspect", &name]).stdout)
            .expect("network inspect prints JSON");
    assert_eq!(inspected[0].subnet, subnet);

    let port = free_loopback_port();
    let publish = format!("127.0.0.1:{port}:80");
    let run = conti_tests::cli(
        &d,
        &[
            "run",
            "-d",
            "--network",
            &name,
            "-p",
            &publish,
            "--name",
            &name,
            "busybox",
            "sleep",
            "600",
        ],
    );
    assert_eq!(code(&run), 0, "{run:?}");
    let ps = stdout(&conti_tests::cli(&d, &["ps"]));
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    let in_use = conti_tests::cli(&d, &["network", "rm", &name]);
    assert_ne!(code(&in_use), 0);
    assert!(
        String::from_utf8_lossy(&in_use.stderr).contains("is used by container"),
        "{in_use:?}"
    );
    assert_eq!(code(&conti_tests::cli(&d, &["rm", "-f", &name])), 0);
    let removed = conti_tests::cli(&d, &["network", "rm", &name]);
    assert_eq!(
        (code(&removed), stdout(&removed).trim()),
        (0, name.as_str())
    );
}

/// The host's value of a per network namespace sysctl (`net/ipv4/...`).
fn host_sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .unwrap_or_else(|e| panic!("read {name}: {e}"))
}

#[test]
fn a_containers_own_network_namespace_lets_any_port_be_bound_and_any_group_ping() {
    const PORTS: &str = "net/ipv4/ip_unprivileged_port_start";
    const PING: &str = "net/ipv4/ping_group_range";
    let host_before = (host_sysctl(PORTS), host_sysctl(PING));
    let d = Daemon::start_with_busybox();
    let show =
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range";

    // Its own namespace (bridge or none): any port, any group, as Docker and podman set them.
    for network in ["bridge", "none"] {
        let (_, code, logs) = d.run(&on(network, sh(show)));
        assert_eq!(
            (code, logs.as_str()),
            (0, "0\n0\t2147483647\n"),
            "{network}"
        );
    }
    // A user without capabilities binds port 80 and pings through an ICMP socket in it.
    import_probe_image(&d);
    let mut unprivileged = probe_sh(&format!(
        "mkdir -p /tmp/www && echo low > /tmp/www/index.html && httpd -p 80 -h /tmp/www && \
         ({}) && syscall-probe icmp_echo",
        fetch("http://127.0.0.1:80/")
    ));
    unprivileged.user = Some("1000:1000".into());
    let (_, code, logs) = d.run(&unprivileged);
    assert_eq!((code, logs.as_str()), (0, "low\nicmp_echo: ok\n"));

    // A joined namespace keeps its owner's values; the host's namespace keeps the host's (and
    // nothing a container does changes them: /proc/sys is read-only in it).
    let owner = d.run_detached(&spec(&["sleep", "600"]));
    let (_, code, logs) = d.run(&on(&format!("container:{owner}"), sh(show)));
    assert_eq!((code, logs.as_str()), (0, "0\n0\t2147483647\n"));
    let (_, code, logs) = d.run(&on("host", sh(show)));
    assert_eq!(code, 0, "{logs}");
    assert_eq!(logs, format!("{}{}", host_before.0, host_before.1));
    let (_, code, _) = d.run(&on(
        "host",
        sh("echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start"),
    ));
    assert_ne!(code, 0, "a container wrote the host's sysctl");
    assert_eq!((host_sysctl(PORTS), host_sysctl(PING)), host_before);
}

#[test]
fn a_port_conflict_is_told_once_by_the_api_and_the_cli() {
    use conti_tests::cli::stderr;
    let d = Daemon::start_with_busybox();
    let port = free_loopback_port();
    let publish = format!("127.0.0.1:{port}:80");
    let mut server = spec(&["sleep", "600"]);
    server.ports = vec![conti_tests::network::loopback_to_80(port)];
    // Created while the port was free; something of the host's takes it before the start.
    let id = d.create(&server);
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("take the port");
    let said_once = |text: &str| {
        assert_eq!(text.matches("in use").count(), 1, "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}/tcp")), "{text}");
        assert!(!text.contains("os error"), "{text}");
    };
    let at_start = d
        .post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(409, "port_in_use");
    said_once(&at_start.message);
    let started = conti_tests::cli(&d, &["start", &id]);
    assert_ne!(started.status.code(), Some(0));
    said_once(&stderr(&started));
    // Taken at create: the same, once.
    let at_create = d
        .post_json("/v1/containers", &server)
        .expect_error(409, "port_in_use");
    said_once(&at_create.message);
    let run = conti_tests::cli(&d, &["run", "-p", &publish, "busybox", "true"]);
    assert_eq!(run.status.code(), Some(125), "{run:?}");
    said_once(&stderr(&run));
}

/// A bridge of the test's, up, holding `address` (so the host has a route to its subnet, as
/// another engine's bridge would); removed when dropped.
struct SquatterBridge {
    name: String,
}

impl SquatterBridge {
    fn holding(address: &str) -> SquatterBridge {
        let squatter = SquatterBridge {
            name: format!("ctd{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        };
        for args in [
            vec!["link", "add", &squatter.name, "type", "bridge"],
            vec!["addr", "add", address, "dev", &squatter.name],
            vec!["link", "set", &squatter.name, "up"],
        ] {
            let out = run_command(Command::new("ip").args(&args), Duration::from_secs(10));
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        }
        squatter
    }
}

impl Drop for SquatterBridge {
    fn drop(&mut self) {
        let _ = run_command(
            Command::new("ip").args(["link", "del", &self.name]),
            Duration::from_secs(10),
        );
    }
}

#[test]
fn a_subnet_overlapping_a_route_of_the_host_is_refused() {
    // The default network: contid does not start, and says why.
    let mut d = Daemon::unstarted();
    let default_subnet = d.networking().subnet.clone();
    let squatter = SquatterBridge::holding(&default_subnet.replace(".0/24", ".9/24"));
    let error = d.try_launch().expect_err("contid started");
    assert!(
        error.contains(&format!(
            "overlaps the host's route to {default_subnet} (dev {})",
            squatter.name
        )) && error.contains("--default-subnet"),
        "{error}"
    );
    drop(squatter);
    d.launch();

    // A user network: 409 naming the route, for the same subnet, a part of it or more.
    let subnet = conti_tests::network::unique_subnet();
    let prefix = subnet.trim_end_matches(".0/24");
    let other = SquatterBridge::holding(&format!("{prefix}.1/24"));
    for (asked, route) in [
        (subnet.clone(), subnet.clone()),
        (format!("{prefix}.128/25"), subnet.clone()),
    ] {
        let body = NetworkSpec {
            name: unique_name("overlap"),
            subnet: Some(asked.clone()),
            gateway: None,
            ..Default::default()
        };
        let error = d
            .post_json("/v1/networks", &body)
            .expect_error(409, "subnet_in_use");
        assert_eq!(
            error.message,
            format!(
                "subnet {asked} overlaps the host's route to {route} (dev {})",
                other.name
            )
        );
    }
    let networks: Vec<NetworkInfo> = d.get("/v1/networks").json();
    assert_eq!(networks.len(), 1, "only the default network: {networks:?}");
}
