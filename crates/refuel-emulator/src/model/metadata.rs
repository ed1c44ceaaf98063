//! The type `column_metadata` gives each column (the TypeScript SDK's `Metadata.type`):
//! finer than the schema's type, decided at ingest and widened by appends.
//!
//! - `integer`: a number column whose values are all integers (exact 64-bit cells);
//! - `number`: any other number column;
//! - `date`: a column ingested as dates (Parquet `Date32`/`Date64`) or a CSV string column
//!   whose every non-empty value (at least one) is an ISO `YYYY-MM-DD` date;
//! - `boolean`, `string`: as the schema says.
//!
//! The schema's own type is unchanged (`number` for `integer`, `string` for `date`). An
//! append that puts a non-integer into an `integer` column makes it `number`; one that puts
//! a value that is not an ISO date into a `date` column makes it `string`. Both follow from
//! the rows, so replaying a row log gives the same types again.

use refuel_client::models::ColumnType;
use serde::{Deserialize, Serialize};

use super::Cell;

/// The type of a column in `column_metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MetadataType {
    /// Text.
    String,
    /// Whole numbers only.
    Integer,
    /// Numbers, not all whole.
    Number,
    /// `true` or `false`.
    Boolean,
    /// ISO `YYYY-MM-DD` dates, held as strings.
    Date,
}

impl MetadataType {
    /// The type as the API shows it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
        }
    }

    /// The type of a column known only by its schema type (data kept before column types
    /// were recorded): `number`, `boolean` or `string`.
    pub(crate) fn from_schema(ty: &ColumnType) -> Self {
        match ty {
            ColumnType::Number => Self::Number,
            ColumnType::Boolean => Self::Boolean,
            _ => Self::String,
        }
    }

    /// The type of a column of schema type `ty` holding `cells`. With `dates`, a string
    /// column whose values (at least one) are all ISO dates is a `date` column.
    pub(crate) fn infer<'a>(
        ty: &ColumnType,
        cells: impl IntoIterator<Item = &'a Cell>,
        dates: bool,
    ) -> Self {
        let mut cells = cells.into_iter().filter(|c| !c.is_null()).peekable();
        match ty {
            ColumnType::Number => {
                if cells.all(|c| matches!(c, Cell::Int(_))) {
                    Self::Integer
                } else {
                    Self::Number
                }
            }
            ColumnType::Boolean => Self::Boolean,
            ColumnType::String if dates && cells.peek().is_some() => {
                if cells.all(is_date_cell) {
                    Self::Date
                } else {
                    Self::String
                }
            }
            _ => Self::String,
        }
    }

    /// The type once `cell` is added to a column of this type.
    pub(crate) fn widen(self, cell: &Cell) -> Self {
        match (self, cell) {
            (_, Cell::Null) => self,
            (Self::Integer, Cell::Int(_)) => self,
            (Self::Integer, _) => Self::Number,
            (Self::Date, c) if is_date_cell(c) => self,
            (Self::Date, _) => Self::String,
            _ => self,
        }
    }
}

fn is_date_cell(cell: &Cell) -> bool {
    matches!(cell, Cell::Str(s) if is_iso_date(s))
}

/// Whether `text` is exactly a valid calendar date `YYYY-MM-DD`.
pub(crate) fn is_iso_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// Widens each column's type by the cells of `rows`.
pub(crate) fn widen_all(types: &mut [MetadataType], rows: &[Vec<Cell>]) {
    for row in rows {
        for (t, cell) in types.iter_mut().zip(row) {
            *t = t.widen(cell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert!(is_iso_date("2024-02-29"));
        for bad in [
            "2023-02-29",
            "2024-2-01",
            "2024-01-01T00:00",
            "24-01-01",
            "2024/01/01",
            "+202-01-01",
            "",
        ] {
            assert!(!is_iso_date(bad), "{bad}");
        }
    }

    #[test]
    fn inference_and_widening() {
        let ints = [Cell::Int(1), Cell::Null, Cell::Int(-3)];
        assert_eq!(
            MetadataType::infer(&ColumnType::Number, &ints, true),
            MetadataType::Integer
        );
        let mixed = [Cell::Int(1), Cell::Float(2.0)];
        assert_eq!(
            MetadataType::infer(&ColumnType::Number, &mixed, true),
            MetadataType::Number
        );
        let dates = [Cell::Str("2024-01-31".into()), Cell::Null];
        assert_eq!(
            MetadataType::infer(&ColumnType::String, &dates, true),
            MetadataType::Date
        );
        assert_eq!(
            MetadataType::infer(&ColumnType::String, &dates, false),
            MetadataType::String
        );
        assert_eq!(
            MetadataType::infer(&ColumnType::String, &[Cell::Null], true),
            MetadataType::String
        );
        let not_dates = [Cell::Str("2024-01-31".into()), Cell::Str("soon".into())];
        assert_eq!(
            MetadataType::infer(&ColumnType::String, &not_dates, true),
            MetadataType::String
        );
        assert_eq!(
            MetadataType::infer(&ColumnType::Boolean, &[], true),
            MetadataType::Boolean
        );

        let mut types = vec![
            MetadataType::Integer,
            MetadataType::Date,
            MetadataType::Boolean,
        ];
        widen_all(
            &mut types,
            &[vec![
                Cell::Int(2),
                Cell::Str("2020-01-01".into()),
                Cell::Null,
            ]],
        );
        assert_eq!(
            types,
            vec![
                MetadataType::Integer,
                MetadataType::Date,
                MetadataType::Boolean
            ]
        );
        widen_all(
            &mut types,
            &[vec![Cell::Float(2.5), Cell::Null, Cell::Bool(true)]],
        );
        assert_eq!(
            types,
            vec![
                MetadataType::Number,
                MetadataType::Date,
                MetadataType::Boolean
            ]
        );
        widen_all(
            &mut types,
            &[vec![Cell::Int(1), Cell::Str("tomorrow".into()), Cell::Null]],
        );
        assert_eq!(
            types,
            vec![
                MetadataType::Number,
                MetadataType::String,
                MetadataType::Boolean
            ]
        );
    }
}
