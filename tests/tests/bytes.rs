//! Output is bytes: 1 MiB of random bytes (most of it not UTF-8) goes unchanged through every
//! path a container's output takes, through the API and through `conti-cli`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use conti_tests::cli::stderr;
use conti_tests::{ContainerSpec, Daemon, LogLine, VolumeSpec, bin_path, cli, demux, sh};

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

    /// `-v` for the CLI.
    fn volume_arg(&self) -> String {
        format!("{}:/data:ro", self.folder.display())
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

/// Both streams' bytes from CRI records: `<time> <stream> <F|P> <bytes>`.
fn from_cri_file(file: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for record in file.strip_suffix(b"\n").unwrap().split(|&b| b == b'\n') {
        let mut fields = record.splitn(4, |&b| b == b' ');
        let time = std::str::from_utf8(fields.next().unwrap()).unwrap();
        assert!(time.len() == 30 && time.ends_with('Z'), "time {time:?}");
        let target = match fields.next().unwrap() {
            b"stdout" => &mut out,
            b"stderr" => &mut err,
            other => panic!("stream {:?}", String::from_utf8_lossy(other)),
        };
        let tag = fields.next().unwrap();
        target.extend_from_slice(fields.next().unwrap());
        match tag {
            b"F" => target.push(b'\n'),
            b"P" => {}
            other => panic!("tag {:?}", String::from_utf8_lossy(other)),
        }
    }
    (out, err)
}

#[test]
fn logs_carry_the_bytes_in_the_file_and_in_every_format() {
    let d = Daemon::start_with_busybox();
    let blob = Blob::new(&d);
    let both = [blob.bytes.as_slice(), blob.bytes.as_slice()].concat();
    let id = d.create(&blob.spec("cat /data/blob; cat /data/blob >&2"));
    // Follows from before the start, as `conti-cli run` does.
    let follow = |format: &str| {
        d.client().stream(&format!(
            "/v1/containers/{id}/logs?follow=true&format={format}"
        ))
    };
    let (mut text_follow, mut frames_follow) = (follow("text"), follow("multiplexed"));
    d.start_container(&id);
    assert_eq!(d.wait(&id), 0);

    // On disk: CRI records holding the bytes as written.
    let file = std::fs::read(d.container_dir(&id).join("container.log")).unwrap();
    let (out, err) = from_cri_file(&file);
    assert_same_bytes("container.log stdout", &out, &blob.bytes);
    assert_same_bytes("container.log stderr", &err, &blob.bytes);

    // `text`: both streams in the order written (all of stdout came first).
    let logs = |query: &str| {
        let response = d.get(&format!("/v1/containers/{id}/logs?{query}"));
        response.expect_status(200);
        response.body
    };
    assert_same_bytes("text", &logs("format=text"), &both);
    assert_same_bytes(
        "text follow",
        &text_follow.read_rest_bytes().unwrap(),
        &both,
    );

    // `multiplexed`: each stream apart.
    let (out, err) = demux(logs("format=multiplexed").as_slice());
    assert_same_bytes("multiplexed stdout", &out, &blob.bytes);
    assert_same_bytes("multiplexed stderr", &err, &blob.bytes);
    let (out, err) = demux(frames_follow.read_rest_bytes().unwrap().as_slice());
    assert_same_bytes("multiplexed follow stdout", &out, &blob.bytes);
    assert_same_bytes("multiplexed follow stderr", &err, &blob.bytes);

    // `json`: readable text, and the bytes in `log_base64` where they are not UTF-8.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut in_base64 = 0;
    for line in logs("format=json")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        let record: LogLine = serde_json::from_slice(line).unwrap();
        if record.log_base64.is_some() {
            assert!(record.log.contains('\u{fffd}'), "{record:?}");
            in_base64 += 1;
        }
        let target = if record.stream == "stderr" {
            &mut err
        } else {
            &mut out
        };
        target.extend_from_slice(&record.bytes().unwrap());
    }
    assert!(in_base64 > 1000, "{in_base64} records in base64");
    assert_same_bytes("json stdout", &out, &blob.bytes);
    assert_same_bytes("json stderr", &err, &blob.bytes);

    // The CLI: `logs`, and `run` without a terminal (which follows the log).
    let out = cli(&d, &["logs", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_bytes("cli logs stdout", &out.stdout, &blob.bytes);
    assert_same_bytes("cli logs stderr", &out.stderr, &blob.bytes);
    let volume = blob.volume_arg();
    let script = "cat /data/blob; cat /data/blob >&2";
    let out = cli(
        &d,
        &["run", "--rm", "-v", &volume, "busybox", "sh", "-c", script],
    );
    assert!(out.status.success(), "{:?}", out.status);
    assert_same_bytes("cli run stdout", &out.stdout, &blob.bytes);
    assert_same_bytes("cli run stderr", &out.stderr, &blob.bytes);
}

#[test]
fn attach_carries_the_bytes() {
    let d = Daemon::start_with_busybox();
    let blob = Blob::new(&d);
    let script = "cat /data/blob; cat /data/blob >&2";
    let id = d.create(&blob.spec(script));
    let (head, socket) = d.client().upgrade(&format!(
        "/v1/containers/{id}/attach?stdout=true&stderr=true"
    ));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    d.start_container(&id);
    let (out, err) = demux(socket);
    assert_same_bytes("attach stdout", &out, &blob.bytes);
    assert_same_bytes("attach stderr", &err, &blob.bytes);

    let created = d.create(&ContainerSpec {
        name: Some("job".into()),
        ..blob.spec(script)
    });
    let out = cli(&d, &["start", "-a", "job"]);
    assert!(out.status.success(), "{created}: {:?}", out.status);
    assert_same_bytes("start -a stdout", &out.stdout, &blob.bytes);
    assert_same_bytes("start -a stderr", &out.stderr, &blob.bytes);
}
