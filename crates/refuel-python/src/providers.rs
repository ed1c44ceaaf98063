//! The providers handed to datafusion-python: ours, with every future polled inside this
//! module's runtime.
//!
//! datafusion-ffi enters the runtime it is given while executing a plan and polling its
//! streams, but polls `SchemaProvider::table`, `TableProvider::scan` and `insert_into` on
//! the host's threads with no runtime of this library's tokio entered: those futures would
//! find no reactor for their HTTP calls. These wrappers enter it around every poll, and
//! refuse to run in a process forked after the Refuel objects were made.

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

use crate::runtime::Origin;

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

/// Where the providers' futures run: the module's runtime, in the process the Refuel
/// objects were made in (their clients' connections belong to it).
#[derive(Debug, Clone)]
struct Home {
    handle: Handle,
    origin: Origin,
}

impl Home {
    /// `fut`, polled inside the runtime; an error in a process forked after the Refuel
    /// object was made (its connections would wait forever there).
    async fn run<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.origin
            .check("Refuel catalog")
            .map_err(DataFusionError::Execution)?;
        InRuntime {
            handle: self.handle.clone(),
            fut: Box::pin(fut),
        }
        .await
    }
}

/// The Refuel catalog as datafusion-python sees it: projects as schemas.
#[derive(Debug)]
pub(crate) struct RuntimeCatalog {
    inner: Arc<refuel_datafusion::RefuelCatalog>,
    home: Home,
}

impl RuntimeCatalog {
    /// `inner`, made in `origin`, with its futures run on `handle`'s runtime.
    pub(crate) fn new(
        inner: Arc<refuel_datafusion::RefuelCatalog>,
        handle: Handle,
        origin: Origin,
    ) -> Self {
        Self {
            inner,
            home: Home { handle, origin },
        }
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
                home: self.home.clone(),
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
    home: Home,
}

#[async_trait]
impl SchemaProvider for RuntimeSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let table = self.home.run(self.inner.table(name)).await?;
        Ok(table.map(|inner| {
            Arc::new(RuntimeTable {
                inner,
                home: self.home.clone(),
            }) as Arc<dyn TableProvider>
        }))
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
    home: Home,
}

impl RuntimeTable {
    /// `inner`, made in `origin`, with its futures run on `handle`'s runtime.
    pub(crate) fn wrap(
        inner: Arc<dyn TableProvider>,
        handle: Handle,
        origin: Origin,
    ) -> Arc<dyn TableProvider> {
        Arc::new(Self {
            inner,
            home: Home { handle, origin },
        })
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
        self.home
            .run(self.inner.scan(state, projection, filters, limit))
            .await
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.home
            .run(self.inner.insert_into(state, input, insert_op))
            .await
    }
}

// Dropped in a forked child (an inherited datafusion-python session), the Refuel objects
// are kept: see `Origin::keep_if_forked`.
impl Drop for RuntimeCatalog {
    fn drop(&mut self) {
        self.home.origin.keep_if_forked(&self.inner);
    }
}

impl Drop for RuntimeSchema {
    fn drop(&mut self) {
        self.home.origin.keep_if_forked(&self.inner);
    }
}

impl Drop for RuntimeTable {
    fn drop(&mut self) {
        self.home.origin.keep_if_forked(&self.inner);
    }
}
