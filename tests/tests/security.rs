//! Secure by default (issue 6), seen from inside containers: capabilities, no_new_privileges,
//! the seccomp filter, masked and read-only paths, the read-only root, and the fd table.

use conti_tests::probe::{import_probe_image, probe_sh as probe_spec};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, SealFlag, fcntl};

use conti_tests::{Daemon, Seccomp, SeccompProfile, cli, sh, spec};
use conti_tests::{DaemonOptions, bin_path, unique_name};

/// `CapEff` of Docker's 14 default capabilities.
const DEFAULT_CAPS: &str = "00000000a80425fb";

/// System calls a default container must not make, each failing with EPERM.
const REFUSED: [&str; 8] = [
    "mount",
    "unshare",
    "reboot",
    "init_module",
    "keyctl",
    "settimeofday",
    "open_by_handle_at",
    "userfaultfd",
];

/// `Key:\tvalue` lines of `/proc/<pid>/status` as printed by the container, by key.
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
}

#[test]
fn a_default_container_refuses_privileged_syscalls_with_eperm() {
    let d = Daemon::start_with_busybox();
    import_probe_image(&d);
    let script: String = REFUSED
        .iter()
        .map(|name| format!("syscall-probe {name}; echo \"exit=$?\"; "))
        .collect();
    let (_, code, logs) = d.run(&probe_spec(&script));
    assert_eq!(code, 0, "{logs}");
    for name in REFUSED {
        assert!(
            logs.contains(&format!("{name}: Operation not permitted\nexit=1\n")),
            "{name} was not refused with EPERM: {logs}"
        );
    }

    // The busybox tools that reach the same calls fail too.
    let (_, code, logs) = d.run(&sh(
        "mount -t tmpfs none /mnt; unshare -m true; reboot -f; \
         insmod /bin/busybox; date -s 2000-01-01 >/dev/null; true",
    ));
    assert_eq!(code, 0, "{logs}");
    for refused in [
        "mount: permission denied",
        "unshare: unshare(0x20000): Operation not permitted",
        "reboot: (null): Operation not permitted",
        "insmod: can't insert '/bin/busybox': Operation not permitted",
        "date: can't set date: Operation not permitted",
    ] {
        assert!(logs.contains(refused), "no {refused:?} in {logs}");
    }
}

#[test]
fn it_is_the_seccomp_filter_that_refuses_what_needs_no_capability() {
    let d = Daemon::start_with_busybox();
    import_probe_image(&d);
    // keyctl needs no capability: only the filter stops it.
    let mut unconfined = probe_spec("grep Seccomp: /proc/self/status; syscall-probe keyctl");
    unconfined.security.seccomp = Seccomp::Unconfined;
    let (_, code, logs) = d.run(&unconfined);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("Seccomp:\t0\n"), "{logs}");
    assert!(logs.contains("keyctl: ok"), "{logs}");

    let (_, code, logs) = d.run(&probe_spec("grep Seccomp: /proc/self/status"));
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("Seccomp:\t2\n"), "{logs}");
}

#[test]
fn capabilities_and_no_new_privs_match_the_default_in_the_container_and_its_execs() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let status = d.exec(&id, &["cat", "/proc/1/status"]).stdout;
    let exec_status = d.exec(&id, &["cat", "/proc/self/status"]).stdout;
    for status in [&status, &exec_status] {
        assert_eq!(status_field(status, "CapEff"), DEFAULT_CAPS, "{status}");
        assert_eq!(status_field(status, "CapPrm"), DEFAULT_CAPS, "{status}");
        assert_eq!(status_field(status, "CapBnd"), DEFAULT_CAPS, "{status}");
        assert_eq!(status_field(status, "CapInh"), "0000000000000000");
        assert_eq!(status_field(status, "CapAmb"), "0000000000000000");
        assert_eq!(status_field(status, "NoNewPrivs"), "1");
        assert_eq!(status_field(status, "Seccomp"), "2");
    }
    d.remove(&id);
}

#[test]
fn the_tiny_init_and_its_command_are_confined_too() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["sleep", "1000"]);
    s.init = true;
    let id = d.run_detached(&s);
    for pid in ["1", "2"] {
        let status = d.exec(&id, &["cat", &format!("/proc/{pid}/status")]).stdout;
        assert_eq!(status_field(&status, "CapEff"), DEFAULT_CAPS, "{status}");
        assert_eq!(status_field(&status, "NoNewPrivs"), "1", "{status}");
        assert_eq!(status_field(&status, "Seccomp"), "2", "{status}");
    }
    d.remove(&id);
}

#[test]
fn cap_drop_all_leaves_nothing_and_cap_add_unlocks_its_syscalls() {
    let d = Daemon::start_with_busybox();
    let mut none = sh("grep Cap /proc/self/status; chown 1 /tmp && echo chowned");
    none.security.cap_drop = vec!["ALL".into()];
    let (_, code, logs) = d.run(&none);
    assert_ne!(code, 0, "{logs}");
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&logs, key), "0000000000000000", "{logs}");
    }
    assert!(!logs.contains("chowned"), "{logs}");

    // With CAP_SYS_ADMIN, the filter lets mount through (as Docker's does).
    let mut admin = sh("mount -t tmpfs none /mnt && echo mounted");
    admin.security.cap_add = vec!["SYS_ADMIN".into()];
    let (_, code, logs) = d.run(&admin);
    assert_eq!((code, logs.as_str()), (0, "mounted\n"));
}

#[test]
fn no_new_privileges_can_be_turned_off() {
    let d = Daemon::start_with_busybox();
    let mut s = sh("grep NoNewPrivs /proc/self/status");
    s.security.no_new_privileges = false;
    let (id, code, logs) = d.run(&s);
    assert_eq!((code, logs.as_str()), (0, "NoNewPrivs:\t0\n"));
    assert!(!d.inspect(&id).security.no_new_privileges);
}

#[test]
fn kernel_files_are_masked_and_proc_sys_is_read_only() {
    let d = Daemon::start_with_busybox();
    // What this kernel has of the list reads empty (it lacks /proc/kcore, say, which then reads
    // nothing either); these two are on every kernel, so the test can fail.
    for path in ["/proc/interrupts", "/proc/timer_list"] {
        assert!(
            !std::fs::read(path).unwrap().is_empty(),
            "{path} empty on the host"
        );
    }
    let (_, code, logs) = d.run(&sh("for f in /proc/kcore /proc/keys /proc/interrupts \
         /proc/timer_list /proc/sched_debug; do cat $f 2>/dev/null | wc -c; done; \
         ls -A /sys/firmware /proc/acpi | grep -v ':$' | grep -c .; \
         { echo 1 > /proc/sys/vm/drop_caches; } 2>/dev/null || echo sys-refused; \
         grep -c ' /proc/sys ro,' /proc/self/mountinfo"));
    assert_eq!(code, 0, "{logs}");
    let lines: Vec<&str> = logs.lines().map(str::trim).collect();
    assert_eq!(lines[..6], ["0", "0", "0", "0", "0", "0"], "{logs}");
    assert_eq!(lines[6..], ["sys-refused", "1"], "{logs}");
}

#[test]
fn privileged_is_all_capabilities_without_filter_or_masks() {
    let d = Daemon::start_with_busybox();
    let mut s = sh("grep -E 'CapEff|Seccomp:' /proc/self/status; \
         grep -c /proc/kcore /proc/self/mountinfo");
    s.security.privileged = true;
    let (id, code, logs) = d.run(&s);
    assert_eq!(
        code, 1,
        "kcore is not masked, grep -c finds nothing: {logs}"
    );
    let host_bounding = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(
        status_field(&logs, "CapEff"),
        status_field(&host_bounding, "CapBnd"),
        "{logs}"
    );
    assert_eq!(status_field(&logs, "Seccomp"), "0", "{logs}");
    assert!(d.inspect(&id).security.privileged);
}

#[test]
fn a_read_only_root_refuses_writes_but_dev_shm_takes_them() {
    let d = Daemon::start_with_busybox();
    let mut s = sh("touch /x 2>&1 || touch /tmp/x 2>&1 || \
         (touch /dev/shm/x && echo shm-ok)");
    s.security.read_only_rootfs = true;
    let (_, code, logs) = d.run(&s);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("Read-only file system"), "{logs}");
    assert!(logs.ends_with("shm-ok\n"), "{logs}");
}

#[test]
fn pid_1_and_an_exec_hold_only_stdio() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let pid1 = d.exec(&id, &["ls", "/proc/1/fd"]);
    assert_eq!(pid1.stdout, "0\n1\n2\n", "{pid1:?}");
    // The exec's fds as its child inherits them (busybox runs `ls` inside the shell itself, so
    // the shell's own table would show the listing's fd).
    let exec = d.exec(&id, &["sh", "-c", "sleep 100 & ls /proc/$!/fd; kill $!"]);
    assert_eq!(exec.stdout, "0\n1\n2\n", "{exec:?}");
    d.remove(&id);
}

/// `sh -c script` in busybox under the seccomp `profile` (from a file, through the CLI): its exit
/// code and its stdout and stderr together.
fn run_under_profile(profile: &str, script: &str) -> (Option<i32>, String) {
    let d = Daemon::start_with_busybox();
    let path = d.dir().join("profile.json");
    std::fs::write(&path, profile).unwrap();
    let opt = format!("seccomp={}", path.display());
    let out = cli(
        &d,
        &["run", "--security-opt", &opt, "busybox", "sh", "-c", script],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_docker_seccomp_profile_from_the_cli_is_applied() {
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#;
    let (code, text) = run_under_profile(profile, "mkdir /tmp/d");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
}

/// A profile with two errno actions compiles to two filters, joined into one program: each rule
/// still gets its own errno and everything else is allowed.
#[test]
fn each_rule_of_a_profile_keeps_its_own_errno() {
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30}]}"#;
    let script = "mkdir /tmp/d; rmdir /tmp; echo still running";
    let (_, text) = run_under_profile(profile, script);
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(text.contains("still running"), "{text}");
}

#[test]
fn bad_security_options_are_refused_at_create() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["true"]);
    s.security.cap_add = vec!["CAP_FLY".into()];
    let err = d
        .post_json("/v1/containers", &s)
        .expect_error(400, "invalid_spec");
    assert!(err.message.contains("CAP_FLY"), "{}", err.message);

    let mut s = spec(&["true"]);
    s.security.seccomp = Seccomp::Profile {
        profile: SeccompProfile {
            default_action: "SCMP_ACT_NOTIFY".into(),
            ..SeccompProfile::default()
        },
    };
    let err = d
        .post_json("/v1/containers", &s)
        .expect_error(400, "invalid_spec");
    assert!(err.message.contains("SCMP_ACT_NOTIFY"), "{}", err.message);
    assert!(d.list_all().is_empty());
}

#[test]
fn user_runs_the_container_and_its_execs_as_that_user_without_capabilities() {
    let d = Daemon::start_with_busybox();
    let mut s = spec(&["sleep", "1000"]);
    s.user = Some("1000".into());
    let id = d.run_detached(&s);
    assert_eq!(d.inspect(&id).user.as_deref(), Some("1000"));
    let status = d.exec(&id, &["cat", "/proc/1/status"]).stdout;
    assert_eq!(status_field(&status, "Uid"), "1000\t1000\t1000\t1000");
    // A uid the image's /etc/passwd does not list gets group 0.
    assert_eq!(status_field(&status, "Gid"), "0\t0\t0\t0");
    assert_eq!(status_field(&status, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&status, "CapBnd"), DEFAULT_CAPS);
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    // Execs run as the container's user, or as their own.
    let r = d.exec(&id, &["sh", "-c", "id; echo $HOME"]);
    // No passwd entry: HOME is /.
    assert_eq!(r.stdout, "uid=1000 gid=0(root)\n/\n", "{r:?}");
    let as_nobody = d.exec_spec(
        &id,
        &conti_tests::ExecSpec {
            cmd: vec!["sh".into(), "-c".into(), "id; echo $HOME".into()],
            user: Some("nobody".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        as_nobody.stdout, "uid=65534(nobody) gid=65534(nogroup)\n/nonexistent\n",
        "{as_nobody:?}"
    );
    // Not root: the files of root stay out of reach.
    let r = d.exec(&id, &["sh", "-c", "touch /root/x || echo refused"]);
    assert!(r.stdout.contains("refused"), "{r:?}");
    d.remove(&id);
}

#[test]
fn user_names_and_supplementary_groups_come_from_the_containers_files() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&spec(&["sleep", "1000"]));
    let as_user = |user: &str, cmd: &[&str]| {
        d.exec_spec(
            &id,
            &conti_tests::ExecSpec {
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                user: Some(user.into()),
                ..Default::default()
            },
        )
    };
    // The container's own /etc/group, as it is when the process starts.
    let r = as_user(
        "root",
        &["sh", "-c", "echo 'staff:x:50:nobody' >> /etc/group"],
    );
    assert_eq!(r.exit_code, 0, "{r:?}");
    let r = as_user("nobody", &["id"]);
    assert_eq!(
        r.stdout, "uid=65534(nobody) gid=65534(nogroup) groups=50(staff)\n",
        "{r:?}"
    );
    let r = as_user("nobody:root", &["id"]);
    assert_eq!(
        r.stdout, "uid=65534(nobody) gid=0(root) groups=50(staff)\n",
        "{r:?}"
    );
    let r = d.client().post_json(
        &format!("/v1/containers/{id}/exec"),
        &conti_tests::ExecSpec {
            cmd: vec!["id".into()],
            user: Some("mallory".into()),
            ..Default::default()
        },
    );
    let err = r.expect_error(400, "unknown_user");
    assert!(err.message.contains("mallory"), "{}", err.message);
    d.remove(&id);

    let mut unknown = spec(&["true"]);
    unknown.user = Some("mallory".into());
    let id = d.create(&unknown);
    let err = d
        .post(&format!("/v1/containers/{id}/start"), b"")
        .expect_error(400, "unknown_user");
    assert!(err.message.contains("mallory"), "{}", err.message);
}

/// A copy of the contid binary in a folder of its own, removed when dropped.
struct BinaryCopy {
    dir: PathBuf,
}

impl BinaryCopy {
    fn new() -> BinaryCopy {
        let dir = PathBuf::from("/tmp").join(unique_name("conti-test-bin"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(bin_path("contid"), dir.join("contid")).unwrap();
        BinaryCopy { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("contid")
    }
}

impl Drop for BinaryCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn even_a_privileged_container_cannot_write_the_contid_binary_through_proc_exe() {
    // The daemon runs a copy: were there a hole, only the copy would be damaged.
    let binary = BinaryCopy::new();
    let before = std::fs::read(binary.path()).unwrap();
    for (method, exe_name) in [
        ("overlayfs", "/contid"),
        ("memfd", "/memfd:contid (deleted)"),
    ] {
        let mut d = Daemon::unstarted_with(DaemonOptions {
            bin: binary.path(),
            ..DaemonOptions::for_tests()
        });
        d.set_args(&["--exe-seal", method]);
        d.launch();
        import_probe_image(&d);
        // The daemon itself already runs from the sealed copy, not from the file.
        let daemon_exe = std::fs::read_link(format!("/proc/{}/exe", d.pid())).unwrap();
        assert_eq!(daemon_exe, Path::new(exe_name), "{method}");

        // CAP_SYS_PTRACE (--privileged, or just --cap-add SYS_PTRACE) is what the non-dumpable
        // tiny init (PID 1, contid code with --init) does not keep out: its /proc/1/exe opens,
        // but is no host file.
        let mut privileged = probe_spec("sleep 1000");
        privileged.init = true;
        privileged.security.privileged = true;
        let mut ptrace = privileged.clone();
        ptrace.security.privileged = false;
        ptrace.security.cap_add = vec!["SYS_PTRACE".into()];
        for s in [privileged, ptrace] {
            let id = d.run_detached(&s);
            let r = d.exec(
                &id,
                &[
                    "sh",
                    "-c",
                    "readlink /proc/1/exe; head -c 4 /proc/1/exe | od -An -c | tr -d ' '; \
                 syscall-probe append /proc/1/exe; syscall-probe reopen_append /proc/1/exe; \
                 cp /bin/busybox /tmp/copy; syscall-probe reopen_append /tmp/copy; true",
                ],
            );
            let lines: Vec<&str> = r.stdout.lines().collect();
            assert_eq!(lines.len(), 5, "{method}: {r:?}");
            assert_eq!(lines[0], exe_name, "{method}: {r:?}");
            assert_eq!(
                lines[1], "177ELF",
                "{method}: PID 1's binary is readable: {r:?}"
            );
            // overlayfs: no write ever (EROFS). memfd: busy while it runs (ETXTBSY), and sealed
            // against writes (EPERM) once nothing runs from it any more.
            let refused: &[&str] = if method == "overlayfs" {
                &["Read-only file system"]
            } else {
                &["Text file busy", "Operation not permitted"]
            };
            for line in &lines[2..4] {
                assert!(
                    refused.iter().any(|why| line.ends_with(why)),
                    "{method}: {r:?}"
                );
            }
            if method == "memfd" {
                let exe = std::fs::File::open(format!("/proc/{}/exe", d.pid())).unwrap();
                let seals = fcntl(&exe, FcntlArg::F_GET_SEALS).expect("a memfd has seals");
                let wanted = SealFlag::F_SEAL_SEAL
                    | SealFlag::F_SEAL_SHRINK
                    | SealFlag::F_SEAL_GROW
                    | SealFlag::F_SEAL_WRITE;
                assert!(
                    SealFlag::from_bits_truncate(seals).contains(wanted),
                    "seals {seals:#x}"
                );
            }
            // The probe does write where writing is allowed.
            assert_eq!(lines[4], "reopen_append: ok", "{method}: {r:?}");
            d.remove(&id);
        }
        let caught = try_execs_being_set_up(&d);
        eprintln!("{method}: {caught:?} attempts on execs while they ran contid code");
    }
    assert!(
        std::fs::read(binary.path()).unwrap() == before,
        "the contid binary changed"
    );
}

/// A privileged container (no `--init`: PID 1 is `sh`) scans its `/proc` in a loop for processes
/// that run contid code (an exec between its fork and its `execve`) and tries to append to their
/// `/proc/<pid>/exe`, while 40 execs start. Every attempt must fail; returns how many failed for
/// which reason (the window is short: there may be none).
fn try_execs_being_set_up(d: &Daemon) -> std::collections::BTreeMap<String, usize> {
    let mut s = probe_spec(
        "while :; do for e in /proc/[0-9]*/exe; do \
           case \"$(readlink $e 2>/dev/null)\" in /contid|/memfd:contid*) \
             syscall-probe reopen_append $e >> /tmp/caught 2>&1;; esac; \
         done; done",
    );
    s.security.privileged = true;
    let id = d.run_detached(&s);
    for _ in 0..40 {
        assert_eq!(d.exec(&id, &["true"]).exit_code, 0);
    }
    let caught = d.exec(&id, &["sh", "-c", "cat /tmp/caught 2>/dev/null; true"]);
    d.remove(&id);
    let attempts: Vec<&str> = caught.stdout.lines().collect();
    assert!(
        attempts
            .iter()
            .all(|line| line.starts_with("reopen_append: ") && !line.ends_with(": ok")),
        "{caught:?}"
    );
    let mut reasons = std::collections::BTreeMap::new();
    for line in attempts {
        *reasons
            .entry(line.replace("reopen_append: ", ""))
            .or_insert(0) += 1;
    }
    reasons
}
