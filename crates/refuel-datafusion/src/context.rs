//! Registering Refuel in a `SessionContext`: the catalog, the table function, `STORED AS
//! REFUEL` for reads and writes, and the physical rules.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::CatalogProvider;
use datafusion::error::Result;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::prelude::SessionContext;
use refuel_client::RefuelClient;

use crate::catalog::{REFUEL_ITEMS, RefuelCatalog, RefuelItemsFunction, RefuelTableFactory};
use crate::label::{LabelConfig, LabelGroupKeys, LabelInBatches, RefuelLabel};
use crate::rules::{PushOffsetIntoScan, PushSortThroughFilter};
use crate::write::{RefuelFormatFactory, RefuelWriteOptions};
use datafusion::logical_expr::async_udf::AsyncScalarUDF;
use datafusion::optimizer::AnalyzerRule;

/// DataFusion's default read-ahead of a scan whose order replaced a sort.
const DATAFUSION_SORT_BUFFER: usize = 1 << 30;
/// Ours: what an ordered scan may read ahead of its consumer.
const SORT_BUFFER: usize = 32 << 20;

/// Registers Refuel in a `SessionContext`.
#[async_trait]
pub trait RefuelContextExt {
    /// Registers the client's team as catalog `name` (`name.<project>.<table>`; `CREATE
    /// TABLE name.<project>.<new> AS ...` makes a dataset), the `refuel_items` table
    /// function, the `refuel_label(application, inputs...)` function (see [`crate::label`];
    /// names resolve in the client's project, and its `refuel.label.*` options), `STORED AS
    /// REFUEL` for `CREATE EXTERNAL TABLE` (reads) and `COPY ... TO
    /// 'refuel://<project>/<dataset>'` (new datasets, streamed), and adds the
    /// physical rules that push ORDER BY past filters ([`PushSortThroughFilter`]), label in
    /// small batches with a fetch ([`LabelInBatches`]) and push OFFSET into scans
    /// ([`PushOffsetIntoScan`]). Unless the session set it, it lowers
    /// `datafusion.execution.sort_pushdown_buffer_capacity` from 1 GiB to 32 MiB: how far an
    /// ordered scan reads ahead of its consumer.
    ///
    /// Returns the catalog, e.g. to [`RefuelCatalog::refresh`] it.
    async fn register_refuel(
        &self,
        name: &str,
        client: RefuelClient,
    ) -> Result<Arc<RefuelCatalog>> {
        self.register_refuel_with(name, client, RefuelWriteOptions::default())
            .await
    }

    /// The same, with how new datasets are written: by `CREATE TABLE ... AS` and, as
    /// defaults, by `COPY ... TO 'refuel://<project>/<dataset>' STORED AS REFUEL` (see
    /// [`crate::write`]).
    async fn register_refuel_with(
        &self,
        name: &str,
        client: RefuelClient,
        writes: RefuelWriteOptions,
    ) -> Result<Arc<RefuelCatalog>>;
}

#[async_trait]
impl RefuelContextExt for SessionContext {
    async fn register_refuel_with(
        &self,
        name: &str,
        client: RefuelClient,
        writes: RefuelWriteOptions,
    ) -> Result<Arc<RefuelCatalog>> {
        let catalog = Arc::new(RefuelCatalog::try_new_with(client.clone(), writes.clone()).await?);
        self.register_catalog(name, Arc::clone(&catalog) as Arc<dyn CatalogProvider>);
        self.register_udtf(
            REFUEL_ITEMS,
            Arc::new(RefuelItemsFunction::new(
                Arc::clone(&catalog),
                name,
                client.project().map(str::to_string),
            )),
        );
        let label = Arc::new(RefuelLabel::new(Arc::clone(catalog.applications())));
        self.register_udf(AsyncScalarUDF::new(Arc::clone(&label) as _).into_scalar_udf());
        let state_ref = self.state_ref();
        let mut state = state_ref.write();
        state.table_factories_mut().insert(
            "REFUEL".to_string(),
            Arc::new(RefuelTableFactory::new(client.clone())),
        );
        state.register_file_format(Arc::new(RefuelFormatFactory::new(client, writes)), true)?;
        install_refuel_planning(&mut state, Some(label));
        Ok(catalog)
    }
}

/// Installs Refuel's planning in a session's state, with no catalog or client: the physical
/// rules that push ORDER BY past filters ([`PushSortThroughFilter`]) and OFFSET into scans
/// ([`PushOffsetIntoScan`]), the `refuel.label.*` options, and the ordered scans' read-ahead
/// (lowered from 1 GiB to 32 MiB unless set). With the session's `refuel_label` function,
/// also the rules that label in small batches ([`LabelInBatches`]) and group labeling
/// inputs ([`LabelGroupKeys`]). Installing again replaces them.
///
/// [`RefuelContextExt::register_refuel`] calls it; a process that plans Refuel scans
/// without a catalog of its own (a Ballista scheduler) calls it alone.
pub fn install_refuel_planning(state: &mut SessionState, label: Option<Arc<RefuelLabel>>) {
    let labels = label.map(LabelInBatches::new);
    let ours = [
        PushSortThroughFilter.name().to_string(),
        LabelInBatches::NAME.to_string(),
        PushOffsetIntoScan.name().to_string(),
    ];
    // Ours first (the sort, before DataFusion plans distribution; labeling in batches,
    // before LimitPushdown gives it its fetch) and last (the offset, once DataFusion has
    // placed its limits).
    let mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> =
        vec![Arc::new(PushSortThroughFilter)];
    let with_labels = labels.is_some();
    if let Some(labels) = labels {
        rules.push(Arc::new(labels));
    }
    rules.extend(
        state
            .physical_optimizers()
            .iter()
            .filter(|r| !ours.iter().any(|n| n == r.name()))
            .cloned(),
    );
    rules.push(Arc::new(PushOffsetIntoScan));
    let mut builder =
        SessionStateBuilder::new_from_existing(state.clone()).with_physical_optimizer_rules(rules);
    if with_labels
        && !state
            .analyzer()
            .rules
            .iter()
            .any(|r| r.name() == LabelGroupKeys.name())
    {
        builder = builder.with_analyzer_rule(Arc::new(LabelGroupKeys));
    }
    *state = builder.build();
    let options = state.config_mut().options_mut();
    if options.extensions.get::<LabelConfig>().is_none() {
        options.extensions.insert(LabelConfig::default());
    }
    let execution = &mut options.execution;
    if execution.sort_pushdown_buffer_capacity == DATAFUSION_SORT_BUFFER {
        // An ordered scan read ahead of its consumer: a few pages, not a gigabyte.
        execution.sort_pushdown_buffer_capacity = SORT_BUFFER;
    }
}
