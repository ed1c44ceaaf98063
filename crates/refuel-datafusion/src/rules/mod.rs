//! Physical optimizer rules that give the scan what DataFusion's own rules cannot:
//! [`PushSortThroughFilter`] (ORDER BY past a filter that stays in DataFusion) and
//! [`PushOffsetIntoScan`] (`OFFSET` as the API's `offset`). Both rewrite the plan top down,
//! one node at a time, through [`top_down_rule!`].

mod offset_into_scan;
mod sort_through_filter;

pub use offset_into_scan::PushOffsetIntoScan;
pub use sort_through_filter::PushSortThroughFilter;

/// Implements `PhysicalOptimizerRule` for a rule type with an inherent
/// `fn rewrite(&self, node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>>`,
/// applied to every node from the root down, under the name given; the rule keeps the plan's
/// schema (`schema_check`).
macro_rules! top_down_rule {
    ($rule:ty, $name:literal) => {
        impl datafusion::physical_optimizer::PhysicalOptimizerRule for $rule {
            fn optimize(
                &self,
                plan: std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
                _config: &datafusion::common::config::ConfigOptions,
            ) -> datafusion::error::Result<
                std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
            > {
                use datafusion::common::tree_node::{TransformedResult, TreeNode};
                plan.transform_down(|node| self.rewrite(node)).data()
            }

            fn name(&self) -> &str {
                $name
            }

            fn schema_check(&self) -> bool {
                true
            }
        }
    };
}
pub(crate) use top_down_rule;
