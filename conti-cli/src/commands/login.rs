//! `conti-cli login [REGISTRY]`: gives contid credentials for a registry. contid checks them
//! with the registry and keeps them, root-only, for its pulls; nothing is written on this side.

use std::io::Read;

use clap::Args;
use conti_proto::LoginSpec;

use super::CliError;
use crate::client::Client;
use crate::output;
use crate::reference::{DOCKER_HUB, normalize_registry};
use crate::terminal::{self, trim_newline};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name (asked for when absent and stdin is a terminal).
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible to other users of this machine: prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from stdin (needs --username).
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// The registry, `host[:port]` (default: Docker Hub, docker.io).
    #[arg(value_name = "REGISTRY")]
    pub registry: Option<String>,
}

pub async fn login(client: &Client, args: LoginArgs) -> Result<u8, CliError> {
    let registry = registry_arg(args.registry.as_deref());
    let (username, password) = credentials(&args)?;
    let spec = LoginSpec {
        registry,
        username,
        password,
    };
    client.login(&spec).await?;
    output::print_line("Login Succeeded")?;
    Ok(0)
}

/// The registry named, as contid expects it: `host[:port]`, `docker.io` for Docker Hub.
pub fn registry_arg(registry: Option<&str>) -> String {
    registry.map_or_else(|| DOCKER_HUB.to_string(), normalize_registry)
}

/// The user name and the password, from the flags, stdin, or asked on the terminal.
fn credentials(args: &LoginArgs) -> Result<(String, String), CliError> {
    let stdin_error = |source| CliError::Input {
        path: "stdin".into(),
        source,
    };
    let username = match &args.username {
        Some(username) => username.clone(),
        None if terminal::stdin_is_terminal() => {
            terminal::read_line("Username: ").map_err(stdin_error)?
        }
        None => return Err(no_terminal()),
    };
    let password = if let Some(password) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        password.clone()
    } else if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(stdin_error)?;
        trim_newline(&text).to_string()
    } else if terminal::stdin_is_terminal() {
        terminal::read_hidden_line("Password: ").map_err(stdin_error)?
    } else {
        return Err(no_terminal());
    };
    if username.trim().is_empty() {
        return Err(CliError::Usage("a user name is needed".into()));
    }
    if password.is_empty() {
        return Err(CliError::Usage("a password is needed".into()));
    }
    Ok((username.trim().to_string(), password))
}

fn no_terminal() -> CliError {
    CliError::Usage(
        "cannot ask for credentials: stdin is not a terminal \
         (use --username with --password-stdin)"
            .into(),
    )
}
