//! The monitor's I/O: the container's output (two pipes, or a terminal's master) goes to the log
//! and to every attached client; attached clients feed stdin and resize the terminal.
//!
//! One `poll` loop, everything non-blocking. Nothing is dropped: while a client lags more than
//! [`HIGH_WATER`] bytes behind, the container's output is not read (its writes block, as with a
//! slow terminal), and while stdin has that much waiting, clients are not read.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept4, bind, listen, socket,
};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::attach::{
    ATTACH_SOCKET, AttachHello, HELLO, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT, header,
    parse_resize, take_frames,
};
use super::logfile::{LineSplitter, LogStream, LogWriter};
use crate::runtime::container::child::set_nonblocking;
use crate::runtime::container::pty;

/// After the init exits, how long to wait for the rest of its output (processes it left behind
/// may hold the pipes open a little longer).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// After the output has ended, how long attached clients get to take what is left for them.
const CLIENT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
const READ_CHUNK: usize = 64 * 1024;
/// Bytes waiting for one client (or for stdin) beyond which reading stops.
const HIGH_WATER: usize = 1024 * 1024;

/// Removes the attach socket's file once nothing is to listen on it any more.
pub(super) fn remove_attach_socket(state_dir: &Path) {
    let _ = std::fs::remove_file(state_dir.join(ATTACH_SOCKET));
}

/// Binds `attach.sock` in `state_dir`, mode 0600, listening and non-blocking. The path is bound
/// relative to the folder (the monitor is single-threaded, so the `chdir` is safe): a long state
/// folder must not exceed `sun_path`.
pub(super) fn bind_attach_socket(state_dir: &Path) -> nix::Result<OwnedFd> {
    let _ = std::fs::remove_file(state_dir.join(ATTACH_SOCKET));
    let listener = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let address = UnixAddr::new(ATTACH_SOCKET)?;
    nix::unistd::chdir(state_dir)?;
    let previous = nix::sys::stat::umask(Mode::from_bits_truncate(0o177));
    let bound = bind(listener.as_raw_fd(), &address);
    nix::sys::stat::umask(previous);
    nix::unistd::chdir("/")?;
    bound?;
    listen(&listener, Backlog::new(16)?)?;
    Ok(listener)
}

/// Where the container's stdio goes, on the monitor's side.
pub(super) struct SessionIo {
    /// stdout and stderr pipes (empty with a tty).
    pub pipes: Vec<(OwnedFd, LogStream)>,
    /// The terminal's master, with a tty.
    pub master: Option<OwnedFd>,
    /// Write end of the stdin pipe (non-tty containers with `open_stdin`).
    pub stdin: Option<OwnedFd>,
    /// Whether attached clients may write to stdin at all.
    pub open_stdin: bool,
}

/// One run of the container: its output until it ends, and the clients attached meanwhile.
pub(super) struct Session<'a> {
    outputs: Vec<Output>,
    stdin: Option<StdinSink>,
    master: Option<OwnedFd>,
    open_stdin: bool,
    listener: Option<OwnedFd>,
    clients: Vec<Client>,
    log: &'a mut LogWriter,
}

struct Output {
    fd: Option<OwnedFd>,
    lines: LineSplitter,
    stream: LogStream,
    kind: u8,
}

struct StdinSink {
    fd: OwnedFd,
    pending: Vec<u8>,
    close_when_flushed: bool,
    /// A terminal: EOF from a client does not close it.
    is_terminal: bool,
}

struct Client {
    fd: OwnedFd,
    hello: Option<AttachHello>,
    input: Vec<u8>,
    output: Vec<u8>,
    gone: bool,
}

#[derive(Clone, Copy)]
enum Target {
    Signals,
    Output(usize),
    Stdin,
    Listener,
    Client(usize),
}

impl<'a> Session<'a> {
    /// `clients`: connections handed over at start (attached before it), their hello already
    /// written by the daemon. The log and the listener outlive the session: a restart's
    /// session takes them on.
    pub(super) fn new(
        io: SessionIo,
        log: &'a mut LogWriter,
        listener: Option<OwnedFd>,
        clients: Vec<OwnedFd>,
    ) -> Session<'a> {
        let mut outputs = Vec::new();
        for (fd, stream) in io.pipes {
            let kind = if matches!(stream, LogStream::Stderr) {
                STDERR
            } else {
                STDOUT
            };
            outputs.push(Output::new(fd, stream, kind));
        }
        let mut stdin = io.stdin.map(|fd| StdinSink::new(fd, false));
        if let Some(master) = &io.master {
            let _ = set_nonblocking(master.as_fd());
            if let Ok(copy) = master.try_clone() {
                outputs.push(Output::new(copy, LogStream::Stdout, STDOUT));
            }
            if io.open_stdin
                && let Ok(copy) = master.try_clone()
            {
                stdin = Some(StdinSink::new(copy, true));
            }
        }
        if let Some(sink) = &stdin {
            let _ = set_nonblocking(sink.fd.as_fd());
        }
        let mut session = Session {
            outputs,
            stdin,
            master: io.master,
            open_stdin: io.open_stdin,
            listener,
            clients: Vec::new(),
            log,
        };
        for fd in clients {
            session.add_client(fd);
        }
        session
    }

    fn add_client(&mut self, fd: OwnedFd) {
        if set_nonblocking(fd.as_fd()).is_err() {
            return;
        }
        let mut client = Client {
            fd,
            hello: None,
            input: Vec::new(),
            output: Vec::new(),
            gone: false,
        };
        // A client handed over at start wrote its hello already: take it now, before any output.
        self.read_client(&mut client);
        if !client.gone {
            self.clients.push(client);
        }
    }

    /// Copies I/O until the init has exited; returns how it ended.
    pub(super) fn run_until_exit(&mut self, init: Pid, signals: &SignalFd) -> WaitStatus {
        loop {
            if self.poll_once(Some(signals), PollTimeout::NONE) {
                while let Ok(Some(_)) = signals.read_signal() {}
                if let Some(status) = reap_children(init) {
                    return status;
                }
            }
        }
    }

    /// After the init exited: the rest of the output (until EOF or [`DRAIN_TIMEOUT`]), then
    /// what clients have not taken yet (for [`CLIENT_FLUSH_TIMEOUT`]); closes everything but
    /// the listener, which it gives back (no new client is taken meanwhile).
    pub(super) fn drain(&mut self) -> Option<OwnedFd> {
        let listener = self.listener.take();
        self.stdin = None;
        self.poll_while(DRAIN_TIMEOUT, |session| {
            session.outputs.iter().any(|o| o.fd.is_some())
        });
        for i in 0..self.outputs.len() {
            self.close_output(i);
        }
        self.poll_while(CLIENT_FLUSH_TIMEOUT, |session| {
            session.clients.iter().any(|c| !c.output.is_empty())
        });
        self.clients.clear();
        listener
    }

    /// Polls and does I/O while `busy` holds, for `timeout` at most; reaps what exits meanwhile
    /// (orphans reparented to us exit too: the kernel kills the pid namespace with its init).
    fn poll_while(&mut self, timeout: Duration, busy: fn(&Session<'a>) -> bool) {
        let deadline = Instant::now() + timeout;
        while busy(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.poll_once(
                None,
                PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO),
            );
            let _ = reap_children(Pid::from_raw(0));
        }
    }

    /// One round of poll and I/O; returns whether `signals` was readable.
    fn poll_once(&mut self, signals: Option<&SignalFd>, timeout: PollTimeout) -> bool {
        let lagging = self.clients.iter().any(|c| c.output.len() > HIGH_WATER);
        let stdin_full = self
            .stdin
            .as_ref()
            .is_some_and(|s| s.pending.len() > HIGH_WATER);
        let mut targets = Vec::new();
        let mut fds = Vec::new();
        if let Some(signals) = signals {
            targets.push(Target::Signals);
            fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
        }
        if !lagging {
            for (i, output) in self.outputs.iter().enumerate() {
                if let Some(fd) = &output.fd {
                    targets.push(Target::Output(i));
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
            }
        }
        if let Some(sink) = &self.stdin
            && !sink.pending.is_empty()
        {
            targets.push(Target::Stdin);
            fds.push(PollFd::new(sink.fd.as_fd(), PollFlags::POLLOUT));
        }
        if let Some(listener) = &self.listener {
            targets.push(Target::Listener);
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        for (i, client) in self.clients.iter().enumerate() {
            let mut flags = PollFlags::empty();
            if !stdin_full {
                flags |= PollFlags::POLLIN;
            }
            if !client.output.is_empty() {
                flags |= PollFlags::POLLOUT;
            }
            targets.push(Target::Client(i));
            fds.push(PollFd::new(client.fd.as_fd(), flags));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut signalled = false;
        // Clients first: a hello that arrived with the first output must be seen before it.
        let mut clients = std::mem::take(&mut self.clients);
        for (k, target) in targets.iter().enumerate() {
            if ready[k]
                && let Target::Client(i) = *target
            {
                let client = &mut clients[i];
                client.flush();
                if !client.gone {
                    self.read_client(client);
                }
            }
        }
        self.clients = clients;
        for (k, target) in targets.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            match *target {
                Target::Signals => signalled = true,
                Target::Output(i) => self.read_output(i),
                Target::Stdin => self.flush_stdin(),
                Target::Listener => self.accept_clients(),
                Target::Client(_) => {}
            }
        }
        self.clients.retain(|c| !c.gone);
        signalled
    }

    fn accept_clients(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let mut accepted = Vec::new();
        loop {
            match accept4(listener, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK) {
                Ok(fd) => accepted.push(fd),
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        for fd in accepted {
            self.add_client(fd);
        }
    }

    /// Reads what the client sent and acts on every complete frame.
    fn read_client(&mut self, client: &mut Client) {
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            match nix::unistd::read(&client.fd, &mut buffer) {
                Ok(0) => {
                    client.gone = true;
                    break;
                }
                Ok(n) => client.input.extend_from_slice(&buffer[..n]),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(_) => {
                    client.gone = true;
                    break;
                }
            }
            if client.input.len() > HIGH_WATER {
                break;
            }
        }
        let frames = match take_frames(&mut client.input) {
            Ok(frames) => frames,
            Err(_) => {
                client.gone = true;
                return;
            }
        };
        for (kind, payload) in frames {
            match kind {
                HELLO => client.hello = serde_json::from_slice(&payload).ok(),
                STDIN if client.hello.is_some_and(|h| h.stdin) && self.open_stdin => {
                    if let Some(sink) = &mut self.stdin
                        && !sink.close_when_flushed
                    {
                        sink.pending.extend_from_slice(&payload);
                    }
                }
                STDIN_EOF if client.hello.is_some_and(|h| h.stdin) => {
                    if let Some(sink) = &mut self.stdin
                        && !sink.is_terminal
                    {
                        sink.close_when_flushed = true;
                    }
                }
                RESIZE => {
                    if let (Some(master), Some(size)) = (&self.master, parse_resize(&payload)) {
                        let _ = pty::set_window_size(master.as_fd(), size);
                    }
                }
                _ => {}
            }
        }
        self.flush_stdin();
    }

    fn flush_stdin(&mut self) {
        let Some(sink) = &mut self.stdin else { return };
        let fd = &sink.fd;
        let written = drain_nonblocking(&mut sink.pending, |bytes| nix::unistd::write(fd, bytes));
        // Gone when the container closed its stdin (nothing more will be taken), or when all
        // was written and the clients asked for it to be closed.
        let close = written.is_err() || (sink.pending.is_empty() && sink.close_when_flushed);
        if close {
            self.stdin = None;
        }
    }

    fn read_output(&mut self, i: usize) {
        let mut buffer = vec![0u8; READ_CHUNK];
        // A few chunks per round, so that clients and stdin get their turn with a busy writer.
        let mut chunks = 0;
        loop {
            if chunks == 4 {
                return;
            }
            let Some(fd) = &self.outputs[i].fd else {
                return;
            };
            match nix::unistd::read(fd, &mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    self.emit(i, &buffer[..n]);
                    chunks += 1;
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                // EIO: a terminal's master once no process holds its slave any more.
                Err(_) => break,
            }
        }
        self.close_output(i);
    }

    fn emit(&mut self, i: usize, bytes: &[u8]) {
        let output = &mut self.outputs[i];
        let (stream, kind) = (output.stream, output.kind);
        let log = &mut *self.log;
        output
            .lines
            .push(bytes, &mut |line| write_log(log, stream, line));
        for client in &mut self.clients {
            if client.hello.is_some_and(|h| h.wants(kind)) {
                client.output.extend_from_slice(&header(kind, bytes.len()));
                client.output.extend_from_slice(bytes);
                client.flush();
            }
        }
    }

    fn close_output(&mut self, i: usize) {
        let output = &mut self.outputs[i];
        if output.fd.take().is_some() {
            let stream = output.stream;
            let log = &mut *self.log;
            output
                .lines
                .finish(&mut |line| write_log(log, stream, line));
        }
    }
}

impl Output {
    fn new(fd: OwnedFd, stream: LogStream, kind: u8) -> Output {
        Output {
            fd: Some(fd),
            lines: LineSplitter::default(),
            stream,
            kind,
        }
    }
}

impl StdinSink {
    fn new(fd: OwnedFd, is_terminal: bool) -> StdinSink {
        StdinSink {
            fd,
            pending: Vec::new(),
            close_when_flushed: false,
            is_terminal,
        }
    }
}

impl Client {
    fn flush(&mut self) {
        let fd = self.fd.as_raw_fd();
        let sent = drain_nonblocking(&mut self.output, |bytes| {
            nix::sys::socket::send(fd, bytes, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)
        });
        if sent.is_err() {
            self.gone = true;
            self.output.clear();
        }
    }
}

fn write_log(log: &mut LogWriter, stream: LogStream, line: &[u8]) {
    if let Err(e) = log.write_line(stream, line) {
        tracing::warn!("writing container.log: {e}");
    }
}

/// Reaps every exited child (we are a subreaper); returns the init's status if it was among them.
pub(super) fn reap_children(init: Pid) -> Option<WaitStatus> {
    let mut init_status = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return init_status,
            Ok(status) if status.pid() == Some(init) => init_status = Some(status),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return init_status,
        }
    }
}

/// Writes as much of `pending` as a non-blocking `write` takes, dropping what was written.
/// `Ok` when all is written or the other side is full (EAGAIN: the rest waits for the next
/// round); `Err` when the other side is gone.
fn drain_nonblocking(
    pending: &mut Vec<u8>,
    mut write: impl FnMut(&[u8]) -> nix::Result<usize>,
) -> Result<(), Errno> {
    while !pending.is_empty() {
        match write(pending) {
            Ok(n) => {
                pending.drain(..n);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(()),
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}
