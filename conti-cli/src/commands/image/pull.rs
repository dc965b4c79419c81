//! `conti-cli pull REF` (and `image pull`): contid downloads the image; we show its progress,
//! then the image's id.

use clap::Args;
use conti_proto::PullEvent;

use super::progress::{ProgressOutput, PullProgress};
use crate::client::{Client, ClientError};
use crate::commands::CliError;
use crate::docker_config;
use crate::output::{self, Format};
use crate::reference::registry_of;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Pull the image for this platform (os/arch[/variant], e.g. linux/arm64) instead of the
    /// daemon's.
    #[arg(long, value_name = "OS/ARCH", value_parser = parse_platform)]
    pub platform: Option<String>,
    /// Print only the image id, no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// The image: NAME[:TAG|@DIGEST] (`busybox`, `127.0.0.1:5000/team/app:1`).
    #[arg(value_name = "REF")]
    pub reference: String,
}

/// `os/arch` or `os/arch/variant`, each part non-empty.
fn parse_platform(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('/').collect();
    if (2..=3).contains(&parts.len()) && parts.iter().all(|part| !part.is_empty()) {
        Ok(text.to_string())
    } else {
        Err("expected os/arch[/variant], e.g. linux/amd64".to_string())
    }
}

pub async fn pull(client: &Client, format: Format, args: PullArgs) -> Result<u8, CliError> {
    let platform = args.platform.as_deref();
    if format == Format::Json {
        let mut stream = start_pull(client, &args.reference, platform).await?;
        while let Some(event) = stream.next_event().await? {
            output::print_json_line(&event)?;
            if matches!(event, PullEvent::Done { .. }) {
                return Ok(0);
            }
        }
        return Err(ended_early().into());
    }
    let id = if args.quiet {
        pull_quietly(client, &args.reference, platform).await?
    } else {
        pull_showing(client, &args.reference, platform, ProgressOutput::Stdout).await?
    };
    output::print_line(&id)?;
    Ok(0)
}

/// Pulls `reference`, showing the progress on `output`; the image's id.
pub async fn pull_showing(
    client: &Client,
    reference: &str,
    platform: Option<&str>,
    output: ProgressOutput,
) -> Result<String, CliError> {
    let mut stream = start_pull(client, reference, platform).await?;
    let mut progress = PullProgress::new(output, reference);
    loop {
        let event = match stream.next_event().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                progress.abandon();
                return Err(ended_early().into());
            }
            Err(error) => {
                progress.abandon();
                return Err(error.into());
            }
        };
        progress.show(&event)?;
        if let PullEvent::Done { id, .. } = event {
            return Ok(id);
        }
    }
}

async fn pull_quietly(
    client: &Client,
    reference: &str,
    platform: Option<&str>,
) -> Result<String, CliError> {
    let mut stream = start_pull(client, reference, platform).await?;
    while let Some(event) = stream.next_event().await? {
        if let PullEvent::Done { id, .. } = event {
            return Ok(id);
        }
    }
    Err(ended_early().into())
}

/// Starts the pull, with the credentials the user's Docker config keeps for the registry.
async fn start_pull(
    client: &Client,
    reference: &str,
    platform: Option<&str>,
) -> Result<crate::client::PullStream, ClientError> {
    let auth = docker_config::credentials_for(&registry_of(reference));
    client.pull_image(reference, platform, auth.as_ref()).await
}

/// contid closed the stream before the pull was done (it stopped, or crashed).
fn ended_early() -> ClientError {
    ClientError::Protocol("the pull ended before it was done".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_contid::{json_answer, ndjson_answer, serve};

    const DONE: &str =
        r#"{"status":"done","reference":"busybox:latest","id":"sha256:abc","digest":"sha256:m"}"#;

    #[test]
    fn platforms_have_two_or_three_parts() {
        assert!(parse_platform("linux/amd64").is_ok());
        assert!(parse_platform("linux/arm/v7").is_ok());
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(parse_platform(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_pull_returns_the_id_of_the_image() {
        let (client, server) = serve(vec![ndjson_answer(&[
            r#"{"status":"resolved","reference":"busybox:latest","digest":"sha256:m","layers":[]}"#,
            DONE,
        ])]);
        let id = pull_showing(
            &client,
            "busybox",
            Some("linux/arm64"),
            ProgressOutput::Stderr,
        )
        .await
        .unwrap();
        assert_eq!(id, "sha256:abc");
        let request = &server.await.unwrap()[0];
        assert!(
            request.starts_with(
                "POST /v1/images/pull?ref=busybox&platform=linux%2Farm64 HTTP/1.1\r\n"
            ),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_error_event_fails_the_pull_with_its_code() {
        let (client, _server) = serve(vec![ndjson_answer(&[
            r#"{"status":"resolved","reference":"busybox:latest","digest":"sha256:m","layers":[]}"#,
            r#"{"status":"error","code":"registry_error","message":"connection reset"}"#,
        ])]);
        let error = pull_showing(&client, "busybox", None, ProgressOutput::Stderr)
            .await
            .unwrap_err();
        match error {
            CliError::Client(error) => {
                assert_eq!(error.api_code(), Some("registry_error"));
                assert_eq!(error.to_string(), "connection reset");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stream_cut_before_done_is_an_error() {
        let (client, _server) = serve(vec![ndjson_answer(&[
            r#"{"status":"resolved","reference":"busybox:latest","digest":"sha256:m","layers":[]}"#,
        ])]);
        let error = pull_quietly(&client, "busybox", None).await.unwrap_err();
        assert!(
            matches!(error, CliError::Client(ClientError::Protocol(_))),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_error_answer_before_the_stream_is_an_api_error() {
        let body = r#"{"code":"image_not_found","message":"no such image: nosuch:latest"}"#;
        let (client, _server) = serve(vec![vec![json_answer("404 Not Found", body)]]);
        let error = pull_quietly(&client, "nosuch", None).await.unwrap_err();
        assert!(error.to_string().contains("nosuch:latest"), "{error}");
        assert_eq!(error.exit_code(), 1);
    }
}
