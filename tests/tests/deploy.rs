//! `deploy/`: the systemd unit (checked by `systemd-analyze verify`), the install and uninstall
//! scripts.

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

/// `systemd-analyze verify` on `unit`; its output mentioning the unit (it may also talk about
/// the host's own units, which are not ours to judge).
fn verify(unit: &Path) -> (bool, String) {
    let out = run_command(
        Command::new("systemd-analyze").arg("verify").arg(unit),
        Duration::from_secs(60),
    );
    let name = unit
        .file_name()
        .expect("unit name")
        .to_string_lossy()
        .into_owned();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let about_unit: Vec<&str> = text.lines().filter(|l| l.contains(&name)).collect();
    (out.status.success(), about_unit.join("\n"))
}

#[test]
fn the_unit_says_what_contid_needs() {
    let text =
        fs::read_to_string(repo().join("deploy/contid.service")).expect("deploy/contid.service");
    let unit = parse_unit(&text);
    let service = &unit["Service"];
    let one = |key: &str| -> &str {
        let values = service
            .get(key)
            .unwrap_or_else(|| panic!("[Service] has no {key}="));
        assert_eq!(values.len(), 1, "{key}= given {} times", values.len());
        &values[0]
    };
    assert_eq!(one("Type"), "simple");
    assert_eq!(
        one("ExecStart"),
        "/usr/local/bin/contid --socket /var/run/conti.sock --root /var/lib/conti"
    );
    assert_eq!(one("Delegate"), "yes");
    assert_eq!(one("KillMode"), "process");
    assert_eq!(one("Restart"), "always");
    assert_eq!(one("LimitNOFILE"), "1048576");
    assert_eq!(one("TasksMax"), "infinity");
    assert_eq!(one("OOMScoreAdjust"), "-500");
    assert_eq!(unit["Install"]["WantedBy"], ["multi-user.target"]);
}

#[test]
fn the_installed_unit_passes_systemd_analyze_verify() {
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
    let installed_unit = fs::read_to_string(destdir.join("etc/systemd/system/contid.service"))
        .expect("installed unit");
    assert_eq!(
        installed_unit,
        fs::read_to_string(repo().join("deploy/contid.service")).expect("unit")
    );

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
    let (ok, complaints) = verify(&unit);
    assert!(
        ok && complaints.is_empty(),
        "systemd-analyze verify rejects the unit:\n{complaints}"
    );

    // The check can fail: a wrong setting and a missing binary are both reported.
    let broken = unit_dir.join("contid-broken.service");
    fs::write(
        &broken,
        installed_unit.replace("KillMode=process", "KillMode=procss"),
    )
    .expect("broken unit");
    let (_, complaints) = verify(&broken);
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
    let (ok, _) = verify(&missing);
    assert!(!ok, "a missing ExecStart binary went unnoticed");
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
