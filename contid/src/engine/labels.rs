//! Labels: metadata of containers, networks and volumes (`KEY: VALUE`), and the `KEY[=VALUE]`
//! filters that select by them.

use std::collections::BTreeMap;

use super::error::{EngineError, EngineResult};

/// Keys must say something; values may be empty.
pub fn validate_labels(labels: &BTreeMap<String, String>) -> EngineResult<()> {
    for (key, value) in labels {
        if key.is_empty() {
            return Err(EngineError::InvalidSpec(
                "a label's key must not be empty".into(),
            ));
        }
        if key.contains('\0') || value.contains('\0') {
            return Err(EngineError::InvalidSpec(format!(
                "label {key:?} must not contain NUL bytes"
            )));
        }
    }
    Ok(())
}

/// `KEY` (the label is there, whatever its value) or `KEY=VALUE` (it has that value), as
/// Docker's `label` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
}

impl LabelFilter {
    /// `KEY` or `KEY=VALUE`; the first `=` splits them (`a=b=c` is key `a`, value `b=c`).
    pub fn parse(text: &str) -> LabelFilter {
        match text.split_once('=') {
            Some((key, value)) => LabelFilter {
                key: key.to_string(),
                value: Some(value.to_string()),
            },
            None => LabelFilter {
                key: text.to_string(),
                value: None,
            },
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
        }
    }
}

/// Whether `labels` pass every filter (none: everything passes).
pub fn matches_all(filters: &[LabelFilter], labels: &BTreeMap<String, String>) -> bool {
    filters.iter().all(|filter| filter.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_need_the_key_and_the_value_when_given() {
        let have = labels(&[("com.example.tier", "web"), ("empty", ""), ("eq", "a=b")]);
        let pass = |text: &str| LabelFilter::parse(text).matches(&have);
        assert!(pass("com.example.tier"));
        assert!(pass("com.example.tier=web"));
        assert!(!pass("com.example.tier=db"));
        assert!(!pass("com.example.tier="));
        assert!(pass("empty") && pass("empty="));
        assert!(pass("eq=a=b"));
        assert!(!pass("missing") && !pass(""));
        let both = [LabelFilter::parse("empty"), LabelFilter::parse("eq=a=b")];
        assert!(matches_all(&both, &have));
        assert!(!matches_all(&[LabelFilter::parse("nope")], &have));
        assert!(matches_all(&[], &BTreeMap::new()));
    }

    #[test]
    fn keys_must_not_be_empty() {
        assert!(validate_labels(&labels(&[("a", ""), ("b.c/d", "x y")])).is_ok());
        assert!(validate_labels(&labels(&[("", "x")])).is_err());
        assert!(validate_labels(&labels(&[("a", "x\0")])).is_err());
    }
}
