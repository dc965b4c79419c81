//! The exec scenario: one running container per runtime (`sleep 1000000`), then rounds of
//! execs into it, each timed: `/bin/true` from the request (spawn) to the exit code, and
//! `/bin/echo x` from the request (spawn) to the first output byte and to the exit code.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use conti_tests::{Client, Connection, ExecResult, ExecSpec};

use crate::cleanup;
use crate::oci::OciRuntime;
use crate::scenario::call;

/// The command of the running containers.
pub const SLEEPER: [&str; 2] = ["sleep", "1000000"];
const TRUE: [&str; 1] = ["/bin/true"];
const ECHO: [&str; 2] = ["/bin/echo", "x"];
const ECHO_OUTPUT: &[u8] = b"x\n";
/// How long a read of the upgraded stream may block before the exec fails.
const STREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// One side of the comparison, with its running container.
pub enum ExecTarget<'a> {
    /// Execs through the Conti API over one kept-alive connection (the streaming start takes a
    /// connection of its own, as it must: it becomes the exec's stdio).
    Conti {
        client: &'a Client,
        connection: Connection,
        container: String,
    },
    /// `<runtime> exec ID ...`.
    Oci {
        runtime: &'a OciRuntime,
        container: String,
    },
}

impl ExecTarget<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            ExecTarget::Conti { .. } => "conti",
            ExecTarget::Oci { runtime, .. } => runtime.name,
        }
    }
}

/// A running `sleep` container through the API (create + start), and the kept-alive
/// connection the execs use.
pub fn conti_target(client: &Client) -> Result<ExecTarget<'_>, String> {
    let mut connection = client
        .connect()
        .map_err(|e| format!("conti exec: connecting: {e}"))?;
    let spec = crate::scenario::only_lo(conti_tests::spec(&SLEEPER));
    let spec = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
    let created: Value = call(
        &mut connection,
        "POST",
        "/v1/containers",
        Some(&spec),
        201,
        "conti exec: creating the running container",
    )?
    .try_json()?;
    let container = created["id"]
        .as_str()
        .ok_or("conti exec: the create answer has no id")?
        .to_string();
    let start = format!("/v1/containers/{container}/start");
    if let Err(e) = call(
        &mut connection,
        "POST",
        &start,
        None,
        204,
        "conti exec: starting the running container",
    ) {
        remove_conti(&mut connection, &container);
        return Err(e);
    }
    Ok(ExecTarget::Conti {
        client,
        connection,
        container,
    })
}

/// A running `sleep` container of `runtime` (`run -d`) on `bundle`.
pub fn oci_target<'a>(runtime: &'a OciRuntime, bundle: &Path) -> Result<ExecTarget<'a>, String> {
    let container = runtime.run_detached(bundle)?;
    Ok(ExecTarget::Oci { runtime, container })
}

/// Deletes the targets' running containers (the cleanup would, at the end, but they should not
/// run on while later scenarios are measured).
pub fn remove(targets: &mut [ExecTarget]) {
    if cleanup::stopping() {
        // The signal's cleanup is deleting everything already.
        return;
    }
    for target in targets {
        match target {
            ExecTarget::Conti {
                connection,
                container,
                ..
            } => remove_conti(connection, container),
            ExecTarget::Oci { runtime, container } => runtime.delete_force(container),
        }
    }
}

fn remove_conti(connection: &mut Connection, container: &str) {
    let path = format!("/v1/containers/{container}?force=true");
    match connection.try_request("DELETE", &path, None) {
        Ok(response) if response.status == 204 || response.status == 404 => {}
        Ok(response) => eprintln!(
            "warning: deleting the exec container {container}: HTTP {}: {}",
            response.status,
            response.text().trim()
        ),
        Err(e) => eprintln!("warning: deleting the exec container {container}: {e}"),
    }
}

/// The timings of one target, in run order.
#[derive(Default)]
pub struct ExecSamples {
    /// `/bin/true`: request (spawn) to the exit code. Conti: the buffered
    /// `POST /v1/containers/{id}/exec`; peers: `<runtime> exec` from spawn to exit.
    pub true_exit: Vec<Duration>,
    /// `/bin/echo x`: request (spawn) to the first byte of its output. Conti: from sending the
    /// streaming exec's create to the first payload byte on the upgraded start connection.
    pub echo_first_byte: Vec<Duration>,
    /// `/bin/echo x`: request (spawn) to the exit code. Conti: up to the answer of
    /// `GET /v1/execs/{id}` after the stream ended; peers: exit.
    pub echo_exit: Vec<Duration>,
    /// Conti only, from the same start: the create's answer (201).
    pub echo_created: Vec<Duration>,
    /// Conti only: the start's `101 Switching Protocols` head read.
    pub echo_upgraded: Vec<Duration>,
    /// Conti only: the end of the stream (EOF).
    pub echo_stream_end: Vec<Duration>,
}

/// What is measured, in the order of the report: key, label.
pub const METRICS: [(&str, &str); 3] = [
    ("true_exit", "exec /bin/true -> exit code"),
    ("echo_first_byte", "exec /bin/echo x -> first output byte"),
    ("echo_exit", "exec /bin/echo x -> exit code"),
];

impl ExecSamples {
    pub fn metric(&self, key: &str) -> &[Duration] {
        match key {
            "true_exit" => &self.true_exit,
            "echo_first_byte" => &self.echo_first_byte,
            "echo_exit" => &self.echo_exit,
            "echo_created" => &self.echo_created,
            "echo_upgraded" => &self.echo_upgraded,
            "echo_stream_end" => &self.echo_stream_end,
            _ => &[],
        }
    }
}

/// `warmup` untimed rounds, then `iterations` timed ones; in each round every target runs one
/// `/bin/true`, then every target one `/bin/echo x`, so that drift in the machine's speed hits
/// all of them alike.
pub fn run(
    targets: &mut [ExecTarget],
    warmup: usize,
    iterations: usize,
) -> Result<Vec<ExecSamples>, String> {
    let true_body = exec_body(&TRUE, false)?;
    let echo_body = exec_body(&ECHO, true)?;
    let mut results: Vec<ExecSamples> = targets.iter().map(|_| ExecSamples::default()).collect();
    for round in 0..warmup + iterations {
        let timed = round >= warmup;
        for echo in [false, true] {
            for (target, result) in targets.iter_mut().zip(&mut results) {
                if cleanup::stopping() {
                    return Err("interrupted".to_string());
                }
                let name = target.name();
                let context = |e: String| format!("{name} exec, round {round}: {e}");
                match target {
                    ExecTarget::Conti {
                        client,
                        connection,
                        container,
                    } if echo => {
                        let times = conti_streaming_echo(
                            connection,
                            client.socket(),
                            container,
                            &echo_body,
                        )
                        .map_err(context)?;
                        if timed {
                            result.echo_first_byte.push(times.first_byte);
                            result.echo_exit.push(times.exit_code);
                            result.echo_created.push(times.created);
                            result.echo_upgraded.push(times.upgraded);
                            result.echo_stream_end.push(times.stream_end);
                        }
                    }
                    ExecTarget::Conti {
                        connection,
                        container,
                        ..
                    } => {
                        let elapsed = conti_buffered_true(connection, container, &true_body)
                            .map_err(context)?;
                        if timed {
                            result.true_exit.push(elapsed);
                        }
                    }
                    ExecTarget::Oci { runtime, container } => {
                        let (args, expect) = match echo {
                            true => (&ECHO[..], Some(ECHO_OUTPUT)),
                            false => (&TRUE[..], None),
                        };
                        let times = runtime
                            .exec_once(container, args, expect)
                            .map_err(context)?;
                        if timed {
                            match times.first_byte {
                                Some(first_byte) => {
                                    result.echo_first_byte.push(first_byte);
                                    result.echo_exit.push(times.exit);
                                }
                                None => result.true_exit.push(times.exit),
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(results)
}

fn exec_body(cmd: &[&str], attach: bool) -> Result<Vec<u8>, String> {
    let spec = ExecSpec {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        attach,
        ..ExecSpec::default()
    };
    serde_json::to_vec(&spec).map_err(|e| e.to_string())
}

/// The buffered exec of `/bin/true`: from sending the request to the whole answer, which
/// carries the exit code (must be 0).
fn conti_buffered_true(
    connection: &mut Connection,
    container: &str,
    body: &[u8],
) -> Result<Duration, String> {
    let path = format!("/v1/containers/{container}/exec");
    let start = Instant::now();
    let response = call(connection, "POST", &path, Some(body), 200, "exec /bin/true")?;
    let elapsed = start.elapsed();
    let result: ExecResult = response.try_json()?;
    if result.exit_code != 0 {
        return Err(format!(
            "exec /bin/true exited with {}: {}",
            result.exit_code,
            result.stderr.trim()
        ));
    }
    Ok(elapsed)
}

/// Times of one streaming exec, all from sending its create.
struct StreamTimes {
    created: Duration,
    upgraded: Duration,
    first_byte: Duration,
    stream_end: Duration,
    exit_code: Duration,
}

/// The streaming exec of `/bin/echo x`: create (201 `{"id"}`) on the kept-alive connection,
/// `POST /v1/execs/{id}/start` with `Upgrade: tcp` on a connection opened before the clock
/// starts (101, then Docker's frames `[stream, 0, 0, 0, len_be32]` + payload until EOF), then
/// `GET /v1/execs/{id}` for the exit code (must be 0) on the kept-alive connection again.
fn conti_streaming_echo(
    connection: &mut Connection,
    socket: &Path,
    container: &str,
    body: &[u8],
) -> Result<StreamTimes, String> {
    let stream = UnixStream::connect(socket).map_err(|e| format!("connecting: {e}"))?;
    stream
        .set_read_timeout(Some(STREAM_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(STREAM_TIMEOUT)))
        .map_err(|e| e.to_string())?;

    let start = Instant::now();
    let path = format!("/v1/containers/{container}/exec");
    let created: Value = call(
        connection,
        "POST",
        &path,
        Some(body),
        201,
        "exec create (attach)",
    )?
    .try_json()?;
    let created_at = start.elapsed();
    let id = created["id"]
        .as_str()
        .ok_or("exec create: the answer has no id")?;

    let mut reader = BufReader::new(stream);
    let request = format!(
        "POST /v1/execs/{id}/start HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    );
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("exec start: sending: {e}"))?;
    expect_upgrade(&mut reader).map_err(|e| format!("exec start: {e}"))?;
    let upgraded = start.elapsed();

    let mut first_byte = None;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some((kind, length)) =
        read_frame_header(&mut reader).map_err(|e| format!("exec stream: {e}"))?
    {
        let mut payload = vec![0u8; length];
        let mut filled = 0;
        while filled < length {
            let n = reader
                .read(&mut payload[filled..])
                .map_err(|e| format!("exec stream: reading a frame: {e}"))?;
            if n == 0 {
                return Err("exec stream: ended inside a frame".to_string());
            }
            first_byte.get_or_insert_with(|| start.elapsed());
            filled += n;
        }
        match kind {
            1 => stdout.extend_from_slice(&payload),
            2 => stderr.extend_from_slice(&payload),
            other => return Err(format!("exec stream: a frame of unknown stream {other}")),
        }
    }
    let stream_end = start.elapsed();

    let path = format!("/v1/execs/{id}");
    let info: Value = call(connection, "GET", &path, None, 200, "exec inspect")?.try_json()?;
    let exit_code = start.elapsed();
    if info["state"] != "exited" || info["exit_code"] != 0 {
        return Err(format!(
            "exec /bin/echo: after the stream ended, GET {path} says state {} exit code {} \
             (expected exited, 0); stderr: {}",
            info["state"],
            info["exit_code"],
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    if stdout != ECHO_OUTPUT || !stderr.is_empty() {
        return Err(format!(
            "exec /bin/echo x: stdout {:?}, stderr {:?}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ));
    }
    let first_byte = first_byte.ok_or("exec /bin/echo x: no output")?;
    Ok(StreamTimes {
        created: created_at,
        upgraded,
        first_byte,
        stream_end,
        exit_code,
    })
}

/// Reads the answer's head; an error with the status line (and the error body, when it has
/// one) unless it is `101 Switching Protocols`.
pub fn expect_upgrade(reader: &mut BufReader<UnixStream>) -> Result<(), String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            return Err("the connection closed before the answer's head ended".to_string());
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let status_line = lines.first().cloned().unwrap_or_default();
    if status_line.split(' ').nth(1) == Some("101") {
        return Ok(());
    }
    let length = lines
        .iter()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    let _ = reader.take(length.min(64 * 1024)).read_to_end(&mut body);
    Err(format!(
        "expected 101 Switching Protocols, got {status_line:?}: {}",
        String::from_utf8_lossy(&body).trim()
    ))
}

/// The next frame's stream and length; `None` at the end of the stream (EOF between frames).
pub fn read_frame_header(reader: &mut impl Read) -> Result<Option<(u8, usize)>, String> {
    let mut header = [0u8; 8];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err("ended inside a frame header".to_string()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading a frame header: {e}")),
        }
    }
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let length = usize::try_from(length).map_err(|e| e.to_string())?;
    Ok(Some((header[0], length)))
}
