//! Security flags, shared by `create` and `run`: capabilities, `--privileged`, `--read-only`,
//! `--userns` and docker's `--security-opt` forms.

use clap::Args;
use conti_proto::{Seccomp, SeccompProfile, SecurityOptions};

/// The container's `security`.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// All capabilities, no seccomp filter, no masked paths, every device: root in the
    /// container is root on the host.
    #[arg(long)]
    pub privileged: bool,
    /// Add a capability to the default set (CHOWN or CAP_CHOWN; ALL); repeatable.
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from the default set (ALL drops every one); repeatable.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Run in a user namespace: root in the container is an unprivileged host id from the
    /// daemon's `--userns-remap` range.
    #[arg(long)]
    pub userns: bool,
    /// `no-new-privileges[=true|false]`, `seccomp=unconfined`, or `seccomp=FILE` (a profile in
    /// Docker's JSON format); repeatable.
    #[arg(long, value_name = "OPT", value_parser = parse_security_opt)]
    pub security_opt: Vec<SecurityOpt>,
}

/// One `--security-opt`.
#[derive(Debug, Clone)]
pub enum SecurityOpt {
    NoNewPrivileges(bool),
    Seccomp(Seccomp),
}

impl SecurityArgs {
    pub fn to_security(&self) -> SecurityOptions {
        let mut security = SecurityOptions {
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            read_only_rootfs: self.read_only,
            userns: self.userns,
            ..SecurityOptions::default()
        };
        for opt in &self.security_opt {
            match opt {
                SecurityOpt::NoNewPrivileges(on) => security.no_new_privileges = *on,
                SecurityOpt::Seccomp(seccomp) => security.seccomp = seccomp.clone(),
            }
        }
        security
    }
}

/// docker's spellings: `no-new-privileges`, `no-new-privileges=false` (or `:false`),
/// `seccomp=unconfined`, `seccomp=/path/profile.json` (read now).
fn parse_security_opt(text: &str) -> Result<SecurityOpt, String> {
    let (key, value) = match text.split_once(['=', ':']) {
        Some((key, value)) => (key, Some(value)),
        None => (text, None),
    };
    match (key, value) {
        ("no-new-privileges", None | Some("true")) => Ok(SecurityOpt::NoNewPrivileges(true)),
        ("no-new-privileges", Some("false")) => Ok(SecurityOpt::NoNewPrivileges(false)),
        ("seccomp", Some("unconfined")) => Ok(SecurityOpt::Seccomp(Seccomp::Unconfined)),
        ("seccomp", Some("default")) => Ok(SecurityOpt::Seccomp(Seccomp::Default)),
        ("seccomp", Some(path)) if !path.is_empty() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading seccomp profile {path}: {e}"))?;
            let profile: SeccompProfile = serde_json::from_str(&text)
                .map_err(|e| format!("seccomp profile {path} is not a profile: {e}"))?;
            Ok(SecurityOpt::Seccomp(Seccomp::Profile { profile }))
        }
        _ => Err(format!(
            "{text:?}: expected no-new-privileges[=true|false], seccomp=unconfined or seccomp=FILE"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_spellings_are_understood() {
        assert!(matches!(
            parse_security_opt("no-new-privileges"),
            Ok(SecurityOpt::NoNewPrivileges(true))
        ));
        assert!(matches!(
            parse_security_opt("no-new-privileges:false"),
            Ok(SecurityOpt::NoNewPrivileges(false))
        ));
        assert!(matches!(
            parse_security_opt("seccomp=unconfined"),
            Ok(SecurityOpt::Seccomp(Seccomp::Unconfined))
        ));
        assert!(parse_security_opt("seccomp=/nonexistent.json").is_err());
        assert!(parse_security_opt("apparmor=x").is_err());
    }

    #[test]
    fn a_profile_file_is_read() {
        let path = std::env::temp_dir().join(format!("conti-cli-test-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#,
        )
        .unwrap();
        let Ok(SecurityOpt::Seccomp(Seccomp::Profile { profile })) =
            parse_security_opt(&format!("seccomp={}", path.display()))
        else {
            panic!("profile not read");
        };
        std::fs::remove_file(&path).unwrap();
        assert_eq!(profile.default_action, "SCMP_ACT_ALLOW");
    }
}
