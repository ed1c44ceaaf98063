//! `refuel_items('[<project>/]<dataset>' [, '<task>'])`: a dataset as a table function.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;

use super::RefuelCatalog;

/// The name of the table function [`RefuelItemsFunction`].
pub const REFUEL_ITEMS: &str = "refuel_items";

/// `refuel_items('[<project>/]<dataset>' [, '<task>'])`: a dataset (with a task's labels) as
/// a table. Without a project, the client's (`REFUEL_PROJECT`).
#[derive(Debug)]
pub struct RefuelItemsFunction {
    catalog: Arc<RefuelCatalog>,
    /// The name the catalog is registered under.
    catalog_name: String,
    default_project: Option<String>,
}

impl RefuelItemsFunction {
    /// The function over `catalog`, registered as `catalog_name`; a dataset named without
    /// a project is looked for in the session's current schema when it is one of the
    /// catalog's, else in `default_project`.
    pub fn new(
        catalog: Arc<RefuelCatalog>,
        catalog_name: impl Into<String>,
        default_project: Option<String>,
    ) -> Self {
        Self {
            catalog,
            catalog_name: catalog_name.into(),
            default_project,
        }
    }
}

fn text_arg(e: &Expr, what: &str) -> Result<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!(
            "refuel_items: the {what} must be a string literal, got {other}"
        ))),
    }
}

impl TableFunctionImpl for RefuelItemsFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 2 {
            return Err(DataFusionError::Plan("refuel_items takes a dataset and, optionally, a task: refuel_items('<dataset>' [, '<task>'])".into()));
        }
        let dataset = text_arg(&exprs[0], "dataset")?;
        let task = exprs.get(1).map(|e| text_arg(e, "task")).transpose()?;
        let (project, dataset) = match dataset.split_once('/') {
            Some((p, d)) => (p.to_string(), d.to_string()),
            None => {
                // The session's current project when it is one of ours, else the client's.
                let options = &args.session().config_options().catalog;
                let current = (options.default_catalog == self.catalog_name)
                    .then(|| options.default_schema.clone())
                    .filter(|p| self.catalog.project(p).is_ok());
                let project = current.or_else(|| self.default_project.clone()).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "refuel_items('{dataset}'): no project is set; write '<project>/{dataset}'"
                    ))
                })?;
                (project, dataset)
            }
        };
        let schema = self.catalog.project(&project)?;
        Ok(Arc::new(schema.dataset_table(&dataset, task.as_deref())?))
    }
}
