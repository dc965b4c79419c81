//! `conti-cli events`: what happens to containers, one line per event, as it happens.

use clap::Args;
use conti_proto::Event;

use super::CliError;
use crate::client::Client;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// First show the remembered events (contid keeps the last 1024) since TIME: RFC 3339,
    /// Unix seconds, or a duration ago (10m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stop at TIME (same forms); one in the past stops after the remembered events.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

pub async fn events(client: &Client, format: Format, args: EventsArgs) -> Result<u8, CliError> {
    let mut events = client.events(args.since, args.until).await?;
    while let Some(event) = events.next_event().await? {
        match format {
            Format::Json => output::print_json_line(&event)?,
            Format::Human => output::write_stdout(format!("{}\n", describe(&event)).as_bytes())?,
        }
    }
    Ok(0)
}

/// `TIME container TYPE NAME (id=…, exit_code=…)`, like `docker events`.
fn describe(event: &Event) -> String {
    let mut attributes = vec![format!("id={}", event.container_id)];
    if let Some(old) = &event.old_name {
        attributes.push(format!("old_name={old}"));
    }
    if let Some(code) = event.exit_code {
        attributes.push(format!("exit_code={code}"));
    }
    if let Some(signal) = &event.signal {
        attributes.push(format!("signal={signal}"));
    }
    if let Some(exec_id) = &event.exec_id {
        attributes.push(format!("exec_id={exec_id}"));
    }
    if let Some(count) = event.restart_count {
        attributes.push(format!("restart_count={count}"));
    }
    if let Some(health) = event.health_status {
        attributes.push(format!("health_status={}", health.as_str()));
    }
    format!(
        "{} container {} {} ({})",
        event.time,
        event.kind.as_str(),
        event.container_name,
        attributes.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use conti_proto::EventType;

    use super::*;

    #[test]
    fn events_read_like_docker_events() {
        let event = Event {
            time: "2026-05-01T12:00:00.000000001Z".into(),
            kind: EventType::Die,
            container_id: "0f3c".into(),
            container_name: "web".into(),
            exit_code: Some(143),
            signal: None,
            exec_id: None,
            old_name: None,
            restart_count: None,
            health_status: None,
        };
        assert_eq!(
            describe(&event),
            "2026-05-01T12:00:00.000000001Z container die web (id=0f3c, exit_code=143)"
        );
        let event = Event {
            kind: EventType::Kill,
            exit_code: None,
            signal: Some("SIGTERM".into()),
            ..event
        };
        assert!(describe(&event).ends_with("container kill web (id=0f3c, signal=SIGTERM)"));
        let event = Event {
            kind: EventType::HealthStatus,
            signal: None,
            health_status: Some(conti_proto::HealthStatus::Unhealthy),
            ..event
        };
        assert!(describe(&event).ends_with("health_status web (id=0f3c, health_status=unhealthy)"));
    }
}
