//! CSV files: header, type inference, typed rows.

use std::path::Path;

use refuel_client::models::ColumnType;

use super::{IngestError, check_header};
use crate::model::Cell;
use crate::model::Table;

/// What the cells of one column seen so far allow it to be.
#[derive(Debug, Clone, Copy)]
struct Inference {
    all_bool: bool,
    all_number: bool,
}

impl Inference {
    fn column_type(self, seen_values: bool) -> ColumnType {
        match (seen_values, self.all_bool, self.all_number) {
            (false, _, _) => ColumnType::String,
            (true, true, _) => ColumnType::Boolean,
            (true, false, true) => ColumnType::Number,
            _ => ColumnType::String,
        }
    }
}

/// Reads a CSV file with a header into typed rows (see the module docs of `ingest`).
pub(crate) fn read_csv(path: &Path) -> Result<Table, IngestError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| IngestError(format!("cannot open the file: {e}")))?;
    let mut records = reader.byte_records();
    let header = match records.next() {
        None => {
            return Err(IngestError(
                "the file is empty: a CSV header is required".into(),
            ));
        }
        Some(r) => r.map_err(|e| csv_error(&e))?,
    };
    let mut names = Vec::with_capacity(header.len());
    for (i, field) in header.iter().enumerate() {
        let text = std::str::from_utf8(field).map_err(|_| {
            IngestError(format!(
                "line 1 (the header) is not valid UTF-8 (column {})",
                i + 1
            ))
        })?;
        let text = if i == 0 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        names.push(text.trim().to_string());
    }
    check_header(&names)?;
    let width = names.len();
    let mut raw: Vec<Vec<Option<Box<str>>>> = Vec::new();
    let mut inference = vec![
        Inference {
            all_bool: true,
            all_number: true
        };
        width
    ];
    let mut seen = vec![false; width];
    for record in records {
        let record = record.map_err(|e| csv_error(&e))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) && width > 1 {
            // A blank line.
            continue;
        }
        if record.len() != width {
            return Err(IngestError(format!(
                "line {line} has {} fields but the header has {width}",
                record.len()
            )));
        }
        let mut row = Vec::with_capacity(width);
        for (i, field) in record.iter().enumerate() {
            let text = std::str::from_utf8(field).map_err(|_| {
                IngestError(format!(
                    "line {line} is not valid UTF-8 (column '{}')",
                    names[i]
                ))
            })?;
            if text.is_empty() {
                row.push(None);
                continue;
            }
            seen[i] = true;
            let inf = &mut inference[i];
            if inf.all_bool && Cell::parse_bool(text).is_none() {
                inf.all_bool = false;
            }
            if inf.all_number && Cell::parse_number(text).is_none() {
                inf.all_number = false;
            }
            row.push(Some(text.into()));
        }
        raw.push(row);
    }
    let columns: Vec<(String, ColumnType)> = names
        .into_iter()
        .zip(inference.iter().zip(&seen))
        .map(|(name, (inf, seen))| (name, inf.column_type(*seen)))
        .collect();
    let types: Vec<ColumnType> = columns.iter().map(|(_, t)| t.clone()).collect();
    let rows = raw
        .into_iter()
        .map(|row| {
            row.into_iter()
                .zip(&types)
                .map(|(v, ty)| typed_cell(v, ty))
                .collect()
        })
        .collect();
    Ok(Table::infer(columns, rows, true))
}

fn typed_cell(value: Option<Box<str>>, ty: &ColumnType) -> Cell {
    let Some(text) = value else { return Cell::Null };
    match ty {
        ColumnType::Boolean => Cell::parse_bool(&text)
            .map(Cell::Bool)
            .unwrap_or(Cell::Null),
        ColumnType::Number => Cell::parse_number(&text).unwrap_or(Cell::Null),
        _ => Cell::Str(text),
    }
}

fn csv_error(e: &::csv::Error) -> IngestError {
    match e.kind() {
        ::csv::ErrorKind::Utf8 { pos, .. } => IngestError(format!(
            "line {} is not valid UTF-8",
            pos.as_ref().map(|p| p.line()).unwrap_or(0)
        )),
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => IngestError(format!(
            "line {} has {len} fields but the header has {expected_len}",
            pos.as_ref().map(|p| p.line()).unwrap_or(0)
        )),
        _ => IngestError(format!("the CSV cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Result<Table, IngestError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, text).unwrap();
        read_csv(&path)
    }

    #[test]
    fn infers_types_and_nulls() {
        let t = read(
            b"\xef\xbb\xbfid,name,score,ok,empty\n1,a,1.5,true,\n2,\"b,c\",,FALSE,\n3,,7,false,\n",
        )
        .unwrap();
        let types: Vec<_> = t
            .columns
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("id", ColumnType::Number),
                ("name", ColumnType::String),
                ("score", ColumnType::Number),
                ("ok", ColumnType::Boolean),
                ("empty", ColumnType::String),
            ]
        );
        assert_eq!(
            t.rows[0],
            vec![
                Cell::Int(1),
                Cell::Str("a".into()),
                Cell::Float(1.5),
                Cell::Bool(true),
                Cell::Null
            ]
        );
        assert_eq!(t.rows[1][1], Cell::Str("b,c".into()));
        assert_eq!(t.rows[1][2], Cell::Null);
        assert_eq!(t.rows[2][1], Cell::Null);
    }

    #[test]
    fn ragged_rows_name_the_line() {
        let err = read(b"a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(err.0, "line 3 has 1 fields but the header has 2");
        let err = read(b"a,b\n1,2\n3,4,5\n").unwrap_err();
        assert!(err.0.starts_with("line 3 has 3 fields"), "{}", err.0);
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let err = read(b"a,b\n1,2\n3,\xff\xfe\n").unwrap_err();
        assert!(
            err.0.contains("line 3") && err.0.contains("UTF-8"),
            "{}",
            err.0
        );
    }

    #[test]
    fn bad_headers() {
        assert!(read(b"").unwrap_err().0.contains("empty"));
        assert!(read(b"a,a\n1,2\n").unwrap_err().0.contains("twice"));
        assert!(read(b"a,,c\n1,2,3\n").unwrap_err().0.contains("column 2"));
    }
}
