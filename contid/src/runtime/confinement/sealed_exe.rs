//! Running from a sealed copy of the contid binary (CVE-2019-5736, made robust).
//!
//! Every process of a container that runs contid code (the init before `execve`, the tiny init
//! that stays PID 1, an exec being set up) shows the contid binary as its `/proc/<pid>/exe`.
//! They are non-dumpable, which keeps an ordinary container out; a container with
//! `CAP_SYS_PTRACE` (`--privileged`, `--cap-add SYS_PTRACE`) still gets through, and could open
//! the binary for writing and replace the host's contid. So at start-up, before anything is
//! forked, contid re-executes itself from a copy nobody can write (as runc does since 1.1.12,
//! `libcontainer/exeseal`):
//!
//! - **overlayfs** (no copy, no memory): a read-only overlay made with the new mount API
//!   (`fsopen`/`fsmount`, never attached anywhere) whose top layer is the binary's folder and
//!   whose bottom layer is an empty folder (an overlay without an upper layer needs two). Such an
//!   overlay can't be made writable: a write is `EROFS` whoever asks.
//! - **memfd** (fallback): a copy of the binary in a `memfd` sealed with
//!   `F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE`: it costs the binary's size in memory
//!   for as long as a process of that daemon (monitors included) runs from it.
//!
//! The new process finds [`SEALED_ENV`] (the moment the sealing began) and checks that its
//! `/proc/self/exe` really is such a copy; it never re-executes twice.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};

use crate::runtime::child_failure::io_errno;

/// Set for the re-executed process: when the sealing began (nanoseconds since the epoch).
pub const SEALED_ENV: &str = "CONTI_SEALED_EXE";

/// Folder (under the daemon's root) of the overlay's empty bottom layer.
const EMPTY_LOWER_DIR: &str = "exe-seal-lower";

/// `OVERLAYFS_SUPER_MAGIC` (`linux/magic.h`).
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// The seals a memfd copy must have.
const MEMFD_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// How to make the sealed copy (`contid --exe-seal auto|overlayfs|memfd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SealMethod {
    /// overlayfs where the kernel allows it, else memfd.
    Auto,
    Overlayfs,
    Memfd,
}

impl std::str::FromStr for SealMethod {
    type Err = String;

    fn from_str(method: &str) -> Result<SealMethod, String> {
        match method {
            "auto" => Ok(SealMethod::Auto),
            "overlayfs" => Ok(SealMethod::Overlayfs),
            "memfd" => Ok(SealMethod::Memfd),
            _ => Err("auto, overlayfs or memfd expected".into()),
        }
    }
}

/// What the running binary is sealed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedBy {
    Overlayfs,
    Memfd,
}

/// The running process's sealed binary, and what the re-execution cost (from the start of the
/// sealing to the check in the new process).
#[derive(Debug)]
pub struct SealedExe {
    pub by: SealedBy,
    pub reexec_time: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExeSealError {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: Errno,
    },
    #[error("re-executed from a sealed copy, yet /proc/self/exe is not one")]
    NotSealed,
}

fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> ExeSealError {
    move |source| ExeSealError::Sys {
        what: what.into(),
        source,
    }
}

fn rustix_errno(error: rustix::io::Errno) -> Errno {
    Errno::from_raw(error.raw_os_error())
}

/// Makes sure this process runs from a sealed copy of its binary: returns when it already does
/// (the re-executed process); otherwise makes one with `method` and re-executes itself from it
/// with the same arguments and environment (plus [`SEALED_ENV`]), and only returns on failure.
/// `root` is the daemon's state folder (the overlay's empty layer goes there). Must run while the
/// process has a single thread: `execve` ends all others without warning.
pub fn run_from_sealed_copy(method: SealMethod, root: &Path) -> Result<SealedExe, ExeSealError> {
    if let Some(started) = std::env::var_os(SEALED_ENV) {
        // SAFETY: the process has a single thread (documented precondition), so no other thread
        // reads the environment meanwhile. Our children must not see the marker.
        unsafe { std::env::remove_var(SEALED_ENV) };
        let by = sealed_by()?.ok_or(ExeSealError::NotSealed)?;
        let started = started.to_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        let reexec_time = Duration::from_nanos(now_ns().saturating_sub(started));
        return Ok(SealedExe { by, reexec_time });
    }
    let started = now_ns();
    let exe = match method {
        SealMethod::Overlayfs => sealed_overlayfs(root)?,
        SealMethod::Memfd => sealed_memfd()?,
        SealMethod::Auto => match sealed_overlayfs(root) {
            Ok(exe) => exe,
            Err(error) => {
                tracing::debug!(%error, "no overlayfs for the sealed binary; copying it into a memfd");
                sealed_memfd()?
            }
        },
    };
    reexec(exe.as_fd(), started)
}

/// Nanoseconds since the epoch (a clock both processes read alike across `execve`).
fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// What `/proc/self/exe` is sealed by, if it is.
fn sealed_by() -> Result<Option<SealedBy>, ExeSealError> {
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(rustix_errno)
    .map_err(sys("open /proc/self/exe"))?;
    if rustix::fs::fcntl_get_seals(&exe).is_ok_and(|seals| seals.contains(MEMFD_SEALS)) {
        return Ok(Some(SealedBy::Memfd));
    }
    let fs = rustix::fs::fstatfs(&exe)
        .map_err(rustix_errno)
        .map_err(sys("statfs /proc/self/exe"))?;
    let read_only = rustix::fs::fstatvfs(&exe)
        .map_err(rustix_errno)
        .map_err(sys("statvfs /proc/self/exe"))?
        .f_flag
        .contains(rustix::fs::StatVfsMountFlags::RDONLY);
    Ok((fs.f_type as i64 == OVERLAYFS_MAGIC && read_only).then_some(SealedBy::Overlayfs))
}

/// The binary, opened `O_PATH` through a detached read-only overlay of its folder.
fn sealed_overlayfs(root: &Path) -> Result<OwnedFd, ExeSealError> {
    let binary = std::fs::read_link("/proc/self/exe")
        .map_err(|e| sys("readlink /proc/self/exe")(io_errno(&e)))?;
    let (Some(folder), Some(name)) = (binary.parent(), binary.file_name()) else {
        return Err(sys(format!("the binary {}", binary.display()))(
            Errno::EINVAL,
        ));
    };
    let empty = root.join(EMPTY_LOWER_DIR);
    std::fs::create_dir_all(&empty)
        .map_err(|e| sys(format!("mkdir {}", empty.display()))(io_errno(&e)))?;
    let context = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(rustix_errno)
        .map_err(sys("fsopen overlay"))?;
    // The binary's folder on top: a file of its name in the empty layer could not mask it.
    let lower = format!("{}:{}", escape_layer(folder), escape_layer(&empty));
    rustix::mount::fsconfig_set_string(&context, "lowerdir", lower.as_str())
        .map_err(rustix_errno)
        .map_err(sys(format!("overlay lowerdir={lower}")))?;
    // Not wanted, and it only adds kernel log lines when the layers are on different filesystems.
    let _ = rustix::mount::fsconfig_set_string(&context, "xino", "off");
    rustix::mount::fsconfig_create(&context)
        .map_err(rustix_errno)
        .map_err(sys("create the overlay"))?;
    let mount = rustix::mount::fsmount(
        &context,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )
    .map_err(rustix_errno)
    .map_err(sys("fsmount the overlay"))?;
    rustix::fs::openat(
        &mount,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(rustix_errno)
    .map_err(sys(format!("open {} in the overlay", name.display())))
}

/// overlayfs splits `lowerdir` at `:` and unescapes `\`.
fn escape_layer(path: &Path) -> String {
    path.to_string_lossy()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// A sealed memfd copy of the binary.
fn sealed_memfd() -> Result<OwnedFd, ExeSealError> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) asks for an executable memfd where `vm.memfd_noexec` would not give
    // one by default; older kernels refuse the flag.
    let memfd = rustix::fs::memfd_create("contid", flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("contid", flags))
        .map_err(rustix_errno)
        .map_err(sys("memfd_create"))?;
    let mut binary = std::fs::File::open("/proc/self/exe")
        .map_err(|e| sys("open /proc/self/exe")(io_errno(&e)))?;
    let mut copy = std::fs::File::from(memfd);
    std::io::copy(&mut binary, &mut copy)
        .map_err(|e| sys("copy the binary into the memfd")(io_errno(&e)))?;
    // F_SEAL_EXEC (Linux 6.3): nobody may take the exec bits away either; best effort.
    let _ = rustix::fs::fcntl_add_seals(&copy, SealFlags::EXEC);
    rustix::fs::fcntl_add_seals(&copy, MEMFD_SEALS)
        .map_err(rustix_errno)
        .map_err(sys("seal the memfd"))?;
    Ok(copy.into())
}

/// `execveat(exe, "", argv, env + SEALED_ENV, AT_EMPTY_PATH)`: only returns on failure. Every fd
/// this module opened is close-on-exec; the others stay as they came.
fn reexec(exe: impl AsFd, started: u64) -> Result<SealedExe, ExeSealError> {
    let c_string = |bytes: &[u8]| CString::new(bytes).map_err(|_| sys("argument")(Errno::EINVAL));
    let argv = std::env::args_os()
        .map(|arg| c_string(arg.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = std::env::vars_os()
        .map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            c_string(pair.as_bytes())
        })
        .collect::<Result<Vec<_>, _>>()?;
    env.push(c_string(format!("{SEALED_ENV}={started}").as_bytes())?);
    let Err(errno) = nix::unistd::execveat(exe, c"", &argv, &env, AtFlags::AT_EMPTY_PATH);
    Err(sys("execveat the sealed binary")(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_paths_escape_colons_and_backslashes() {
        assert_eq!(escape_layer(Path::new("/usr/bin")), "/usr/bin");
        assert_eq!(escape_layer(Path::new("/a:b\\c")), "/a\\:b\\\\c");
    }
}
