//! `RefuelLabelExec`: DataFusion's `AsyncFuncExec` for plans whose async functions are all
//! `refuel_label`, with what labeling needs and `AsyncFuncExec` lacks: input labeled in
//! small batches (`refuel.label.batch_size` rows; `AsyncFuncExec` first gathers 8192 rows),
//! a `fetch` (a `LIMIT` above it stops labeling at the limit, across partitions), and one
//! labeling state per plan (identical inputs labeled once per query).
//!
//! [`LabelInBatches`], a physical rule placed before DataFusion's `LimitPushdown`, puts it
//! in place.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::ScalarUDF;
use datafusion::logical_expr::async_udf::AsyncScalarUDF;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::async_scalar_function::AsyncFuncExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::async_func::AsyncFuncExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::options::LabelConfig;
use super::run::LabelRun;
use super::udf::{REFUEL_LABEL, RefuelLabel};

/// Labels its input's rows in batches of `batch_rows`, appending one column per
/// `refuel_label` call (the schema `AsyncFuncExec` has).
#[derive(Debug)]
pub struct RefuelLabelExec {
    async_exprs: Vec<Arc<AsyncFuncExpr>>,
    input: Arc<dyn ExecutionPlan>,
    batch_rows: usize,
    fetch: Option<usize>,
    /// Rows still to label when there is a fetch, shared by the partitions.
    budget: Arc<AtomicUsize>,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RefuelLabelExec {
    /// Over `input`, with the calls `async_exprs` (as `AsyncFuncExec` takes them).
    pub fn try_new(
        async_exprs: Vec<Arc<AsyncFuncExpr>>,
        input: Arc<dyn ExecutionPlan>,
        batch_rows: usize,
        fetch: Option<usize>,
    ) -> Result<Self> {
        // AsyncFuncExec computes the schema and properties of exactly this node.
        let shape = AsyncFuncExec::try_new(async_exprs.clone(), Arc::clone(&input))?;
        Ok(Self {
            async_exprs,
            input,
            batch_rows: batch_rows.max(1),
            fetch,
            budget: Arc::new(AtomicUsize::new(fetch.unwrap_or(usize::MAX))),
            props: Arc::clone(shape.properties()),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// Rows labeled together.
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
    }
}

impl DisplayAs for RefuelLabelExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exprs: Vec<String> = self.async_exprs.iter().map(|e| e.to_string()).collect();
        write!(f, "RefuelLabelExec: batch_size={}", self.batch_rows)?;
        if let Some(fetch) = self.fetch {
            write!(f, ", fetch={fetch}")?;
        }
        write!(f, ", exprs=[{}]", exprs.join(", "))
    }
}

/// Takes up to `want` rows from the shared budget; how many it got.
fn reserve(budget: &AtomicUsize, want: usize) -> usize {
    match budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
        (left > 0).then(|| left - left.min(want))
    }) {
        Ok(left) => left.min(want),
        Err(_) => 0,
    }
}

impl ExecutionPlan for RefuelLabelExec {
    fn name(&self) -> &str {
        "RefuelLabelExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let mut recursion = TreeNodeRecursion::Continue;
        for expr in &self.async_exprs {
            let expr: Arc<dyn PhysicalExpr> = Arc::clone(expr) as Arc<dyn PhysicalExpr>;
            recursion = f(&expr)?;
            if recursion == TreeNodeRecursion::Stop {
                break;
            }
        }
        Ok(recursion)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(input) = children.pop().filter(|_| children.is_empty()) else {
            return Err(DataFusionError::Internal(
                "RefuelLabelExec has one child".into(),
            ));
        };
        Ok(Arc::new(Self::try_new(
            self.async_exprs.clone(),
            input,
            self.batch_rows,
            self.fetch,
        )?))
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        let fetch = match (self.fetch, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self::try_new(
            self.async_exprs.clone(),
            Arc::clone(&self.input),
            self.batch_rows,
            fetch,
        )
        .ok()
        .map(|exec| Arc::new(exec) as Arc<dyn ExecutionPlan>)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let schema: SchemaRef = self.schema();
        let exprs = Arc::new(self.async_exprs.clone());
        let config = Arc::clone(context.session_config().options());
        let batch_rows = self.batch_rows;
        let budget = self.fetch.map(|_| Arc::clone(&self.budget));
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        // Input batches cut to the batch size; with a fetch, only as many rows as the
        // shared budget has left.
        let chunks = input
            .map_ok(move |batch| {
                let pieces: Vec<Result<RecordBatch>> = (0..batch.num_rows())
                    .step_by(batch_rows)
                    .map(|at| Ok(batch.slice(at, batch_rows.min(batch.num_rows() - at))))
                    .collect();
                stream::iter(pieces)
            })
            .try_flatten()
            .scan((), move |(), chunk| {
                let next = match (chunk, &budget) {
                    (Ok(chunk), Some(budget)) => match reserve(budget, chunk.num_rows()) {
                        0 => None,
                        n => Some(Ok(chunk.slice(0, n))),
                    },
                    (other, _) => Some(other),
                };
                futures::future::ready(next)
            });
        // Two batches in flight: the next is labeled while the last is consumed. With a
        // fetch, one: labeling never runs ahead of the limit.
        let ahead = if self.fetch.is_some() { 1 } else { 2 };
        let schema_out = Arc::clone(&schema);
        let labeled = chunks
            .map(move |chunk| {
                let exprs = Arc::clone(&exprs);
                let config = Arc::clone(&config);
                let schema = Arc::clone(&schema_out);
                let metrics = metrics.clone();
                async move {
                    let chunk = chunk?;
                    let mut columns = chunk.columns().to_vec();
                    for expr in exprs.iter() {
                        let value = expr.invoke_with_args(&chunk, Arc::clone(&config)).await?;
                        columns.push(value.to_array(chunk.num_rows())?);
                    }
                    let batch = RecordBatch::try_new(schema, columns)?;
                    metrics.record_output(batch.num_rows());
                    Ok(batch)
                }
            })
            .buffered(ahead);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, labeled)))
    }
}

/// Replaces each `AsyncFuncExec` whose calls are all `refuel_label` by a
/// [`RefuelLabelExec`], and gives the plan's calls one fresh [`LabelRun`] (the query's
/// de-duplication state). Goes before DataFusion's `LimitPushdown`, which then gives the
/// node its fetch.
#[derive(Debug)]
pub struct LabelInBatches {
    label: Arc<RefuelLabel>,
}

impl LabelInBatches {
    /// The rule's name.
    pub const NAME: &'static str = "refuel_label_in_batches";

    /// The rule for the session's `refuel_label`.
    pub fn new(label: Arc<RefuelLabel>) -> Self {
        Self { label }
    }
}

impl PhysicalOptimizerRule for LabelInBatches {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch_rows = config
            .extensions
            .get::<LabelConfig>()
            .map_or(super::options::DEFAULT_BATCH_ROWS, |c| c.batch_size);
        let run = Arc::new(LabelRun::default());
        plan.transform_up(|node| {
            let Some(exec) = node.downcast_ref::<AsyncFuncExec>() else {
                return Ok(Transformed::no(node));
            };
            #[allow(deprecated)]
            let exprs = exec.async_exprs();
            let mut rebuilt = Vec::with_capacity(exprs.len());
            let input_schema = exec.input().schema();
            for expr in exprs {
                let Some(call) = expr.func.downcast_ref::<ScalarFunctionExpr>() else {
                    return Ok(Transformed::no(node));
                };
                if call.fun().name() != REFUEL_LABEL {
                    return Ok(Transformed::no(node));
                }
                if call
                    .fun()
                    .inner()
                    .downcast_ref::<AsyncScalarUDF>()
                    .is_none()
                {
                    return Ok(Transformed::no(node));
                }
                let udf = ScalarUDF::new_from_impl(AsyncScalarUDF::new(Arc::new(
                    self.label.with_run(Arc::clone(&run)),
                )));
                let func = ScalarFunctionExpr::new(
                    call.name(),
                    Arc::new(udf),
                    call.args().to_vec(),
                    call.return_field(&input_schema)?,
                    Arc::new(call.config_options().clone()),
                );
                rebuilt.push(Arc::new(AsyncFuncExpr::try_new(
                    expr.name(),
                    Arc::new(func),
                    &input_schema,
                )?));
            }
            let exec =
                RefuelLabelExec::try_new(rebuilt, Arc::clone(exec.input()), batch_rows, None)?;
            Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_never_overdrawn() {
        let budget = AtomicUsize::new(10);
        assert_eq!(reserve(&budget, 4), 4);
        assert_eq!(reserve(&budget, 4), 4);
        assert_eq!(reserve(&budget, 4), 2);
        assert_eq!(reserve(&budget, 4), 0);
        assert_eq!(budget.load(Ordering::SeqCst), 0);
    }
}
