//! Docker's query parameters, read as its daemon reads them: booleans `1`/`true`/`0`/`false`
//! (anything else but empty is true), integers, and the JSON `filters` map.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use super::error::DockerError;

/// The request's query parameters by name (the last of a repeated one).
pub struct DockerQuery(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for DockerQuery {
    type Rejection = DockerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(pairs)| DockerQuery(pairs.into_iter().collect()))
            .map_err(|e| DockerError::bad_request(e.body_text()))
    }
}

impl DockerQuery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A non-empty value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Docker's `boolValue`: absent, empty, `0`, `no`, `false` and `none` are false.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            )
        })
    }

    pub fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, DockerError> {
        self.text(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    DockerError::bad_request(format!("invalid value for {name}: {v:?}"))
                })
            })
            .transpose()
    }

    /// A resize's `h` and `w`.
    pub fn window_size(&self) -> Result<crate::runtime::WindowSize, DockerError> {
        let rows = self.number::<u32>("h")?.unwrap_or(0);
        let cols = self.number::<u32>("w")?.unwrap_or(0);
        Ok(crate::engine::window_size(rows, cols)?)
    }

    /// `filters`: JSON `{"name": ["a", "b"]}` (or the older `{"name": {"a": true}}`).
    pub fn filters(&self) -> Result<Filters, DockerError> {
        let Some(text) = self.text("filters") else {
            return Ok(Filters::default());
        };
        let invalid =
            |e: serde_json::Error| DockerError::bad_request(format!("invalid filter: {e}"));
        let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        let mut filters = BTreeMap::new();
        let Some(object) = value.as_object() else {
            return Err(DockerError::bad_request("invalid filter: not an object"));
        };
        for (name, values) in object {
            let values: Vec<String> = match values {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Object(map) => map
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => {
                    return Err(DockerError::bad_request(format!(
                        "invalid filter: {name} is neither a list nor a map"
                    )));
                }
            };
            filters.insert(name.clone(), values);
        }
        Ok(Filters(filters))
    }
}

/// A JSON body; an empty one is the type's default.
pub fn json_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, DockerError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| DockerError::bad_request(format!("invalid JSON body: {e}")))
}

/// A network's or volume's `Driver`: empty or Conti's one (`bridge`, `local`).
pub fn only_driver(driver: Option<&str>, ours: &str, what: &str) -> Result<(), DockerError> {
    match driver.filter(|d| !d.is_empty() && *d != ours) {
        Some(driver) => Err(DockerError::bad_request(format!(
            "{what} driver {driver} is not supported ({ours})"
        ))),
        None => Ok(()),
    }
}

/// A list request's `filters`: within a name any value may match, every name must.
#[derive(Debug, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Refuses a filter name this route does not know, as Docker does.
    pub fn only(&self, known: &[&str]) -> Result<(), DockerError> {
        match self.0.keys().find(|name| !known.contains(&name.as_str())) {
            Some(name) => Err(DockerError::bad_request(format!("invalid filter '{name}'"))),
            None => Ok(()),
        }
    }

    /// A prune's filters: `until` (once) and `label`s, refusing others.
    pub fn prune_filter(&self) -> Result<crate::engine::PruneFilter, DockerError> {
        self.only(&["until", "label"])?;
        let until = match self.values("until") {
            [] => None,
            [until] => Some(until.as_str()),
            _ => return Err(DockerError::bad_request("more than one until filter")),
        };
        let labels = self
            .values("label")
            .iter()
            .map(|l| crate::engine::LabelFilter::parse(l))
            .collect();
        Ok(crate::engine::PruneFilter::parse(until, labels)?)
    }

    /// `label` filters: every one must hold (Docker ANDs them, unlike other filters).
    pub fn labels(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.0.get("label").is_none_or(|wanted| {
            wanted
                .iter()
                .all(|l| crate::engine::LabelFilter::parse(l).matches(labels))
        })
    }

    /// The values given for `name`.
    pub fn values(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// True when `name` is not filtered on, or when `test` accepts one of its values.
    pub fn any(&self, name: &str, test: impl Fn(&str) -> bool) -> bool {
        self.0
            .get(name)
            .is_none_or(|values| values.is_empty() || values.iter().any(|v| test(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> DockerQuery {
        DockerQuery(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn flags_read_as_dockers_daemon_reads_them() {
        let q = query(&[
            ("a", "1"),
            ("b", "true"),
            ("c", "0"),
            ("d", "False"),
            ("e", ""),
        ]);
        assert!(q.flag("a") && q.flag("b"));
        assert!(!q.flag("c") && !q.flag("d") && !q.flag("e") && !q.flag("absent"));
    }

    #[test]
    fn filters_take_lists_and_the_older_maps() {
        let q = query(&[(
            "filters",
            r#"{"status":["exited"],"name":{"web":true,"db":false}}"#,
        )]);
        let filters = q.filters().unwrap();
        assert!(filters.any("status", |v| v == "exited"));
        assert!(!filters.any("status", |v| v == "running"));
        assert!(filters.any("name", |v| v == "web"));
        assert!(!filters.any("name", |v| v == "db"));
        assert!(
            filters.any("label", |_| false),
            "an absent filter lets all through"
        );
        assert!(filters.only(&["status", "name"]).is_ok());
        assert!(filters.only(&["status"]).is_err());
        assert!(query(&[("filters", "[1]")]).filters().is_err());
        assert!(query(&[("n", "x")]).number::<u32>("n").is_err());
        assert_eq!(query(&[("n", "7")]).number::<u32>("n").unwrap(), Some(7));
    }
}
