//! Parquet files, read through Arrow.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::temporal_conversions::{date32_to_datetime, date64_to_datetime};
use arrow_array::types::{
    Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use refuel_client::models::ColumnType;

use super::{IngestError, check_header};
use crate::model::Cell;
use crate::model::Table;
use crate::model::{MetadataType, is_iso_date};

/// Reads a Parquet file into typed rows.
pub(crate) fn read_parquet(path: &Path) -> Result<Table, IngestError> {
    let file =
        std::fs::File::open(path).map_err(|e| IngestError(format!("cannot open the file: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| IngestError(format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    check_header(&names)?;
    let columns: Vec<(String, ColumnType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), column_type(f.data_type())))
        .collect();
    let arrow_types: Vec<DataType> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(|e| IngestError(format!("not a readable Parquet file: {e}")))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch =
            batch.map_err(|e| IngestError(format!("Parquet data cannot be decoded: {e}")))?;
        append_rows(&batch, &mut rows)?;
    }
    let mut table = Table::infer(columns, rows, false);
    for (i, dt) in arrow_types.iter().enumerate() {
        let cells = || table.rows.iter().filter_map(|r| r.get(i));
        let decided = match dt {
            // Dates are rendered `YYYY-MM-DD`; one outside years 0..=9999 makes it text.
            DataType::Date32 | DataType::Date64 => Some(
                if cells().all(|c| match c {
                    Cell::Str(s) => is_iso_date(s),
                    other => other.is_null(),
                }) {
                    MetadataType::Date
                } else {
                    MetadataType::String
                },
            ),
            // A float or decimal column without values is not an integer column.
            d if d.is_floating()
                || matches!(d, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
            {
                (!cells().any(|c| !c.is_null())).then_some(MetadataType::Number)
            }
            _ => None,
        };
        if let (Some(t), Some(slot)) = (decided, table.metadata.get_mut(i)) {
            *slot = t;
        }
    }
    Ok(table)
}

fn column_type(dt: &DataType) -> ColumnType {
    match dt {
        DataType::Boolean => ColumnType::Boolean,
        d if d.is_numeric() => ColumnType::Number,
        _ => ColumnType::String,
    }
}

fn append_rows(batch: &RecordBatch, rows: &mut Vec<Vec<Cell>>) -> Result<(), IngestError> {
    let start = rows.len();
    rows.extend((0..batch.num_rows()).map(|_| Vec::with_capacity(batch.num_columns())));
    for (c, column) in batch.columns().iter().enumerate() {
        let name = batch.schema().field(c).name().clone();
        for (r, row) in rows[start..].iter_mut().enumerate() {
            row.push(
                cell(column.as_ref(), r)
                    .map_err(|e| IngestError(format!("column '{name}': {e}")))?,
            );
        }
    }
    Ok(())
}

fn cell(array: &dyn Array, i: usize) -> Result<Cell, String> {
    if array.is_null(i) {
        return Ok(Cell::Null);
    }
    macro_rules! int {
        ($t:ty) => {
            Cell::Int(i64::from(array.as_primitive::<$t>().value(i)))
        };
    }
    Ok(match array.data_type() {
        DataType::Boolean => Cell::Bool(array.as_boolean().value(i)),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(i);
            i64::try_from(v)
                .map(Cell::Int)
                .unwrap_or(Cell::Float(v as f64))
        }
        DataType::Float16 => float(f64::from(
            array.as_primitive::<Float16Type>().value(i).to_f32(),
        )),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Date32 => date(date32_to_datetime(
            array.as_primitive::<Date32Type>().value(i),
        )),
        DataType::Date64 => date(date64_to_datetime(
            array.as_primitive::<Date64Type>().value(i),
        )),
        DataType::Utf8 => Cell::Str(array.as_string::<i32>().value(i).into()),
        DataType::LargeUtf8 => Cell::Str(array.as_string::<i64>().value(i).into()),
        DataType::Utf8View => Cell::Str(array.as_string_view().value(i).into()),
        other => {
            let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())
                .map_err(|e| format!("values of type {other} cannot be shown as text: {e}"))?;
            let text = formatter.value(i).to_string();
            if other.is_numeric() {
                Cell::parse_number(&text).unwrap_or(Cell::Str(text.into()))
            } else {
                Cell::Str(text.into())
            }
        }
    })
}

fn date(value: Option<chrono::NaiveDateTime>) -> Cell {
    match value {
        Some(t) => Cell::Str(t.date().format("%Y-%m-%d").to_string().into()),
        None => Cell::Null,
    }
}

fn float(f: f64) -> Cell {
    if f.is_finite() {
        Cell::Float(f)
    } else {
        Cell::Null
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        BooleanArray, Date32Array, Date64Array, Float64Array, Int32Array, StringArray,
    };
    use arrow_schema::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;

    #[test]
    fn reads_types_and_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Float64Array::from(vec![Some(0.5), None])),
                Arc::new(BooleanArray::from(vec![Some(true), None])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let t = super::super::read_file(&path).unwrap();
        assert_eq!(
            t.columns,
            vec![
                ("id".to_string(), ColumnType::Number),
                ("name".to_string(), ColumnType::String),
                ("score".to_string(), ColumnType::Number),
                ("ok".to_string(), ColumnType::Boolean),
            ]
        );
        assert_eq!(
            t.rows[0],
            vec![
                Cell::Int(1),
                Cell::Str("a".into()),
                Cell::Float(0.5),
                Cell::Bool(true)
            ]
        );
        assert_eq!(
            t.rows[1],
            vec![Cell::Int(2), Cell::Null, Cell::Null, Cell::Null]
        );
    }

    #[test]
    fn dates_and_integers_get_their_metadata_types() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("d32", DataType::Date32, true),
            Field::new("d64", DataType::Date64, true),
            Field::new("i", DataType::Int32, true),
            Field::new("f", DataType::Float64, true),
            Field::new("empty_f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Date32Array::from(vec![Some(19_782), None])),
                Arc::new(Date64Array::from(vec![Some(1_709_164_800_000), None])),
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0)])),
                Arc::new(Float64Array::from(vec![None, None])),
                Arc::new(StringArray::from(vec![Some("2024-01-01"), None])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let t = super::super::read_file(&path).unwrap();
        assert_eq!(t.columns[0].1, ColumnType::String);
        assert_eq!(t.rows[0][0], Cell::Str("2024-02-29".into()));
        assert_eq!(t.rows[0][1], Cell::Str("2024-02-29".into()));
        assert_eq!(
            t.metadata,
            vec![
                MetadataType::Date,
                MetadataType::Date,
                MetadataType::Integer,
                MetadataType::Number,
                MetadataType::Number,
                MetadataType::String,
            ]
        );
    }
}
