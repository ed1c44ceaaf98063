//! `GROUP BY refuel_label(...)...`: DataFusion runs async functions in projections, filters
//! and aggregate arguments, not in grouping keys. This analyzer rule moves a grouping key
//! that calls `refuel_label` into a projection below the aggregate (where it runs as any
//! projection does) and groups by that column, under the key's own name.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, Projection, col};
use datafusion::optimizer::AnalyzerRule;

use super::udf::REFUEL_LABEL;

/// See the module docs.
#[derive(Debug, Default)]
pub struct LabelGroupKeys;

fn calls_label(expr: &Expr) -> bool {
    let mut found = false;
    let _ = expr.apply(|e| {
        if let Expr::ScalarFunction(ScalarFunction { func, .. }) = e
            && func.name() == REFUEL_LABEL
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

impl AnalyzerRule for LabelGroupKeys {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::Aggregate(agg) = &node else {
                return Ok(Transformed::no(node));
            };
            if !agg.group_expr.iter().any(calls_label)
                || agg
                    .group_expr
                    .iter()
                    .any(|e| matches!(e, Expr::GroupingSet(_)))
            {
                return Ok(Transformed::no(node));
            }
            let mut below: Vec<Expr> = agg
                .input
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            let mut keys = Vec::with_capacity(agg.group_expr.len());
            for (i, key) in agg.group_expr.iter().enumerate() {
                if calls_label(key) {
                    let name = key.schema_name().to_string();
                    let column = format!("__refuel_label_key_{i}");
                    below.push(key.clone().unalias().alias(&column));
                    keys.push(col(column).alias(name));
                } else {
                    keys.push(key.clone());
                }
            }
            let input = Projection::try_new(below, Arc::clone(&agg.input))?;
            let rewritten = Aggregate::try_new(
                Arc::new(LogicalPlan::Projection(input)),
                keys,
                agg.aggr_expr.clone(),
            )?;
            Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
        })
        .data()
    }

    fn name(&self) -> &str {
        "refuel_label_group_keys"
    }
}
