//! One module per subcommand: its arguments (clap) and what it does with the client.
//! Each returns the exit status of the CLI, or the error `main` reports.

pub mod attach;
pub mod container;
pub mod create;
pub mod env;
pub mod events;
pub mod exec;
pub mod health;
pub mod image;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod labels;
pub mod limits;
pub mod log_options;
pub mod login;
pub mod logout;
pub mod logs;
pub mod mounts;
pub mod name_resolution;
pub mod network;
pub mod prune;
pub mod ps;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod run;
pub mod security;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system;
pub mod top;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

use std::io::{self, BufRead, IsTerminal, Write};

use serde::Serialize;

use crate::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An error of `run` or `exec`, whose exit status is otherwise the container's or the
    /// command's: docker's codes tell them apart (125 for the daemon, 126/127 when the command
    /// could not be run).
    #[error(transparent)]
    Container(ClientError),
    /// A file given on the command line cannot be read.
    #[error("cannot read {path}: {source}")]
    Input { path: String, source: io::Error },
    /// Our stdout or stderr cannot be written.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    /// The command line asks for something that cannot be done here.
    #[error("{0}")]
    Usage(String),
    /// contid went away in the middle of an attached session (its containers live on).
    #[error("lost the connection to contid (did it stop?); the container may still be running")]
    DaemonLost,
}

impl CliError {
    /// An error of a request made once a session's stream has ended: when contid cannot be
    /// reached or breaks off, it is gone rather than the container done.
    pub fn after_session(error: ClientError) -> CliError {
        match error {
            ClientError::Connect { .. } | ClientError::Protocol(_) => CliError::DaemonLost,
            error => CliError::Container(error),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Container(error) => match error.api_code() {
                Some("command_not_found") => 127,
                Some("command_not_executable") => 126,
                _ => 125,
            },
            CliError::DaemonLost => 125,
            _ => 1,
        }
    }

    /// Our stdout was closed (`conti-cli ps | head -1`): nobody is left to tell.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

pub fn report(error: &CliError) {
    // A session on a terminal may have ended in the middle of a line (a prompt): a fresh one.
    if matches!(error, CliError::DaemonLost) && io::stderr().is_terminal() {
        eprintln!();
    }
    eprintln!("conti-cli: {error}");
}

/// Applies `action` to each container or image named, in turn, like docker: a failure is reported
/// and the others still get their turn, and the status says whether all went well. An unreachable
/// daemon or a closed stdout ends it at once.
pub async fn for_each_ref(
    refs: &[String],
    mut action: impl AsyncFnMut(&str) -> Result<(), CliError>,
) -> Result<u8, CliError> {
    let mut status = 0;
    for name in refs {
        match action(name).await {
            Ok(()) => {}
            Err(error @ (CliError::Client(ClientError::Connect { .. }) | CliError::Output(_))) => {
                return Err(error);
            }
            Err(error) => {
                report(&error);
                status = 1;
            }
        }
    }
    Ok(status)
}

/// Fetches each named container, image, network or volume with `fetch` (see [`for_each_ref`])
/// and prints those found as one JSON array, like docker's; nothing when none was found (docker
/// prints `[]` then): a script reads either objects or nothing.
pub async fn inspect_each<T: Serialize>(
    names: &[String],
    mut fetch: impl AsyncFnMut(&str) -> Result<T, ClientError>,
) -> Result<u8, CliError> {
    let mut found = Vec::new();
    let status = for_each_ref(names, async |name| {
        found.push(fetch(name).await?);
        Ok(())
    })
    .await?;
    if !found.is_empty() {
        crate::output::print_json(&found)?;
    }
    Ok(status)
}

/// Removes each named image, network or volume with `remove`, printing each name removed
/// (see [`for_each_ref`]).
pub async fn remove_each(
    names: &[String],
    mut remove: impl AsyncFnMut(&str) -> Result<(), ClientError>,
) -> Result<u8, CliError> {
    for_each_ref(names, async |name| {
        remove(name).await?;
        Ok(crate::output::print_line(name)?)
    })
    .await
}

/// Docker's question before a prune, `WARNING! This will remove {what}.`, answered on stdin:
/// only `y` or `yes` go on (no answer is no).
pub fn confirm(what: &str) -> Result<bool, CliError> {
    ask(&format!("WARNING! This will remove {what}.\n"))
}

/// `warning`, then docker's question, answered on stdin: only `y` or `yes` go on.
pub fn ask(warning: &str) -> Result<bool, CliError> {
    let mut out = io::stdout().lock();
    write!(out, "{warning}Are you sure you want to continue? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| CliError::Input {
            path: "stdin".into(),
            source,
        })?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The CLI's exit status for a container's exit code (0..=255 by the contract).
pub fn exit_status(exit_code: i32) -> u8 {
    u8::try_from(exit_code).unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use super::*;

    fn api_error(code: &str) -> ClientError {
        ClientError::Api {
            status: StatusCode::BAD_REQUEST,
            code: code.to_string(),
            message: "message".to_string(),
        }
    }

    #[test]
    fn container_errors_exit_like_docker() {
        let code = |code| CliError::Container(api_error(code)).exit_code();
        assert_eq!(code("command_not_found"), 127);
        assert_eq!(code("command_not_executable"), 126);
        assert_eq!(code("image_not_found"), 125);
        let protocol = CliError::Container(ClientError::Protocol("eof".to_string()));
        assert_eq!(protocol.exit_code(), 125);
    }

    #[test]
    fn other_errors_exit_with_1() {
        assert_eq!(
            CliError::Client(api_error("command_not_found")).exit_code(),
            1
        );
        let output = CliError::Output(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(output.exit_code(), 1);
        assert!(output.is_broken_pipe());
    }
}
