//! Tolerant decoding of response fields.
//!
//! The real API is not bound by our types: the official TypeScript SDK declares many fields
//! nullable (`string[] | null`), optional, or `unknown`. Every response model decodes its
//! fields through these helpers so that a missing field, a `null`, or (where the SDK
//! declares `unknown`) a value of another kind never fails a whole answer:
//! - [`null_as_default`]: `null` (or, with `#[serde(default)]`, a missing field) becomes the
//!   type's default (an empty list, map or string);
//! - [`null_as_unknown`] / [`unknown`]: for wire enums, `null` or missing becomes the
//!   catch-all `Other("")`, "the server did not say";
//! - [`lenient`]: a value that does not decode as the field's type becomes `None`.

use std::convert::Infallible;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Decodes `null` as `T::default()`. Pair it with `#[serde(default)]` for missing fields.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The catch-all value of a wire enum that stands for "not given": `Other("")`.
pub fn unknown<T: FromStr<Err = Infallible>>() -> T {
    match "".parse() {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// Decodes `null` as [`unknown`]. Pair it with `#[serde(default = "unknown")]`.
pub fn null_as_unknown<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr<Err = Infallible>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_else(unknown))
}

/// Decodes any JSON value, keeping it only when it has the expected type: for fields the
/// SDK declares `unknown`, or whose kind may drift.
pub fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// A number from a JSON number or a numeric string; anything else is `None`.
pub fn number(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::models::IngestStatus;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "null_as_default")]
        list: Vec<String>,
        #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
        status: IngestStatus,
        #[serde(default, deserialize_with = "lenient")]
        count: Option<u64>,
    }

    #[test]
    fn missing_null_and_other_kinds_decode() {
        for body in [
            r#"{}"#,
            r#"{"list": null, "status": null, "count": null}"#,
            r#"{"list": [], "count": {"a": 1}}"#,
            r#"{"count": "many"}"#,
        ] {
            let p: Probe = serde_json::from_str(body).unwrap();
            assert!(p.list.is_empty(), "{body}");
            assert_eq!(p.status, IngestStatus::Other(String::new()), "{body}");
            assert_eq!(p.count, None, "{body}");
        }
        let p: Probe =
            serde_json::from_str(r#"{"list": ["a"], "status": "success", "count": 3}"#).unwrap();
        assert_eq!(p.list, ["a"]);
        assert_eq!(p.status, IngestStatus::Success);
        assert_eq!(p.count, Some(3));
    }

    #[test]
    fn numbers_from_numbers_and_numeric_strings() {
        assert_eq!(number(&serde_json::json!(3)), Some(3.0));
        assert_eq!(number(&serde_json::json!(" 2.5")), Some(2.5));
        assert_eq!(number(&serde_json::json!({"a": 1})), None);
        assert_eq!(number(&serde_json::json!("NaN")), None);
    }
}
