//! `skopeo` and `buildah` as the image harness runs them: each in a mount namespace of its own
//! where `/var/lib/containers`, `/run/containers` (or `/var/lib` and `/run` on a host that has
//! neither: the tools would make them) and `/var/tmp` are empty tmpfs that end with the command.
//! As root, both tools write their blob-info cache to `/var/lib/containers/cache` and buildah
//! makes `/run/containers/networks` whatever the storage flags say, and they write big temporary
//! files to `/var/tmp`; this way no run leaves anything on the host, and no earlier run's cache
//! (naming registries on ports since reused) changes what a test sees. The tools reach only
//! local files and `127.0.0.1`, so the hidden `/run` (a systemd-resolved `resolv.conf`) does
//! not matter to them. Their policy
//! (accept anything), registries.conf (empty) and auth file (empty) are the harness's own too, so
//! that a developer's `skopeo login` or mirrors never leak into a test.

use std::fmt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::run_command;

/// The private folder of each tool run (on the namespace's `/var/tmp` tmpfs).
const TOOLS_DIR: &str = "/var/tmp/conti-tools";

const ISOLATE_SCRIPT: &str = r#"set -e
if [ -d /var/lib/containers ]; then
    mount -t tmpfs -o mode=0700 conti-tests /var/lib/containers
else
    mount -t tmpfs -o mode=0755 conti-tests /var/lib
fi
if [ -d /run/containers ]; then
    mount -t tmpfs -o mode=0700 conti-tests /run/containers
else
    mount -t tmpfs -o mode=0755 conti-tests /run
fi
mount -t tmpfs -o mode=1777 conti-tests /var/tmp
mkdir -p /var/tmp/conti-tools/registries.d
echo '{"default":[{"type":"insecureAcceptAnything"}]}' > /var/tmp/conti-tools/policy.json
echo '{}' > /var/tmp/conti-tools/auth.json
: > /var/tmp/conti-tools/registries.conf
exec "$@"
"#;

/// `program` wrapped as the module says; add its arguments to the returned command.
pub fn isolated_tool(program: &str) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(ISOLATE_SCRIPT)
        .arg("conti-tools")
        .arg(program)
        .env("TMPDIR", "/var/tmp")
        .env("REGISTRY_AUTH_FILE", format!("{TOOLS_DIR}/auth.json"))
        .env(
            "CONTAINERS_REGISTRIES_CONF",
            format!("{TOOLS_DIR}/registries.conf"),
        );
    command
}

/// `skopeo` with the harness's policy and lookaside folder; add the subcommand.
pub fn skopeo() -> Command {
    let mut command = isolated_tool("skopeo");
    command
        .arg(format!("--policy={TOOLS_DIR}/policy.json"))
        .arg(format!("--registries.d={TOOLS_DIR}/registries.d"));
    command
}

/// `buildah` on the vfs storage in `root` (graph root) and `runroot`; add the subcommand.
pub fn buildah(root: &Path, runroot: &Path) -> Command {
    let mut command = isolated_tool("buildah");
    command
        .arg("--root")
        .arg(root)
        .arg("--runroot")
        .arg(runroot)
        .args(["--storage-driver", "vfs"]);
    command
}

/// The reference of `image` in the vfs containers-storage at `root` and `runroot`, for skopeo:
/// `containers-storage:[vfs@ROOT+RUNROOT]IMAGE`.
pub fn storage_reference(root: &Path, runroot: &Path, image: &str) -> String {
    format!(
        "containers-storage:[vfs@{}+{}]{image}",
        root.display(),
        runroot.display()
    )
}

/// A command that did not succeed: what ran, its exit code, its stderr.
#[derive(Debug, Clone)]
pub struct CommandFailed {
    pub command: String,
    /// `None` when it was killed by a signal (or the failure was not its exit).
    pub status: Option<i32>,
    pub stderr: String,
}

impl CommandFailed {
    /// Runs `command` (killed after `timeout`); its output when it exits 0.
    pub fn check(command: &mut Command, timeout: Duration) -> Result<Output, CommandFailed> {
        let out = run_command(command, timeout);
        if out.status.success() {
            Ok(out)
        } else {
            Err(CommandFailed {
                command: describe(command),
                status: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }
}

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed ({}): {}",
            self.command,
            self.status
                .map_or("killed".to_string(), |c| format!("exit code {c}")),
            self.stderr.trim_end()
        )
    }
}

impl std::error::Error for CommandFailed {}

/// Runs `command` (killed after `timeout`) and returns its stdout; panics with its stderr when
/// it fails.
#[track_caller]
pub fn run_tool(command: &mut Command, timeout: Duration) -> String {
    match CommandFailed::check(command, timeout) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => panic!("{e}"),
    }
}

/// The command without the isolation wrapper's script: `skopeo copy ...`.
fn describe(command: &Command) -> String {
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match args.iter().position(|a| a == "conti-tools") {
        Some(at) => args[at + 1..].join(" "),
        None => format!("{command:?}"),
    }
}
