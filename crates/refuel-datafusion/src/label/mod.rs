//! LLM labeling from SQL: `refuel_label(application, input1 [, input2 ...])`.
//!
//! - **Binding**: the values after the application's name bind to its input columns in
//!   their order (the input columns of its fields, in the order they first appear); the
//!   one-argument form also takes a struct (`named_struct('text', t, 'source', s)`) whose
//!   field names are input columns. `'project/app'` names an application of another
//!   project than the current one.
//! - **Result**: a struct with one child per application field, each `{label, confidence,
//!   explanation, error}`; `label` is a list of strings for multilabel fields, a string
//!   otherwise. `refuel_label('app', text)['sentiment']['label']` reads a label.
//! - **Planning** ([`directory`]): the application is looked up when the query is planned,
//!   in a per-project listing listed again on a miss, so unknown applications, wrong
//!   arity and unknown input names fail at planning, naming the input columns.
//! - **Running** ([`exec`], [`run`]): rows are labeled in small batches
//!   (`refuel.label.batch_size`, 32 by default), each row a label request through the
//!   client's request limiter and retries, concurrently within a batch, results in row
//!   order. A row whose inputs are all NULL gives NULL and sends nothing. Identical inputs
//!   are labeled once per query: each plan gets one de-duplication state from the
//!   [`LabelInBatches`] rule, dropped with the plan. A `LIMIT` above the function (no
//!   filter on its result in between) becomes the node's fetch: no more rows than the
//!   limit are labeled, across partitions; with a filter on the result, labeling stops
//!   when the query has its rows, with at most one batch per partition labeled beyond.
//! - **Where**: in projections, filters, aggregate arguments and grouping keys (the
//!   [`LabelGroupKeys`] analyzer rule moves those into a projection); DataFusion runs no
//!   async function in join conditions, ORDER BY keys or window arguments: label in a
//!   subquery first.
//! - **Options** ([`options`]): `SET refuel.label.explain = true`, `refuel.label.on_error =
//!   'fail' | 'null'`, `refuel.label.model = '...'`, `refuel.label.max_rows = N` (the most
//!   distinct inputs a query sends; it fails before sending more), `refuel.label.batch_size`.

pub mod directory;
pub mod exec;
pub mod group_by;
pub mod options;
pub mod output;
pub mod run;
pub mod udf;

pub use directory::{ApplicationDirectory, LabelApp};
pub use exec::{LabelInBatches, RefuelLabelExec};
pub use group_by::LabelGroupKeys;
pub use options::{LabelConfig, OnError};
pub use run::LabelRun;
pub use udf::{REFUEL_LABEL, RefuelLabel};
