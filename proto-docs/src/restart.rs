//! Restart policies (`ContainerSpec.restart_policy`): when a container's first process is
//! started again after it exits.

use serde::{Deserialize, Serialize};

/// The forms a restart policy is written in, for error messages.
pub const RESTART_POLICY_FORMS: &str =
    "no, always, unless-stopped or on-failure[:MAX] (MAX: 1 to 999999999 restarts; none: no limit)";

/// Largest `MAX` of `on-failure:MAX` (nine digits, as the contract's pattern says).
pub const MAX_RESTART_RETRIES: u32 = 999_999_999;

/// When a container is started again after its first process exits, written as a string:
/// `no` (never), `always`, `unless-stopped`, `on-failure` or `on-failure:MAX`. Docker's meaning:
/// a stop or kill by a person is never undone; `always` containers also start again when contid
/// starts (after a reboot), `unless-stopped` ones only if nobody had stopped them; `on-failure`
/// restarts after a non-zero exit, at most `MAX` times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// After a non-zero exit; `max_retries` restarts at most (`None`: no limit).
    OnFailure {
        max_retries: Option<u32>,
    },
}

impl RestartPolicy {
    /// Parses the string form; the error says which forms are allowed.
    pub fn parse(text: &str) -> Result<RestartPolicy, String> {
        let invalid =
            || format!("invalid restart policy {text:?}: expected {RESTART_POLICY_FORMS}");
        Ok(match text {
            "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure { max_retries: None },
            _ => {
                let max = text.strip_prefix("on-failure:").ok_or_else(invalid)?;
                let digits_only = !max.is_empty() && max.bytes().all(|b| b.is_ascii_digit());
                match max.parse::<u32>() {
                    Ok(n @ 1..=MAX_RESTART_RETRIES) if digits_only => RestartPolicy::OnFailure {
                        max_retries: Some(n),
                    },
                    _ => return Err(invalid()),
                }
            }
        })
    }

    pub fn is_no(&self) -> bool {
        *self == RestartPolicy::No
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
            RestartPolicy::OnFailure { max_retries: None } => f.write_str("on-failure"),
            RestartPolicy::OnFailure {
                max_retries: Some(max),
            } => write!(f, "on-failure:{max}"),
        }
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RestartPolicy::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_and_write_their_string_form() {
        for text in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
            "on-failure:999999999",
        ] {
            let policy = RestartPolicy::parse(text).unwrap();
            assert_eq!(policy.to_string(), text);
            let json = serde_json::to_string(&policy).unwrap();
            assert_eq!(
                serde_json::from_str::<RestartPolicy>(&json).unwrap(),
                policy
            );
        }
        for bad in [
            "",
            "yes",
            "Always",
            "on-failure:",
            "on-failure:0",
            "on-failure:-1",
            "on-failure:+2",
            "on-failure:1000000000",
            "always:3",
        ] {
            let err = RestartPolicy::parse(bad).unwrap_err();
            assert!(err.contains("on-failure[:MAX]"), "{bad}: {err}");
        }
    }
}
