//! One value of a dataset row, typed by its column.

use std::cmp::Ordering;

use refuel_client::models::ColumnType;
use serde::{Deserialize, Serialize};

/// A cell: NULL, a boolean, a number (integer or float) or a string.
///
/// Serialized as the plain JSON value (integers stay integers), which is also how rows are
/// stored in the row log.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (JSON `null`, a missing key, or an empty CSV cell).
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// Any other finite number.
    Float(f64),
    /// Text.
    Str(Box<str>),
}

impl Cell {
    /// Whether the cell is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The number, for numeric cells.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The text the string operators (`LIKE`, `ILIKE`, regex, `SIMILAR`) see: strings as
    /// they are, integers in decimal, floats in Rust's shortest round-trip form (`1.5`,
    /// `0.1`, `1e300`), booleans as `true`/`false`. `None` for NULL.
    pub fn render(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Self::Null => None,
            Self::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Self::Int(i) => Some(Cow::Owned(i.to_string())),
            Self::Float(f) => Some(Cow::Owned(f.to_string())),
            Self::Str(s) => Some(Cow::Borrowed(s)),
        }
    }

    /// Compares two non-NULL cells of the same column: numbers numerically as IEEE doubles
    /// (as JSON numbers are, and as SQL engines read them: integers beyond ±2^53 compare
    /// after rounding), strings by their UTF-8 bytes (code-point order, case-sensitive),
    /// booleans `false < true`. NULLs and mixed kinds compare by kind; the caller handles
    /// NULL order.
    pub fn compare(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Self::Int(_) | Self::Float(_), Self::Int(_) | Self::Float(_)) => {
                let (a, b) = (self.as_f64().unwrap_or(0.0), other.as_f64().unwrap_or(0.0));
                a.total_cmp(&b)
            }
            (Self::Str(a), Self::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }

    fn kind_rank(&self) -> u8 {
        match self {
            Self::Null => 0,
            Self::Bool(_) => 1,
            Self::Int(_) | Self::Float(_) => 2,
            Self::Str(_) => 3,
        }
    }

    /// A number cell from text, if the text is a number (`12`, `-3.5`, `1e3`). Integers that
    /// fit in 64 bits stay exact.
    pub fn parse_number(text: &str) -> Option<Cell> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        if let Ok(i) = t.parse::<i64>() {
            return Some(Cell::Int(i));
        }
        // Rust's f64 parser also accepts "inf", "NaN" and "infinity": those are not numbers
        // in a dataset.
        let f: f64 = t.parse().ok()?;
        f.is_finite().then_some(Cell::Float(f))
    }

    /// A boolean from text: `true`/`false` in any case.
    pub fn parse_bool(text: &str) -> Option<bool> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("true") {
            Some(true)
        } else if t.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }

    /// Converts a JSON value into a cell of a column of type `ty`, or says why it cannot.
    ///
    /// Numbers and booleans also accept their text form (`"12"`, `"true"`); string columns
    /// accept numbers and booleans and keep their JSON text. Arrays and objects are refused.
    pub fn from_json(value: &serde_json::Value, ty: &ColumnType) -> Result<Cell, String> {
        use serde_json::Value;
        match (value, ty) {
            (Value::Null, _) => Ok(Cell::Null),
            (Value::Number(n), ColumnType::Number) => number_cell(n),
            (Value::String(s), ColumnType::Number) => {
                Cell::parse_number(s).ok_or_else(|| format!("'{s}' is not a number"))
            }
            (Value::Bool(b), ColumnType::Boolean) => Ok(Cell::Bool(*b)),
            (Value::String(s), ColumnType::Boolean) => Cell::parse_bool(s)
                .map(Cell::Bool)
                .ok_or_else(|| format!("'{s}' is not a boolean (true or false)")),
            (Value::String(s), _) => Ok(Cell::Str(s.as_str().into())),
            (Value::Number(n), ColumnType::Boolean) => Err(format!("{n} is not a boolean")),
            (Value::Bool(b), ColumnType::Number) => Err(format!("{b} is not a number")),
            (Value::Number(n), _) => Ok(Cell::Str(n.to_string().into())),
            (Value::Bool(b), _) => Ok(Cell::Str(b.to_string().into())),
            (Value::Array(_) | Value::Object(_), _) => {
                Err("nested arrays and objects are not supported as cell values".to_string())
            }
        }
    }
}

fn number_cell(n: &serde_json::Number) -> Result<Cell, String> {
    if let Some(i) = n.as_i64() {
        Ok(Cell::Int(i))
    } else if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
        Ok(Cell::Float(f))
    } else {
        Err(format!("{n} is not a finite number"))
    }
}

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Int(i) => s.serialize_i64(*i),
            Self::Float(f) => s.serialize_f64(*f),
            Self::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cell;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("null, a boolean, a number or a string")
            }
            fn visit_unit<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(i64::try_from(v)
                    .map(Cell::Int)
                    .unwrap_or(Cell::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Cell, E> {
                Ok(Cell::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell::Str(v.into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell, E> {
                Ok(Cell::Str(v.into_boxed_str()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_parse_exactly() {
        assert_eq!(Cell::parse_number("12"), Some(Cell::Int(12)));
        assert_eq!(Cell::parse_number(" -3.5 "), Some(Cell::Float(-3.5)));
        assert_eq!(Cell::parse_number("1e3"), Some(Cell::Float(1000.0)));
        assert_eq!(
            Cell::parse_number("9223372036854775807"),
            Some(Cell::Int(i64::MAX))
        );
        for bad in ["", "abc", "NaN", "inf", "1,5"] {
            assert_eq!(Cell::parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn ordering() {
        assert_eq!(Cell::Int(2).compare(&Cell::Float(10.5)), Ordering::Less);
        assert_eq!(
            Cell::Str("B".into()).compare(&Cell::Str("a".into())),
            Ordering::Less
        );
        assert_eq!(Cell::Bool(false).compare(&Cell::Bool(true)), Ordering::Less);
        assert_eq!(Cell::Int(3).compare(&Cell::Int(2)), Ordering::Greater);
        // As doubles: 2^53 + 1 rounds to 2^53.
        assert_eq!(
            Cell::Int((1 << 53) + 1).compare(&Cell::Int(1 << 53)),
            Ordering::Equal
        );
    }

    #[test]
    fn json_round_trip_keeps_integers() {
        let cells = vec![
            Cell::Null,
            Cell::Bool(true),
            Cell::Int(7),
            Cell::Float(2.0),
            Cell::Str("x".into()),
        ];
        let text = serde_json::to_string(&cells).unwrap();
        assert_eq!(text, r#"[null,true,7,2.0,"x"]"#);
        let back: Vec<Cell> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, cells);
    }

    #[test]
    fn from_json_by_column_type() {
        assert_eq!(
            Cell::from_json(&json!("12"), &ColumnType::Number),
            Ok(Cell::Int(12))
        );
        assert!(
            Cell::from_json(&json!("twelve"), &ColumnType::Number)
                .unwrap_err()
                .contains("twelve")
        );
        assert_eq!(
            Cell::from_json(&json!("TRUE"), &ColumnType::Boolean),
            Ok(Cell::Bool(true))
        );
        assert_eq!(
            Cell::from_json(&json!(5), &ColumnType::String),
            Ok(Cell::Str("5".into()))
        );
        assert!(Cell::from_json(&json!([1]), &ColumnType::String).is_err());
    }
}
