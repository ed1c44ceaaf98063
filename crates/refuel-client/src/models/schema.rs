//! Dataset schemas: a JSON-schema object whose properties are the dataset's columns.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::lenient::{lenient, null_as_default, null_as_unknown, unknown};

super::wire_enum! {
    /// The type of a dataset column.
    ColumnType {
        /// Text.
        String => "string",
        /// A number (integer or floating point).
        Number => "number",
        /// `true` or `false`.
        Boolean => "boolean",
        /// An image reference.
        Image => "image",
        /// A PDF reference.
        Pdf => "pdf",
    }
}

/// One column of a dataset schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The column's name (the property's key is what counts).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The column's type; `Other("")` when the server sent none.
    #[serde(
        rename = "type",
        default = "unknown",
        deserialize_with = "null_as_unknown"
    )]
    pub column_type: ColumnType,
    /// The column's position in the dataset (0-based).
    #[serde(default, deserialize_with = "lenient")]
    pub order: Option<u32>,
}

/// A dataset schema: `{"type": "object", "properties": {column: ColumnSchema}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSchema {
    /// Always `"object"`.
    #[serde(
        rename = "type",
        default = "object_type",
        deserialize_with = "null_as_default"
    )]
    pub schema_type: String,
    /// The columns, keyed by name (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub properties: IndexMap<String, ColumnSchema>,
}

fn object_type() -> String {
    "object".to_string()
}

impl Default for DatasetSchema {
    fn default() -> Self {
        Self {
            schema_type: object_type(),
            properties: IndexMap::new(),
        }
    }
}

impl DatasetSchema {
    /// Builds a schema from columns in order.
    pub fn from_columns<I, S>(columns: I) -> Self
    where
        I: IntoIterator<Item = (S, ColumnType)>,
        S: Into<String>,
    {
        let properties = columns
            .into_iter()
            .enumerate()
            .map(|(i, (name, column_type))| {
                let name = name.into();
                let order = u32::try_from(i).ok();
                (
                    name.clone(),
                    ColumnSchema {
                        name,
                        column_type,
                        order,
                    },
                )
            })
            .collect();
        Self {
            schema_type: object_type(),
            properties,
        }
    }

    /// The columns in dataset order (by `order`, then by position in the object), as
    /// `(name, type)`; the name is the property's key.
    pub fn columns(&self) -> Vec<(&str, &ColumnType)> {
        let mut cols: Vec<(usize, &String, &ColumnSchema)> = self
            .properties
            .iter()
            .enumerate()
            .map(|(i, (k, v))| (i, k, v))
            .collect();
        cols.sort_by_key(|(i, _, c)| (c.order.unwrap_or(u32::MAX), *i));
        cols.into_iter()
            .map(|(_, k, c)| (k.as_str(), &c.column_type))
            .collect()
    }

    /// The type of a column, if the schema has it.
    pub fn column_type(&self, name: &str) -> Option<&ColumnType> {
        self.properties.get(name).map(|c| &c.column_type)
    }
}
