//! `conti-cli logout [REGISTRY]`: contid forgets the credentials it kept for a registry.

use clap::Args;
use hyper::StatusCode;

use super::CliError;
use super::login::registry_arg;
use crate::client::{Client, ClientError};
use crate::output;

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry, `host[:port]` (default: Docker Hub, docker.io).
    #[arg(value_name = "REGISTRY")]
    pub registry: Option<String>,
}

pub async fn logout(client: &Client, args: LogoutArgs) -> Result<u8, CliError> {
    let registry = registry_arg(args.registry.as_deref());
    match client.logout(&registry).await {
        Ok(()) => output::print_line(&format!("Removing login credentials for {registry}"))?,
        // As docker: not being logged in is what logout was for.
        Err(ClientError::Api {
            status: StatusCode::NOT_FOUND,
            ..
        }) => output::print_line(&format!("Not logged in to {registry}"))?,
        Err(error) => return Err(error.into()),
    }
    Ok(0)
}
