//! The contract (`proto-docs/openapi.json`) says what a real daemon answers: the answers the
//! fuzzer found undocumented, whole numbers written `1.0`, and, when schemathesis is installed,
//! a run of it against a real daemon.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conti_tests::{ContainerInfo, Daemon, run_command, spec};
use serde_json::Value;

fn openapi() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto-docs/openapi.json");
    let text = std::fs::read_to_string(&path).expect("proto-docs/openapi.json");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

/// Whether the contract lets `method` on `route` answer `status` with error `code`.
fn documented(doc: &Value, method: &str, route: &str, status: u16, code: &str) -> bool {
    let answer = &doc["paths"][route][method.to_lowercase()]["responses"][status.to_string()];
    answer["description"]
        .as_str()
        .is_some_and(|codes| codes.contains(&format!("`{code}`")))
}

/// Containers until two ids share their first hex digit (17 at most): that digit is then an
/// ambiguous reference.
fn ambiguous_prefix(d: &Daemon) -> String {
    let mut firsts = std::collections::HashSet::new();
    loop {
        let id = d.create(&spec(&["true"]));
        let first = id[..1].to_string();
        if !firsts.insert(first.clone()) {
            return first;
        }
    }
}

#[test]
fn the_answers_the_fuzzer_found_are_documented() {
    let d = Daemon::start_with_busybox();
    let doc = openapi();
    let ambiguous = ambiguous_prefix(&d);
    let id = d.create(&spec(&["true"]));
    let cases = [
        (
            "DELETE",
            "/v1/containers/{ref}",
            format!("/v1/containers/{ambiguous}"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/logs",
            format!("/v1/containers/{ambiguous}/logs"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/stats",
            format!("/v1/containers/{ambiguous}/stats"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/top",
            format!("/v1/containers/{ambiguous}/top"),
        ),
        (
            "POST",
            "/v1/containers/{ref}/wait",
            format!("/v1/containers/{ambiguous}/wait"),
        ),
        (
            "GET",
            "/v1/containers",
            "/v1/containers?all=true&all=true".to_string(),
        ),
        (
            "GET",
            "/v1/containers",
            "/v1/containers?all=null&all=null".to_string(),
        ),
        (
            "DELETE",
            "/v1/containers/{ref}",
            format!("/v1/containers/{id}?force=1"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/logs",
            format!("/v1/containers/{id}/logs?since="),
        ),
        (
            "GET",
            "/v1/containers/{ref}/stats",
            format!("/v1/containers/{id}/stats?stream=true&stream=false"),
        ),
        (
            "POST",
            "/v1/containers/{ref}/stop",
            format!("/v1/containers/{id}/stop?timeout=1.5"),
        ),
    ];
    for (method, route, path) in cases {
        let answer = d.client().request(method, &path, None);
        let error = answer
            .try_json::<conti_tests::ErrorBody>()
            .unwrap_or_else(|e| panic!("{method} {path}: {} is no error: {e}", answer.status));
        assert!(
            documented(&doc, method, route, answer.status, &error.code),
            "{method} {path} answered {} `{}`, which openapi.json does not say",
            answer.status,
            error.code
        );
    }
    // A repeated parameter is refused whatever its values, on every route that takes it.
    let repeated = d.get("/v1/containers?all=true&all=true");
    let error = repeated.expect_error(400, "invalid_argument");
    assert!(
        error.message.contains("duplicate field `all`"),
        "{}",
        error.message
    );
    // The logs' content types are the documented ones.
    let logs = d.get(&format!("/v1/containers/{id}/logs"));
    let route = &doc["paths"]["/v1/containers/{ref}/logs"]["get"]["responses"]["200"]["content"];
    let content_type = logs.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default();
    assert!(
        route.get(media_type).is_some(),
        "logs answered {content_type}, not documented"
    );
}

#[test]
fn whole_numbers_written_with_a_fraction_are_integers() {
    let d = Daemon::start_with_busybox();
    // JSON Schema counts 1.0 as an integer, and so does the contract.
    let body =
        br#"{"image":"busybox","cmd":["true"],"tty":true,"resources":{"memory":67108864.0}}"#;
    let created = d.post("/v1/containers", body);
    created.expect_status(201);
    let id = created.json::<conti_tests::CreatedContainer>().id;
    let info: ContainerInfo = d.get(&format!("/v1/containers/{id}")).json();
    assert_eq!(info.resources.memory, Some(64 << 20));
    d.post(&format!("/v1/containers/{id}/resize?h=24.0&w=80.00"), b"")
        .expect_status(204);
    d.get(&format!("/v1/containers/{id}/logs?tail=1.0"))
        .expect_status(200);
    d.post(&format!("/v1/containers/{id}/stop?timeout=1.0"), b"")
        .expect_status(204);
    // A fraction is still refused.
    d.get(&format!("/v1/containers/{id}/logs?tail=1.5"))
        .expect_error(400, "invalid_argument");
    let fractional = br#"{"image":"busybox","cmd":["true"],"resources":{"memory":67108864.5}}"#;
    d.post("/v1/containers", fractional)
        .expect_error(400, "invalid_json");
}

/// Forwards TCP connections on 127.0.0.1 to the daemon's socket (schemathesis speaks TCP);
/// stops when dropped.
struct TcpToUnix {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl TcpToUnix {
    fn start(socket: &Path) -> TcpToUnix {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let socket = socket.to_path_buf();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => forward(client, &socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpToUnix { port, stop }
    }
}

impl Drop for TcpToUnix {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn forward(client: TcpStream, socket: &Path) {
    let _ = client.set_nonblocking(false);
    let Ok(daemon) = UnixStream::connect(socket) else {
        return;
    };
    let (Ok(mut client_reader), Ok(mut daemon_writer)) = (client.try_clone(), daemon.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut daemon_writer);
        let _ = daemon_writer.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let (mut daemon, mut client) = (daemon, client);
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = daemon.read(&mut buf) {
            if n == 0 || client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = client.shutdown(Shutdown::Both);
    });
}

/// `schemathesis` from `$CONTI_SCHEMATHESIS`, else from `PATH`.
fn schemathesis() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONTI_SCHEMATHESIS") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("schemathesis"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn schemathesis_finds_no_answer_the_contract_does_not_describe() {
    let Some(schemathesis) = schemathesis() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis is not installed (.ci/run installs it)"
        );
        eprintln!("SKIPPED: schemathesis is not installed (pip install schemathesis)");
        return;
    };
    let d = Daemon::start_with_busybox();
    // What tests/schemathesis/hooks.py expects to find.
    let done = d.create(&conti_tests::ContainerSpec {
        name: Some("done".to_string()),
        ..spec(&["true"])
    });
    d.start_container(&done);
    d.wait(&done);
    for n in 0..17 {
        d.create(&conti_tests::ContainerSpec {
            name: Some(format!("c{n}")),
            ..spec(&["true"])
        });
    }
    let proxy = TcpToUnix::start(d.socket());
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = d.dir().join("schemathesis");
    let mut command = Command::new(&schemathesis);
    // Run in the daemon's folder: schemathesis keeps a cache where it runs.
    command
        .current_dir(d.dir())
        .env("PYTHONPATH", here.join("schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .args(["--no-color", "run"])
        .arg(here.join("../proto-docs/openapi.json"))
        .args(["--url", &format!("http://127.0.0.1:{}", proxy.port)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance,error_code_is_documented",
        ])
        .args([
            "--continue-on-failure",
            "--request-timeout",
            "10",
            "--workers",
            "1",
        ])
        .args([
            "--seed",
            "17",
            "--max-examples",
            "100",
            "--generation-database",
            "none",
        ])
        // Pulls and logins reach the registry the request names (docker.io by default): fuzzing
        // them would send traffic beyond this machine. The image tests drive them against a
        // registry of their own.
        .args(["--exclude-path-regex", "^/v1/(images/pull|auth)"])
        .args(["--report", "ndjson", "--report-dir"])
        .arg(&report);
    let out = run_command(&mut command, Duration::from_secs(900));
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .find("= SUMMARY")
        .map_or(text.as_ref(), |start| &text[start..]);
    eprintln!("{summary}");
    assert!(
        out.status.success(),
        "schemathesis found answers the contract does not describe:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
