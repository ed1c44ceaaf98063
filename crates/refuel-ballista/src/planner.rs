//! The scheduler's query planner: DataFusion's, then the partitions' row ranges of every
//! Refuel scan fixed (one count per scan, in the plan), so the tasks that run the plan's
//! copies on the executors read exactly the rows planned, and each scan cut into slices
//! Ballista can hand out per task ([`crate::slice`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use refuel_datafusion::RefuelScanExec;

/// DataFusion's planner, then [`RefuelScanExec::plan_ranges`] on each Refuel scan of the
/// plan, and the scans cut into slices ([`crate::slice::slice_scans`]). `EXPLAIN` (without
/// `ANALYZE`) counts nothing and shows the scans whole.
///
/// A count the API answers "not found" means the dataset is not the cluster's team's:
/// the error says so rather than reading anything else.
#[derive(Debug, Default)]
pub struct RefuelQueryPlanner;

#[async_trait]
impl QueryPlanner for RefuelQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await?;
        if matches!(logical_plan, LogicalPlan::Explain(_)) {
            return Ok(plan);
        }
        plan_ranges(&plan).await?;
        crate::slice::slice_scans(plan)
    }
}

/// Fixes the row ranges of every Refuel scan in `plan` (see
/// [`RefuelScanExec::plan_ranges`]), the scans' counts asked for at once.
pub async fn plan_ranges(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    let mut scans = Vec::new();
    plan.apply(|node| {
        if node.is::<RefuelScanExec>() {
            scans.push(Arc::clone(node));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let planned = scans.iter().filter_map(|node| {
        let scan = node.downcast_ref::<RefuelScanExec>()?;
        Some(async move {
            scan.plan_ranges().await.map_err(|e| {
                if is_not_found(&e) {
                    DataFusionError::Plan(format!(
                        "Refuel table {} is not visible with the cluster's API key ({e}): the \
                         client's key belongs to another team than the cluster's, or the \
                         dataset was deleted",
                        scan.table_name()
                    ))
                } else {
                    e.context(format!("counting the rows of {}", scan.table_name()))
                }
            })
        })
    });
    futures::future::try_join_all(planned).await.map(drop)
}

/// Whether the API answered "not found".
fn is_not_found(e: &DataFusionError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(client) = err.downcast_ref::<refuel_client::Error>() {
            return client.is_not_found();
        }
        source = err.source();
    }
    false
}
