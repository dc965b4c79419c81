//! Streaming execs: created with an id, started over an upgraded connection, inspected and
//! resized by id.
//!
//! The daemon holds an exec's stdio (pipes, or the master of a terminal made in the container's
//! devpts). A driver task speaks the monitor's attach frames to [`super::attach::pump`] through an
//! in-memory pipe, so a streamed exec looks to the client exactly like an attached container.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conti_proto::{EventType, ExecCreated, ExecInfo, ExecResult, ExecSpec, ExecState};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tracing::Instrument;

use crate::runtime::process::attach::{
    HEADER_LEN, MAX_FRAME, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT, frame, parse_header,
    parse_resize,
};
use crate::runtime::{
    ExecIo, ExecLaunch, ExecStatus, FailureKind, WindowSize, receive_terminal, resize_terminal,
};

use super::attach::{AttachEnd, pump};
use super::container::ContainerStatus;
use super::spec;
use super::{Engine, EngineError, EngineResult, EventDetails, blocking};

/// How long an exited exec stays inspectable.
const EXITED_MEMORY: Duration = Duration::from_secs(600);
const READ_CHUNK: usize = 32 * 1024;

#[derive(Default)]
pub(super) struct ExecTable {
    execs: Mutex<HashMap<String, ExecEntry>>,
}

struct ExecEntry {
    info: ExecInfo,
    launch: ExecLaunch,
    /// A dup of the terminal's master while it runs, for resizes.
    master: Option<Arc<OwnedFd>>,
    exited_at: Option<Instant>,
}

impl ExecTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecEntry>> {
        self.execs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn entry<T>(&self, id: &str, f: impl FnOnce(&mut ExecEntry) -> T) -> EngineResult<T> {
        let mut execs = self.lock();
        execs.retain(|_, e| e.exited_at.is_none_or(|at| at.elapsed() < EXITED_MEMORY));
        execs
            .get_mut(id)
            .map(f)
            .ok_or_else(|| EngineError::ExecNotFound(id.to_string()))
    }

    fn finish(&self, id: &str, exit_code: i32) {
        let _ = self.entry(id, |e| {
            e.info.state = ExecState::Exited;
            e.info.exit_code = Some(exit_code);
            e.master = None;
            e.exited_at = Some(Instant::now());
        });
    }
}

/// A started exec: [`ExecStream::pump`] runs it against the client.
pub struct ExecStream {
    frames: DuplexStream,
    pub tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
}

impl ExecStream {
    pub async fn pump<C>(self, client: C) -> AttachEnd
    where
        C: AsyncRead + AsyncWrite + Send + Unpin,
    {
        // Nobody else can attach to an exec: its client going away ends its input.
        pump(
            client,
            self.frames,
            self.tty,
            self.stdin,
            &self.detach_keys,
            None,
        )
        .await
    }
}

impl Engine {
    /// `POST /v1/containers/{ref}/exec` with `attach`: registers the exec; nothing runs yet.
    pub fn create_exec(&self, reference: &str, spec: ExecSpec) -> EngineResult<ExecCreated> {
        let launch = self.exec_launch(reference, &spec)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let info = ExecInfo {
            id: id.clone(),
            container_id: launch.container_id.clone(),
            cmd: spec.cmd,
            tty: spec.tty,
            stdin: spec.stdin,
            state: ExecState::Created,
            exit_code: None,
        };
        let entry = ExecEntry {
            info,
            launch,
            master: None,
            exited_at: None,
        };
        self.inner.execs.lock().insert(id.clone(), entry);
        Ok(ExecCreated { id })
    }

    pub fn exec_info(&self, id: &str) -> EngineResult<ExecInfo> {
        self.inner.execs.entry(id, |e| e.info.clone())
    }

    /// Runs a created exec; a second start is a 409.
    pub async fn start_exec(&self, id: &str, detach_keys: Vec<u8>) -> EngineResult<ExecStream> {
        let launch = self.inner.execs.entry(id, |e| {
            if e.info.state != ExecState::Created {
                return Err(EngineError::ExecAlreadyStarted(id.to_string()));
            }
            e.info.state = ExecState::Running;
            Ok(e.launch.clone())
        })??;
        let running = self
            .table()
            .entry(&launch.container_id)
            .is_ok_and(|e| e.container.status.is_running());
        if !running {
            self.inner.execs.finish(id, 126);
            return Err(EngineError::ContainerNotRunning(launch.container_id));
        }
        let helper = self.inner.helper.clone();
        let spawned = blocking(move || {
            let handle = helper.spawn_exec_session(&launch)?;
            let master = match &handle.io {
                ExecIo::Terminal { channel } => receive_terminal(channel),
                ExecIo::Pipes { .. } => None,
            };
            Ok((handle, master, launch))
        })
        .await;
        let (handle, master, launch) = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                self.inner.execs.finish(id, 126);
                return Err(e);
            }
        };
        if let Some(master) = &master {
            let shared = master
                .try_clone()
                .map_err(|e| EngineError::internal("dup the terminal", e))?;
            let size = self.inner.execs.entry(id, |e| {
                e.master = Some(Arc::new(shared));
                e.launch.window_size
            })?;
            if let Some(size) = size {
                resize_terminal(master.as_fd(), size)?;
            }
        }
        let (frames, driver) = tokio::io::duplex(256 * 1024);
        let stdio = match (handle.io, master) {
            (
                ExecIo::Pipes {
                    stdout,
                    stderr,
                    stdin,
                },
                _,
            ) => DriverIo::Pipes {
                stdout,
                stderr,
                stdin,
            },
            (ExecIo::Terminal { .. }, Some(master)) => DriverIo::Terminal { master },
            // The command failed before it made its terminal: its status says why.
            (ExecIo::Terminal { .. }, None) => DriverIo::None,
        };
        let engine = self.clone();
        let exec_id = id.to_string();
        let tty = launch.tty;
        let container_id = launch.container_id.clone();
        self.emit(
            EventType::ExecStart,
            &container_id,
            EventDetails::exec(Some(&exec_id)),
        );
        tokio::spawn(async move {
            drive(driver, stdio, handle.status, tty, |exit_code| {
                tracing::debug!(exec = %exec_id, exit_code, "exec finished");
                engine.inner.execs.finish(&exec_id, exit_code);
                engine.emit(
                    EventType::ExecDie,
                    &container_id,
                    EventDetails::exec_exit(Some(&exec_id), exit_code),
                );
            })
            .await;
        });
        Ok(ExecStream {
            frames,
            tty,
            stdin: launch.stdin,
            detach_keys,
        })
    }

    /// Starts a created exec with nobody attached (`exec -d`): it runs on, its output read and
    /// dropped; its end is in [`Engine::exec_info`].
    pub async fn start_exec_detached(&self, id: &str) -> EngineResult<()> {
        let stream = self.start_exec(id, Vec::new()).await?;
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut theirs, &mut tokio::io::sink()).await;
        });
        let exec_id = id.to_string();
        tokio::spawn(async move {
            let end = stream.pump(ours).await;
            tracing::debug!(exec = %exec_id, ?end, "detached exec ended");
        });
        Ok(())
    }

    /// Resizes an exec's terminal; before its start, the size is applied at the start.
    pub fn resize_exec(&self, id: &str, size: WindowSize) -> EngineResult<()> {
        let master = self.inner.execs.entry(id, |e| {
            if !e.info.tty {
                return Err(EngineError::InvalidArgument(format!(
                    "exec {id} has no terminal (create it with tty)"
                )));
            }
            match e.info.state {
                ExecState::Created => {
                    e.launch.window_size = Some(size);
                    Ok(None)
                }
                ExecState::Running => Ok(e.master.clone()),
                ExecState::Exited => Err(EngineError::ExecNotRunning(id.to_string())),
            }
        })??;
        if let Some(master) = master {
            resize_terminal(master.as_fd(), size)?;
        }
        Ok(())
    }
}

enum DriverIo {
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin: Option<OwnedFd>,
    },
    Terminal {
        master: OwnedFd,
    },
    None,
}

/// Plays the monitor's part for an exec: output as frames to `frames`, stdin frames to the
/// command. Returns the exit code once the output has ended and the status is in.
/// `on_exit` gets the exit code before the client's stream ends, so a client that asks for it
/// right after finds it.
async fn drive(
    frames: DuplexStream,
    io: DriverIo,
    status: OwnedFd,
    tty: bool,
    on_exit: impl FnOnce(i32),
) {
    let (mut from_client, to_client) = tokio::io::split(frames);
    let to_client = Arc::new(tokio::sync::Mutex::new(to_client));
    let status = read_status(status);
    let (output, input) = match io {
        DriverIo::Pipes {
            stdout,
            stderr,
            stdin,
        } => {
            let out = copy_pipe(stdout, STDOUT, to_client.clone());
            let err = copy_pipe(stderr, STDERR, to_client.clone());
            let output = async move {
                tokio::join!(out, err);
            };
            let input = async move {
                let mut stdin =
                    stdin.and_then(|fd| tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok());
                while let Some((kind, payload)) = read_frame(&mut from_client).await {
                    match kind {
                        STDIN => {
                            if let Some(pipe) = &mut stdin
                                && pipe.write_all(&payload).await.is_err()
                            {
                                stdin = None;
                            }
                        }
                        STDIN_EOF => stdin = None,
                        _ => {}
                    }
                }
            };
            (
                Box::pin(output) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
                Box::pin(input) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
            )
        }
        DriverIo::Terminal { master } => {
            // SAFETY: the AsyncFd owns the File, so the fd stays open while it is registered.
            let register =
                |file: File| unsafe { AsyncFd::register(file) }.map_err(|e| e.into_parts().1);
            let terminal = match master.try_clone().map(File::from).and_then(register) {
                Ok(fd) => Some(Arc::new(fd)),
                Err(e) => {
                    tracing::error!("exec terminal: {e}");
                    None
                }
            };
            let reader = terminal.clone();
            let sink = to_client.clone();
            let output = async move {
                if let Some(terminal) = reader {
                    copy_terminal(&terminal, sink).await;
                }
            };
            let input = async move {
                while let Some((kind, payload)) = read_frame(&mut from_client).await {
                    match (kind, &terminal) {
                        (STDIN, Some(terminal))
                            if write_terminal(terminal, &payload).await.is_err() =>
                        {
                            break;
                        }
                        (RESIZE, _) => {
                            if let Some(size) = parse_resize(&payload) {
                                let _ = resize_terminal(master.as_fd(), size);
                            }
                        }
                        _ => {}
                    }
                }
            };
            (
                Box::pin(output) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
                Box::pin(input) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
            )
        }
        DriverIo::None => (
            Box::pin(async {}) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
            Box::pin(async {}) as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        ),
    };
    let input = tokio::spawn(input);
    let (status, ()) = tokio::join!(status, output);
    input.abort();
    let status = status.unwrap_or_else(|message| {
        tracing::warn!("exec status: {message}");
        ExecStatus {
            exit_code: 126,
            failure: None,
            timed_out: false,
        }
    });
    if let Some(failure) = &status.failure {
        let note = match failure.kind() {
            FailureKind::CommandNotFound | FailureKind::CommandNotExecutable => {
                format!("conti: {failure}\n")
            }
            _ => format!("conti: exec failed at {}: {failure}\n", failure.step),
        };
        let mut sink = to_client.lock().await;
        let kind = if tty { STDOUT } else { STDERR };
        let _ = sink.write_all(&frame(kind, note.as_bytes())).await;
    }
    on_exit(status.exit_code);
    let _ = to_client.lock().await.shutdown().await;
}

async fn read_status(status: OwnedFd) -> Result<ExecStatus, String> {
    let mut pipe =
        tokio::net::unix::pipe::Receiver::from_owned_fd(status).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    pipe.read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    ExecStatus::parse(&bytes).map_err(|e| e.to_string())
}

type FrameSink = Arc<tokio::sync::Mutex<tokio::io::WriteHalf<DuplexStream>>>;

async fn copy_pipe(fd: OwnedFd, kind: u8, sink: FrameSink) {
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                // A client that went away must not stop the command: keep reading, drop it.
                let _ = sink
                    .lock()
                    .await
                    .write_all(&frame(kind, &buffer[..n]))
                    .await;
            }
        }
    }
}

async fn copy_terminal(terminal: &AsyncFd<File>, sink: FrameSink) {
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let Ok(mut guard) = terminal.readable().await else {
            return;
        };
        match guard.try_io(|fd| fd.get_ref().read(&mut buffer)) {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => {
                let _ = sink
                    .lock()
                    .await
                    .write_all(&frame(STDOUT, &buffer[..n]))
                    .await;
            }
            // EIO: no process holds the terminal's slave any more.
            Ok(Err(_)) => return,
            Err(_would_block) => continue,
        }
    }
}

async fn write_terminal(terminal: &AsyncFd<File>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let mut guard = terminal.writable().await?;
        match guard.try_io(|fd| fd.get_ref().write(bytes)) {
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; HEADER_LEN];
    reader.read_exact(&mut head).await.ok()?;
    let (kind, len) = parse_header(&head);
    if len > MAX_FRAME {
        return None;
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await.ok()?;
    Some((kind, payload))
}

/// Most bytes of each output stream a buffered exec returns; the rest is read and dropped.
const EXEC_OUTPUT_LIMIT: u64 = 16 * 1024 * 1024;
/// How long an exec that could not join its container waits for the container's first process
/// to be seen exiting, before it counts the failure as the daemon's.
const EXITING_GRACE: Duration = Duration::from_millis(200);

impl Engine {
    /// What the helper needs to run `spec` in a running container: its namespaces (through its
    /// init), its environment with the exec's on top, its working directory unless the exec
    /// names one.
    pub(super) fn exec_launch(&self, reference: &str, spec: &ExecSpec) -> EngineResult<ExecLaunch> {
        spec::validate_exec_spec(spec)?;
        let table = self.table();
        let id = table.resolve(reference)?;
        let entry = table.entry(&id)?;
        entry.container.can_exec()?;
        let ContainerStatus::Running { init_pid, .. } = entry.container.status else {
            return Err(EngineError::ContainerNotRunning(id));
        };
        let config = &entry.container.config;
        Ok(ExecLaunch {
            container_id: id.clone(),
            init_pid,
            argv: spec.cmd.clone(),
            env: spec::merge_env(
                &config.hostname,
                spec.tty,
                [config.env.as_slice(), spec.env.as_slice()],
            ),
            cwd: spec.cwd.clone().unwrap_or_else(|| config.cwd.clone()),
            tty: spec.tty,
            stdin: spec.stdin,
            window_size: None,
            confinement: spec::container_security(
                &config.security,
                spec.user.as_deref().or(config.user.as_deref()),
                &config.group_add,
            )?
            .confinement,
            timeout: None,
        })
    }

    pub async fn exec(&self, reference: &str, spec: ExecSpec) -> EngineResult<ExecResult> {
        let launch = self.exec_launch(reference, &spec)?;
        let span = tracing::info_span!("exec", container = %launch.container_id);
        let container_id = launch.container_id.clone();
        let helper = self.inner.helper.clone();
        let handle = blocking(move || Ok(helper.spawn_exec(&launch)?))
            .instrument(span.clone())
            .await?;
        self.emit(EventType::ExecStart, &container_id, EventDetails::default());
        let pipe = |fd| {
            tokio::net::unix::pipe::Receiver::from_owned_fd(fd)
                .map_err(|e| EngineError::internal("exec pipe", e))
        };
        let (stdout, stderr, status) = (
            pipe(handle.stdout)?,
            pipe(handle.stderr)?,
            pipe(handle.status)?,
        );
        let (stdout, stderr, status) = tokio::join!(
            read_capped(stdout, EXEC_OUTPUT_LIMIT),
            read_capped(stderr, EXEC_OUTPUT_LIMIT),
            read_capped(status, EXEC_OUTPUT_LIMIT)
        );
        let status =
            ExecStatus::parse(&status.map_err(|e| EngineError::internal("exec status", e))?)?;
        let details = EventDetails::exec_exit(None, status.exit_code);
        self.emit(EventType::ExecDie, &container_id, details);
        let mut stderr = stderr.map_err(|e| EngineError::internal("exec stderr", e))?;
        let stdout = stdout.map_err(|e| EngineError::internal("exec stdout", e))?;
        if let Some(failure) = status.failure {
            match failure.kind() {
                FailureKind::CommandNotFound | FailureKind::CommandNotExecutable => {
                    stderr.extend_from_slice(format!("conti: {failure}\n").as_bytes())
                }
                FailureKind::BadWorkingDirectory => {
                    return Err(EngineError::InvalidCwd(failure.to_string()));
                }
                FailureKind::UnknownUser => {
                    return Err(EngineError::UnknownUser(failure.to_string()));
                }
                FailureKind::NoSpace => {
                    return Err(EngineError::no_space(
                        &format!("exec, at {}", failure.step),
                        &failure,
                    ));
                }
                // The container exited under it: its namespaces or cgroup vanished.
                _ if self.exited_under_exec(&container_id).await => {
                    return Err(EngineError::ContainerNotRunning(container_id));
                }
                FailureKind::Setup
                | FailureKind::UnsupportedLimit
                | FailureKind::PortInUse
                | FailureKind::NetworkContainerGone
                | FailureKind::InvalidVolume
                | FailureKind::BrokenRootfs => {
                    return Err(EngineError::Internal(format!(
                        "exec failed at {}: {failure}",
                        failure.step
                    )));
                }
            }
        }
        span.in_scope(|| tracing::debug!(exit_code = status.exit_code, "exec finished"));
        Ok(ExecResult::new(status.exit_code, &stdout, &stderr))
    }
}

impl Engine {
    /// After an exec failed to join its container: whether the container ended under it. Its
    /// first process may still be on its way out (the kernel takes its namespaces away before
    /// the exit shows on its pidfd), so it gets [`EXITING_GRACE`] to finish.
    pub(super) async fn exited_under_exec(&self, id: &str) -> bool {
        let init = {
            let table = self.table();
            match table.entry(id) {
                Ok(entry) if entry.container.status.is_running() => entry.init.clone(),
                _ => return true,
            }
        };
        let Some(init) = init else {
            return false;
        };
        blocking(move || Ok(init.exits_within(EXITING_GRACE)))
            .await
            .unwrap_or(false)
    }
}

/// Reads a pipe to its end, keeping at most `limit` bytes.
pub(super) async fn read_capped(
    mut pipe: impl AsyncRead + Unpin,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    (&mut pipe).take(limit).read_to_end(&mut kept).await?;
    tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await?;
    Ok(kept)
}
