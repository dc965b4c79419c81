//! The device allow-list as a `BPF_PROG_TYPE_CGROUP_DEVICE` program, laid out as runc's and
//! crun's are: load the request into registers, then one block per rule that jumps to the next
//! block on the first field that does not match and returns "allow" when all do; past the last
//! block, "deny".
//!
//! The kernel calls it on every `mknod` and every `open` of a device node by a process of the
//! cgroup, with a `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where
//! `access_type` is `(BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*`; 0 refuses the access (EPERM).
//! The instructions are encoded with rbpf's builder; [`restrict_v2`] loads the program and
//! attaches it to a container's cgroup (the rules and the v1 way live in `devices`).

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rbpf::insn_builder::{Arch, BpfCode, Cond, Instruction, IntoBytes, MemSize, Move, Source};

use super::CgroupError;
use super::bpf;
use super::cgroupfs::io_error;
use super::devices::{DEFAULT_DEVICES, DeviceAccess, DeviceKind, DeviceOps, DeviceRule};

/// Offsets in `struct bpf_cgroup_dev_ctx`.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;
/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`: the low 16 bits of `access_type`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// Registers: R1 holds the context on entry (and is scratch once it is read), R0 the verdict.
const VERDICT: u8 = 0;
const CTX: u8 = 1;
const SCRATCH: u8 = 1;
const KIND: u8 = 2;
const OPS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

const ALLOW: i32 = 1;
const DENY: i32 = 0;
/// A rule's verdict: `mov32 r0, ALLOW` and `exit`.
const VERDICT_LEN: usize = 2;

/// A program that allows what one of the rules matches and denies everything else.
pub(super) struct DeviceProgram {
    code: BpfCode,
}

impl DeviceProgram {
    pub(super) fn allow_only(rules: &[DeviceRule]) -> DeviceProgram {
        let mut program = DeviceProgram {
            code: BpfCode::new(),
        };
        program.load_request();
        for rule in rules {
            if program.allow_if(rule) == Matches::Everything {
                // The verifier refuses unreachable instructions: nothing may follow.
                return program;
            }
        }
        program.verdict(DENY);
        program
    }

    /// The instructions, 8 bytes each, as `BPF_PROG_LOAD` takes them.
    pub(super) fn bytes(&self) -> &[u8] {
        (&self.code).into_bytes()
    }

    /// KIND = access_type & 0xffff, OPS = access_type >> 16, MAJOR, MINOR.
    fn load_request(&mut self) {
        let load = |code: &mut BpfCode, register: u8, offset: i16| {
            code.load_x(MemSize::Word)
                .set_dst(register)
                .set_src(CTX)
                .set_off(offset)
                .push();
        };
        load(&mut self.code, KIND, CTX_ACCESS_TYPE);
        self.alu32_imm(BpfCode::bit_and, KIND, 0xffff);
        load(&mut self.code, OPS, CTX_ACCESS_TYPE);
        self.alu32_imm(BpfCode::right_shift, OPS, 16);
        load(&mut self.code, MAJOR, CTX_MAJOR);
        load(&mut self.code, MINOR, CTX_MINOR);
    }

    /// Appends the block of one rule: every field the rule pins is compared, and the first that
    /// differs jumps past the block's "allow".
    fn allow_if(&mut self, rule: &DeviceRule) -> Matches {
        let kind = match rule.kind {
            DeviceKind::Char => Some(DEV_CHAR),
            DeviceKind::Block => Some(DEV_BLOCK),
            DeviceKind::Any => None,
        };
        // Register values are zero-extended u32s and the immediate is sign-extended: a number
        // above i32::MAX then matches nothing, and no device has one (majors have 12 bits,
        // minors 20).
        let number = |value: Option<u32>| value.map(|n| n as i32);
        let compares: Vec<(u8, i32)> = [
            (KIND, kind),
            (MAJOR, number(rule.major)),
            (MINOR, number(rule.minor)),
        ]
        .into_iter()
        .filter_map(|(register, value)| Some((register, value?)))
        .collect();
        // `rwm` allows any request: no need to look at it.
        let check_ops = rule.ops != DeviceOps::ALL;
        let mut remaining = compares.len() + if check_ops { 3 } else { 0 };
        if remaining == 0 {
            self.verdict(ALLOW);
            return Matches::Everything;
        }
        // A jump's offset counts from the next instruction: what is left of the block after it,
        // and the verdict.
        let mut skip = |used: usize| {
            remaining -= used;
            (remaining + VERDICT_LEN) as i16
        };
        if check_ops {
            // if (OPS & allowed) != OPS: some requested operation is not allowed.
            self.code
                .mov(Source::Reg, Arch::X32)
                .set_dst(SCRATCH)
                .set_src(OPS)
                .push();
            self.alu32_imm(BpfCode::bit_and, SCRATCH, i32::from(rule.ops.bits()));
            let offset = skip(3);
            self.code
                .jump_conditional(Cond::NotEquals, Source::Reg)
                .set_dst(SCRATCH)
                .set_src(OPS)
                .set_off(offset)
                .push();
        }
        for (register, value) in compares {
            let offset = skip(1);
            self.code
                .jump_conditional(Cond::NotEquals, Source::Imm)
                .set_dst(register)
                .set_imm(value)
                .set_off(offset)
                .push();
        }
        self.verdict(ALLOW);
        Matches::Some
    }

    fn verdict(&mut self, verdict: i32) {
        self.alu32_imm(BpfCode::mov, VERDICT, verdict);
        self.code.exit().push();
    }

    /// `register = register <op> value` (`mov`: `register = value`), on the low 32 bits.
    fn alu32_imm(&mut self, op: AluOp, register: u8, value: i32) {
        op(&mut self.code, Source::Imm, Arch::X32)
            .set_dst(register)
            .set_imm(value)
            .push();
    }
}

/// One of rbpf's builders of ALU instructions (`BpfCode::bit_and`...).
type AluOp = for<'c> fn(&'c mut BpfCode, Source, Arch) -> Move<'c>;

#[derive(Debug, PartialEq, Eq)]
enum Matches {
    Some,
    /// The rule matches every request: nothing after it can run.
    Everything,
}

/// Attaches the allow-list's BPF program to the container's v2 cgroup `dir` (nothing for
/// [`DeviceAccess::All`]). The program fd is closed on return: the attachment keeps the program
/// until the cgroup is removed.
pub(super) fn restrict_v2(dir: &Path, access: DeviceAccess) -> Result<(), CgroupError> {
    if access == DeviceAccess::All {
        return Ok(());
    }
    let program = DeviceProgram::allow_only(&DEFAULT_DEVICES);
    let cgroup = File::options()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY)
        .open(dir)
        .map_err(|err| io_error(dir, err))?;
    let loaded = bpf::load_device_program(program.bytes(), dir)?;
    bpf::attach_device_program(cgroup.as_fd(), loaded.as_fd(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cgroup::DEFAULT_DEVICES;

    /// Runs the program in rbpf's interpreter on one request.
    fn allows(
        program: &DeviceProgram,
        kind: DeviceKind,
        ops: DeviceOps,
        major: u32,
        minor: u32,
    ) -> bool {
        let kind = match kind {
            DeviceKind::Char => DEV_CHAR as u32,
            DeviceKind::Block => DEV_BLOCK as u32,
            DeviceKind::Any => unreachable!("a request is for one kind"),
        };
        let access_type = (u32::from(ops.bits()) << 16) | kind;
        let mut ctx: Vec<u8> = [access_type, major, minor]
            .iter()
            .flat_map(|field| field.to_ne_bytes())
            .collect();
        let vm = rbpf::EbpfVmRaw::new(Some(program.bytes())).expect("rbpf accepts the program");
        match vm.execute_program(&mut ctx).expect("the program runs") {
            0 => false,
            1 => true,
            other => panic!("verdict {other}"),
        }
    }

    const EACH_OP: [DeviceOps; 3] = [DeviceOps::READ, DeviceOps::WRITE, DeviceOps::MKNOD];

    #[test]
    fn the_default_list_allows_its_devices_and_nothing_else() {
        let program = DeviceProgram::allow_only(&DEFAULT_DEVICES);
        // 6 to load the request, 5 per pinned device (kind, major, minor, allow), 4 for every
        // pts, 2 to deny.
        assert_eq!(program.bytes().len(), 8 * (6 + 7 * 5 + 4 + 2));
        let (char, block) = (DeviceKind::Char, DeviceKind::Block);
        for op in EACH_OP.into_iter().chain([DeviceOps::ALL]) {
            for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)] {
                assert!(
                    allows(&program, char, op, major, minor),
                    "c {major}:{minor}"
                );
                // The same numbers as a block device are another device.
                assert!(
                    !allows(&program, block, op, major, minor),
                    "b {major}:{minor}"
                );
            }
            for pts in [0, 1, 4095] {
                assert!(allows(&program, char, op, 136, pts), "pts {pts}");
            }
            // mem, kmem, console, sda, a minor of a pinned major, a wild major.
            for (kind, major, minor) in [
                (char, 1, 1),
                (char, 1, 2),
                (char, 5, 1),
                (block, 8, 0),
                (char, 1, 4),
                (char, 137, 0),
                (char, u32::MAX, 3),
            ] {
                assert!(
                    !allows(&program, kind, op, major, minor),
                    "{kind:?} {major}:{minor}"
                );
            }
        }
    }

    #[test]
    fn a_rule_allows_only_its_operations() {
        let read_write = DeviceRule {
            kind: DeviceKind::Block,
            major: Some(8),
            minor: None,
            ops: DeviceOps::READ | DeviceOps::WRITE,
        };
        let program = DeviceProgram::allow_only(&[read_write]);
        let block = DeviceKind::Block;
        assert!(allows(&program, block, DeviceOps::READ, 8, 1));
        assert!(allows(&program, block, DeviceOps::WRITE, 8, 16));
        assert!(allows(
            &program,
            block,
            DeviceOps::READ | DeviceOps::WRITE,
            8,
            0
        ));
        assert!(!allows(&program, block, DeviceOps::MKNOD, 8, 0));
        assert!(!allows(&program, block, DeviceOps::ALL, 8, 0));
        assert!(!allows(&program, block, DeviceOps::READ, 9, 0));
        assert!(!allows(&program, DeviceKind::Char, DeviceOps::READ, 8, 0));
    }

    #[test]
    fn a_rule_for_everything_ends_the_program() {
        let everything = DeviceRule {
            kind: DeviceKind::Any,
            major: None,
            minor: None,
            ops: DeviceOps::ALL,
        };
        let program = DeviceProgram::allow_only(&[everything, DEFAULT_DEVICES[0]]);
        // Loading the request, then "allow": no unreachable instruction after it.
        assert_eq!(program.bytes().len(), 8 * (6 + 2));
        for kind in [DeviceKind::Char, DeviceKind::Block] {
            for op in EACH_OP {
                assert!(allows(&program, kind, op, 8, 0));
            }
        }
        // Any kind, but still only mknod.
        let mknod_anything = DeviceRule {
            ops: DeviceOps::MKNOD,
            ..everything
        };
        let program = DeviceProgram::allow_only(&[mknod_anything]);
        assert!(allows(&program, DeviceKind::Block, DeviceOps::MKNOD, 8, 0));
        assert!(!allows(&program, DeviceKind::Char, DeviceOps::READ, 1, 3));
    }

    #[test]
    fn no_rule_denies_everything() {
        let program = DeviceProgram::allow_only(&[]);
        for op in EACH_OP {
            assert!(!allows(&program, DeviceKind::Char, op, 1, 3));
        }
    }

    #[test]
    fn the_v1_lines_are_those_of_the_devices_controller() {
        let lines: Vec<String> = DEFAULT_DEVICES.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:2 rwm",
                "c 136:* rwm"
            ]
        );
        let read_only = DeviceRule {
            kind: DeviceKind::Block,
            major: None,
            minor: Some(0),
            ops: DeviceOps::READ,
        };
        assert_eq!(read_only.to_string(), "b *:0 r");
    }
}
