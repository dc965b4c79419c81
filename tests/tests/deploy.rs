//! `deploy/`: the systemd units (the service and its socket, checked by `systemd-analyze
//! verify`), the install and uninstall scripts.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use conti_tests::{bin_path, run_command, unique_name};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `section → key → values` of a unit file (a key may repeat).
fn parse_unit(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut unit: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = String::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
    {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, value)) = line.split_once('=') {
            unit.entry(section.clone())
                .or_default()
                .entry(key.trim().to_string())
                .or_default()
                .push(value.trim().to_string());
        } else {
            panic!("not a unit file line: {line:?}");
        }
    }
    unit
}

/// A scratch folder removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = PathBuf::from("/tmp").join(unique_name("conti-test-deploy"));
        fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn install(destdir: &Path, bin_dir: &Path) -> Output {
    run_command(
        Command::new("bash")
            .arg(repo().join("deploy/install.sh"))
            .env("DESTDIR", destdir)
            .env("BIN_DIR", bin_dir)
            .env_remove("PREFIX"),
        Duration::from_secs(60),
    )
}

/// install.sh of the built binaries into `<scratch>/dest`, which must succeed.
fn staged_install() -> (Scratch, PathBuf) {
    let scratch = Scratch::new();
    let destdir = scratch.0.join("dest");
    let built = bin_path("contid");
    let out = install(&destdir, built.parent().expect("bin dir"));
    assert!(
        out.status.success(),
        "install.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (scratch, destdir)
}

/// `deploy/uninstall.sh [args]` staged in `destdir`, with `root` as contid's `--root`.
fn uninstall(destdir: &Path, root: &str, args: &[&str]) -> Output {
    run_command(
        Command::new("bash")
            .arg(repo().join("deploy/uninstall.sh"))
            .args(args)
            .env("DESTDIR", destdir)
            .env("ROOT", root)
            .env_remove("PREFIX"),
        Duration::from_secs(60),
    )
}

#[test]
fn uninstall_removes_what_install_put_and_purge_the_state_too() {
    let (_scratch, destdir) = staged_install();
    let state = destdir.join("var/lib/conti");
    fs::create_dir_all(state.join("containers")).expect("state");
    let neighbour = destdir.join("usr/local/bin/not-ours");
    fs::write(&neighbour, b"keep me").expect("neighbour");

    let out = uninstall(&destdir, "/var/lib/conti", &[]);
    assert!(
        out.status.success(),
        "uninstall.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for gone in [
        "usr/local/bin/contid",
        "usr/local/bin/conti-cli",
        "etc/systemd/system/contid.service",
        "etc/systemd/system/contid.socket",
    ] {
        assert!(!destdir.join(gone).exists(), "{gone} is still there");
    }
    assert!(
        neighbour.exists(),
        "uninstall.sh removed a file it did not install"
    );
    assert!(state.is_dir(), "without --purge the state folder stays");

    let out = uninstall(&destdir, "/var/lib/conti", &["--purge"]);
    assert!(out.status.success(), "uninstall.sh --purge failed");
    assert!(!state.exists(), "--purge leaves the state folder");
    assert!(neighbour.exists());

    let refused = uninstall(&destdir, "/", &["--purge"]);
    assert!(
        !refused.status.success(),
        "--purge of ROOT=/ must be refused"
    );
    assert!(neighbour.exists());
    let wrong = uninstall(&destdir, "/var/lib/conti", &["--everything"]);
    assert_eq!(
        wrong.status.code(),
        Some(2),
        "an unknown option is a usage error"
    );
}

/// `systemd-analyze verify` on `units` (verified together: a socket unit needs its service);
/// its output mentioning them (it may also talk about the host's own units, which are not ours
/// to judge).
fn verify(units: &[&Path]) -> (bool, String) {
    let out = run_command(
        Command::new("systemd-analyze").arg("verify").args(units),
        Duration::from_secs(60),
    );
    let names: Vec<String> = units
        .iter()
        .map(|unit| {
            unit.file_name()
                .expect("unit name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let about_units: Vec<&str> = text
        .lines()
        .filter(|l| names.iter().any(|name| l.contains(name.as_str())))
        .collect();
    (out.status.success(), about_units.join("\n"))
}

/// `[section] key=` of `unit`, given exactly once.
fn one<'a>(
    unit: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
    section: &str,
    key: &str,
) -> &'a str {
    let values = unit
        .get(section)
        .and_then(|keys| keys.get(key))
        .unwrap_or_else(|| panic!("[{section}] has no {key}="));
    assert_eq!(values.len(), 1, "{key}= given {} times", values.len());
    &values[0]
}

/// Every value of `[section] key=` (space-separated lists, over every line).
fn all(
    unit: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    section: &str,
    key: &str,
) -> Vec<String> {
    unit.get(section)
        .and_then(|keys| keys.get(key))
        .into_iter()
        .flatten()
        .flat_map(|line| line.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn the_service_unit_says_what_contid_needs() {
    let text =
        fs::read_to_string(repo().join("deploy/contid.service")).expect("deploy/contid.service");
    let unit = parse_unit(&text);
    let service = |key| one(&unit, "Service", key);
    assert_eq!(service("Type"), "notify");
    assert_eq!(service("NotifyAccess"), "main");
    // No flags: /etc/conti/contid.toml decides (a flag would win over it).
    assert_eq!(service("ExecStart"), "/usr/local/bin/contid");
    assert_eq!(service("WatchdogSec"), "30s");
    assert_eq!(service("Delegate"), "yes");
    assert_eq!(service("KillMode"), "process");
    assert_eq!(service("Restart"), "always");
    assert_eq!(service("LimitNOFILE"), "1048576");
    assert_eq!(service("TasksMax"), "infinity");
    assert_eq!(service("OOMScoreAdjust"), "-500");
    for key in ["Wants", "After"] {
        assert!(
            all(&unit, "Unit", key).contains(&"contid.socket".to_string()),
            "[Unit] {key}= does not name contid.socket"
        );
    }
    assert_eq!(unit["Install"]["WantedBy"], ["multi-user.target"]);
    assert_eq!(unit["Install"]["Also"], ["contid.socket"]);
}

#[test]
fn the_socket_unit_listens_where_contid_serves_for_root_and_its_group() {
    let text =
        fs::read_to_string(repo().join("deploy/contid.socket")).expect("deploy/contid.socket");
    let unit = parse_unit(&text);
    let socket = |key| one(&unit, "Socket", key);
    // contid's own default socket (no configuration file read).
    let settings = run_command(
        Command::new(bin_path("contid")).args(["--config", "/dev/null", "--validate"]),
        Duration::from_secs(10),
    );
    let settings = String::from_utf8_lossy(&settings.stdout);
    assert!(
        settings
            .lines()
            .any(|l| l == format!("socket = \"{}\"", socket("ListenStream"))),
        "ListenStream= is not contid's default socket:\n{settings}"
    );
    // What contid itself makes with its default group: root:conti 0660.
    assert_eq!(socket("SocketMode"), "0660");
    assert_eq!(socket("SocketUser"), "root");
    assert_eq!(socket("SocketGroup"), "conti");
    assert_eq!(one(&unit, "Unit", "PartOf"), "contid.service");
    assert_eq!(unit["Install"]["WantedBy"], ["sockets.target"]);
}

#[test]
fn the_installed_units_pass_systemd_analyze_verify() {
    let (scratch, destdir) = staged_install();
    for bin in ["contid", "conti-cli"] {
        let installed = destdir.join("usr/local/bin").join(bin);
        assert_eq!(
            fs::read(&installed).ok(),
            fs::read(bin_path(bin)).ok(),
            "{} is not the built binary",
            installed.display()
        );
        let help = run_command(
            Command::new(&installed).arg("--help"),
            Duration::from_secs(10),
        );
        assert!(
            help.status.success(),
            "{} --help failed",
            installed.display()
        );
    }
    let installed = |name: &str| {
        let unit = fs::read_to_string(destdir.join("etc/systemd/system").join(name))
            .unwrap_or_else(|e| panic!("installed {name}: {e}"));
        assert_eq!(
            unit,
            fs::read_to_string(repo().join("deploy").join(name)).expect("unit"),
            "the installed {name} is not deploy/{name}"
        );
        unit
    };
    let installed_unit = installed("contid.service");
    let installed_socket = installed("contid.socket");

    // systemd-analyze checks that ExecStart can be executed: point the unit at the staged
    // binary (the real /usr/local/bin/contid may not be installed on this machine).
    let staged = destdir.join("usr/local/bin/contid");
    let unit_dir = scratch.0.join("units");
    fs::create_dir_all(&unit_dir).expect("unit dir");
    let unit = unit_dir.join("contid.service");
    fs::write(
        &unit,
        installed_unit.replace("/usr/local/bin/contid", &staged.display().to_string()),
    )
    .expect("unit copy");
    let socket = unit_dir.join("contid.socket");
    fs::write(&socket, &installed_socket).expect("socket unit copy");
    let (ok, complaints) = verify(&[&socket, &unit]);
    assert!(
        ok && complaints.is_empty(),
        "systemd-analyze verify rejects the units:\n{complaints}"
    );

    // The check can fail: a wrong setting and a missing binary are both reported.
    let broken = unit_dir.join("contid-broken.service");
    fs::write(
        &broken,
        installed_unit.replace("KillMode=process", "KillMode=procss"),
    )
    .expect("broken unit");
    let (_, complaints) = verify(&[&broken]);
    assert!(
        complaints.contains("procss") || complaints.contains("KillMode"),
        "a bad KillMode went unnoticed"
    );
    let missing = unit_dir.join("contid-missing.service");
    fs::write(
        &missing,
        installed_unit.replace("/usr/local/bin/contid", "/nonexistent/contid"),
    )
    .expect("unit");
    let (ok, _) = verify(&[&missing]);
    assert!(!ok, "a missing ExecStart binary went unnoticed");
    let broken_socket = unit_dir.join("contid-broken.socket");
    fs::write(
        &broken_socket,
        installed_socket.replace("SocketMode=0660", "SocketMode=0x660"),
    )
    .expect("broken socket unit");
    let (_, complaints) = verify(&[&broken_socket]);
    assert!(
        complaints.contains("0x660"),
        "a bad SocketMode went unnoticed"
    );
}

#[test]
fn install_refuses_when_the_binaries_are_not_built() {
    let scratch = Scratch::new();
    let out = install(&scratch.0.join("dest"), &scratch.0.join("no-binaries-here"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cargo build --release"),
        "install.sh does not say what to do: {stderr}"
    );
    assert!(!scratch.0.join("dest/usr/local/bin/contid").exists());
}
