//! Integers as JSON Schema (and so the OpenAPI contract) counts them: a number whose fraction is
//! zero is an integer. `1.0` is read as 1 wherever an integer is expected, in query strings and
//! in JSON bodies (a client written in JavaScript cannot even tell the two apart); `1.5` is
//! still refused.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

/// Largest magnitude below which every integer is exactly a double (2^53): a float beyond may
/// stand for several integers and is not taken for one.
const EXACT_IN_A_DOUBLE: f64 = 9_007_199_254_740_992.0;

/// A query parameter holding an integer: `5` or `5.0` (`#[serde(deserialize_with)]`).
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    let text = String::deserialize(deserializer)?;
    parse_integer(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a whole number")))
}

/// [`integer`] for an optional parameter (with `#[serde(default)]`).
pub fn optional_integer<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    integer(deserializer).map(Some)
}

fn parse_integer<T: FromStr>(text: &str) -> Option<T> {
    let digits = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        Some(_) => return None,
        None => text,
    };
    digits.parse().ok()
}

/// `json` parsed with every whole float (`1.0`, `1e3`) turned into an integer; `None` when it is
/// not JSON or holds no whole float.
pub fn json_with_whole_floats_as_integers(json: &[u8]) -> Option<Value> {
    let mut value: Value = serde_json::from_slice(json).ok()?;
    whole_floats_to_integers(&mut value).then_some(value)
}

/// Whether it changed anything.
fn whole_floats_to_integers(value: &mut Value) -> bool {
    match value {
        Value::Number(number) => {
            let whole = number
                .as_f64()
                .filter(|float| number.is_f64() && float.fract() == 0.0)
                .filter(|float| float.abs() <= EXACT_IN_A_DOUBLE);
            if let Some(float) = whole {
                // Exact by the filters above.
                *number = Number::from(float as i64);
            }
            whole.is_some()
        }
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            whole_floats_to_integers(item) | changed
        }),
        Value::Object(fields) => fields.values_mut().fold(false, |changed, field| {
            whole_floats_to_integers(field) | changed
        }),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_fraction_is_an_integer_and_nothing_else_is() {
        assert_eq!(parse_integer::<u64>("5"), Some(5));
        assert_eq!(parse_integer::<u64>("5.0"), Some(5));
        assert_eq!(parse_integer::<u32>("65535.000"), Some(65535));
        for text in ["5.5", "5.", ".0", "", "1e3", "-1.0", "x", "5.0.0"] {
            assert_eq!(parse_integer::<u64>(text), None, "{text}");
        }
        assert_eq!(parse_integer::<i64>("-1.0"), Some(-1));
    }

    #[test]
    fn whole_floats_in_json_become_integers() {
        let value =
            json_with_whole_floats_as_integers(br#"{"a": 1.0, "b": [2.5, -3.0, 1e3], "c": "4.0"}"#)
                .unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 1, "b": [2.5, -3, 1000], "c": "4.0"})
        );
        assert_eq!(json_with_whole_floats_as_integers(b"1e300"), None);
        assert_eq!(json_with_whole_floats_as_integers(br#"{"a": 1.5}"#), None);
        assert_eq!(json_with_whole_floats_as_integers(b"{"), None);
    }
}
