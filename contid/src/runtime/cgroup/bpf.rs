//! bpf(2), for the two calls the device allow-list needs on cgroup v2: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup.
//!
//! Made here, as runc and crun make them: the crates that wrap bpf(2) either link the C libbpf
//! (libbpf-sys, which youki uses) or load compiled ELF objects (aya), both far more than two
//! calls. Neither nix nor rustix has bpf(2).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::libc;

use super::CgroupError;

/// `enum bpf_cmd`.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
/// `enum bpf_prog_type`.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `enum bpf_attach_type`.
const BPF_CGROUP_DEVICE: u32 = 6;
/// Lets an ancestor's program and ours both run (every one of them must allow an access), and
/// lets a cgroup below ours add its own.
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
/// The program calls no helper, so the kernel has no GPL-only function to refuse it.
const LICENSE: &CStr = c"Apache-2.0";
/// What `bpftool prog` shows (15 characters at most).
const PROGRAM_NAME: &[u8] = b"conti_devices";
/// Room for the verifier's log of a refused program (ours is ~50 instructions).
const LOG_SIZE: usize = 64 * 1024;

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to `prog_name` (the kernel zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// `union bpf_attr` for `BPF_PROG_ATTACH`.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Loads the device program `instructions` (8 bytes each) for the cgroup `dir`. A refusal is
/// asked again with the verifier's log on, and the error carries it.
pub(super) fn load_device_program(instructions: &[u8], dir: &Path) -> Result<OwnedFd, CgroupError> {
    let mut name = [0; 16];
    name[..PROGRAM_NAME.len()].copy_from_slice(PROGRAM_NAME);
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (instructions.len() / 8) as u32,
        insns: instructions.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    if let Ok(program) = prog_load(&attr) {
        return Ok(program);
    }
    let mut log = vec![0u8; LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    let source = match prog_load(&attr) {
        Ok(program) => return Ok(program),
        Err(err) => err,
    };
    let log = verifier_verdict(&log);
    let reason = match source.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no bpf(2) (CONFIG_BPF_SYSCALL)".to_owned(),
        Some(libc::EINVAL) if log.is_empty() => {
            "the kernel has no cgroup device programs (CONFIG_CGROUP_BPF)".to_owned()
        }
        Some(libc::EPERM) => "loading BPF programs needs CAP_SYS_ADMIN (or CAP_BPF)".to_owned(),
        _ => format!("the verifier said: {log}"),
    };
    Err(CgroupError::DeviceProgram {
        path: dir.to_path_buf(),
        action: "load it (BPF_PROG_LOAD)",
        reason,
        source,
    })
}

/// The last lines of the verifier's log, where it says what it refused, on one line.
fn verifier_verdict(log: &[u8]) -> String {
    const LINES: usize = 4;
    let text = CStr::from_bytes_until_nul(log)
        .map(|text| text.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(LINES)..].join("; ")
}

fn prog_load(attr: &ProgLoadAttr) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a `BPF_PROG_LOAD` bpf_attr of the size passed; the instructions, license
    // and log buffer it points to are borrowed by the caller for the whole call, the log with
    // `log_size` writable bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr as *const ProgLoadAttr,
            size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new file descriptor of the program, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches the device `program` to the cgroup open at `cgroup` (the directory `dir`).
pub(super) fn attach_device_program(
    cgroup: BorrowedFd<'_>,
    program: BorrowedFd<'_>,
    dir: &Path,
) -> Result<(), CgroupError> {
    let attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: `attr` is a `BPF_PROG_ATTACH` bpf_attr of the size passed, holding two open fds
    // borrowed for the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            size_of::<ProgAttachAttr>(),
        )
    };
    if result == 0 {
        return Ok(());
    }
    let source = io::Error::last_os_error();
    let reason = match source.raw_os_error() {
        Some(libc::EPERM) => {
            "an ancestor cgroup holds a device program that allows no other, or the daemon \
             lacks CAP_SYS_ADMIN"
        }
        _ => "the kernel refused to attach a device program to this cgroup",
    };
    Err(CgroupError::DeviceProgram {
        path: dir.to_path_buf(),
        action: "attach it (BPF_PROG_ATTACH)",
        reason: reason.to_owned(),
        source,
    })
}
