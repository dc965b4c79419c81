//! `conti-cli attach`: connect the local terminal to a running container's stdio. Also the
//! session loop that `run -i/-t` and `exec -i/-t` share.

use clap::{ArgAction, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};

use super::{CliError, exit_status};
use crate::client::{Client, ClientError, Stream};
use crate::sig_proxy::{self, Signals};
use crate::terminal::{self, RawMode};

/// Docker's default detach sequence, Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not send our stdin to the container.
    #[arg(long)]
    pub no_stdin: bool,
    /// Key sequence that detaches and leaves the container running.
    #[arg(long, value_name = "KEYS", default_value = DEFAULT_DETACH_KEYS)]
    pub detach_keys: String,
    #[command(flatten)]
    pub sig_proxy: SigProxyArg,
    pub container: String,
}

/// `--sig-proxy[=true|false]`, as Docker's.
#[derive(Debug, Args)]
pub struct SigProxyArg {
    /// Forward SIGINT, SIGTERM and SIGHUP to the container (without a tty).
    #[arg(
        long = "sig-proxy",
        value_name = "BOOL",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true"
    )]
    pub enabled: bool,
}

impl SigProxyArg {
    /// The container to forward signals to: with a tty they go through the terminal instead.
    pub fn target<'a>(&self, container: &'a str, tty: bool) -> Option<&'a str> {
        (self.enabled && !tty).then_some(container)
    }
}

pub async fn attach(client: &Client, args: AttachArgs) -> Result<u8, CliError> {
    let info = client
        .inspect_container(&args.container)
        .await
        .map_err(CliError::Container)?;
    let stdin = info.open_stdin && !args.no_stdin;
    let stream = client
        .attach_container(&info.id, stdin, Some(&args.detach_keys))
        .await
        .map_err(CliError::Container)?;
    let target = ResizeTarget::Container(info.id.clone());
    let sig_proxy = args.sig_proxy.target(&info.id, info.tty);
    let end = run_session(
        client,
        stream,
        info.tty,
        stdin,
        &args.detach_keys,
        &target,
        sig_proxy,
    )
    .await?;
    exit_after(client, &info.id, end).await
}

/// The CLI's exit status once a session on a container is over: 0 after a detach, else the
/// container's exit code.
pub async fn exit_after(client: &Client, id: &str, end: SessionEnd) -> Result<u8, CliError> {
    match end {
        SessionEnd::Detached => Ok(0),
        SessionEnd::Ended => {
            let exit = client
                .wait_container(id)
                .await
                .map_err(CliError::after_session)?;
            Ok(exit_status(exit.exit_code))
        }
    }
}

/// What a session resizes when the local terminal changes size.
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

impl ResizeTarget {
    pub async fn resize(&self, client: &Client) -> Result<(), ClientError> {
        let Some((rows, cols)) = terminal::size() else {
            return Ok(());
        };
        match self {
            ResizeTarget::Container(id) => client.resize_container(id, rows, cols).await,
            ResizeTarget::Exec(id) => client.resize_exec(id, rows, cols).await,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The output ended: the container or command is done.
    Ended,
    /// The detach keys were typed.
    Detached,
}

/// Copies stdin to the stream and the stream to stdout/stderr until the output ends or the
/// detach keys are typed. With a tty: raw mode, the size sent now and on every SIGWINCH.
/// SIGINT, SIGTERM and SIGHUP go to the container `sig_proxy` names, and the session goes on;
/// without one they end the CLI as usual, once the terminal is restored (it is in every case).
pub async fn run_session(
    client: &Client,
    stream: Stream,
    tty: bool,
    stdin: bool,
    detach_keys: &str,
    target: &ResizeTarget,
    sig_proxy: Option<&str>,
) -> Result<SessionEnd, CliError> {
    let raw = if tty && stdin {
        RawMode::enable().map_err(CliError::Output)?
    } else {
        None
    };
    let mut winch = signal(SignalKind::window_change()).map_err(CliError::Output)?;
    let mut signals = Signals::catch().map_err(CliError::Output)?;
    if tty {
        // Best effort: a container that already exited has no terminal to size.
        let _ = target.resize(client).await;
    }
    // As contid: detach keys only on a terminal, piped input may hold any bytes.
    let keys = if tty {
        parse_keys(detach_keys)
    } else {
        Vec::new()
    };
    let (mut from_daemon, mut to_daemon) = tokio::io::split(stream);
    let output = async {
        let mut stdout = tokio::io::stdout();
        let mut stderr = tokio::io::stderr();
        if tty {
            let mut buffer = vec![0u8; 32 * 1024];
            loop {
                match from_daemon.read(&mut buffer).await {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(n) => {
                        stdout.write_all(&buffer[..n]).await?;
                        stdout.flush().await?;
                    }
                }
            }
        }
        let mut head = [0u8; 8];
        let mut payload = Vec::new();
        loop {
            if from_daemon.read_exact(&mut head).await.is_err() {
                return Ok(());
            }
            let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            payload.resize(len, 0);
            if from_daemon.read_exact(&mut payload).await.is_err() {
                return Ok(());
            }
            if head[0] == 2 {
                stderr.write_all(&payload).await?;
                stderr.flush().await?;
            } else {
                stdout.write_all(&payload).await?;
                stdout.flush().await?;
            }
        }
    };
    let input = async {
        if !stdin {
            return std::future::pending::<SessionEnd>().await;
        }
        let mut local = tokio::io::stdin();
        let mut buffer = vec![0u8; 32 * 1024];
        let mut matched = 0;
        loop {
            let n = match local.read(&mut buffer).await {
                Ok(0) | Err(_) => {
                    // Our input ended: so does the container's (without a tty).
                    let _ = to_daemon.shutdown().await;
                    return std::future::pending::<SessionEnd>().await;
                }
                Ok(n) => n,
            };
            // contid detects the keys too and ends the stream; we only need to know we did.
            for &byte in &buffer[..n] {
                if !keys.is_empty() && byte == keys[matched] {
                    matched += 1;
                } else {
                    matched = usize::from(!keys.is_empty() && byte == keys[0]);
                }
                if !keys.is_empty() && matched == keys.len() {
                    let _ = to_daemon.write_all(&buffer[..n]).await;
                    return SessionEnd::Detached;
                }
            }
            if to_daemon.write_all(&buffer[..n]).await.is_err() {
                return std::future::pending::<SessionEnd>().await;
            }
        }
    };
    tokio::pin!(output, input);
    let end = loop {
        tokio::select! {
            result = &mut output => {
                result.map_err(CliError::Output)?;
                break SessionEnd::Ended;
            }
            end = &mut input => break end,
            _ = winch.recv() => {
                if tty {
                    let _ = target.resize(client).await;
                }
            }
            signal = signals.recv() => match sig_proxy {
                Some(container) => sig_proxy::forward(client, container, signal).await,
                None => {
                    drop(raw);
                    sig_proxy::die_by(signal);
                }
            },
        }
    };
    drop(raw);
    Ok(end)
}

/// The detach keys as bytes (`ctrl-p,ctrl-q` → 0x10 0x11); contid validates them.
fn parse_keys(text: &str) -> Vec<u8> {
    text.split(',')
        .filter_map(|key| {
            let key = key.trim();
            match key.strip_prefix("ctrl-").map(str::as_bytes) {
                Some([c]) if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase() - b'a' + 1),
                Some([c]) if (b'@'..=b'_').contains(c) => Some(c - b'@'),
                Some(_) => None,
                None => key.bytes().next().filter(|_| key.len() == 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_like_docker() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q"), vec![0x10, 0x11]);
        assert_eq!(parse_keys("a,ctrl-@"), vec![b'a', 0]);
    }
}
