//! A throwaway VM that runs already-built test executables against the real `contid` on a cgroup
//! layout the host does not have (cgroup2 only, or the hybrid one), under qemu's software
//! emulation (TCG: nested KVM guests die on the project's machines).
//!
//! The initramfs holds busybox, the dynamic loader and the libraries `ldd` lists, `contid` and
//! `conti-cli`, the test executables (debug info stripped, so that they fit in the VM's memory
//! twice: the initramfs and the tmpfs root it is copied to), the busybox image tar where the
//! harness caches it, and the modules of the VM's kernel it may load ([`MODULES`]). Its `/init` (`vm_init.sh`)
//! prints one marker line per test executable and one with the cgroups left behind; the caller
//! reads them from the serial console, written to a file.
//!
//! The kernel is a Debian kernel package unpacked with `dpkg-deb -x` (`boot/vmlinuz-*` and
//! `lib/modules/*/`), found in `$CONTI_VM_KERNEL`, else in
//! [`DEFAULT_KERNEL_DIR`] (where `.ci/run` unpacks `linux-image-cloud-amd64`).

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{run_command, unique_name};
use crate::{bin_path, busybox_tar, rootfs};

/// Folder of the unpacked kernel package, when `$CONTI_VM_KERNEL` is not set.
pub const DEFAULT_KERNEL_DIR: &str = "/var/cache/conti-ci/vm-kernel";
/// Environment variable naming the folder of the unpacked kernel package.
pub const KERNEL_ENV: &str = "CONTI_VM_KERNEL";
const QEMU: &str = "qemu-system-x86_64";
/// Kernel modules the VM may load, under `lib/modules/<version>/`, in the order they load
/// (zram needs zsmalloc; its default compressor is lzo-rle): overlayfs (every container's root),
/// BFQ (`blkio.bfq.weight`), and zram for a swap device (see [`CgroupLayout::kernel_args`]).
const MODULES: [&str; 5] = [
    "kernel/fs/overlayfs/overlay.ko",
    "kernel/block/bfq.ko",
    "kernel/mm/zsmalloc.ko",
    "kernel/crypto/lzo-rle.ko",
    "kernel/drivers/block/zram/zram.ko",
];
const INIT: &str = include_str!("vm_init.sh");
/// Memory of the VM: the initramfs, its tmpfs copy, the containers' 100 MB hogs.
const MEMORY_MIB: u32 = 1024;
/// How long staging may take (strip, ldd, cpio of ~50 MB).
const STAGING_TIMEOUT: Duration = Duration::from_secs(120);

/// The cgroup layout `/init` sets up before it runs the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup2 at `/sys/fs/cgroup`, with cpuset, cpu, io, memory and pids enabled in the root's
    /// `cgroup.subtree_control`, as systemd does on a v2 host.
    V2,
    /// Every controller on a v1 hierarchy at `/sys/fs/cgroup/<controller>`, an empty cgroup2 at
    /// `/sys/fs/cgroup/unified`: the project machines' layout.
    Hybrid,
}

impl CgroupLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupLayout::V2 => "v2",
            CgroupLayout::Hybrid => "hybrid",
        }
    }

    /// The kernel features that differ between hosts of the project's kind also differ between
    /// the two boots, so that the tests meet each side of them (the project's machines, hybrid
    /// with `mq-deadline` and no swap, are a third host). Both have 256 MiB of swap on zram (the
    /// memory limits must hold all the same). The v2 boot has no BFQ (a blkio weight goes to
    /// iocost's `io.weight`); the hybrid boot has BFQ (`blkio.bfq.weight`), and `swapaccount=0`,
    /// which this kernel ignores (swap is accounted all the same: memsw is there).
    pub fn kernel_args(self) -> &'static str {
        match self {
            CgroupLayout::V2 => "conti.bfq=0 conti.swap_mib=256",
            CgroupLayout::Hybrid => "conti.bfq=1 conti.swap_mib=256 swapaccount=0",
        }
    }
}

/// What the VM needs from the host: qemu and an unpacked kernel package.
#[derive(Debug, Clone)]
pub struct VmTools {
    qemu: PathBuf,
    vmlinuz: PathBuf,
    modules: Vec<PathBuf>,
}

impl VmTools {
    /// Finds qemu in `$PATH` and the kernel in `$CONTI_VM_KERNEL` or [`DEFAULT_KERNEL_DIR`];
    /// the error says what is missing and how to get it.
    pub fn find() -> Result<VmTools, String> {
        let qemu = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(QEMU))
            .find(|path| path.is_file())
            .ok_or_else(|| format!("{QEMU} is not installed (apt-get install qemu-system-x86)"))?;
        let kernel_dir = std::env::var_os(KERNEL_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KERNEL_DIR));
        let how = format!(
            "unpack a kernel package there (`apt-get download linux-image-<version>-cloud-amd64 && \
             dpkg-deb -x <deb> {}`, as .ci/run does) or set {KERNEL_ENV}",
            kernel_dir.display()
        );
        let vmlinuz = newest_entry(&kernel_dir.join("boot"), |name| {
            name.starts_with("vmlinuz-")
        })
        .ok_or_else(|| format!("no boot/vmlinuz-* in {}: {how}", kernel_dir.display()))?;
        let version = vmlinuz
            .file_name()
            .and_then(|name| name.to_str()?.strip_prefix("vmlinuz-"))
            .expect("named vmlinuz-<version>");
        let modules: Vec<PathBuf> = MODULES
            .iter()
            .map(|module| kernel_dir.join("lib/modules").join(version).join(module))
            .collect();
        if let Some(missing) = modules.iter().find(|module| !module.is_file()) {
            return Err(format!("{} is missing: {how}", missing.display()));
        }
        Ok(VmTools {
            qemu,
            vmlinuz,
            modules,
        })
    }
}

/// One test executable's run inside the VM, from its marker line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub name: String,
    pub exit_code: i32,
    pub seconds: u64,
}

/// What one boot printed on its serial console, and the markers read from it.
#[derive(Debug)]
pub struct Boot {
    pub layout: CgroupLayout,
    pub console: String,
    pub elapsed: Duration,
    pub runs: Vec<TestRun>,
    /// Cgroup directories that exist after the tests and did not before; `None` when the marker
    /// is missing (the VM did not get that far).
    pub cgroups_left: Option<Vec<String>>,
}

/// An initramfs in a temporary folder, removed when dropped.
pub struct Vm {
    tools: VmTools,
    dir: PathBuf,
    initramfs: PathBuf,
    /// Names of the test executables, in the order `/init` runs them.
    tests: Vec<String>,
}

impl Vm {
    /// Stages the initramfs with `contid`, `conti-cli` and the newest build of each named test
    /// executable (`target/debug/deps/<name>-<hash>`, next to this test's executable).
    pub fn build(tools: VmTools, tests: &[&str]) -> Vm {
        let dir = std::env::temp_dir().join(unique_name("conti-vm"));
        let mut vm = Vm {
            tools,
            initramfs: dir.join("initramfs.cpio"),
            dir,
            tests: tests.iter().map(|name| name.to_string()).collect(),
        };
        vm.tests.sort();
        vm.stage();
        vm
    }

    fn stage(&self) {
        let root = self.dir.join("root");
        for folder in [
            "bin",
            "conti/bin",
            "conti/tests",
            "conti/modules",
            "proc",
            "sys",
            "dev",
        ] {
            fs::create_dir_all(root.join(folder)).expect("creating the initramfs folders");
        }
        let mut executables = Vec::new();
        for name in ["contid", "conti-cli"] {
            let target = root.join("conti/bin").join(name);
            strip_debug_info(&bin_path(name), &target);
            executables.push(target);
        }
        let deps = std::env::current_exe()
            .expect("the test's executable")
            .parent()
            .expect("target/debug/deps")
            .to_path_buf();
        for name in &self.tests {
            let built = newest_entry(&deps, |file| is_test_executable_of(file, name))
                .unwrap_or_else(|| {
                    panic!("no test executable {name}-<hash> in {}", deps.display())
                });
            let target = root.join("conti/tests").join(name);
            strip_debug_info(&built, &target);
            executables.push(target);
        }
        for library in shared_libraries(&executables) {
            copy_into(&root, &library);
        }
        // The same binary with the same mtime: the harness inside finds the tar it caches under
        // their names, and does not build it again.
        copy_into(&root, Path::new(rootfs::BUSYBOX));
        copy_into(&root, busybox_tar());
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
            .expect("chmod tmp");
        for module in &self.tools.modules {
            let name = module.file_name().expect("a module file");
            fs::copy(module, root.join("conti/modules").join(name))
                .unwrap_or_else(|e| panic!("copying {}: {e}", module.display()));
        }
        fs::write(root.join("init"), INIT).expect("writing init");
        fs::set_permissions(root.join("init"), fs::Permissions::from_mode(0o755))
            .expect("chmod init");

        let out = run_command(
            Command::new("sh")
                .arg("-c")
                .arg(r#"/bin/busybox find . | /bin/busybox cpio -o -H newc > "$0""#)
                .arg(&self.initramfs)
                .current_dir(&root),
            STAGING_TIMEOUT,
        );
        assert!(
            out.status.success(),
            "packing the initramfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::remove_dir_all(&root).expect("removing the staged root");
    }

    /// Boots the VM with `layout` and waits for it to power off, at most `timeout` (then kills
    /// qemu); each test executable inside gets `test_timeout`.
    pub fn boot(&self, layout: CgroupLayout, timeout: Duration, test_timeout: Duration) -> Boot {
        let console_path = self.dir.join(format!("console-{}.log", layout.as_str()));
        let qemu_output = self.dir.join(format!("qemu-{}.log", layout.as_str()));
        let output = File::create(&qemu_output).expect("creating the qemu log");
        let started = Instant::now();
        let mut command = Command::new(&self.tools.qemu);
        command
            .args(["-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2"])
            .args(["-m", &MEMORY_MIB.to_string()])
            .args(["-nodefaults", "-no-reboot", "-display", "none"])
            .arg("-serial")
            .arg(format!("file:{}", console_path.display()))
            .arg("-kernel")
            .arg(&self.tools.vmlinuz)
            .arg("-initrd")
            .arg(&self.initramfs)
            .arg("-append")
            .arg(format!(
                "console=ttyS0 panic=-1 quiet conti.layout={} conti.test_timeout={} {}",
                layout.as_str(),
                test_timeout.as_secs(),
                layout.kernel_args()
            ))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("qemu log"))
            .stderr(output);
        let qemu = Qemu(command.spawn().expect("starting qemu"));
        let finished = qemu.wait(timeout);
        let elapsed = started.elapsed();
        let mut console = fs::read_to_string(&console_path).unwrap_or_default();
        let qemu_said = fs::read_to_string(&qemu_output).unwrap_or_default();
        if !qemu_said.trim().is_empty() {
            console.push_str(&format!("\n---- qemu ----\n{qemu_said}"));
        }
        if !finished {
            console.push_str(&format!(
                "\n---- killed: the VM ran longer than {timeout:?} ----\n"
            ));
        }
        Boot {
            layout,
            runs: test_runs(&console),
            cgroups_left: cgroups_left(&console),
            console,
            elapsed,
        }
    }

    /// Names of the test executables, in the order the VM runs them.
    pub fn tests(&self) -> &[String] {
        &self.tests
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The qemu process, killed (by its pid) when dropped before it exited.
struct Qemu(Child);

impl Qemu {
    /// True when qemu exited within `timeout`; otherwise it is killed.
    fn wait(mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.0.try_wait() {
                Ok(Some(_)) => return true,
                Ok(None) => thread::sleep(Duration::from_millis(200)),
                Err(e) => panic!("waiting for qemu: {e}"),
            }
        }
        false
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `CONTI-VM-RESULT <name> rc=<code> secs=<seconds>` lines. A marker may follow kernel messages
/// on the same console line.
fn test_runs(console: &str) -> Vec<TestRun> {
    console
        .lines()
        .filter_map(|line| {
            let marker = &line[line.find("CONTI-VM-RESULT ")?..];
            let mut fields = marker.split_whitespace().skip(1);
            Some(TestRun {
                name: fields.next()?.to_string(),
                exit_code: fields.next()?.strip_prefix("rc=")?.parse().ok()?,
                seconds: fields.next()?.strip_prefix("secs=")?.parse().ok()?,
            })
        })
        .collect()
}

/// The list in `CONTI-VM-LEFT [<dir> <dir> ...]`.
fn cgroups_left(console: &str) -> Option<Vec<String>> {
    console.lines().find_map(|line| {
        let marker = &line[line.find("CONTI-VM-LEFT [")? + "CONTI-VM-LEFT [".len()..];
        let list = marker.trim_end().strip_suffix(']')?;
        Some(list.split_whitespace().map(str::to_string).collect())
    })
}

/// `<name>-<16 hex digits>` with no extension: how cargo names a test executable.
fn is_test_executable_of(file: &str, name: &str) -> bool {
    file.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The most recently modified entry of `dir` whose name satisfies `matches`.
fn newest_entry(dir: &Path, matches: impl Fn(&str) -> bool) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_name().to_str().is_some_and(&matches))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .max()
        .map(|(_, path)| path)
}

/// Copies `source` without its debug info: a debug `contid` shrinks from ~90 MB to ~20 MB.
fn strip_debug_info(source: &Path, target: &Path) {
    let out = run_command(
        Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(target)
            .arg(source),
        STAGING_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "strip {} (binutils): {}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The dynamic loader and the libraries `ldd` lists for the executables.
fn shared_libraries(executables: &[PathBuf]) -> Vec<PathBuf> {
    let out = run_command(Command::new("ldd").args(executables), STAGING_TIMEOUT);
    assert!(
        out.status.success(),
        "ldd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut libraries: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, `/lib64/ld-linux-x86-64.so.2 (0x...)`
        // (the other lines name the executables).
        .filter_map(|line| {
            let (before_address, _) = line.split_once(" (0x")?;
            let path = before_address.rsplit("=> ").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    libraries.sort();
    libraries.dedup();
    libraries
}

/// Copies a host file to the same path under `root`, with its mode and modification time.
fn copy_into(root: &Path, file: &Path) {
    let target = root.join(file.strip_prefix("/").expect("an absolute path"));
    fs::create_dir_all(target.parent().expect("a file in a folder")).expect("creating folders");
    fs::copy(file, &target).unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
    let modified = fs::metadata(file)
        .and_then(|meta| meta.modified())
        .expect("mtime");
    File::options()
        .write(true)
        .open(&target)
        .and_then(|copy| copy.set_modified(modified))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", target.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_read_also_after_kernel_messages() {
        let console = "CONTI-VM-LAYOUT v2\n\
                       [ 9.1] Memory cgroup out of memory CONTI-VM-RESULT limits rc=101 secs=77\n\
                       CONTI-VM-RESULT cgroup_v2_limits rc=0 secs=3\n\
                       CONTI-VM-LEFT [/sys/fs/cgroup/a /sys/fs/cgroup/a/b ]\r\n";
        assert_eq!(
            test_runs(console),
            [
                TestRun {
                    name: "limits".into(),
                    exit_code: 101,
                    seconds: 77
                },
                TestRun {
                    name: "cgroup_v2_limits".into(),
                    exit_code: 0,
                    seconds: 3
                },
            ]
        );
        assert_eq!(
            cgroups_left(console),
            Some(vec![
                "/sys/fs/cgroup/a".to_string(),
                "/sys/fs/cgroup/a/b".to_string()
            ])
        );
        assert_eq!(cgroups_left("CONTI-VM-LEFT []"), Some(vec![]));
        assert_eq!(cgroups_left("no marker"), None);
    }

    #[test]
    fn test_executables_are_told_from_their_build_files() {
        assert!(is_test_executable_of("limits-6647e64d4640fbcd", "limits"));
        assert!(!is_test_executable_of(
            "limits-6647e64d4640fbcd.d",
            "limits"
        ));
        assert!(!is_test_executable_of(
            "cgroup_v2_limits-6647e64d4640fbcd",
            "limits"
        ));
        assert!(!is_test_executable_of(
            "limits_more-6647e64d4640fbcd",
            "limits"
        ));
    }
}
