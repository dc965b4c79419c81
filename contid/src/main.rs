//! `contid`: parse flags and the configuration file, start the helper while still
//! single-threaded, then the async runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use contid::api::{ApiSocket, ServeOptions, SocketAccess};
use contid::config::{DEFAULT_CONFIG_FILE, Settings, SettingsLayer};
use contid::engine::{Engine, EngineConfig, NetworkDefaults, REMOVED_EXITS_MEMORY};
use contid::runtime::cgroup::CgroupManager;
use contid::runtime::confinement::sealed_exe::run_from_sealed_copy;
use contid::runtime::container::userns::IdMapping;
use contid::runtime::process::helper::{HelperConfig, spawn_helper};
use contid::runtime::sys::lockfile::RootLock;
use contid::runtime::sys::open_files_limit;
use contid::systemd::Handoff;

/// Exit code of a refused configuration (flags or file), as clap's for a bad flag.
const BAD_CONFIGURATION: u8 = 2;

/// The Conti container engine daemon.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML): a key for each setting below, named as its flag
    /// (`log-max-bytes = 4096`); flags win over it. [default: /etc/conti/contid.toml, when it
    /// exists]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the flags and the configuration file, print the settings contid would run with (as
    /// a configuration file) and exit, starting nothing.
    #[arg(long)]
    validate: bool,
    #[command(flatten)]
    settings: SettingsLayer,
    /// For how many deleted containers a `wait` that comes after the deletion still gets the
    /// exit code (for five minutes; the oldest are forgotten first). A waiter already waiting
    /// always gets it. Lowered by the tests.
    #[arg(long, default_value_t = REMOVED_EXITS_MEMORY, hide = true)]
    removed_exits_memory: usize,
}

/// What the settings name on this host: who may use the socket, and where `--userns`
/// containers' ids go. Looked up (not changed) before anything starts, and by `--validate`.
struct HostSettings {
    access: SocketAccess,
    userns_remap: Option<IdMapping>,
}

impl HostSettings {
    fn look_up(settings: &Settings) -> Result<HostSettings, Box<dyn std::error::Error>> {
        let userns_remap = settings
            .userns_remap
            .as_deref()
            .map(IdMapping::for_user)
            .transpose()?
            .map(|mapping| IdMapping {
                idmapped_mounts: !settings.userns_no_idmap,
                ..mapping
            });
        Ok(HostSettings {
            access: SocketAccess::from_flag(settings.group.as_deref())?,
            userns_remap,
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match Settings::load(
        args.settings,
        args.config.as_deref(),
        Path::new(DEFAULT_CONFIG_FILE),
    ) {
        Ok((settings, file)) if args.validate => return validate(&settings, file.as_deref()),
        Ok((settings, file)) => {
            init_logging(&settings);
            if let Some(file) = file {
                tracing::debug!(file = %file.display(), "configuration file read");
            }
            settings
        }
        Err(err) => {
            eprintln!("contid: {err}");
            return ExitCode::from(BAD_CONFIGURATION);
        }
    };
    // First, while this process has a single thread: from here on every process of contid
    // (helper, monitors, containers' inits, execs) runs from a copy of the binary nobody can write.
    match run_from_sealed_copy(settings.exe_seal, &settings.root) {
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
    match run(settings, args.removed_exits_memory) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("contid: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            settings.log_level.as_str(),
        ))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// `contid --validate`: the settings, checked against the host as a start would (exit code 1
/// when it would fail there), printed as a configuration file.
fn validate(settings: &Settings, file: Option<&Path>) -> ExitCode {
    if let Err(err) = HostSettings::look_up(settings) {
        eprintln!("contid: {err}");
        return ExitCode::FAILURE;
    }
    match settings.to_toml() {
        Ok(text) => {
            let file = file.map_or("no configuration file".into(), |f| f.display().to_string());
            print!("# contid's settings: the flags, over {file}, over the defaults\n{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("contid: the settings cannot be written as TOML: {err}");
            ExitCode::from(BAD_CONFIGURATION)
        }
    }
}

fn run(settings: Settings, removed_exits_memory: usize) -> Result<(), Box<dyn std::error::Error>> {
    // Before anything is forked or a thread started: systemd's variables leave the environment
    // (no container may see them), its socket becomes close-on-exec. After the sealed re-exec,
    // which must still find them.
    let mut systemd = Handoff::take()?;
    std::fs::create_dir_all(&settings.root)
        .map_err(|e| format!("cannot create {}: {e}", settings.root.display()))?;
    let root = settings.root.canonicalize()?;
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o711))?;
    let _lock = RootLock::acquire(&root)?;
    let HostSettings {
        access,
        userns_remap,
    } = HostSettings::look_up(&settings)?;
    let cgroups = CgroupManager::detect(settings.cgroup_parent.as_str());
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
    let serve_options = ServeOptions {
        access,
        max_connections: settings.max_connections.get() as usize,
    };
    runtime.block_on(async move {
        let passed_socket = systemd.socket.take();
        let socket_path = match &passed_socket {
            Some(passed) => {
                if !passed.is_at(&settings.socket) {
                    tracing::warn!(
                        passed = %passed.path.display(),
                        configured = %settings.socket.display(),
                        "serving the socket systemd passed, not the configured one"
                    );
                }
                passed.path.clone()
            }
            None => settings.socket.clone(),
        };
        let adopting = systemd.notifier.clone();
        let engine = Engine::load(EngineConfig {
            root,
            socket: socket_path.clone(),
            log_max_bytes: settings.log_max_bytes,
            log_max_files: settings.log_max_files,
            allow_root_bind: settings.allow_root_bind,
            userns_remap,
            cgroups,
            helper,
            network_defaults: NetworkDefaults {
                bridge: settings.bridge.as_str().to_string(),
                subnet: settings.default_subnet.trunc(),
                gateway: settings.default_gateway,
                firewall_table: settings.firewall_table.as_str().to_string(),
            },
            removed_exits_memory,
            resolv_conf: settings.resolv_conf,
            registry: contid::registry::RegistrySettings {
                certs_dir: settings.registry_certs_dir,
                insecure_registries: settings.insecure_registries,
                // Root-only (0600), written by `login`.
                credentials_file: root_for_credentials.join("credentials.json"),
            },
            on_adopting: Box::new(move |count| {
                adopting.status(&format!("adopting {count} containers"))
            }),
        })?;
        let shutdown = shutdown_signal();
        let socket = match passed_socket {
            Some(passed) => ApiSocket::inherited(passed.listener, passed.path)?,
            None => ApiSocket::bind(&socket_path, &serve_options.access)?,
        };
        systemd.announce_serving(&engine, socket.path());
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "contid ready");
        let shutdown = async move {
            shutdown.await;
            systemd.notifier.stopping();
        };
        contid::api::serve(engine, socket, serve_options, shutdown).await?;
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
