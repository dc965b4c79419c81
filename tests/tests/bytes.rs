//! Output is bytes: 1 MiB of random bytes (most of it not UTF-8) goes unchanged through every
//! path a container's output takes, through the API and through `conti-cli`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use conti_tests::cli::stderr;
use conti_tests::{ContainerSpec, Daemon, VolumeSpec, bin_path, cli, sh};

/// `len` bytes of a xorshift sequence: every byte value, no structure, and lines of any
/// length (newlines come about once in 256 bytes, some far apart).
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// FNV-1a: a short name for a long content in assertion messages.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[track_caller]
fn assert_same_bytes(what: &str, got: &[u8], expected: &[u8]) {
    if got != expected {
        let first_difference = got.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes (hash {:x}) instead of {} (hash {:x}); first difference at {:?}",
            got.len(),
            hash(got),
            expected.len(),
            hash(expected),
            first_difference.unwrap_or(got.len().min(expected.len()))
        );
    }
}

/// The bytes, in a host file that containers see read-only as `/data/blob`.
struct Blob {
    bytes: Vec<u8>,
    folder: PathBuf,
}

impl Blob {
    fn new(daemon: &Daemon) -> Blob {
        let folder = daemon.dir().join("blob");
        std::fs::create_dir_all(&folder).unwrap();
        let bytes = random_bytes(1024 * 1024, 0x5eed_0b17_e5ba_d5e7);
        std::fs::write(folder.join("blob"), &bytes).unwrap();
        Blob { bytes, folder }
    }

    /// A spec running `script` with the blob mounted.
    fn spec(&self, script: &str) -> ContainerSpec {
        ContainerSpec {
            volumes: vec![VolumeSpec {
                source: self.folder.display().to_string(),
                target: "/data".into(),
                read_only: true,
            }],
            ..sh(script)
        }
    }
}

#[test]
fn exec_output_is_carried_byte_for_byte() {
    let d = Daemon::start_with_busybox();
    let blob = Blob::new(&d);
    let id = d.run_detached(&ContainerSpec {
        name: Some("box".into()),
        ..blob.spec("exec sleep 600")
    });

    // The issue's example: printf's bytes, not U+FFFD.
    let out = cli(&d, &["exec", "box", "printf", r"\377\376A\n"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"\xff\xfeA\n");
    let result = d.exec(&id, &["printf", r"\377\376A\n"]);
    assert_eq!(
        result.stdout, "\u{fffd}\u{fffd}A\n",
        "the text form stays readable"
    );
    assert_eq!(result.stdout_base64.as_deref(), Some("//5BCg=="));
    let text = d.exec(&id, &["echo", "plain"]);
    assert_eq!(
        (text.stdout.as_str(), &text.stdout_base64),
        ("plain\n", &None)
    );

    // Buffered exec, through the API: both streams.
    let result = d.exec(&id, &["sh", "-c", "cat /data/blob; cat /data/blob >&2"]);
    assert_eq!(result.exit_code, 0);
    assert_same_bytes(
        "API exec stdout",
        &result.stdout_bytes().unwrap(),
        &blob.bytes,
    );
    assert_same_bytes(
        "API exec stderr",
        &result.stderr_bytes().unwrap(),
        &blob.bytes,
    );

    // And through the CLI, which uses it.
    let out = cli(
        &d,
        &[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /data/blob; cat /data/blob >&2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_bytes("exec stdout", &out.stdout, &blob.bytes);
    assert_same_bytes("exec stderr", &out.stderr, &blob.bytes);

    // The streaming exec (`exec -i`): our stdin to its stdin, its output back.
    let mut child = Command::new(bin_path("conti-cli"))
        .arg("--socket")
        .arg(d.socket())
        .args(["exec", "-i", "box", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = blob.bytes.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_bytes("exec -i stdout", &out.stdout, &blob.bytes);
    d.remove(&id);
}
