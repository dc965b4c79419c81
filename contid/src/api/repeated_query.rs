//! Query parameters that may be given several times (`?label=a&label=b=c`). `ApiQuery` reads a
//! struct, whose fields serde_urlencoded takes once each; routes with repeatable parameters read
//! the pairs themselves through [`QueryPairs`].

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::engine::LabelFilter;

/// The query's `(name, value)` pairs, in order.
pub struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(pairs)| QueryPairs(pairs))
            .map_err(|e| ApiError::bad_request("invalid_argument", e.body_text()))
    }
}

impl QueryPairs {
    /// Every value of the repeatable parameter `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// A parameter given at most once: its value, if given.
    pub fn once(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [value] => Ok(Some(value.clone())),
            _ => Err(ApiError::bad_request(
                "invalid_argument",
                // serde's words, as `ApiQuery` answers for the other parameters.
                format!("duplicate field `{name}`: it may be given once"),
            )),
        }
    }

    /// A boolean parameter (`true` or `false`; absent: false) given at most once.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.once(name)? {
            None => Ok(false),
            Some(value) => value.parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_argument",
                    format!("{name} must be true or false, not {value:?}"),
                )
            }),
        }
    }

    /// Refuses a parameter not in `known`: a misspelt filter would otherwise pass everything.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .0
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            Some((key, _)) => Err(ApiError::bad_request(
                "invalid_argument",
                format!("unknown parameter {key:?} (known: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// The `label` filters: `KEY` or `KEY=VALUE` each.
    pub fn labels(&self) -> Vec<LabelFilter> {
        self.all("label")
            .iter()
            .map(|text| LabelFilter::parse(text))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> QueryPairs {
        QueryPairs(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn repeated_parameters_keep_every_value_and_flags_one() {
        let query = pairs(&[("label", "a"), ("all", "true"), ("label", "b=c=d")]);
        assert_eq!(query.all("label"), ["a", "b=c=d"]);
        assert_eq!(
            query.labels()[1],
            LabelFilter {
                key: "b".into(),
                value: Some("c=d".into())
            }
        );
        assert!(query.flag("all").unwrap());
        assert!(!query.flag("absent").unwrap());
        assert_eq!(
            pairs(&[("all", "yes")]).flag("all").unwrap_err().code,
            "invalid_argument"
        );
        assert!(
            pairs(&[("all", "true"), ("all", "true")])
                .flag("all")
                .is_err()
        );
    }
}
