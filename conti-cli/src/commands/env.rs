//! `-e`/`--env` of `run`, `create` and `exec`: `NAME=VALUE`, or `NAME` alone for the value the
//! client's own environment has (left out when it has none), as with Docker.

use std::ffi::OsString;

/// One `-e`, resolved when the command line is parsed: the `NAME=VALUE` to send, or nothing for
/// a `NAME` this client's environment does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvArg(Option<String>);

/// clap's parser of `-e`: `NAME` alone takes its value from our environment.
pub fn parse_env(text: &str) -> Result<EnvArg, String> {
    resolve(text, |name| std::env::var_os(name))
}

/// The entries to send, in the order given.
pub fn entries(args: &[EnvArg]) -> Vec<String> {
    args.iter().filter_map(|arg| arg.0.clone()).collect()
}

fn resolve(text: &str, lookup: impl Fn(&str) -> Option<OsString>) -> Result<EnvArg, String> {
    if text.contains('=') {
        return Ok(EnvArg(Some(text.to_string())));
    }
    if text.is_empty() {
        return Err("expected NAME=VALUE, or NAME for its value here".to_string());
    }
    match lookup(text) {
        None => Ok(EnvArg(None)),
        Some(value) => value
            .into_string()
            .map(|value| EnvArg(Some(format!("{text}={value}"))))
            .map_err(|_| format!("the value of {text} in this environment is not UTF-8")),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn ours(name: &str) -> Option<OsString> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some("".into()),
            "LATIN1" => Some(OsString::from_vec(b"caf\xe9".to_vec())),
            _ => None,
        }
    }

    #[test]
    fn a_name_alone_takes_our_value_or_is_left_out() {
        let resolved: Vec<EnvArg> = ["A=1", "HOME", "UNSET", "EMPTY", "B=x=y", "C="]
            .iter()
            .map(|text| resolve(text, ours).unwrap())
            .collect();
        assert_eq!(
            entries(&resolved),
            ["A=1", "HOME=/root", "EMPTY=", "B=x=y", "C="]
        );
    }

    #[test]
    fn what_cannot_be_sent_is_refused() {
        assert!(resolve("", ours).is_err());
        let error = resolve("LATIN1", ours).unwrap_err();
        assert!(error.contains("LATIN1"), "{error}");
    }
}
