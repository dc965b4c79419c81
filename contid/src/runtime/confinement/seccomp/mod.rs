//! Seccomp: profiles in Docker's JSON format compiled to BPF in-process (`seccompiler`, pure
//! Rust, no libseccomp), installed as the last step before `execve`.
//!
//! seccompiler gives one filter a single "match" and a single "mismatch" action, while a profile
//! maps rules to several actions. A profile becomes a stack of filters, which the kernel runs all
//! of, keeping the most restrictive answer:
//! - when the default action is not "allow": one filter that allows every syscall some rule
//!   names (under that rule's argument conditions) and answers the default action otherwise;
//! - for each other action a rule uses: one filter that answers it for that rule's syscalls and
//!   allows everything else.
//!
//! A syscall matching a rule thus gets that rule's action, any other the default action. The
//! filters are then joined into one program (see `chain`). Only x86_64 is compiled; a syscall
//! made through another ABI (i386 `int 0x80`) kills the process.
//!
//! The daemon compiles (the default profile once per capability set, see [`default_filters`])
//! and the launch carries the BPF to the container's processes, which only install it.

mod chain;
mod default_profile;
mod syscalls_x86_64;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use conti_proto::{SeccompArg, SeccompCondition, SeccompProfile, SeccompSyscall};
use nix::errno::Errno;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompFilter, SeccompRule,
    TargetArch, sock_filter,
};
use serde::{Deserialize, Serialize};

use super::capabilities::{CapabilitySet, parse_capability};
use crate::runtime::child_failure::ChildFailure;
use syscalls_x86_64::syscall_number;

pub use default_profile::default_profile;

/// errno of `SCMP_ACT_ERRNO` when the profile gives none.
const DEFAULT_ERRNO: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("invalid seccomp profile: {0}")]
    InvalidProfile(String),
    #[error("compiling the seccomp profile: {0}")]
    Compile(String),
}

/// A profile compiled for one container: BPF programs in the order they are installed (one,
/// unless the profile's filters together are longer than the kernel takes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeccompFilters(#[serde(with = "wire")] Vec<BpfProgram>);

/// Syscalls a filter matches: `None` when unconditionally, else any of the rules.
type SyscallRules = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// Compiles `profile` for a container holding `capabilities` on the running kernel.
pub fn compile(
    profile: &SeccompProfile,
    capabilities: CapabilitySet,
) -> Result<SeccompFilters, SeccompError> {
    if !profile.architectures.is_empty()
        && !profile.architectures.iter().any(|arch| is_this_arch(arch))
    {
        return Err(SeccompError::InvalidProfile(format!(
            "architectures {:?} do not include x86_64",
            profile.architectures
        )));
    }
    let default_action = action(&profile.default_action, profile.default_errno_ret)?;
    let kernel = kernel_version(&crate::runtime::kernel_release());
    let mut named: SyscallRules = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, SyscallRules)> = Vec::new();
    for syscall in &profile.syscalls {
        let rule_action = action(&syscall.action, syscall.errno_ret)?;
        let rule = conditions(&syscall.args)?;
        if !applies(syscall, capabilities, kernel)? || rule_action == default_action {
            continue;
        }
        let numbers: Vec<i64> = syscall
            .names
            .iter()
            .filter_map(|name| syscall_number(name))
            .collect();
        for &number in &numbers {
            add_rule(&mut named, number, rule.clone());
        }
        if rule_action == SeccompAction::Allow {
            continue;
        }
        let index = match by_action.iter().position(|(a, _)| *a == rule_action) {
            Some(index) => index,
            None => {
                by_action.push((rule_action.clone(), BTreeMap::new()));
                by_action.len() - 1
            }
        };
        for &number in &numbers {
            add_rule(&mut by_action[index].1, number, rule.clone());
        }
    }
    let mut filters = Vec::new();
    if default_action != SeccompAction::Allow {
        let filter = build(named, default_action.clone(), SeccompAction::Allow)?;
        filters.push((default_action, filter));
    }
    for (rule_action, rules) in by_action {
        let filter = build(rules, SeccompAction::Allow, rule_action.clone())?;
        filters.push((rule_action, filter));
    }
    Ok(SeccompFilters(chain::join(filters)))
}

/// [`default_profile`] compiled for `capabilities`, compiled once per set and then shared: almost
/// every container has the same.
pub fn default_filters(capabilities: CapabilitySet) -> Result<SeccompFilters, SeccompError> {
    static COMPILED: Mutex<Option<HashMap<CapabilitySet, SeccompFilters>>> = Mutex::new(None);
    let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    let compiled = compiled.get_or_insert_with(HashMap::new);
    if let Some(filters) = compiled.get(&capabilities) {
        return Ok(filters.clone());
    }
    let filters = compile(&default_profile(), capabilities)?;
    compiled.insert(capabilities, filters.clone());
    Ok(filters)
}

impl SeccompFilters {
    /// Installs the filters on the calling thread. Needs no_new_privileges or CAP_SYS_ADMIN.
    /// (Not `seccompiler::apply_filter`: it always sets no_new_privileges, which the
    /// container may have opted out of.)
    pub(super) fn apply(&self) -> Result<(), ChildFailure> {
        for filter in &self.0 {
            let program = nix::libc::sock_fprog {
                len: u16::try_from(filter.len()).map_err(|_| {
                    ChildFailure::new("seccomp", Errno::E2BIG, "seccomp filter too long")
                })?,
                filter: filter.as_ptr().cast_mut().cast(),
            };
            // SAFETY: `program` points at `filter`'s instructions, which outlive the call;
            // seccompiler's `sock_filter` has the kernel's layout (`#[repr(C)]`, as libc's).
            // The kernel copies the program and keeps no pointer to it.
            let result = unsafe {
                nix::libc::syscall(
                    nix::libc::SYS_seccomp,
                    nix::libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &program as *const nix::libc::sock_fprog,
                )
            };
            Errno::result(result).map_err(|errno| {
                ChildFailure::new("seccomp", errno, "install the seccomp filter")
            })?;
        }
        Ok(())
    }

    /// BPF instructions in all filters (for tests and logs).
    pub fn instructions(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }
}

/// BPF programs on the wire (the launch is JSON): one `u64` per instruction, `code` in the top
/// 16 bits, then `jt`, `jf` and `k`.
mod wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{BpfProgram, sock_filter};

    pub fn serialize<S: Serializer>(programs: &[BpfProgram], s: S) -> Result<S::Ok, S::Error> {
        let packed: Vec<Vec<u64>> = programs
            .iter()
            .map(|program| program.iter().map(pack).collect())
            .collect();
        packed.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BpfProgram>, D::Error> {
        let packed = Vec::<Vec<u64>>::deserialize(d)?;
        Ok(packed
            .into_iter()
            .map(|program| program.into_iter().map(unpack).collect())
            .collect())
    }

    fn pack(instruction: &sock_filter) -> u64 {
        u64::from(instruction.code) << 48
            | u64::from(instruction.jt) << 40
            | u64::from(instruction.jf) << 32
            | u64::from(instruction.k)
    }

    fn unpack(packed: u64) -> sock_filter {
        sock_filter {
            code: (packed >> 48) as u16,
            jt: (packed >> 40) as u8,
            jf: (packed >> 32) as u8,
            k: packed as u32,
        }
    }
}

fn add_rule(rules: &mut SyscallRules, number: i64, rule: Option<SeccompRule>) {
    let entry = rules.entry(number).or_insert_with(|| Some(Vec::new()));
    match (entry.as_mut(), rule) {
        // Unconditional wins over any condition.
        (_, None) => *entry = None,
        (Some(rules), Some(rule)) => rules.push(rule),
        (None, Some(_)) => {}
    }
}

fn build(
    rules: SyscallRules,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SeccompError> {
    let rules = rules
        .into_iter()
        .map(|(number, rules)| (number, rules.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
        .map_err(|e| SeccompError::Compile(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| SeccompError::Compile(e.to_string()))
}

/// Docker's action names.
fn action(name: &str, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(DEFAULT_ERRNO)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        other => {
            return Err(SeccompError::InvalidProfile(format!(
                "action {other:?} is not supported"
            )));
        }
    })
}

/// The argument conditions of a rule, all of which must hold; `None` when it has none.
fn conditions(args: &[SeccompArg]) -> Result<Option<SeccompRule>, SeccompError> {
    if args.is_empty() {
        return Ok(None);
    }
    let invalid = |e: seccompiler::BackendError| SeccompError::InvalidProfile(e.to_string());
    let conditions = args
        .iter()
        .map(|arg| {
            let (op, value) = match arg.op.as_str() {
                "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, arg.value),
                "SCMP_CMP_NE" => (SeccompCmpOp::Ne, arg.value),
                "SCMP_CMP_LT" => (SeccompCmpOp::Lt, arg.value),
                "SCMP_CMP_LE" => (SeccompCmpOp::Le, arg.value),
                "SCMP_CMP_GT" => (SeccompCmpOp::Gt, arg.value),
                "SCMP_CMP_GE" => (SeccompCmpOp::Ge, arg.value),
                "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(arg.value), arg.value_two),
                other => {
                    return Err(SeccompError::InvalidProfile(format!(
                        "argument operator {other:?} is not supported"
                    )));
                }
            };
            seccompiler::SeccompCondition::new(arg.index, SeccompCmpArgLen::Qword, op, value)
                .map_err(invalid)
        })
        .collect::<Result<Vec<_>, _>>()?;
    SeccompRule::new(conditions).map(Some).map_err(invalid)
}

/// Whether a rule's `includes` all hold and none of its `excludes` does.
fn applies(
    syscall: &SeccompSyscall,
    capabilities: CapabilitySet,
    kernel: (u32, u32),
) -> Result<bool, SeccompError> {
    let includes = &syscall.includes;
    let excludes = &syscall.excludes;
    let all_included = condition_holds(includes, capabilities, kernel, Quantifier::All)?;
    let any_excluded =
        !excludes.is_empty() && condition_holds(excludes, capabilities, kernel, Quantifier::Any)?;
    Ok(all_included && !any_excluded)
}

#[derive(Clone, Copy, PartialEq)]
enum Quantifier {
    All,
    Any,
}

fn condition_holds(
    condition: &SeccompCondition,
    capabilities: CapabilitySet,
    kernel: (u32, u32),
    quantifier: Quantifier,
) -> Result<bool, SeccompError> {
    let mut checks = Vec::new();
    for name in &condition.caps {
        let cap = parse_capability(name).ok_or_else(|| {
            SeccompError::InvalidProfile(format!("unknown capability {name:?} in a condition"))
        })?;
        checks.push(capabilities.contains(cap));
    }
    if !condition.arches.is_empty() {
        checks.push(condition.arches.iter().any(|arch| is_this_arch(arch)));
    }
    if let Some(min) = &condition.min_kernel {
        let min = parse_version(min).ok_or_else(|| {
            SeccompError::InvalidProfile(format!("minKernel {min:?} is not MAJOR.MINOR"))
        })?;
        checks.push(kernel >= min);
    }
    Ok(match quantifier {
        Quantifier::All => checks.iter().all(|c| *c),
        Quantifier::Any => checks.iter().any(|c| *c),
    })
}

fn is_this_arch(arch: &str) -> bool {
    matches!(
        arch.to_ascii_lowercase().as_str(),
        "amd64" | "x86_64" | "scmp_arch_x86_64"
    )
}

/// `6.18.44-fc` → (6, 18); unknown → (0, 0), so that no `minKernel` rule applies.
fn kernel_version(release: &str) -> (u32, u32) {
    parse_version(release).unwrap_or((0, 0))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> SeccompProfile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_default_profile_compiles_to_one_program() {
        let filters = compile(&default_profile(), CapabilitySet::default_set()).unwrap();
        // The allow-list and ENOSYS for clone3, joined.
        assert_eq!(filters.0.len(), 1);
        assert!(filters.instructions() < 4096);
    }

    /// The joined program installed in a child: ENOSYS for clone3 (its rule), EPERM for reboot
    /// (the default action), getppid allowed.
    #[test]
    fn the_joined_default_program_answers_each_rules_action() {
        use nix::libc;
        use nix::sys::wait::{WaitStatus, waitpid};
        use nix::unistd::ForkResult;

        let filters = compile(&default_profile(), CapabilitySet::default_set()).unwrap();
        // SAFETY: the child makes only system calls (the filter is built already) and leaves
        // with `_exit`.
        match unsafe { nix::unistd::fork() }.unwrap() {
            ForkResult::Child => {
                let errno_of = |number: libc::c_long| {
                    // SAFETY: clone3 (null arguments, size 0), reboot (no magic numbers) and
                    // getppid change nothing: each only answers.
                    let result = unsafe { libc::syscall(number, 0usize, 0usize, 0usize, 0usize) };
                    Errno::result(result).err()
                };
                let installed =
                    nix::sys::prctl::set_no_new_privs().is_ok() && filters.apply().is_ok();
                let answers = (
                    errno_of(libc::SYS_clone3),
                    errno_of(libc::SYS_reboot),
                    errno_of(libc::SYS_getppid),
                );
                let code = match (installed, answers) {
                    (false, _) => 10,
                    (true, (Some(Errno::ENOSYS), Some(Errno::EPERM), None)) => 0,
                    (true, _) => 11,
                };
                // SAFETY: leaves the forked child without running the test harness's code.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            }
        }
    }

    #[test]
    fn compiled_filters_cross_the_wire_unchanged() {
        let filters = default_filters(CapabilitySet::default_set()).unwrap();
        let json = serde_json::to_string(&filters).unwrap();
        let back: SeccompFilters = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0, filters.0);
        assert_eq!(
            default_filters(CapabilitySet::default_set()).unwrap().0,
            filters.0
        );
    }

    #[test]
    fn every_name_in_the_default_profile_is_a_known_syscall() {
        for rule in default_profile().syscalls {
            for name in rule.names {
                assert!(syscall_number(&name).is_some(), "unknown syscall {name}");
            }
        }
    }

    #[test]
    fn capabilities_unlock_rules() {
        let with_admin = CapabilitySet::resolve(false, &["SYS_ADMIN".into()], &[]).unwrap();
        let plain = compile(&default_profile(), CapabilitySet::default_set()).unwrap();
        let admin = compile(&default_profile(), with_admin).unwrap();
        // clone3 is allowed outright: no ENOSYS filter, while more is allowed.
        assert_eq!(admin.0.len(), 1);
        assert_ne!(admin.0, plain.0);
    }

    #[test]
    fn a_docker_profile_is_read() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
                "syscalls": [
                  {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                  {"names": ["reboot"], "action": "SCMP_ACT_ALLOW",
                   "includes": {"caps": ["CAP_SYS_BOOT"]}},
                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
                ]}"#,
        );
        let filters = compile(&p, CapabilitySet::default_set()).unwrap();
        assert_eq!(filters.0.len(), 1);
    }

    #[test]
    fn bad_profiles_are_refused() {
        let bad_action = profile(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#);
        assert!(compile(&bad_action, CapabilitySet::default_set()).is_err());
        let bad_op = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "LIKE"}]}]}"#,
        );
        assert!(compile(&bad_op, CapabilitySet::default_set()).is_err());
        let arm_only = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"]}"#,
        );
        assert!(compile(&arm_only, CapabilitySet::default_set()).is_err());
    }

    #[test]
    fn a_deny_list_needs_no_default_filter() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
        );
        assert_eq!(
            compile(&p, CapabilitySet::default_set()).unwrap().0.len(),
            1
        );
    }

    #[test]
    fn kernel_versions_compare_by_major_and_minor() {
        assert_eq!(kernel_version("6.18.44-fc-v595"), (6, 18));
        assert_eq!(parse_version("5.8"), Some((5, 8)));
        assert_eq!(parse_version("4"), Some((4, 0)));
        assert_eq!(kernel_version("weird"), (0, 0));
    }
}
