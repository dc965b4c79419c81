//! `--label`/`-l KEY[=VALUE]` and `--label-file FILE` of `run`, `create`, `network create` and
//! `volume create`, as Docker reads them: a key alone has the empty value; a file has a label a
//! line, blank lines and `#` comments skipped; labels given on the command line win over a
//! file's.

use std::collections::BTreeMap;

/// One `--label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    pub value: String,
}

/// The labels of one `--label-file`, read when the command line is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFile(Vec<Label>);

/// clap's parser of `--label`.
pub fn parse_label(text: &str) -> Result<Label, String> {
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    if key.is_empty() {
        return Err(format!("{text:?}: expected KEY=VALUE or KEY"));
    }
    Ok(Label {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// clap's parser of `--label-file`: the file is read now.
pub fn parse_label_file(path: &str) -> Result<LabelFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    labels_of_file(&text).map_err(|e| format!("{path}: {e}"))
}

fn labels_of_file(text: &str) -> Result<LabelFile, String> {
    text.lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(number, line)| parse_label(line).map_err(|e| format!("line {}: {e}", number + 1)))
        .collect::<Result<_, _>>()
        .map(LabelFile)
}

/// The labels to send: the files' in order, then the command line's, a later key winning.
pub fn merged(files: &[LabelFile], labels: &[Label]) -> BTreeMap<String, String> {
    files
        .iter()
        .flat_map(|file| &file.0)
        .chain(labels)
        .map(|label| (label.key.clone(), label.value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_alone_is_an_empty_value_and_an_empty_key_is_refused() {
        assert_eq!(
            parse_label("com.example.tier=web=1").unwrap(),
            Label {
                key: "com.example.tier".into(),
                value: "web=1".into()
            }
        );
        assert_eq!(parse_label("flag").unwrap().value, "");
        assert!(parse_label("=x").is_err() && parse_label("").is_err());
    }

    #[test]
    fn files_skip_comments_and_the_command_line_wins() {
        let file = labels_of_file("# team\n\n  a=1 \nb=2\nflag\n").unwrap();
        let labels = merged(&[file], &[parse_label("b=3").unwrap()]);
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "1"), ("b", "3"), ("flag", "")]);
        let error = labels_of_file("a=1\n=2\n").unwrap_err();
        assert!(error.starts_with("line 2:"), "{error}");
        assert!(parse_label_file("/nonexistent/labels").is_err());
    }
}
