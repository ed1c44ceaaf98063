//! The wire model: serde types for every resource of the Refuel API.
//!
//! These types are shared by the client, the DataFusion provider and the emulator, so the
//! request and response shapes are defined exactly once. Responses tolerate drift: unknown
//! fields are ignored, missing optional fields become `None`, and enums carry an `Other`
//! catch-all for values this version does not know.

pub mod application;
pub mod dataset;
pub mod envelope;
pub mod filter;
pub mod finetune;
pub mod item;
pub mod lenient;
pub mod project;
pub mod run;
pub mod schema;
pub mod task;
pub mod task_rules;

pub use application::{Application, FieldOutput, LabelOutput, LabelResponse, Usage};
pub use dataset::{
    ColumnMetadata, Dataset, DatasetSource, DatasetSummary, IngestStatus, MetadataType,
};
pub use envelope::Envelope;
pub use filter::{Direction, Filter, FilterOp, FilterType, FilterValueType, OrderBy};
pub use finetune::{BASE_MODELS, ExportCreated, FinetuneRequest, Hyperparameters, LabelingModel};
pub use item::{ItemQuery, Label, LabeledItem, Row};
pub use project::Project;
pub use run::{Metric, RunMetrics, RunStatus, TaskRun};
pub use schema::{ColumnSchema, ColumnType, DatasetSchema};
pub use task::{FieldType, MODELS, Subtask, Task, TaskSettings, model_id};
pub use task_rules::{FieldSpec, InvalidTask, KNOWN_FIELD_TYPES, check_fields};

/// The id of the catalog project whose applications the Python SDK lists at start-up.
pub const APP_CATALOG_PROJECT_ID: &str = "fb327444-e5ad-4808-88c9-4dc1ea8f086b";

/// Declares a string enum with known variants and an `Other(String)` catch-all, serialized
/// as its wire string.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of the wire model does not know.
            Other(String),
        }

        impl $name {
            /// The value as it travels on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok(s.parse().unwrap_or_else(|never| match never {}))
            }
        }
    };
}
pub(crate) use wire_enum;
