//! What networking leaves behind: nothing after many lifecycles, and nothing twice after a
//! daemon restart (bridges, addresses, rules and allocations are re-adopted).

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use conti_tests::network::{
    bridge_ports, free_loopback_port, host_interface, host_veths, interface_exists,
    table_family_text, table_text, unique_subnet,
};
use conti_tests::{
    Daemon, NetworkInfo, NetworkMode, NetworkSpec, PortBinding, run_command, sh, spec, unique_name,
    wait_until,
};

const GONE: Duration = Duration::from_secs(20);

/// The IPv4 addresses an interface holds on the host.
fn addresses_of(interface: &str) -> Vec<String> {
    let out = run_command(
        Command::new("ip").args(["-o", "-4", "addr", "show", "dev", interface]),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

#[test]
fn two_hundred_lifecycles_on_a_bridge_leave_no_veth_address_rule_or_allocation() {
    let d = Daemon::start_with_busybox();
    let bridge = d.networking().bridge.clone();
    let mut ids = Vec::new();
    let mut network_rules = String::new();
    for cycle in 0..200 {
        let mut s = spec(&["true"]);
        if cycle % 20 == 0 {
            // Now and then with a published port, so that its rules come and go too.
            s.ports = vec![PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: 0,
                container_port: 80,
                protocol: Default::default(),
            }];
            s.ports[0].host_port = free_loopback_port();
        }
        let (id, code, logs) = d.run(&s);
        assert_eq!(code, 0, "cycle {cycle}: {logs}");
        d.remove(&id);
        ids.push(id);
        if cycle == 1 {
            // The network's own rules (NAT, forwarding), with no container's port in them.
            network_rules = table_text(&d.networking().table);
        }
    }
    let host_ends: HashSet<String> = ids.iter().map(|id| host_interface(id)).collect();
    wait_until(GONE, "every veth of the 200 containers to go", || {
        bridge_ports(&bridge).is_empty() && !host_veths().iter().any(|v| host_ends.contains(v))
    });
    assert_eq!(
        addresses_of(&bridge),
        [format!(
            "{}/24",
            d.networking().subnet.replace(".0/24", ".1")
        )],
        "the bridge holds its gateway address and nothing else"
    );
    let rules = table_text(&d.networking().table);
    assert!(network_rules.contains("masquerade"), "{network_rules}");
    assert_eq!(rules, network_rules, "no container's rule is left");
    assert!(!rules.contains("dnat to"), "{rules}");
    let guards = table_family_text("bridge", &d.networking().table);
    assert!(
        guards.contains("chain prerouting") && !guards.contains("\"vc"),
        "no container's port guard is left: {guards}"
    );
    let network: NetworkInfo = d.get("/v1/networks/bridge").json();
    assert_eq!(network.containers, [], "no allocation left");
    assert_eq!(d.list_all().len(), 0);
}

#[test]
fn a_restarted_daemon_re_adopts_bridges_rules_and_addresses_without_duplicating_them() {
    let mut d = Daemon::start_with_busybox();
    let name = unique_name("net");
    let spec_body = NetworkSpec {
        name: name.clone(),
        subnet: Some(unique_subnet()),
        gateway: None,
        ..Default::default()
    };
    let resp = d.post_json("/v1/networks", &spec_body);
    resp.expect_status(201);
    let network: NetworkInfo = resp.json();
    let port = free_loopback_port();
    let mut server =
        sh("mkdir -p /www && echo kept > /www/index.html && exec httpd -f -p 80 -h /www");
    server.network = NetworkMode::Network(name.clone());
    server.ports = vec![PortBinding {
        host_ip: "127.0.0.1".into(),
        host_port: port,
        container_port: 80,
        protocol: Default::default(),
    }];
    let server_id = d.run_detached(&server);
    let on_default = d.run_detached(&spec(&["sleep", "600"]));
    let addresses_before: Vec<String> = [&server_id, &on_default]
        .iter()
        .map(|id| d.inspect(id).networks[0].ip_address.clone())
        .collect();
    let fetch = || {
        let out = run_command(
            Command::new("busybox").args([
                "wget",
                "-q",
                "-O-",
                &format!("http://127.0.0.1:{port}/index.html"),
            ]),
            Duration::from_secs(5),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    wait_until(Duration::from_secs(10), "the published page", || {
        fetch() == "kept"
    });
    let rules_before = table_text(&d.networking().table);
    let bridge_addresses = addresses_of(&network.bridge);

    d.restart();
    // A start after the restart ensures the bridges again: they are adopted as they are.
    let another = d.run_detached(&spec(&["sleep", "600"]));
    let (_, code, _) = d.run(&{
        let mut s = spec(&["true"]);
        s.network = NetworkMode::Network(name.clone());
        s
    });
    assert_eq!(code, 0);
    assert_eq!(fetch(), "kept", "the published port still serves");
    assert_eq!(
        table_text(&d.networking().table),
        rules_before,
        "the table is the same, not doubled"
    );
    assert_eq!(addresses_of(&network.bridge), bridge_addresses);
    // The exited container's veth goes with its network namespace, which the kernel tears down
    // asynchronously; the server's must be there once, never twice.
    wait_until(
        Duration::from_secs(10),
        "the server's veth, once, on the network's bridge",
        || bridge_ports(&network.bridge).len() == 1,
    );
    assert_eq!(bridge_ports(&d.networking().bridge).len(), 2);
    let mut addresses: Vec<String> = [&server_id, &on_default]
        .iter()
        .map(|id| d.inspect(id).networks[0].ip_address.clone())
        .collect();
    assert_eq!(
        addresses, addresses_before,
        "addresses are kept across the restart"
    );
    addresses.push(d.inspect(&another).networks[0].ip_address.clone());
    assert_eq!(
        addresses.iter().collect::<HashSet<_>>().len(),
        3,
        "{addresses:?}"
    );

    // Everything goes with the containers and the network.
    for id in [&server_id, &on_default, &another] {
        d.remove(id);
    }
    for id in d
        .list_all()
        .iter()
        .map(|c| c.id.clone())
        .collect::<Vec<_>>()
    {
        d.remove(&id);
    }
    d.delete(&format!("/v1/networks/{name}")).expect_status(204);
    assert!(!interface_exists(&network.bridge));
    wait_until(GONE, "the veths to go", || {
        bridge_ports(&d.networking().bridge).is_empty()
    });
    let rules = table_text(&d.networking().table);
    assert!(
        !rules.contains(&network.bridge) && !rules.contains("dnat to"),
        "{rules}"
    );
}
