//! `OFFSET` pushdown: `LIMIT n OFFSET k` reads rows `k..k+n` from the API, not `0..k+n`.
//!
//! DataFusion hands a scan its limit (`k + n`) but keeps the offset in a `GlobalLimitExec`
//! above, which reads and drops the first `k` rows. This rule, run after DataFusion's own,
//! finds `GlobalLimitExec(skip = k)` over a [`RefuelScanExec`] with only nodes in between
//! that pass every row through in order (projections, merges of the scan's ordered
//! partitions, coalescing, buffers, local limits), and moves the skip into the scan, which
//! asks the API for `offset = k`. Rows come from the API in the same order either way (the
//! query's order, or the API's default order when there is none), so the answer is the
//! same. The limits in between only ever cap the rows above what the scan now reads.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::physical_plan::buffer::BufferExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};

use crate::exec::RefuelScanExec;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PushOffsetIntoScan;

/// Whether `node` passes every row of its one input through, in order (it may cap them).
fn passes_rows(node: &dyn ExecutionPlan) -> bool {
    node.is::<ProjectionExec>()
        || node.is::<CoalescePartitionsExec>()
        || node.is::<SortPreservingMergeExec>()
        || node.is::<BufferExec>()
        || node.is::<CooperativeExec>()
        || node.is::<LocalLimitExec>()
}

/// The plan below a `GlobalLimitExec(skip, fetch)` with the skip moved into the scan, or
/// `None` when the scan is not reached through row-passing nodes.
fn push_skip(
    node: &Arc<dyn ExecutionPlan>,
    skip: u64,
    fetch: Option<usize>,
    cap: Option<usize>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let cap = match (cap, node.fetch()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(scan) = node.downcast_ref::<RefuelScanExec>() {
        // Rows `skip..` of at most `cap` rows, at most `fetch` of them.
        let left = cap.map(|c| (c as u64).saturating_sub(skip) as usize);
        let limit = match (fetch, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        return Ok(Some(Arc::new(scan.with_skip(skip, limit))));
    }
    if !passes_rows(node.as_ref()) {
        return Ok(None);
    }
    let [child] = node.children()[..] else {
        return Ok(None);
    };
    let Some(new_child) = push_skip(child, skip, fetch, cap)? else {
        return Ok(None);
    };
    let recompute = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
    Ok(Some(
        Arc::clone(node).replace_children(vec![new_child], recompute)?,
    ))
}

super::top_down_rule!(PushOffsetIntoScan, "refuel_push_offset_into_scan");

impl PushOffsetIntoScan {
    fn rewrite(&self, node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
        let Some(limit) = node.downcast_ref::<GlobalLimitExec>() else {
            return Ok(Transformed::no(node));
        };
        if limit.skip() == 0 {
            return Ok(Transformed::no(node));
        }
        let fetch = limit.fetch();
        match push_skip(limit.input(), limit.skip() as u64, fetch, None)? {
            Some(input) => Ok(Transformed::yes(Arc::new(GlobalLimitExec::new(
                input, 0, fetch,
            )))),
            None => Ok(Transformed::no(node)),
        }
    }
}
