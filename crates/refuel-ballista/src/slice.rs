//! One partition of a Refuel scan as a plan node of its own, so that Ballista can give
//! each task only its share of a scan.
//!
//! Ballista runs a stage as tasks, each over a slice of the stage's partitions, and cuts
//! the stage's plan down to that slice before it sends it: it knows how to cut its own
//! readers, file scans and in-memory scans, and leaves any other leaf whole, so a task
//! would read every partition of a Refuel scan, and the rows would come back once per
//! task. The scheduler's planner therefore turns a scan of N partitions into a
//! `UnionExec` of N [`RefuelScanSlice`]s, each reading one partition of the scan and
//! standing on a one-partition in-memory scan of no rows (its gate). Ballista cuts a
//! union child by cutting its leaves: a gate left out of the task's slice becomes an
//! in-memory scan of no partition, and so does the slice above it, which the union then
//! skips. Each task reads exactly its partitions' rows.
//!
//! The gate is an in-memory scan rather than an `EmptyExec` because Ballista turns a cut
//! `EmptyExec` into an in-memory scan: the two report metrics differently, so the tasks
//! of one stage would report plans of different sizes, which Ballista's scheduler
//! refuses (the task's status is dropped and the job never ends). An in-memory scan
//! stays one, cut or not.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use refuel_datafusion::RefuelScanExec;

/// Partition `partition` of a Refuel scan: one partition while its gate has one, none once
/// Ballista cut its gate away.
#[derive(Debug)]
pub struct RefuelScanSlice {
    scan: Arc<RefuelScanExec>,
    partition: usize,
    gate: Arc<dyn ExecutionPlan>,
    props: Arc<PlanProperties>,
}

impl RefuelScanSlice {
    /// Partition `partition` of `scan`, behind `gate` (a one-partition leaf, or one of
    /// no partition when the slice is not the task's).
    pub fn try_new(
        scan: Arc<RefuelScanExec>,
        partition: usize,
        gate: Arc<dyn ExecutionPlan>,
    ) -> Result<Self> {
        let partitions = gate.properties().output_partitioning().partition_count();
        if partitions > 1 {
            return Err(DataFusionError::Internal(format!(
                "a Refuel scan slice stands on a gate of {partitions} partitions"
            )));
        }
        let from = scan.properties();
        let props = Arc::new(PlanProperties::new(
            from.equivalence_properties().clone(),
            Partitioning::UnknownPartitioning(partitions),
            from.emission_type,
            from.boundedness,
        ));
        Ok(Self {
            scan,
            partition,
            gate,
            props,
        })
    }

    /// The scan, whole.
    pub fn scan(&self) -> &Arc<RefuelScanExec> {
        &self.scan
    }

    /// The scan's partition this slice reads.
    pub fn partition(&self) -> usize {
        self.partition
    }

    /// The gate of a slice that is read: one partition of no batch and no column.
    pub fn open_gate() -> Result<Arc<dyn ExecutionPlan>> {
        let source = MemorySourceConfig::try_new(&[vec![]], Arc::new(Schema::empty()), None)?;
        Ok(DataSourceExec::from_data_source(source))
    }
}

impl DisplayAs for RefuelScanSlice {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RefuelScanSlice: partition {} of {} (table={})",
            self.partition,
            self.scan
                .properties()
                .output_partitioning()
                .partition_count(),
            self.scan.table_name()
        )
    }
}

impl ExecutionPlan for RefuelScanSlice {
    fn name(&self) -> &str {
        "RefuelScanSlice"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.gate]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [gate] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!(
                "a Refuel scan slice has one child, not {}",
                c.len()
            ))
        })?;
        Ok(Arc::new(Self::try_new(
            Arc::clone(&self.scan),
            self.partition,
            gate,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.props.output_partitioning().partition_count();
        if partition >= partitions {
            return Err(DataFusionError::Internal(format!(
                "RefuelScanSlice has {partitions} partitions, not {}",
                partition + 1
            )));
        }
        self.scan.execute(self.partition, context)
    }
}

/// `plan` with each Refuel scan of more than one partition replaced by a union of its
/// partitions' slices (see the module's documentation).
pub fn slice_scans(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(scan) = node.downcast_ref::<RefuelScanExec>() else {
            return Ok(Transformed::no(node));
        };
        let partitions = scan.properties().output_partitioning().partition_count();
        if partitions <= 1 {
            return Ok(Transformed::no(node));
        }
        let scan = Arc::new(scan.clone());
        let slices = (0..partitions)
            .map(|p| {
                RefuelScanSlice::try_new(Arc::clone(&scan), p, RefuelScanSlice::open_gate()?)
                    .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Transformed::yes(UnionExec::try_new(slices)?))
    })
    .map(|t| t.data)
}
