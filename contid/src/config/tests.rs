use std::path::Path;

use clap::{Args, Parser};

use super::*;

/// The flags alone, as contid's command line gives them.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    layer: SettingsLayer,
}

fn flags(args: &[&str]) -> SettingsLayer {
    Flags::try_parse_from(std::iter::once("contid").chain(args.iter().copied()))
        .expect("flags")
        .layer
}

/// A configuration file holding `text`, and the folder it is in.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("contid.toml");
    std::fs::write(&path, text).expect("config file");
    (dir, path)
}

fn load(args: &[&str], text: &str) -> Result<Settings, ConfigError> {
    let (_dir, path) = config_file(text);
    Settings::load(flags(args), Some(&path), Path::new("/nonexistent")).map(|(s, _)| s)
}

#[test]
fn flags_win_over_the_file_which_wins_over_the_defaults() {
    let settings = load(
        &["--log-max-bytes", "8192", "--insecure-registry", "b:5000"],
        "log-max-bytes = 4096\nmax-connections = 7\ninsecure-registries = [\"a:5000\"]\n\
         allow-root-bind = true\nbridge = \"br-file\"\n",
    )
    .expect("settings");
    assert_eq!(settings.log_max_bytes, 8192);
    assert_eq!(settings.max_connections.get(), 7);
    assert_eq!(settings.insecure_registries, ["b:5000"]);
    assert!(settings.allow_root_bind);
    assert_eq!(settings.bridge.as_str(), "br-file");
    assert_eq!(settings.socket, Settings::default().socket);

    let undone = load(&["--allow-root-bind=false"], "allow-root-bind = true\n").expect("settings");
    assert!(!undone.allow_root_bind);
    assert!(flags(&["--allow-root-bind"]).allow_root_bind == Some(true));
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let error = load(
        &[],
        "# comment\nroot = \"/srv/conti\"\nsockt = \"/x.sock\"\n",
    )
    .unwrap_err();
    let ConfigError::Invalid {
        line,
        column,
        reason,
        ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!((*line, *column), (3, 1), "{error}");
    assert!(reason.contains("sockt"), "{reason}");
    assert!(error.to_string().contains("contid.toml:3:1: "), "{error}");
}

#[test]
fn bad_values_are_refused_with_their_line_and_reason() {
    let cases = [
        ("bridge = \"a-name-far-too-long\"", "1-15 characters"),
        ("firewall-table = \"9x\"", "a letter"),
        ("cgroup-parent = \"/abs\"", "relative cgroup path"),
        ("log-max-bytes = -1", "u64"),
        ("log-max-files = 0", "1 to 100 files"),
        ("log-max-files = \"3\"", "u32"),
        ("max-connections = 0", "nonzero"),
        ("default-subnet = \"10.88.0.0/33\"", ""),
        ("exe-seal = \"tmpfs\"", "auto, overlayfs or memfd"),
        ("allow-root-bind = \"yes\"", "bool"),
        ("socket = 3", "string"),
    ];
    for (line, why) in cases {
        let error = load(&[], &format!("root = \"/srv/conti\"\n\n{line}\n")).unwrap_err();
        let ConfigError::Invalid {
            line: at, reason, ..
        } = &error
        else {
            panic!("{line}: {error}");
        };
        assert_eq!(*at, 3, "{line}: {error}");
        assert!(reason.contains(why), "{line}: {reason}");
    }
    let error = load(&[], "root = \"/srv\n").unwrap_err();
    assert!(
        matches!(error, ConfigError::Invalid { line: 1, .. }),
        "{error}"
    );
}

#[test]
fn the_default_file_is_read_only_when_it_exists() {
    let (_dir, path) = config_file("log-max-bytes = 4096\n");
    let (settings, read) = Settings::load(flags(&[]), None, &path).expect("settings");
    assert_eq!(settings.log_max_bytes, 4096);
    assert_eq!(settings.log_max_files, 2, "the default");
    assert_eq!(read.as_deref(), Some(path.as_path()));

    let missing = path.with_file_name("absent.toml");
    let (settings, read) = Settings::load(flags(&[]), None, &missing).expect("settings");
    assert_eq!(settings, Settings::default());
    assert_eq!(read, None);
    // Named with --config, it must be there.
    let error = Settings::load(flags(&[]), Some(&missing), &path).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error}");
}

#[test]
fn userns_no_idmap_needs_a_remap_user_from_either_layer() {
    let error = load(&["--userns-no-idmap"], "").unwrap_err();
    assert!(matches!(error, ConfigError::NoIdmapWithoutRemap));
    let settings = load(&["--userns-no-idmap"], "userns-remap = \"conti\"\n").expect("ok");
    assert_eq!(settings.userns_remap.as_deref(), Some("conti"));
    assert!(settings.userns_no_idmap);
}

#[test]
fn the_printed_settings_are_a_configuration_file_that_gives_them_back() {
    let settings = load(
        &["--group", "wheel", "--default-gateway", "10.88.0.254"],
        "exe-seal = \"memfd\"\nlog-level = \"debug\"\ninsecure-registries = [\"r:5000\"]\n",
    )
    .expect("settings");
    let printed = settings.to_toml().expect("printable");
    assert!(printed.contains("exe-seal = \"memfd\"\n"), "{printed}");
    assert_eq!(load(&[], &printed).expect("printed settings"), settings);
}

/// The `[default: ...]` the help shows for each key is the default that applies.
#[test]
fn the_help_shows_the_defaults() {
    let help = SettingsLayer::augment_args(clap::Command::new("contid"))
        .render_long_help()
        .to_string();
    let defaults = toml::Table::try_from(Settings::default()).expect("defaults");
    for (key, value) in defaults {
        let shown = match &value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Array(items) if items.is_empty() => continue,
            other => other.to_string(),
        };
        let section = help
            .split("\n      --")
            .find(|s| s.starts_with(&format!("{key} ")) || s.starts_with(&format!("{key}[")))
            .unwrap_or_else(|| panic!("--{key} is not in the help:\n{help}"));
        let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            section.contains(&format!("[default: {shown}]")),
            "--{key} does not show [default: {shown}]: {section}"
        );
    }
}
