//! The scan: a partitioned, streaming `ExecutionPlan` over the API's pages.
//!
//! Each partition asks for the query's count, then fetches its contiguous share of the
//! pages (at most `max_workers` requests in flight across the partitions, and pages fetched
//! only as fast as the consumer takes batches) and decodes each page straight into an
//! Arrow batch, on the runtime's worker threads while the next pages are fetched. A scan
//! with a limit stops at the limit; a scan with no columns (e.g. `count(*)`) makes only the
//! count request. Without an explicit order the pages come in the server's default order;
//! the emulator's is stable while the dataset does not change.
//!
//! The count is asked for once per plan and shared by its partitions; a page the server
//! answers short is continued from where it stopped.
//!
//! ORDER BY pushdown goes through DataFusion's `PushdownSort` rule: when a sort sits on the
//! scan, [`ExecutionPlan::try_pushdown_sort`] answers `Exact` if the API orders as SQL does
//! (see `api_order`), the scan then sends `order_bys` and advertises the ordering: each
//! partition reads a contiguous range of the ordered rows, so each is sorted, and
//! DataFusion merges them (`SortPreservingMergeExec`) instead of sorting. DataFusion drops
//! its sort and hands the scan the sort's limit through `with_fetch`, so
//! `ORDER BY x DESC LIMIT 10` fetches 10 rows (in one partition: a limit within one page
//! is read by one request). A filter that is
//! not pushed sits between the sort and the scan and blocks that rule; ours,
//! [`crate::sort_rule::PushSortThroughFilter`], handles that case.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use refuel_client::RefuelClient;
use refuel_client::api::items::ResolvedTarget;
use refuel_client::models::{Direction, ItemQuery, OrderBy};

use crate::columns::{ColumnSource, LabelColumn, TableColumns};
use crate::decode::PageDecoder;

/// Scans a Refuel dataset (with a task's labels, for label tables).
#[derive(Debug, Clone)]
pub struct RefuelScanExec {
    client: RefuelClient,
    target: ResolvedTarget,
    /// What is sent: filters and order (offset and limit are added per page).
    query: ItemQuery,
    table: String,
    columns: Arc<TableColumns>,
    /// The projected schema.
    schema: SchemaRef,
    limit: Option<usize>,
    /// Rows of the query's result skipped before the first one read (a pushed `OFFSET`).
    skip: u64,
    partitions: usize,
    /// The order the API was asked for, as DataFusion sees it (empty: none).
    ordering: Vec<PhysicalSortExpr>,
    props: Arc<PlanProperties>,
    /// The number of rows matching the query, asked for once and shared by the partitions.
    count: Arc<tokio::sync::OnceCell<u64>>,
    /// Page requests in flight, across partitions: at most the client's `max_workers`.
    requests: Arc<tokio::sync::Semaphore>,
}

impl RefuelScanExec {
    /// A scan of `table` sending `query`, producing `projection` of `columns`, at most
    /// `limit` rows, over `partitions` partitions.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: RefuelClient,
        target: ResolvedTarget,
        query: ItemQuery,
        table: String,
        columns: Arc<TableColumns>,
        projection: Option<Vec<usize>>,
        limit: Option<usize>,
        partitions: usize,
    ) -> Result<Self> {
        let max_workers = client.config().max_workers.max(1);
        let schema = match &projection {
            Some(p) => Arc::new(columns.schema.project(p)?),
            None => Arc::clone(&columns.schema),
        };
        let partitions = partitions.max(1);
        let mut scan = Self {
            client,
            target,
            query,
            table,
            columns,
            schema: Arc::clone(&schema),
            limit,
            skip: 0,
            partitions,
            ordering: Vec::new(),
            count: Arc::default(),
            requests: Arc::new(tokio::sync::Semaphore::new(max_workers)),
            props: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema),
                Partitioning::UnknownPartitioning(partitions),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
        };
        scan.refresh_properties();
        Ok(scan)
    }

    /// Recomputes the plan properties after the query, order or limit changed (and forgets
    /// the count, which belonged to the old query). A limit within one page is one request,
    /// so one partition.
    fn refresh_properties(&mut self) {
        self.count = Arc::default();
        if self
            .limit
            .is_some_and(|l| l as u64 <= self.client.config().page_size)
        {
            self.partitions = 1;
        }
        // Ordered or not, each partition reads a contiguous range of offsets, so with an
        // order every partition is sorted and DataFusion merges them.
        let eq = if self.ordering.is_empty() {
            EquivalenceProperties::new(Arc::clone(&self.schema))
        } else {
            EquivalenceProperties::new_with_orderings(
                Arc::clone(&self.schema),
                [self.ordering.clone()],
            )
        };
        self.props = Arc::new(PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(self.partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
    }

    /// The API's order keys for a requested sort, if the API orders exactly as SQL does:
    /// plain columns (dataset columns, `<f>_label`, `<f>_confidence`), ascending with NULLs
    /// last or descending with NULLs first (the API's only NULL placements).
    fn api_order(&self, order: &[PhysicalSortExpr]) -> Option<Vec<OrderBy>> {
        order
            .iter()
            .map(|s| {
                let column = s.expr.downcast_ref::<Column>()?;
                if s.options.nulls_first != s.options.descending {
                    return None;
                }
                let direction = if s.options.descending {
                    Direction::Desc
                } else {
                    Direction::Asc
                };
                match self.columns.source(column.name())? {
                    ColumnSource::Data { name, .. } => Some(OrderBy {
                        field: name.clone(),
                        direction,
                        subtask_id: None,
                    }),
                    ColumnSource::Label {
                        field_id,
                        kind: LabelColumn::Label,
                        ..
                    } => Some(OrderBy::by_label(field_id.clone(), "label", direction)),
                    ColumnSource::Label {
                        field_id,
                        kind: LabelColumn::Confidence,
                        ..
                    } => Some(OrderBy::by_label(field_id.clone(), "confidence", direction)),
                    ColumnSource::Label { .. } => None,
                }
            })
            .collect()
    }

    /// The query sent to the API.
    pub fn query(&self) -> &ItemQuery {
        &self.query
    }

    /// The limit sent to the API.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// The rows skipped before the first one read (a pushed `OFFSET`).
    pub fn skip(&self) -> u64 {
        self.skip
    }

    /// This scan starting `skip` rows further into the query's result and reading at most
    /// `limit` rows from there: `LIMIT limit OFFSET skip` over this scan.
    pub fn with_skip(&self, skip: u64, limit: Option<usize>) -> Self {
        let mut scan = self.clone();
        scan.skip += skip;
        scan.limit = limit;
        scan.refresh_properties();
        scan
    }
}

impl DisplayAs for RefuelScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefuelScanExec: table={}", self.table)?;
        if let Some(task) = &self.target.task_id {
            write!(f, ", task={task}")?;
        }
        let filters: Vec<String> = self
            .query
            .filters
            .iter()
            .map(|x| x.to_query_value())
            .collect();
        write!(f, ", filters=[{}]", filters.join(", "))?;
        if !self.query.order_bys.is_empty() {
            let order: Vec<String> = self
                .query
                .order_bys
                .iter()
                .map(|o| o.to_query_value())
                .collect();
            write!(f, ", order_bys=[{}]", order.join(", "))?;
        }
        if self.skip > 0 {
            write!(f, ", offset={}", self.skip)?;
        }
        match self.limit {
            Some(l) => write!(f, ", limit={l}")?,
            None => write!(f, ", limit=None")?,
        }
        let names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            ", projection=[{}], partitions={}",
            names.join(", "),
            self.partitions
        )
    }
}

impl ExecutionPlan for RefuelScanExec {
    fn name(&self) -> &str {
        "RefuelScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        let limit = match (self.limit, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut scan = self.clone();
        scan.limit = limit;
        scan.refresh_properties();
        Some(Arc::new(scan))
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
    ) -> Result<SortOrderPushdownResult<Arc<dyn ExecutionPlan>>> {
        // An order the scan has already, or one that would pick other rows for its limit
        // (a LIMIT below an ORDER BY keeps the API's default order).
        if !self.query.order_bys.is_empty() || self.limit.is_some() || self.skip > 0 {
            return Ok(SortOrderPushdownResult::Unsupported);
        }
        let Some(order_bys) = self.api_order(order) else {
            return Ok(SortOrderPushdownResult::Unsupported);
        };
        // The same keys over this scan's own schema (the request may come from above a
        // projection, with other column positions).
        let mut ordering = Vec::with_capacity(order.len());
        for s in order {
            let Some(column) = s.expr.downcast_ref::<Column>() else {
                return Ok(SortOrderPushdownResult::Unsupported);
            };
            let Ok(index) = self.schema.index_of(column.name()) else {
                return Ok(SortOrderPushdownResult::Unsupported);
            };
            ordering.push(PhysicalSortExpr {
                expr: Arc::new(Column::new(column.name(), index)),
                options: s.options,
            });
        }
        let mut scan = self.clone();
        scan.query.order_bys = order_bys;
        scan.ordering = ordering;
        scan.refresh_properties();
        Ok(SortOrderPushdownResult::Exact {
            inner: Arc::new(scan),
        })
    }

    fn fetch(&self) -> Option<usize> {
        self.limit
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition >= self.partitions {
            return Err(DataFusionError::Internal(format!(
                "RefuelScanExec has {} partitions, not {}",
                self.partitions,
                partition + 1
            )));
        }
        let this = self.clone();
        let schema = Arc::clone(&self.schema);
        let stream = futures::stream::once(async move { this.partition_stream(partition).await })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

type BatchStream = futures::stream::BoxStream<'static, Result<RecordBatch>>;

fn external(e: refuel_client::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl RefuelScanExec {
    async fn partition_stream(self, partition: usize) -> Result<BatchStream> {
        let page = self.client.config().page_size.max(1);
        let decoder = PageDecoder::new(
            Arc::clone(&self.columns),
            Arc::clone(&self.schema),
            self.target.task_id.is_some(),
        );
        let small_limit = self
            .limit
            .filter(|l| *l as u64 <= page && !self.schema.fields().is_empty());
        if let Some(limit) = small_limit {
            // A limit within one page: one request, no count (`with_fetch` and `new` made
            // such a scan one partition).
            let batches = if partition == 0 {
                self.fetch_range(self.skip, limit as u64, &decoder).await?
            } else {
                Vec::new()
            };
            return Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed());
        }
        let items = self.client.items();
        let total = *self
            .count
            .get_or_try_init(|| async {
                items
                    .count_resolved(&self.target, &self.query)
                    .await
                    .map_err(external)
            })
            .await?;
        let available = total.saturating_sub(self.skip);
        let wanted = self.limit.map_or(available, |l| available.min(l as u64));
        if self.schema.fields().is_empty() {
            // No column is read: the count is the answer.
            let rows = if partition == 0 { wanted } else { 0 };
            let schema = Arc::clone(&self.schema);
            let batches = (0..rows).step_by(8192).map(move |start| {
                let n = (rows - start).min(8192) as usize;
                RecordBatch::try_new_with_options(
                    Arc::clone(&schema),
                    vec![],
                    &RecordBatchOptions::new().with_row_count(Some(n)),
                )
                .map_err(DataFusionError::from)
            });
            return Ok(futures::stream::iter(batches.collect::<Vec<_>>()).boxed());
        }
        let pages = wanted.div_ceil(page);
        let per_partition = pages.div_ceil(self.partitions as u64);
        let first = (partition as u64 * per_partition).min(pages);
        let last = ((partition as u64 + 1) * per_partition).min(pages);
        // Each partition keeps up to `max_workers` pages on the way (fetching, or decoding
        // on a worker thread, or decoded and waiting); the requests themselves are bounded
        // across partitions by `requests`.
        let workers = self.client.config().max_workers.max(1);
        let this = Arc::new(self);
        let decoder = Arc::new(decoder);
        let stream = futures::stream::iter(first..last)
            .map(move |p| {
                let this = Arc::clone(&this);
                let decoder = Arc::clone(&decoder);
                let offset = p * page;
                let len = page.min(wanted - offset);
                async move {
                    let at = this.skip + offset;
                    tokio::spawn(async move { this.fetch_range(at, len, &decoder).await })
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?
                }
            })
            .buffered(workers)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(stream.boxed())
    }

    /// The `len` rows from `offset` as batches: one request, or more when the server
    /// answers with fewer rows than asked for and says more match (the rest is asked for
    /// from where it stopped, until the rows end).
    async fn fetch_range(
        &self,
        offset: u64,
        len: u64,
        decoder: &PageDecoder,
    ) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::with_capacity(1);
        let mut at = offset;
        let end = offset + len;
        while at < end {
            let body = {
                let _permit = self.requests.acquire().await.map_err(|e| {
                    DataFusionError::Internal(format!("the scan's request permits: {e}"))
                })?;
                self.client
                    .items()
                    .fetch_bytes(&self.target, &self.query, at, end - at)
                    .await
                    .map_err(external)?
            };
            let page = decoder
                .decode(&body)
                .map_err(|e| e.context(format!("decoding a page of {}", self.table)))?;
            let got = page.batch.num_rows() as u64;
            if got == 0 {
                break;
            }
            batches.push(page.batch);
            at += got;
            if page.total_count.is_some_and(|total| at >= total) {
                break;
            }
        }
        Ok(batches)
    }
}
