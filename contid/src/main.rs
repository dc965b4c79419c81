//! `contid`: parse flags, start the helper while still single-threaded, then the async runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use contid::api::{DEFAULT_MAX_CONNECTIONS, ServeOptions, SocketAccess};
use contid::engine::{Engine, EngineConfig, NetworkDefaults, REMOVED_EXITS_MEMORY};
use contid::runtime::cgroup::CgroupManager;
use contid::runtime::confinement::sealed_exe::{SealMethod, run_from_sealed_copy};
use contid::runtime::container::userns::IdMapping;
use contid::runtime::process::helper::{HelperConfig, spawn_helper};
use contid::runtime::process::logfile::DEFAULT_LOG_MAX_BYTES;
use contid::runtime::sys::lockfile::RootLock;
use contid::runtime::sys::open_files_limit;

/// The Conti container engine daemon.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Unix socket to serve the API on.
    #[arg(long, default_value = "/var/run/conti.sock")]
    socket: PathBuf,
    /// State folder: images, containers, logs.
    #[arg(long, default_value = "/var/lib/conti")]
    root: PathBuf,
    /// error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Cgroup under which each container gets its own, in every hierarchy.
    #[arg(long, default_value = "conti")]
    cgroup_parent: String,
    /// Rotate a container's log file beyond this many bytes (one older file is kept).
    #[arg(long, default_value_t = DEFAULT_LOG_MAX_BYTES)]
    log_max_bytes: u64,
    /// Bridge interface of the default network (`bridge`), created when a container first needs it.
    #[arg(long, default_value = "conti0", value_parser = parse_interface_name)]
    bridge: String,
    /// Subnet of the default network; the bridge gets its first address.
    #[arg(long, default_value = "10.88.0.0/16")]
    default_subnet: ipnet::Ipv4Net,
    /// Gateway of the default network (the bridge's address); default: the subnet's first address.
    #[arg(long)]
    default_gateway: Option<std::net::Ipv4Addr>,
    /// Conti's own nftables table (family `ip`): NAT, isolation and published ports.
    #[arg(long, default_value = "conti", value_parser = parse_table_name)]
    firewall_table: String,
    /// Resolver configuration of the host: the nameservers the networks' resolvers forward to,
    /// and the search domains and options of containers' `/etc/resolv.conf`. Read again when
    /// it changes.
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    /// Per-registry CA certificates, Docker's `certs.d` layout: `<DIR>/<host[:port]>/*.crt`.
    #[arg(long, default_value = "/etc/conti/certs.d")]
    registry_certs_dir: PathBuf,
    /// A registry (`host[:port]`, `host` or a CIDR) that may be spoken to over plain HTTP or
    /// with an unverified certificate; loopback registries always may. Repeatable.
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    insecure_registries: Vec<String>,
    /// Group whose members may use the socket besides root (default: `conti` when that group
    /// exists, else root only). Membership is root-equivalent.
    #[arg(long)]
    group: Option<String>,
    /// Let volumes bind the host's `/` into containers (refused otherwise).
    #[arg(long)]
    allow_root_bind: bool,
    /// User whose ranges in `/etc/subuid` and `/etc/subgid` `--userns` containers run in (the
    /// first of at least 65536 ids, shared by all of them); without it `--userns` is refused.
    #[arg(long, value_name = "USER")]
    userns_remap: Option<String>,
    /// Show the image to `--userns` containers through a copy with shifted owners (made once per
    /// image) even where the kernel has idmapped mounts.
    #[arg(long, requires = "userns_remap")]
    userns_no_idmap: bool,
    /// Connections served at once; over it, the one waiting longest for a request is closed, or
    /// when all serve one, the newcomer is answered 503.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// How contid makes the sealed copy of its binary it re-executes itself from at start-up
    /// (CVE-2019-5736): auto (overlayfs, else memfd), overlayfs or memfd.
    #[arg(long, default_value = "auto")]
    exe_seal: SealMethod,
    /// For how many deleted containers a `wait` that comes after the deletion still gets the
    /// exit code (for five minutes; the oldest are forgotten first). A waiter already waiting
    /// always gets it. Lowered by the tests.
    #[arg(long, default_value_t = REMOVED_EXITS_MEMORY, hide = true)]
    removed_exits_memory: usize,
}

/// A Linux interface name: 1-15 bytes, no `/`, whitespace or `:`.
fn parse_interface_name(name: &str) -> Result<String, String> {
    let valid = (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match valid {
        true => Ok(name.to_string()),
        false => Err("1-15 characters of [a-zA-Z0-9_.-] expected".into()),
    }
}

fn parse_table_name(name: &str) -> Result<String, String> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match valid {
        true => Ok(name.to_string()),
        false => Err("a letter, then letters, digits or _ (at most 64) expected".into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // First, while this process has a single thread: from here on every process of contid
    // (helper, monitors, containers' inits, execs) runs from a copy of the binary nobody can write.
    match run_from_sealed_copy(args.exe_seal, &args.root) {
        Ok(sealed) => tracing::debug!(
            by = ?sealed.by,
            reexec_ms = sealed.reexec_time.as_secs_f64() * 1000.0,
            "running from a sealed copy of the binary"
        ),
        Err(err) => {
            eprintln!("contid: cannot run from a sealed copy of the binary: {err}");
            return ExitCode::FAILURE;
        }
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("contid: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.cgroup_parent.is_empty()
        || args.cgroup_parent.contains("..")
        || args.cgroup_parent.starts_with('/')
    {
        return Err(format!(
            "invalid --cgroup-parent {:?}: a relative cgroup path is expected",
            args.cgroup_parent
        )
        .into());
    }
    std::fs::create_dir_all(&args.root)
        .map_err(|e| format!("cannot create {}: {e}", args.root.display()))?;
    let root = args.root.canonicalize()?;
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
    let _lock = RootLock::acquire(&root)?;
    let serve_options = ServeOptions {
        access: SocketAccess::from_flag(args.group.as_deref())?,
        max_connections: args.max_connections as usize,
    };
    let userns_remap = args
        .userns_remap
        .as_deref()
        .map(IdMapping::for_user)
        .transpose()?
        .map(|mapping| IdMapping {
            idmapped_mounts: !args.userns_no_idmap,
            ..mapping
        });
    let cgroups = CgroupManager::detect(&args.cgroup_parent);
    // Before the helper, which every other process comes from, is forked.
    match open_files_limit::raise() {
        Ok(limit) => tracing::info!(
            from = limit.soft_before,
            to = limit.soft,
            "open-file limit (containers get the one contid was started with)"
        ),
        Err(err) => tracing::warn!(%err, "cannot raise the open-file limit"),
    }
    // The helper must be forked now, while this process has a single thread.
    let helper = spawn_helper(HelperConfig {
        cgroups: cgroups.clone(),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let root_for_credentials = root.clone();
    runtime.block_on(async move {
        let engine = Engine::load(EngineConfig {
            root,
            socket: args.socket.clone(),
            log_max_bytes: args.log_max_bytes,
            allow_root_bind: args.allow_root_bind,
            userns_remap,
            cgroups,
            helper,
            network_defaults: NetworkDefaults {
                bridge: args.bridge,
                subnet: args.default_subnet.trunc(),
                gateway: args.default_gateway,
                firewall_table: args.firewall_table,
            },
            removed_exits_memory: args.removed_exits_memory,
            resolv_conf: args.resolv_conf,
            registry: contid::registry::RegistrySettings {
                certs_dir: args.registry_certs_dir,
                insecure_registries: args.insecure_registries,
                // Root-only (0600), written by `login`.
                credentials_file: root_for_credentials.join("credentials.json"),
            },
        })?;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "contid ready");
        contid::api::serve(engine, &args.socket, serve_options, shutdown_signal()).await?;
        Ok(())
    })
}

/// Installs the SIGTERM and SIGINT handlers now, and returns what resolves on either. Installed
/// before the socket answers: a signal sent right after contid first answered stops it cleanly
/// (an async fn would install them only when the server first polls it, and in between the
/// default action of SIGTERM killed contid).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop contid with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}
