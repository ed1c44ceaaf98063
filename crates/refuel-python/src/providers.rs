//! The providers handed to datafusion-python: ours, with every future polled inside this
//! module's runtime.
//!
//! datafusion-ffi enters the runtime it is given while executing a plan and polling its
//! streams, but polls `SchemaProvider::table`, `TableProvider::scan` and `insert_into` on
//! the host's threads with no runtime of this library's tokio entered: those futures would
//! find no reactor for their HTTP calls. These wrappers enter it around every poll, and
//! refuse to run in a process forked after the module ran in its parent.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use tokio::runtime::Handle;

use crate::runtime::{keep_if_forked, not_forked};

/// `fut`, polled with `handle`'s runtime entered.
struct InRuntime<F> {
    handle: Handle,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.handle.enter();
        self.fut.as_mut().poll(cx)
    }
}

/// `fut`, polled inside `handle`'s runtime; an error in a process forked after the
/// runtime started (the providers' connections would wait forever there).
async fn in_runtime<T>(handle: &Handle, fut: impl Future<Output = Result<T>>) -> Result<T> {
    not_forked().map_err(DataFusionError::Execution)?;
    InRuntime {
        handle: handle.clone(),
        fut: Box::pin(fut),
    }
    .await
}

/// The Refuel catalog as datafusion-python sees it: projects as schemas.
#[derive(Debug)]
pub(crate) struct RuntimeCatalog {
    inner: Arc<refuel_datafusion::RefuelCatalog>,
    handle: Handle,
}

impl RuntimeCatalog {
    /// `inner`, with its futures run on `handle`'s runtime.
    pub(crate) fn new(inner: Arc<refuel_datafusion::RefuelCatalog>, handle: Handle) -> Self {
        Self { inner, handle }
    }
}

impl CatalogProvider for RuntimeCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.inner.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.inner.schema(name).map(|inner| {
            Arc::new(RuntimeSchema {
                inner,
                handle: self.handle.clone(),
            }) as Arc<dyn SchemaProvider>
        })
    }

    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(DataFusionError::Plan(format!(
            "CREATE SCHEMA {name}: the schemas of a Refuel catalog are the team's projects; \
             make projects with the Refuel client or the web app"
        )))
    }
}

/// A project as datafusion-python sees it.
#[derive(Debug)]
struct RuntimeSchema {
    inner: Arc<dyn SchemaProvider>,
    handle: Handle,
}

#[async_trait]
impl SchemaProvider for RuntimeSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = in_runtime(&self.handle, self.inner.table(name)).await?;
        Ok(table.map(|t| RuntimeTable::wrap(t, self.handle.clone())))
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        // What datafusion-python registers here (CREATE TABLE ... AS, register_table) is a
        // table of its own library: its rows cannot be read from this side of the FFI
        // boundary as a dataset to create.
        Err(DataFusionError::Plan(format!(
            "cannot create table '{name}' in a Refuel schema from datafusion-python: \
             CREATE TABLE ... AS and register_table do not cross the FFI boundary; write the \
             rows with refuel_datafusion.write_dataset(ctx.sql(\"SELECT ...\"), '{name}', \
             project=...) instead"
        )))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// A Refuel table as datafusion-python sees it.
#[derive(Debug)]
pub(crate) struct RuntimeTable {
    inner: Arc<dyn TableProvider>,
    handle: Handle,
}

impl RuntimeTable {
    /// `inner`, with its futures run on `handle`'s runtime.
    pub(crate) fn wrap(inner: Arc<dyn TableProvider>, handle: Handle) -> Arc<dyn TableProvider> {
        Arc::new(Self { inner, handle })
    }
}

#[async_trait]
impl TableProvider for RuntimeTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        in_runtime(
            &self.handle,
            self.inner.scan(state, projection, filters, limit),
        )
        .await
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        in_runtime(
            &self.handle,
            self.inner.insert_into(state, input, insert_op),
        )
        .await
    }
}

// Dropped in a forked child (an inherited datafusion-python session), the Refuel objects
// are kept: see `keep_if_forked`.
impl Drop for RuntimeCatalog {
    fn drop(&mut self) {
        keep_if_forked(&self.inner);
    }
}

impl Drop for RuntimeSchema {
    fn drop(&mut self) {
        keep_if_forked(&self.inner);
    }
}

impl Drop for RuntimeTable {
    fn drop(&mut self) {
        keep_if_forked(&self.inner);
    }
}
