//! `-e`/`--env` of `run`, `create` and `exec`: `NAME=VALUE`, or `NAME` alone for the value the
//! client's own environment has (left out when it has none), as with Docker; `--env-file FILE`
//! of `run` and `create`: one such entry a line, blank lines and `#` comments skipped, read by
//! the client as Docker's is.

use std::ffi::OsString;

/// One `-e`, resolved when the command line is parsed: the `NAME=VALUE` to send, or nothing for
/// a `NAME` this client's environment does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvArg(Option<String>);

/// clap's parser of `-e`: `NAME` alone takes its value from our environment.
pub fn parse_env(text: &str) -> Result<EnvArg, String> {
    resolve(text, &|name| std::env::var_os(name))
}

/// The entries of one `--env-file`, read when the command line is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile(Vec<EnvArg>);

/// clap's parser of `--env-file`: the file is read now.
pub fn parse_env_file(path: &str) -> Result<EnvFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    env_file(&text, |name| std::env::var_os(name)).map_err(|e| format!("{path}: {e}"))
}

/// Docker's reading: leading blanks dropped, then blank lines and `#` comments skipped; a name
/// with a blank in it is refused; the value is kept as written (trailing blanks included).
fn env_file(text: &str, lookup: impl Fn(&str) -> Option<OsString>) -> Result<EnvFile, String> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_once('=').map_or(line, |(name, _)| name);
        let at = |why: String| format!("line {}: {why}", number + 1);
        if name.is_empty() {
            return Err(at("no variable name".into()));
        }
        if name.contains(char::is_whitespace) {
            return Err(at(format!("variable {name:?} contains whitespaces")));
        }
        entries.push(resolve(line, &lookup).map_err(at)?);
    }
    Ok(EnvFile(entries))
}

/// The entries to send, in the order given.
pub fn entries(args: &[EnvArg]) -> Vec<String> {
    args.iter().filter_map(|arg| arg.0.clone()).collect()
}

/// The files' entries in order, then `-e`'s: a later entry of a name wins, as with Docker.
pub fn entries_with_files(files: &[EnvFile], args: &[EnvArg]) -> Vec<String> {
    let from_files: Vec<EnvArg> = files.iter().flat_map(|file| file.0.clone()).collect();
    entries(&from_files)
        .into_iter()
        .chain(entries(args))
        .collect()
}

fn resolve(text: &str, lookup: &impl Fn(&str) -> Option<OsString>) -> Result<EnvArg, String> {
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
            .map(|text| resolve(text, &ours).unwrap())
            .collect();
        assert_eq!(
            entries(&resolved),
            ["A=1", "HOME=/root", "EMPTY=", "B=x=y", "C="]
        );
    }

    #[test]
    fn env_files_read_as_dockers() {
        let file = env_file("# settings\n\n  A=1\nHOME\nUNSET\nB=two words \nC=\n", ours).unwrap();
        let cli = [resolve("A=from-cli", &ours).unwrap()];
        assert_eq!(
            entries_with_files(&[file], &cli),
            ["A=1", "HOME=/root", "B=two words ", "C=", "A=from-cli"]
        );
        let error = env_file("A=1\nBAD NAME=x\n", ours).unwrap_err();
        assert!(
            error.contains("line 2") && error.contains("BAD NAME"),
            "{error}"
        );
        assert!(
            env_file("=x\n", ours)
                .unwrap_err()
                .contains("no variable name")
        );
    }

    #[test]
    fn what_cannot_be_sent_is_refused() {
        assert!(resolve("", &ours).is_err());
        let error = resolve("LATIN1", &ours).unwrap_err();
        assert!(error.contains("LATIN1"), "{error}");
    }
}
