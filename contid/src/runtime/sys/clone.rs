//! `clone3` used like `fork`: a copy of the caller, optionally in new namespaces and born in a
//! given cgroup. The monitor clones the container's init with it, and `container::userns` the
//! short-lived child that holds a new user namespace.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Where a new process starts: like `fork`, in new namespaces.
pub enum CloneResult {
    Parent { child: Pid },
    Child,
}

/// `clone3(flags, SIGCHLD)` without a new stack: the child goes on from here on a copy of the
/// caller's memory, exactly like `fork`. Only for single-threaded callers (the monitor).
///
/// With `cgroup` (a cgroup v2 directory), the child is born in that cgroup (`CLONE_INTO_CGROUP`):
/// nobody has to migrate it afterwards, and a migration is what makes a start slow now and then
/// (it waits for an RCU grace period). Without it, a kernel or a seccomp filter that refuses
/// `clone3` (`ENOSYS`) gets the same clone through `clone(2)`.
pub fn clone_process(
    flags: CloneFlags,
    cgroup: Option<BorrowedFd<'_>>,
) -> nix::Result<CloneResult> {
    let mut args = CloneArgs {
        flags: flags.bits() as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(cgroup) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }
    // SAFETY: with a null stack and no CLONE_VM the kernel gives the child a copy-on-write copy
    // of the address space and of the stack, so both processes continue from this call
    // independently, as after fork(2). The caller is single-threaded, so no lock is held by a
    // thread that does not exist in the child. No CLONE_*TID/SETTLS/PIDFD flag: the zeroed
    // pointers are never used. `args` outlives the call and its size is passed with it.
    let res = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw mut args,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let res = match Errno::result(res) {
        Err(Errno::ENOSYS) if cgroup.is_none() => {
            let flags = args.flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
            // SAFETY: as above, `clone(2)` with a null stack and no CLONE_VM behaves as fork(2).
            let res =
                unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
            Errno::result(res)?
        }
        res => res?,
    };
    match res {
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent {
            child: Pid::from_raw(pid as i32),
        }),
    }
}

/// `struct clone_args` of `clone3(2)` (`linux/sched.h`), up to `cgroup` (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `linux/sched.h`: place the child in the cgroup `clone_args.cgroup` refers to (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
