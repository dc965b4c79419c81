//! The network scenario's peer side: for each `crun run`, the work conti does for a container on
//! its bridge, done as a CNI bridge plugin would, with `ip`: a named network namespace, a veth
//! pair whose other end is `eth0` in it, the host end on the benchmark's own bridge, the address,
//! `lo` and `eth0` up, the default route. That run's `config.json` names the namespace. The
//! namespace, and the pair with it, is deleted after the run.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cleanup;
use crate::oci::{self, OciRuntime};

/// A bridge of the benchmark's own on a /24 no route of the host covers.
pub struct BenchBridge {
    pub name: String,
    gateway: Ipv4Addr,
    /// The subnet's network address.
    network: Ipv4Addr,
    /// Namespaces are `<prefix>-n<counter>` (the run's name, so that the cleanup finds them).
    prefix: String,
    counter: AtomicUsize,
    /// Where each run's `config.json` goes.
    work: PathBuf,
}

/// One bridged `crun run`: spawn of the first `ip` to the deletion of the namespace, and the part
/// that set the network up.
pub struct BridgedRun {
    pub total: Duration,
    pub setup: Duration,
}

impl BenchBridge {
    pub fn create(run_name: &str, work: &Path) -> Result<BenchBridge, String> {
        let subnet = conti_tests::network::unique_subnet();
        let network: Ipv4Addr = subnet
            .trim_end_matches("/24")
            .parse()
            .map_err(|e| format!("subnet {subnet}: {e}"))?;
        let gateway = Ipv4Addr::from(u32::from(network) + 1);
        let name = format!("cbb{:x}", std::process::id());
        cleanup::register_bridge(&name);
        ip_batch(
            &[],
            &format!(
                "link add {name} type bridge\naddr add {gateway}/24 dev {name}\nlink set {name} up\n"
            ),
        )?;
        Ok(BenchBridge {
            name,
            gateway,
            network,
            prefix: run_name.to_string(),
            counter: AtomicUsize::new(0),
            work: work.join("bridged"),
        })
    }

    /// The network set up, `<runtime> run` in it, the namespace deleted.
    pub fn run_once(&self, runtime: &OciRuntime, bundle: &Path) -> Result<BridgedRun, String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let namespace = format!("{}-n{n}", self.prefix);
        let veth = format!("cbv{:x}x{n:x}", std::process::id() & 0xffff);
        // At most `--clients` run at once: 250 addresses never collide.
        let address = Ipv4Addr::from(u32::from(self.network) + 2 + (n % 250) as u32);
        let run_bundle = self.work.join(&namespace);
        let path = format!("/var/run/netns/{namespace}");
        oci::derive_bundle(bundle, &run_bundle, |config| {
            let namespaces = config["linux"]["namespaces"]
                .as_array_mut()
                .expect("crun spec lists namespaces");
            for entry in namespaces.iter_mut() {
                if entry["type"] == "network" {
                    *entry = json!({ "type": "network", "path": path });
                }
            }
        })?;
        let start = Instant::now();
        let result = self.set_up(&namespace, &veth, address).and_then(|()| {
            let setup = start.elapsed();
            runtime.run_once(&run_bundle).map(|_| setup)
        });
        let deleted = run_ip(&["netns", "del", &namespace]);
        let total = start.elapsed();
        let _ = std::fs::remove_dir_all(&run_bundle);
        let setup = result?;
        deleted?;
        Ok(BridgedRun { total, setup })
    }

    fn set_up(&self, namespace: &str, veth: &str, address: Ipv4Addr) -> Result<(), String> {
        run_ip(&["netns", "add", namespace])?;
        ip_batch(
            &[],
            &format!(
                "link add {veth} type veth peer name eth0 netns {namespace}\n\
                 link set {veth} master {} up\n",
                self.name
            ),
        )?;
        ip_batch(
            &["-n", namespace],
            &format!(
                "link set lo up\naddr add {address}/24 dev eth0\nlink set eth0 up\n\
                 route add default via {}\n",
                self.gateway
            ),
        )
    }
}

fn run_ip(args: &[&str]) -> Result<(), String> {
    ip(args, None)
}

/// `ip [options] -batch -` with `commands` on stdin: one process for several changes.
fn ip_batch(options: &[&str], commands: &str) -> Result<(), String> {
    let args: Vec<&str> = options.iter().copied().chain(["-batch", "-"]).collect();
    ip(&args, Some(commands))
}

/// Runs `ip args`, with `input` on its stdin; an error with its stderr unless it succeeds.
fn ip(args: &[&str], input: Option<&str>) -> Result<(), String> {
    let what = || format!("ip {}", args.join(" "));
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", what()))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{}: {e}", what()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", what()))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{} failed{}: {}",
            what(),
            input.map(|i| format!(" on\n{i}")).unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Deletes the bridge and every namespace of the run (`<name>-*`) that is left.
pub fn remove_leftovers(run_name: &str, bridges: &[String]) {
    let prefix = format!("{run_name}-");
    if let Ok(entries) = std::fs::read_dir("/var/run/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && run_ip(&["netns", "del", &name]).is_err() {
                eprintln!("warning: could not delete network namespace {name}");
            }
        }
    }
    for bridge in bridges {
        if Path::new("/sys/class/net").join(bridge).exists()
            && run_ip(&["link", "del", bridge]).is_err()
        {
            eprintln!("warning: could not delete bridge {bridge}");
        }
    }
}
