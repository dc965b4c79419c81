//! The container's init, from the clone to `execve`: it becomes the container's PID 1.
//!
//! Each step is a named function returning `Result<(), ChildFailure>`; the first failure goes to
//! the monitor as JSON on the error pipe and the init exits. A successful `execve` closes the
//! error pipe (close-on-exec): the monitor reads EOF and knows the command started.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use super::child::{
    close_inherited_fds, enter_working_dir, exec_with_failure_report, exit_now, fail,
    redirect_stdio,
};
use super::tiny_init::run_tiny_init;
use super::{namespaces, pty, rootfs, volumes};
use crate::runtime::child_failure::{ChildFailure, STEP_CHDIR_CWD, StepResult};
use crate::runtime::confinement::CompiledConfinement;
use crate::runtime::{ContainerLaunch, ContainerSecurity, confinement::masked_paths, network};

/// The init's ends of the pipes the monitor made.
pub(crate) struct InitPipes {
    /// Read end: "go" from the monitor once the init is in its cgroup; EOF = the monitor died
    /// (or gave up on us).
    pub sync: OwnedFd,
    /// Write end, close-on-exec: a `ChildFailure`, or EOF at `execve`.
    pub error: OwnedFd,
    /// Write ends of the container's stdout and stderr.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Read end of the container's stdin (`open_stdin` without a tty); `/dev/null` otherwise.
    pub stdin: Option<OwnedFd>,
    /// With a tty: where to send the terminal's master (see `pty`).
    pub terminal: Option<OwnedFd>,
    /// With `--userns`: the container's user namespace, made by the monitor.
    pub userns: Option<OwnedFd>,
    /// With `--userns` where the image can't be mounted idmapped: the shifted copies of its
    /// layers, base first.
    pub shifted_layers: Option<Vec<PathBuf>>,
}

/// Runs in the clone child; never returns.
pub(crate) fn run_init(launch: &ContainerLaunch, pipes: InitPipes) -> ! {
    let InitPipes {
        sync,
        error,
        stdout,
        stderr,
        stdin,
        terminal,
        userns,
        shifted_layers,
    } = pipes;
    // Nothing of the monitor (its log file, the report pipe, the read ends) stays open here.
    let keep = [
        sync.as_raw_fd(),
        error.as_raw_fd(),
        stdout.as_raw_fd(),
        stderr.as_raw_fd(),
        stdin.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
        terminal.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
        userns.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
    ];
    if let Err(failure) = close_inherited_fds(&keep) {
        fail(error.as_fd(), &failure);
    }
    let stdio = InitStdio {
        stdout,
        stderr,
        stdin,
        terminal,
    };
    // The sync pipe stays open until a failure is reported: were it closed first, the monitor's
    // "go" would meet a closed pipe and it would kill us before the report is written.
    let confinement = match prepare_container(
        launch,
        stdio,
        sync.as_fd(),
        userns,
        shifted_layers.as_deref(),
    ) {
        Ok(confinement) => confinement,
        Err(failure) => fail(error.as_fd(), &failure),
    };
    drop(sync);
    let env = confinement.environment(&launch.env);
    if launch.init {
        run_tiny_init(&launch.argv, &env, error, &confinement);
    }
    exec_with_failure_report(&launch.argv, &env, error.as_fd(), Some(&confinement))
}

/// Everything between the clone and `execve`, in order; the confinement to apply last, its user
/// looked up. The root filesystem is built while the monitor moves us into our cgroup (which can
/// take milliseconds); nothing of the command runs before we are there.
fn prepare_container(
    launch: &ContainerLaunch,
    stdio: InitStdio,
    sync: BorrowedFd<'_>,
    userns: Option<OwnedFd>,
    shifted_layers: Option<&[PathBuf]>,
) -> Result<CompiledConfinement, ChildFailure> {
    die_with_monitor()?;
    set_umask();
    // Before the root filesystem: joining another container's namespace needs the host's /proc.
    network::enter_container_network(&launch.network)?;
    let image = match (shifted_layers, &userns) {
        (Some(copies), _) => rootfs::ImageLayers::Plain(copies),
        (None, Some(userns)) => rootfs::ImageLayers::Idmapped(userns.as_fd()),
        (None, None) => rootfs::ImageLayers::Plain(&launch.image_layers),
    };
    let rootfs = rootfs::build_rootfs(launch, image)?;
    rootfs::pivot_into(&rootfs)?;
    // The user from the container's own account files, now that its root is ours.
    let confinement = launch.security.confinement.compile()?;
    let owner = confinement.ids();
    let owner = launch
        .security
        .userns
        .map_or(owner, |mapping| mapping.host_ids(owner));
    make_working_dir(&launch.cwd, owner)?;
    harden_filesystem(&launch.security)?;
    namespaces::set_hostname(&launch.hostname)?;
    connect_stdio(launch, stdio)?;
    wait_for_go(sync);
    namespaces::enter_cgroup_namespace()?;
    network::configure_container_interface(&launch.network)?;
    // Last: everything above needs the host's root.
    if let Some(userns) = userns {
        namespaces::join_user_namespace(userns.as_fd())?;
    }
    enter_working_dir(&launch.cwd)?;
    Ok(confinement)
}

/// `-w DIR` that the image lacks is made, as Docker does: resolved inside the container's root
/// (a symlink on the way cannot lead out of it), each missing folder mode 0755 and owned by
/// `owner`, the container's user as host ids. After `pivot_root`, before the root may turn
/// read-only. An exec's working directory is never made (nor is it by Docker).
fn make_working_dir(cwd: &str, owner: (u32, u32)) -> Result<(), ChildFailure> {
    if cwd == "/" {
        return Ok(());
    }
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(STEP_CHDIR_CWD, || "open the container's /".into())?;
    volumes::make_folder_in_root(&root, cwd, owner)
        .map(drop)
        .map_err(|failure| ChildFailure {
            step: STEP_CHDIR_CWD.to_string(),
            ..failure
        })
}

/// Masked and read-only paths in `/proc` and `/sys`, then the read-only root, as asked.
fn harden_filesystem(security: &ContainerSecurity) -> Result<(), ChildFailure> {
    if security.mask_kernel_paths {
        masked_paths::mask_kernel_paths()?;
    }
    if security.read_only_rootfs {
        rootfs::make_root_read_only()?;
    }
    Ok(())
}

/// Blocks until the monitor has put us into the container's cgroup (and, on a bridge, our end of
/// the veth pair into our network namespace). EOF means the monitor died
/// (or gave up on us): leave quietly, there is nobody to report to.
fn wait_for_go(sync: BorrowedFd<'_>) {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(sync, &mut byte) {
            Ok(1..) => return,
            Err(Errno::EINTR) => continue,
            Ok(0) | Err(_) => exit_now(1),
        }
    }
}

/// The container dies with its monitor: no container is left without someone to reap it and
/// record its exit.
fn die_with_monitor() -> Result<(), ChildFailure> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .step("set_pdeathsig", || "PR_SET_PDEATHSIG".into())
}

/// Device nodes and `/etc` files get exact modes whatever umask the daemon ran with; the
/// container's command starts with the conventional 022.
fn set_umask() {
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
}

/// The init's ends of its stdio, as the monitor made them.
struct InitStdio {
    stdout: OwnedFd,
    stderr: OwnedFd,
    stdin: Option<OwnedFd>,
    terminal: Option<OwnedFd>,
}

/// A terminal made in the container's devpts (now mounted at `/dev/pts`), or the monitor's
/// pipes with stdin from the stdin pipe or `/dev/null`.
fn connect_stdio(launch: &ContainerLaunch, stdio: InitStdio) -> Result<(), ChildFailure> {
    if let Some(channel) = stdio.terminal {
        return pty::attach_new_terminal(channel.as_fd(), launch.window_size);
    }
    redirect_stdio(stdio.stdout, stdio.stderr)?;
    if let Some(stdin) = stdio.stdin {
        nix::unistd::dup2_stdin(&stdin).step("stdio", || "dup2 stdin".into())?;
    }
    Ok(())
}
