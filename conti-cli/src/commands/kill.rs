//! `conti-cli kill`: send a signal to running containers; prints each one signalled.

use clap::Args;

use super::{CliError, for_each_ref};
use crate::client::Client;
use crate::output;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal by name (KILL, SIGTERM, term) or number (contid's default: SIGKILL).
    #[arg(short, long, value_name = "SIGNAL", value_parser = parse_signal)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `9` stays `9`; a name gets upper case and its `SIG` prefix: `term`, `TERM` and `SIGTERM` are
/// all `SIGTERM`. Whether the signal exists is contid's to say.
fn parse_signal(signal: &str) -> Result<String, String> {
    let signal = signal.trim().to_ascii_uppercase();
    if signal.is_empty() {
        Err("empty signal".to_string())
    } else if signal.bytes().all(|b| b.is_ascii_digit()) || signal.starts_with("SIG") {
        Ok(signal)
    } else {
        Ok(format!("SIG{signal}"))
    }
}

pub async fn kill(client: &Client, args: KillArgs) -> Result<u8, CliError> {
    for_each_ref(&args.containers, async |container| {
        client
            .kill_container(container, args.signal.as_deref())
            .await?;
        Ok(output::print_line(container)?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals_are_named_like_the_kernel_or_given_by_number() {
        assert_eq!(parse_signal("term").unwrap(), "SIGTERM");
        assert_eq!(parse_signal("KILL").unwrap(), "SIGKILL");
        assert_eq!(parse_signal("SIGUSR1").unwrap(), "SIGUSR1");
        assert_eq!(parse_signal("sigint").unwrap(), "SIGINT");
        assert_eq!(parse_signal("9").unwrap(), "9");
        assert_eq!(parse_signal("rtmin+3").unwrap(), "SIGRTMIN+3");
        assert!(parse_signal(" ").is_err());
    }
}
