//! Throwaway: launch a busybox container through the helper. Delete when done.
use std::io::Read;
use std::os::fd::OwnedFd;

use contid::runtime::cgroup::CgroupManager;
use contid::runtime::helper::{HelperConfig, spawn_helper};
use contid::runtime::{ContainerLaunch, ExecLaunch, ExecStatus, ExitRecord, LaunchReport, NetworkSetup};

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, rest) = args.split_first().expect("usage: try_launch run|exec|hostnet ID ARGV...");
    let (id, argv) = rest.split_first().unwrap();
    let _lock = std::fs::File::create("/tmp/try-lock").unwrap();
    let helper = spawn_helper(HelperConfig { cgroups: CgroupManager::detect("conti-try") }).unwrap();
    if mode == "fds" {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let fds: Vec<_> = std::fs::read_dir(format!("/proc/{}/fd", helper.pid())).unwrap()
            .map(|e| std::fs::read_link(e.unwrap().path()).unwrap()).collect();
        println!("helper fds: {fds:?}");
        return;
    }
    if mode == "gone" {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(helper.pid()), nix::sys::signal::Signal::SIGKILL).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let launch = ContainerLaunch { id: id.clone(), state_dir: "/tmp/x".into(), image_rootfs: "/tmp/bb".into(), hostname: "x".into(), network: NetworkSetup::Isolated, argv: argv.to_vec(), env: vec![], cwd: "/".into(), log_max_bytes: 1 };
        println!("1: {:?}", helper.launch_container(&launch).err());
        println!("2: {:?}", helper.launch_container(&launch).err());
        drop(helper);
        println!("dropped");
        return;
    }
    if mode == "exec" {
        let (pid, argv) = argv.split_first().unwrap();
        let h = helper
            .spawn_exec(&ExecLaunch {
                container_id: id.clone(),
                init_pid: pid.parse().unwrap(),
                argv: argv.to_vec(),
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
            })
            .unwrap();
        let out = read_all(h.stdout);
        let err = read_all(h.stderr);
        let mut status = Vec::new();
        std::fs::File::from(h.status).read_to_end(&mut status).unwrap();
        println!("stdout: {out:?}\nstderr: {err:?}\nstatus: {:?}", ExecStatus::parse(&status));
        return;
    }
    let state_dir = std::path::PathBuf::from(format!("/tmp/conti-state/{id}"));
    std::fs::create_dir_all(&state_dir).unwrap();
    let launch = ContainerLaunch {
        id: id.clone(),
        state_dir: state_dir.clone(),
        image_rootfs: std::env::var("IMAGE").unwrap_or("/tmp/bb".into()).into(),
        hostname: format!("h-{id}"),
        network: if mode == "hostnet" { NetworkSetup::Host } else { NetworkSetup::Isolated },
        argv: argv.to_vec(),
        env: vec!["PATH=/bin".into(), format!("HOSTNAME=h-{id}")],
        cwd: std::env::var("CWD").unwrap_or("/".into()),
        log_max_bytes: 1 << 20,
    };
    let t = std::time::Instant::now();
    let report = helper.launch_container(&launch).unwrap().wait_report();
    println!("report after {:?}: {report:?}", t.elapsed());
    if let Ok(LaunchReport::Started { monitor_pid, .. }) = report {
        if std::env::var("NOWAIT").is_ok() {
            return;
        }
        while std::path::Path::new(&format!("/proc/{monitor_pid}")).exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    println!("exit: {:?}", ExitRecord::read(&state_dir));
    println!("log:\n{}", std::fs::read_to_string(state_dir.join("container.log")).unwrap_or_default());
}
