//! Several seccomp filters joined into one BPF program, so that the kernel copies, checks and
//! JIT-compiles one program per container instead of one per action (each `seccomp()` call
//! costs about as much as the rest of the confinement together).
//!
//! The kernel runs every installed filter and keeps the most restrictive answer (on a tie, the
//! newest filter's). Each filter [`compile`](super::compile) builds answers "allow" or its own
//! action (or kills the process on a foreign architecture, the same in all of them). So running
//! the filters one after the other, most restrictive action first (ties: newest first), and
//! answering with the first that does not allow, gives the kernel's answer: a filter's
//! `return ALLOW` becomes a jump to the next filter's first instruction. Filters that would
//! make the program longer than the kernel takes (`BPF_MAXINSNS`) start a new program.

use nix::libc;
use seccompiler::{BpfProgram, SeccompAction, sock_filter};

/// `filters` as `(their only action other than allow, program)` in the order they would be
/// installed; returns programs in the order to install them.
pub(super) fn join(mut filters: Vec<(SeccompAction, BpfProgram)>) -> Vec<BpfProgram> {
    filters.reverse();
    filters.sort_by_key(|(action, _)| precedence(action));
    let mut programs: Vec<BpfProgram> = Vec::new();
    for (_, filter) in filters {
        match programs.last_mut() {
            Some(program) if program.len() + filter.len() <= MAX_INSTRUCTIONS => {
                fall_through_on_allow(program);
                program.extend(filter);
            }
            _ => programs.push(filter),
        }
    }
    // The programs hold filters of decreasing precedence; the first installed is the oldest, so
    // install the last program first: on a tie the more restrictive-ordered program, installed
    // last, is the newest and wins, as within a program.
    programs.reverse();
    programs
}

const MAX_INSTRUCTIONS: usize = libc::BPF_MAXINSNS as usize;

/// Kernel order of actions (`ACTION_ONLY` compared as signed): lower is more restrictive.
fn precedence(action: &SeccompAction) -> i32 {
    (u32::from(action.clone()) & libc::SECCOMP_RET_ACTION_FULL) as i32
}

/// Turns every `return ALLOW` of `program` into a jump just past its end.
fn fall_through_on_allow(program: &mut [sock_filter]) {
    let return_k = (libc::BPF_RET | libc::BPF_K) as u16;
    let len = program.len();
    for (index, instruction) in program.iter_mut().enumerate() {
        if instruction.code == return_k && instruction.k == libc::SECCOMP_RET_ALLOW {
            *instruction = sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JA) as u16,
                jt: 0,
                jf: 0,
                k: u32::try_from(len - index - 1).expect("program shorter than BPF_MAXINSNS"),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret(action: SeccompAction) -> sock_filter {
        sock_filter {
            code: libc::BPF_RET as u16,
            jt: 0,
            jf: 0,
            k: action.into(),
        }
    }

    #[test]
    fn allows_jump_to_the_next_filter_most_restrictive_first() {
        let deny = (SeccompAction::Errno(1), vec![ret(SeccompAction::Allow)]);
        let kill = (
            SeccompAction::KillProcess,
            vec![ret(SeccompAction::Allow), ret(SeccompAction::KillProcess)],
        );
        let programs = join(vec![deny, kill]);
        assert_eq!(programs.len(), 1);
        let program = &programs[0];
        assert_eq!(program.len(), 3);
        // kill's allow jumps over its own last instruction to deny's, which stays a return.
        assert_eq!(program[0].code, (libc::BPF_JMP | libc::BPF_JA) as u16);
        assert_eq!(program[0].k, 1);
        assert_eq!(program[1], ret(SeccompAction::KillProcess));
        assert_eq!(program[2], ret(SeccompAction::Allow));
    }

    #[test]
    fn ties_go_to_the_newest_filter() {
        let eperm = (SeccompAction::Errno(1), vec![ret(SeccompAction::Errno(1))]);
        let enosys = (
            SeccompAction::Errno(38),
            vec![ret(SeccompAction::Errno(38))],
        );
        let programs = join(vec![eperm, enosys]);
        assert_eq!(programs[0][0], ret(SeccompAction::Errno(38)));
    }

    #[test]
    fn too_long_a_program_is_split() {
        let long = |action: SeccompAction| {
            let mut program = vec![ret(SeccompAction::Allow); 2999];
            program.push(ret(action.clone()));
            (action, program)
        };
        let programs = join(vec![
            long(SeccompAction::Errno(1)),
            long(SeccompAction::KillThread),
        ]);
        assert_eq!(programs.len(), 2);
        // Installed last (the newest, winning ties): the most restrictive.
        assert_eq!(programs[1][2999], ret(SeccompAction::KillThread));
        assert_eq!(programs[0][0], ret(SeccompAction::Allow));
    }
}
