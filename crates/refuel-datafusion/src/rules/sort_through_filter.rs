//! ORDER BY pushdown past a filter that stays in DataFusion.
//!
//! DataFusion's own `PushdownSort` rule asks the scan to take a sort only when the sort sits
//! directly on it; a `FilterExec` in between (a predicate that is not pushed, or pushed
//! inexactly) stops it. This rule, placed first among the physical rules, finds
//! `SortExec → [ProjectionExec] → FilterExec → RefuelScanExec`, asks the scan to take
//! the sort by column name
//! ([`ExecutionPlan::try_pushdown_sort`]), and swaps only the scan: the `SortExec` stays, so
//! the query's ordering requirement is kept, and the standard sorting rules then see that
//! the input is already ordered and drop it. A filter never reorders rows, so the result is
//! the same; with a `LIMIT`, the merge above stops pulling pages once it has enough rows.
//! The ordered scan keeps its partitions (each a sorted range of offsets), so DataFusion
//! adds no round-robin repartition above it, which would read pages far ahead.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};

use crate::exec::RefuelScanExec;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PushSortThroughFilter;

super::top_down_rule!(PushSortThroughFilter, "refuel_push_sort_through_filter");

impl PushSortThroughFilter {
    fn rewrite(&self, node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
        let Some(sort) = node.downcast_ref::<SortExec>() else {
            return Ok(Transformed::no(node));
        };
        // Sort → [Projection] → Filter → scan; the scan takes the sort by column name.
        let below_sort = sort.input();
        let (projection, filter_node) = match below_sort.downcast_ref::<ProjectionExec>() {
            Some(p) => (Some(below_sort), p.input()),
            None => (None, below_sort),
        };
        let Some(filter) = filter_node.downcast_ref::<FilterExec>() else {
            return Ok(Transformed::no(node));
        };
        let Some(scan) = filter.input().downcast_ref::<RefuelScanExec>() else {
            return Ok(Transformed::no(node));
        };
        // The sort stays either way; with only a prefix pushed (inexact) it sorts on.
        let (SortOrderPushdownResult::Exact { inner } | SortOrderPushdownResult::Inexact { inner }) =
            scan.try_pushdown_sort(sort.expr())?
        else {
            return Ok(Transformed::no(node));
        };
        let recompute = || ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
        let mut child = Arc::clone(filter_node).replace_children(vec![inner], recompute())?;
        if let Some(p) = projection {
            child = Arc::clone(p).replace_children(vec![child], recompute())?;
        }
        let new_sort = Arc::clone(&node).replace_children(vec![child], recompute())?;
        Ok(Transformed::yes(new_sort))
    }
}
