//! Name resolution on container networks: the resolver contid serves on each network's gateway.
//! Containers find each other by name (busybox `nslookup`, and `ping`/`wget`, which resolve
//! through static glibc: `/etc/hosts`, then DNS as `/etc/resolv.conf` says), only on their own
//! networks; a deleted container's name is gone; other names go to the host's nameservers, here
//! a server the test owns on a 127.x.y.z address (contid's `--resolv-conf` names it); a restart
//! brings the resolver back. Traffic goes only to 127.0.0.0/8 and into the tests' namespaces.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;

use conti_proto::PortProtocol;

use conti_tests::dns::TestUpstream;
use conti_tests::{
    ContainerState, Daemon, ExecResult, NetworkInfo, NetworkMode, NetworkSpec, PortBinding, sh,
    spec, unique_name,
};

fn create_network(d: &Daemon, name: &str) -> NetworkInfo {
    let resp = d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: name.to_string(),
            subnet: Some(conti_tests::network::unique_subnet()),
            gateway: None,
            ..Default::default()
        },
    );
    resp.expect_status(201);
    resp.json()
}

/// A running `sleep` named `name` on `network`.
fn sleeper(d: &Daemon, network: &str, name: &str) -> String {
    let mut spec = spec(&["sleep", "600"]);
    spec.name = Some(name.to_string());
    spec.network = NetworkMode::parse(network).expect("a network mode");
    d.run_detached(&spec)
}

fn address_of(d: &Daemon, id: &str) -> String {
    d.inspect(id).networks[0].ip_address.clone()
}

fn nslookup(d: &Daemon, id: &str, args: &[&str]) -> ExecResult {
    let mut cmd = vec!["nslookup"];
    cmd.extend(args);
    d.exec(id, &cmd)
}

/// Whether `name` resolves to `address` in container `id` (an `Address:` line of an answer;
/// the server's own line ends with `:53`). busybox's nslookup asks every search domain at once
/// and exits 1 when one of them does not know the name, so its exit code says little.
fn resolves_to(d: &Daemon, id: &str, name: &str, address: &str) -> bool {
    nslookup(d, id, &[name])
        .stdout
        .lines()
        .any(|line| line.starts_with("Address") && line.trim_end().ends_with(address))
}

#[test]
fn members_find_each_other_by_name_only_on_their_network_and_not_once_deleted() {
    let d = Daemon::start_with_busybox();
    let front = create_network(&d, &unique_name("front"));
    let back = create_network(&d, &unique_name("back"));
    let web_name = unique_name("Web");
    let web = sleeper(&d, &front.name, &web_name);
    let web_address = address_of(&d, &web);
    let client = sleeper(&d, &front.name, &unique_name("client"));

    let resolv_conf = d.exec(&client, &["cat", "/etc/resolv.conf"]).stdout;
    assert!(
        resolv_conf.contains(&format!("nameserver {}\n", front.gateway))
            && resolv_conf.contains("search conti.internal")
            && resolv_conf
                .lines()
                .filter(|line| line.starts_with("nameserver"))
                .count()
                == 1,
        "the network's resolver, only: {resolv_conf}"
    );
    let hosts = d.exec(&client, &["cat", "/etc/hosts"]).stdout;
    assert!(
        !hosts.to_lowercase().contains(&web_name.to_lowercase()) && hosts.lines().count() == 3,
        "/etc/hosts names localhost and the container itself only: {hosts}"
    );

    let lower = web_name.to_lowercase();
    let in_zone = format!("{lower}.conti.internal");
    for name in [web_name.as_str(), &lower, &in_zone] {
        assert!(
            resolves_to(&d, &client, name, &web_address),
            "{name}: {:?}",
            nslookup(&d, &client, &[name])
        );
    }
    let ping = d.exec(&client, &["ping", "-c", "1", "-W", "2", &web_name]);
    assert_eq!(ping.exit_code, 0, "ping by name (static glibc): {ping:?}");
    assert!(ping.stdout.contains(&web_address), "{ping:?}");
    let reverse = nslookup(&d, &client, &[&web_address]);
    assert!(
        reverse.stdout.to_lowercase().contains(&in_zone),
        "reverse lookup: {reverse:?}"
    );
    // A thousand lookups in a row, each answered.
    let many = d.exec(
        &client,
        &[
            "sh",
            "-c",
            &format!(
                "i=0; while [ $i -lt 1000 ]; do nslookup -type=a {web_name} >/dev/null || exit 1; \
                 i=$((i+1)); done"
            ),
        ],
    );
    assert_eq!(many.exit_code, 0, "1,000 lookups: {many:?}");

    // From another network: not by name, not through the first network's resolver either.
    let stranger = sleeper(&d, &back.name, &unique_name("stranger"));
    let from_back = nslookup(&d, &stranger, &[&web_name]);
    assert!(
        from_back.exit_code != 0 && !from_back.stdout.contains(&web_address),
        "{from_back:?}"
    );
    let through_front = nslookup(&d, &stranger, &[&web_name, &front.gateway]);
    assert!(
        through_front.exit_code != 0 && !through_front.stdout.contains(&web_address),
        "another network's resolver refuses: {through_front:?}"
    );

    d.remove(&web);
    let gone = nslookup(&d, &client, &[&web_name]);
    assert!(
        gone.exit_code != 0 && !gone.stdout.contains(&web_address),
        "a deleted container's name is gone: {gone:?}"
    );
    let ping = d.exec(&client, &["ping", "-c", "1", "-W", "1", &web_name]);
    assert_ne!(ping.exit_code, 0, "{ping:?}");
}

/// A running `sleep` named `name` on `network`, answering also to `aliases` there.
fn aliased(d: &Daemon, network: &str, name: &str, aliases: &[&str]) -> String {
    let mut spec = spec(&["sleep", "600"]);
    spec.name = Some(name.to_string());
    spec.network = NetworkMode::Network(network.to_string());
    spec.network_aliases = aliases.iter().map(|a| a.to_string()).collect();
    d.run_detached(&spec)
}

/// The addresses `name` resolves to in container `id` (the `Address:` lines of its answers,
/// without the server's own, which ends with `:53`), sorted, each once.
fn addresses_of(d: &Daemon, id: &str, name: &str) -> Vec<String> {
    let mut addresses: Vec<String> = nslookup(d, id, &["-type=a", name])
        .stdout
        .lines()
        .filter(|line| line.starts_with("Address") && !line.trim_end().ends_with(":53"))
        .filter_map(|line| line.split_whitespace().last().map(str::to_string))
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

#[test]
fn aliases_resolve_like_names_and_a_shared_one_to_every_holder() {
    let d = Daemon::start_with_busybox();
    let network = create_network(&d, &unique_name("front"));
    let (alias, shared) = (unique_name("primary"), unique_name("db"));
    let first = aliased(&d, &network.name, &unique_name("db1"), &[&alias, &shared]);
    // The CLI's --network-alias.
    let out = conti_tests::cli(
        &d,
        &[
            "run",
            "-d",
            "--network",
            &network.name,
            "--network-alias",
            &shared,
            "busybox",
            "sleep",
            "600",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let second = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let client = sleeper(&d, &network.name, &unique_name("client"));
    let (first_address, second_address) = (address_of(&d, &first), address_of(&d, &second));
    assert_eq!(d.inspect(&first).network_aliases, [alias.as_str(), &shared]);

    assert_eq!(addresses_of(&d, &client, &alias), [first_address.as_str()]);
    let ping = d.exec(
        &client,
        &["ping", "-c", "1", "-W", "2", &alias.to_uppercase()],
    );
    assert!(
        ping.exit_code == 0 && ping.stdout.contains(&first_address),
        "ping by alias (static glibc), in any case: {ping:?}"
    );
    let mut both = vec![first_address.clone(), second_address.clone()];
    both.sort();
    assert_eq!(addresses_of(&d, &client, &shared), both);
    assert_eq!(
        addresses_of(&d, &client, &format!("{shared}.conti.internal")),
        both
    );
    // A reverse lookup names the container, not an alias.
    let reverse = nslookup(&d, &client, &[&first_address])
        .stdout
        .to_lowercase();
    assert!(
        reverse.contains(&d.inspect(&first).name.to_lowercase()) && !reverse.contains(&alias),
        "{reverse}"
    );

    d.remove(&first);
    assert_eq!(
        addresses_of(&d, &client, &shared),
        [second_address.as_str()]
    );
    assert!(addresses_of(&d, &client, &alias).is_empty());

    // Only on a network made through the API.
    let mut on_bridge = spec(&["true"]);
    on_bridge.network_aliases = vec!["db".into()];
    let resp = d.post_json("/v1/containers", &on_bridge);
    resp.expect_error(400, "invalid_spec");
}

#[test]
fn other_names_go_to_the_hosts_nameservers_read_again_when_they_change() {
    let d = Daemon::start_with_busybox();
    let network = create_network(&d, &unique_name("net"));
    let peer_name = unique_name("peer");
    let peer = sleeper(&d, &network.name, &peer_name);
    let client = sleeper(&d, &network.name, &unique_name("client"));
    // The upstream's answer is an address inside the test's own namespaces (the peer's), so
    // that pinging it sends nothing off the machine.
    let outside: Ipv4Addr = address_of(&d, &peer).parse().unwrap();
    let upstream = TestUpstream::start(&[("outside.conti-test.example", outside)]);

    // The harness's file has no nameserver: nothing to forward to.
    let unanswered = nslookup(&d, &client, &["outside.conti-test.example"]);
    assert_ne!(unanswered.exit_code, 0, "{unanswered:?}");

    std::fs::write(
        d.resolv_conf(),
        format!(
            "{}search corp.conti-test.example\noptions timeout:2\n",
            upstream.nameserver_line()
        ),
    )
    .unwrap();
    assert!(
        resolves_to(
            &d,
            &client,
            "outside.conti-test.example",
            &outside.to_string()
        ),
        "{:?}",
        nslookup(&d, &client, &["outside.conti-test.example"])
    );
    let ping = d.exec(
        &client,
        &[
            "sh",
            "-c",
            "ping -c 1 -W 1 outside.conti-test.example | head -1",
        ],
    );
    assert!(
        ping.stdout.contains(&outside.to_string()),
        "getaddrinfo through the forwarder: {ping:?}"
    );
    // A container started now gets the new search domains behind the resolver's zone.
    let late = sleeper(&d, &network.name, &unique_name("late"));
    let resolv_conf = d.exec(&late, &["cat", "/etc/resolv.conf"]).stdout;
    assert!(
        resolv_conf.contains("search conti.internal corp.conti-test.example\n")
            && resolv_conf.contains("options timeout:2\n")
            && !resolv_conf.contains(&upstream.address.to_string()),
        "{resolv_conf}"
    );
    // Members' names are answered by the resolver, never asked upstream (glibc tries the
    // resolver's zone first and stops at its answer).
    let ping = d.exec(&late, &["ping", "-c", "1", "-W", "2", &peer_name]);
    assert!(
        ping.exit_code == 0 && ping.stdout.contains(&outside.to_string()),
        "{ping:?}"
    );
    let asked = upstream.asked();
    assert!(
        asked.contains(&"outside.conti-test.example".to_string()),
        "{asked:?}"
    );
    assert!(
        !asked
            .iter()
            .any(|name| name.contains(&peer_name.to_lowercase())),
        "{asked:?}"
    );

    // A container without a network of its own resolver gets the host's nameservers, except
    // those on the host's loopback, which it cannot reach.
    let (_, code, logs) = d.run(&{
        let mut spec = sh("cat /etc/resolv.conf");
        spec.network = NetworkMode::None;
        spec
    });
    assert_eq!(code, 0);
    assert!(
        logs.contains("search corp.conti-test.example") && !logs.contains("nameserver"),
        "{logs}"
    );
}

#[test]
fn a_restarted_daemon_answers_again_also_on_the_default_network() {
    let mut d = Daemon::start_with_busybox();
    let web_name = unique_name("web");
    let web = sleeper(&d, "bridge", &web_name);
    let web_address = address_of(&d, &web);
    let client = sleeper(&d, "bridge", &unique_name("client"));
    assert!(resolves_to(&d, &client, &web_name, &web_address));

    d.kill9();
    d.launch();
    assert!(
        resolves_to(&d, &client, &web_name, &web_address),
        "after a restart: {:?}",
        nslookup(&d, &client, &[&web_name])
    );
    let newcomer = sleeper(&d, "bridge", &unique_name("newcomer"));
    assert!(resolves_to(&d, &newcomer, &web_name, &web_address));
    assert!(resolves_to(
        &d,
        &web,
        &d.inspect(&newcomer).name,
        &address_of(&d, &newcomer)
    ));
}

/// Takes `address:53` (UDP) as another DNS server would, before contid does.
fn take_port_53(address: Ipv4Addr) -> UdpSocket {
    let fd = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    // The bridge has no address yet: bind it anyway.
    nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::IpFreebind, &true).unwrap();
    nix::sys::socket::bind(
        fd.as_raw_fd(),
        &nix::sys::socket::SockaddrIn::from(SocketAddrV4::new(address, 53)),
    )
    .unwrap();
    UdpSocket::from(fd)
}

#[test]
fn a_taken_port_53_leaves_the_network_without_names_until_it_is_free() {
    let d = Daemon::start_with_busybox();
    let name = unique_name("net");
    let subnet = conti_tests::network::unique_subnet();
    let gateway: Ipv4Addr = subnet.replace(".0/24", ".1").parse().unwrap();
    let squatter = take_port_53(gateway);
    let resp = d.post_json(
        "/v1/networks",
        &NetworkSpec {
            name: name.clone(),
            subnet: Some(subnet),
            gateway: None,
            ..Default::default()
        },
    );
    resp.expect_status(201);
    assert!(
        d.log_text()
            .contains(&format!("cannot serve DNS on {gateway}:53")),
        "a clear warning:\n{}",
        d.log_text()
    );
    let first = sleeper(&d, &name, &unique_name("first"));
    let resolv_conf = d.exec(&first, &["cat", "/etc/resolv.conf"]).stdout;
    assert!(
        !resolv_conf.contains(&gateway.to_string()),
        "no resolver named while it cannot listen: {resolv_conf}"
    );

    drop(squatter);
    // The next start on the network tries again.
    let second = sleeper(&d, &name, &unique_name("second"));
    let resolv_conf = d.exec(&second, &["cat", "/etc/resolv.conf"]).stdout;
    assert!(
        resolv_conf.contains(&format!("nameserver {gateway}")),
        "{resolv_conf}"
    );
    let first_name = d.inspect(&first).name;
    assert!(resolves_to(
        &d,
        &second,
        &first_name,
        &address_of(&d, &first)
    ));
}

#[test]
fn a_port_53_published_on_loopback_does_not_take_the_resolvers_queries() {
    let d = Daemon::start_with_busybox();
    if UdpSocket::bind("127.0.0.1:53").is_err() || TcpListener::bind("127.0.0.1:53").is_err() {
        eprintln!("SKIP: 127.0.0.1:53 is taken on this host; nothing can be published there");
        return;
    }
    // glibc asks over TCP (busybox's nslookup over UDP): both ways are checked.
    std::fs::write(d.resolv_conf(), "options use-vc\n").unwrap();
    let network = create_network(&d, &unique_name("net"));
    // Port 53 published on 127.0.0.1, which also forwards the networks' gateways; nothing
    // listens in the container, so a query sent there would be refused.
    let mut squatter = spec(&["sleep", "600"]);
    squatter.network = NetworkMode::Network(network.name.clone());
    squatter.ports = [PortProtocol::Udp, PortProtocol::Tcp]
        .into_iter()
        .map(|protocol| PortBinding {
            host_ip: "127.0.0.1".into(),
            host_port: 53,
            container_port: 53,
            protocol,
        })
        .collect();
    let squatter = d.run_detached(&squatter);
    let web_name = unique_name("web");
    let web = sleeper(&d, &network.name, &web_name);
    let web_address = address_of(&d, &web);
    let client = sleeper(&d, &network.name, &unique_name("client"));
    assert!(
        resolves_to(&d, &client, &web_name, &web_address),
        "over UDP: {:?}",
        nslookup(&d, &client, &[&web_name])
    );
    let ping = d.exec(&client, &["ping", "-c", "1", "-W", "2", &web_name]);
    assert!(
        ping.exit_code == 0 && ping.stdout.contains(&web_address),
        "over TCP: {ping:?}"
    );
    assert_eq!(
        d.inspect(&squatter).state,
        ContainerState::Running,
        "its ports stayed published all along"
    );
}

#[test]
fn a_renamed_container_answers_to_its_new_name_only() {
    let d = Daemon::start_with_busybox();
    let front = create_network(&d, &unique_name("front"));
    let old = unique_name("old");
    let web = sleeper(&d, &front.name, &old);
    let address = address_of(&d, &web);
    let client = sleeper(&d, &front.name, &unique_name("client"));
    assert!(resolves_to(&d, &client, &old, &address));

    let new = unique_name("new");
    let out = conti_tests::cli(&d, &["rename", &old, &new]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(d.inspect(&web).name, new);
    assert!(resolves_to(&d, &client, &new, &address), "the new name");
    assert!(
        !resolves_to(&d, &client, &old, &address),
        "the old name is gone"
    );
    // Taken names and bad names are refused, and nothing changes.
    let taken = d.inspect(&client).name;
    let resp = d.post(&format!("/v1/containers/{web}/rename?name={taken}"), b"");
    assert_eq!(resp.status, 409, "{}", resp.text());
    let resp = d.post(&format!("/v1/containers/{web}/rename?name=-bad"), b"");
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(d.inspect(&web).name, new);
    // The rename is an event, and survives a restart of the daemon.
    let events = d.get("/v1/events?since=1h&until=0s");
    assert!(
        events.text().contains(&format!("\"old_name\":\"{old}\"")),
        "{}: {}",
        events.status,
        events.text()
    );
    let mut d = d;
    d.restart();
    assert_eq!(d.inspect(&web).name, new);
    assert!(resolves_to(&d, &client, &new, &address), "after a restart");
}
