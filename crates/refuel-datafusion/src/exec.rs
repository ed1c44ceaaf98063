//! The scan: a partitioned, streaming `ExecutionPlan` over the API's pages.
//!
//! Each partition asks for the query's count, then fetches its contiguous share of the
//! pages (as many requests in flight as the client's shared limiter allows, and pages fetched
//! only as fast as the consumer takes batches) and decodes each page straight into an
//! Arrow batch, on the runtime's worker threads while the next pages are fetched. A scan
//! with a limit stops at the limit; a scan with no columns (e.g. `count(*)`) makes only the
//! count request. Without an explicit order the pages come in the server's default order;
//! the emulator's is stable while the dataset does not change.
//!
//! The count is asked for once per plan and shared by its partitions; a page the server
//! answers short is continued from where it stopped. A server that does not say how many
//! rows match (no `total_count`) gets one partition that reads until an empty page, so an
//! unknown count never reads as "no rows".
//!
//! What the API may be asked to order depends on what the server is known to do
//! ([`ServerSemantics`]): text keys need binary text order, number keys numeric order. Where
//! NULLs sort may be unknown: then a one-key order is still pushed, with the key's NULL rows
//! and its other rows asked for separately (`IS NULL` / `IS NOT NULL` added to the filters)
//! and read in SQL's NULL placement, as two consecutive segments of the scan's rows, so
//! `ORDER BY x DESC LIMIT 10` is right on any server that orders numbers numerically.
//! An order led by an integer column is read in segments too (see [`Split::Integers`]):
//! the API orders numbers as doubles, which tie distinct integers beyond ±2^53, so those
//! values are read apart and sorted by the scan. A segment the count calls empty is
//! checked with a one-row page before it is believed.
//! `EXPLAIN` shows the settings a scan's pushed filters and order rely on (`assumes=[..]`).
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
//! [`crate::rules::PushSortThroughFilter`], handles that case.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{FutureExt, StreamExt, TryStreamExt};
use refuel_client::RefuelClient;
use refuel_client::api::items::ResolvedTarget;
use refuel_client::models::{Direction, Filter, FilterOp, ItemQuery, OrderBy};
use refuel_client::semantics::{NullOrder, NumberOrder, ServerSemantics, TextOrder};

use crate::columns::{ColumnSource, LabelColumn, TableColumns};
use crate::decode::{EXACT_INTEGERS, PageDecoder};
use crate::error::external;

/// Scans a Refuel dataset (with a task's labels, for label tables).
#[derive(Debug, Clone)]
pub struct RefuelScanExec {
    pub(crate) client: RefuelClient,
    pub(crate) target: ResolvedTarget,
    /// What is sent: filters and order (offset and limit are added per page).
    pub(crate) query: ItemQuery,
    /// With an order the server cannot give in one piece, the parts read in turn: see
    /// [`Split`].
    pub(crate) split: Option<Split>,
    /// The server settings the pushed filters and order rely on.
    pub(crate) assumes: BTreeSet<&'static str>,
    pub(crate) table: String,
    pub(crate) columns: Arc<TableColumns>,
    /// The projected schema.
    pub(crate) schema: SchemaRef,
    pub(crate) limit: Option<usize>,
    /// Rows of the query's result skipped before the first one read (a pushed `OFFSET`).
    pub(crate) skip: u64,
    pub(crate) partitions: usize,
    /// The order the API was asked for, as DataFusion sees it (empty: none).
    pub(crate) ordering: Vec<PhysicalSortExpr>,
    pub(crate) props: Arc<PlanProperties>,
    /// Rows produced per partition (`output_rows`), for `EXPLAIN ANALYZE` and progress.
    pub(crate) metrics: ExecutionPlanMetricsSet,
    /// The number of rows matching each segment's query (`None`: the server did not say),
    /// asked for once and shared by the partitions.
    pub(crate) counts: Arc<tokio::sync::OnceCell<Vec<Option<u64>>>>,
    /// The page size the partitions' ranges are cut in, fixed with the count (a client
    /// learns a server's page cap as it reads; copies of the plan in other processes must
    /// cut the same ranges).
    pub(crate) range_page: Arc<std::sync::OnceLock<u64>>,
    /// The segments sorted by the scan (see [`Segment::sort_here`]), each read and sorted
    /// once and shared by the partitions.
    pub(crate) sorted: Arc<SortedSegments>,
}

/// How an ordered scan's rows are read as consecutive segments, each a query of its own.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum Split {
    /// An order whose NULL placement the server does not promise: the key's NULL rows and
    /// its other rows, in SQL's placement.
    Nulls(Box<NullSplit>),
    /// An order led by an integer (`Int64`) column. The API is assumed to order numbers as
    /// doubles, which tie distinct integers of ±2^53 and beyond: values within ±2^53 are
    /// read in the server's order (exact there), those beyond (usually none) are read whole
    /// and sorted here, and the NULL rows apart, in SQL's placement. The range filters are
    /// exact on doubles: rounding is monotonic and ±2^53 is a double.
    Integers {
        /// The column's name on the wire.
        field: String,
        descending: bool,
        nulls_first: bool,
    },
}

/// What the API is asked to order by, for a requested sort.
struct ApiOrder {
    keys: Vec<OrderBy>,
    split: Option<Split>,
    assumes: BTreeSet<&'static str>,
    /// Whether the keys are the whole sort; else a prefix of it, and DataFusion sorts on.
    exact: bool,
}

/// The filters that split an order's key into its NULL rows and its other rows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct NullSplit {
    is_null: Filter,
    is_not_null: Filter,
    /// Whether SQL wants the NULL rows first.
    nulls_first: bool,
}

/// One part of a scan's rows.
#[derive(Debug, Clone)]
struct Segment {
    query: ItemQuery,
    /// Whether the server's order is not SQL's within it: it is read whole and sorted by
    /// the scan (integers beyond ±2^53).
    sort_here: bool,
}

impl RefuelScanExec {
    /// A scan of `table` sending `query`, producing `projection` of `columns`, at most
    /// `limit` rows, over `partitions` partitions. `assumes` names the server settings the
    /// query's filters rely on (shown by `EXPLAIN`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: RefuelClient,
        target: ResolvedTarget,
        query: ItemQuery,
        assumes: BTreeSet<&'static str>,
        table: String,
        columns: Arc<TableColumns>,
        projection: Option<Vec<usize>>,
        limit: Option<usize>,
        partitions: usize,
    ) -> Result<Self> {
        let schema = match &projection {
            Some(p) => Arc::new(columns.schema.project(p)?),
            None => Arc::clone(&columns.schema),
        };
        let partitions = partitions.max(1);
        let mut scan = Self {
            client,
            target,
            query,
            split: None,
            assumes,
            table,
            columns,
            schema: Arc::clone(&schema),
            limit,
            skip: 0,
            partitions,
            ordering: Vec::new(),
            counts: Arc::default(),
            range_page: Arc::default(),
            sorted: Arc::default(),
            props: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema),
                Partitioning::UnknownPartitioning(partitions),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
            metrics: ExecutionPlanMetricsSet::new(),
        };
        scan.refresh_properties();
        Ok(scan)
    }

    /// Recomputes the plan properties after the query, order or limit changed (and forgets
    /// the count, which belonged to the old query). A limit within one page is one request,
    /// so one partition.
    fn refresh_properties(&mut self) {
        self.metrics = ExecutionPlanMetricsSet::new();
        self.counts = Arc::default();
        self.range_page = Arc::default();
        self.sorted = Arc::default();
        if self.limit.is_some_and(|l| l as u64 <= self.page_rows()) {
            self.partitions = 1;
        }
        self.set_properties();
    }

    /// Computes the plan properties from the partitions and the order.
    pub(crate) fn set_properties(&mut self) {
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

    /// Rows asked for per page request: the configured page size, within the server's
    /// declared page cap and the one the client learned (a server that refused a larger
    /// page).
    fn page_rows(&self) -> u64 {
        self.client
            .items()
            .page_rows()
            .min(self.client.config().page_rows())
            .max(1)
    }

    fn semantics(&self) -> &ServerSemantics {
        &self.client.config().semantics
    }

    /// How the API can be asked for a requested sort on this server: the longest prefix of
    /// its keys the API orders exactly as SQL does (see [`Self::api_key`]), with the split
    /// it is read in and the settings relied on. `None` when not even the first key can be
    /// pushed; [`ApiOrder::exact`] is false when only a prefix could.
    fn api_order(&self, order: &[PhysicalSortExpr]) -> Option<ApiOrder> {
        let mut pushed = ApiOrder {
            keys: Vec::with_capacity(order.len()),
            split: None,
            assumes: BTreeSet::new(),
            exact: true,
        };
        for (position, s) in order.iter().enumerate() {
            let Some((key, split)) = self.api_key(position, s, &mut pushed.assumes) else {
                if position == 0 {
                    return None;
                }
                pushed.exact = false;
                break;
            };
            pushed.keys.push(key);
            // After a NULL split (one key, whose NULLs are read apart) the server's order
            // of the other keys is known only with their NULLs in the server's place, which
            // is unknown: stop there.
            let stop = matches!(split, Some(Split::Nulls(_)));
            if split.is_some() {
                pushed.split = split;
            }
            if stop {
                pushed.exact = order.len() == 1;
                break;
            }
        }
        Some(pushed)
    }

    /// The API's order key for the sort key at `position`, if the API orders it exactly as
    /// SQL does on this server: plain dataset columns, `<f>_label` (text) and
    /// `<f>_confidence` (number), text keys only with binary text order and number keys only
    /// with numeric order (booleans never: no setting promises their order). NULL placement
    /// must be the server's, or unknown on the first key, whose NULL rows are then read
    /// apart. An integer column only as the first key, read in segments (see
    /// [`Split::Integers`], which also place its NULLs). Records the settings relied on in
    /// `assumes`, and returns the split the key needs.
    fn api_key(
        &self,
        position: usize,
        s: &PhysicalSortExpr,
        assumes: &mut BTreeSet<&'static str>,
    ) -> Option<(OrderBy, Option<Split>)> {
        use datafusion::arrow::datatypes::DataType;
        use refuel_client::models::ColumnType;
        let sem = *self.semantics();
        let column = s.expr.downcast_ref::<Column>()?;
        let direction = if s.options.descending {
            Direction::Desc
        } else {
            Direction::Asc
        };
        let (key, is_text) = match self.columns.source(column.name())? {
            ColumnSource::Data {
                name, column_type, ..
            } => {
                let key = OrderBy {
                    field: name.clone(),
                    direction,
                    subtask_id: None,
                };
                // The API orders by the wire type; SQL by the column's Arrow type: push
                // only where they are the same kind (a column found from first rows is
                // text in SQL whatever its wire kind).
                let arrow = self.columns.schema.field_with_name(column.name()).ok()?;
                match (column_type, arrow.data_type()) {
                    (ColumnType::Number, DataType::Int64) => {
                        if position > 0 || sem.number_order != NumberOrder::Numeric {
                            return None;
                        }
                        assumes.insert("number_order=numeric");
                        let split = Split::Integers {
                            field: name.clone(),
                            descending: s.options.descending,
                            nulls_first: s.options.nulls_first,
                        };
                        return Some((key, Some(split)));
                    }
                    (ColumnType::Number, t) if t.is_numeric() => (key, false),
                    (ColumnType::String, DataType::Utf8) => (key, true),
                    _ => return None,
                }
            }
            ColumnSource::Label {
                field_id,
                kind: LabelColumn::Label,
                ..
            } => (
                OrderBy::by_label(field_id.clone(), "label", direction),
                true,
            ),
            ColumnSource::Label {
                field_id,
                kind: LabelColumn::Confidence,
                ..
            } => (
                OrderBy::by_label(field_id.clone(), "confidence", direction),
                false,
            ),
            ColumnSource::Label { .. } => return None,
        };
        let kind = match (is_text, sem.text_order, sem.number_order) {
            (true, TextOrder::Binary, _) => "text_order=binary",
            (false, _, NumberOrder::Numeric) => "number_order=numeric",
            _ => return None,
        };
        // Where the server puts NULLs for this key, relative to SQL's wish.
        let (null_order, split) = match sem.null_order {
            NullOrder::LastAscending if s.options.nulls_first == s.options.descending => {
                (Some("null_order=last"), None)
            }
            NullOrder::FirstAscending if s.options.nulls_first != s.options.descending => {
                (Some("null_order=first"), None)
            }
            NullOrder::Unknown if position == 0 => {
                let is_null = crate::filter::null_filter(&self.columns, column.name(), true)?;
                let is_not_null = crate::filter::null_filter(&self.columns, column.name(), false)?;
                let split = Split::Nulls(Box::new(NullSplit {
                    is_null,
                    is_not_null,
                    nulls_first: s.options.nulls_first,
                }));
                (None, Some(split))
            }
            _ => return None,
        };
        assumes.insert(kind);
        assumes.extend(null_order);
        Some((key, split))
    }

    /// The scan's segments, in reading order: the query itself, or its parts after a
    /// [`Split`].
    fn segments(&self) -> Vec<Segment> {
        let with = |filters: &[Filter], sort_here: bool| {
            let mut query = self.query.clone();
            query.filters.extend_from_slice(filters);
            Segment { query, sort_here }
        };
        match &self.split {
            None => vec![with(&[], false)],
            Some(Split::Nulls(split)) => {
                let (nulls, values) = (
                    with(std::slice::from_ref(&split.is_null), false),
                    with(std::slice::from_ref(&split.is_not_null), false),
                );
                if split.nulls_first {
                    vec![nulls, values]
                } else {
                    vec![values, nulls]
                }
            }
            Some(Split::Integers {
                field,
                descending,
                nulls_first,
            }) => {
                let bound = |op, sign: &str| {
                    Filter::column(field.clone(), op, format!("{sign}{EXACT_INTEGERS}"))
                };
                let low = with(&[bound(FilterOp::LtEq, "-")], true);
                let middle = with(&[bound(FilterOp::Gt, "-"), bound(FilterOp::Lt, "")], false);
                let high = with(&[bound(FilterOp::GtEq, "")], true);
                let nulls = with(&[Filter::is_null(field.clone())], false);
                let mut values = vec![low, middle, high];
                if *descending {
                    values.reverse();
                }
                if *nulls_first {
                    values.insert(0, nulls);
                } else {
                    values.push(nulls);
                }
                values
            }
        }
    }

    /// The table read, as `EXPLAIN` names it.
    pub fn table_name(&self) -> &str {
        &self.table
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
        match &self.split {
            Some(Split::Nulls(split)) => {
                let first = if split.nulls_first { "nulls" } else { "values" };
                write!(f, ", null_split={first}_first")?;
            }
            Some(Split::Integers { nulls_first, .. }) => {
                let first = if *nulls_first { "nulls" } else { "values" };
                write!(f, ", integer_split={first}_first")?;
            }
            None => {}
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
        )?;
        if !self.assumes.is_empty() {
            let assumes: Vec<&str> = self.assumes.iter().copied().collect();
            write!(f, ", assumes=[{}]", assumes.join(", "))?;
        }
        Ok(())
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
        let Some(pushed) = self.api_order(order) else {
            return Ok(SortOrderPushdownResult::Unsupported);
        };
        // The pushed keys over this scan's own schema (the request may come from above a
        // projection, with other column positions).
        let mut ordering = Vec::with_capacity(pushed.keys.len());
        for s in &order[..pushed.keys.len()] {
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
        scan.query.order_bys = pushed.keys;
        scan.split = pushed.split;
        scan.assumes.extend(pushed.assumes);
        scan.ordering = ordering;
        scan.refresh_properties();
        let inner: Arc<dyn ExecutionPlan> = Arc::new(scan);
        // Only a prefix of the keys: the rows come sorted on it and DataFusion sorts on (its
        // TopK stops reading once the prefix moves past its rows).
        Ok(if pushed.exact {
            SortOrderPushdownResult::Exact { inner }
        } else {
            SortOrderPushdownResult::Inexact { inner }
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
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let stream = futures::stream::once(async move { this.partition_stream(partition).await })
            .try_flatten()
            .inspect_ok(move |batch| rows.add(batch.num_rows()));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

type BatchStream = futures::stream::BoxStream<'static, Result<RecordBatch>>;

impl RefuelScanExec {
    async fn partition_stream(self, partition: usize) -> Result<BatchStream> {
        let page = self.page_rows();
        let decoder = PageDecoder::new(
            Arc::clone(&self.columns),
            Arc::clone(&self.schema),
            self.target.task_id.is_some(),
        );
        if self.small_limit().is_some() {
            // A limit within one page: read in order, no count (`with_fetch` and `new` made
            // such a scan one partition).
            return Ok(if partition == 0 {
                self.sequential(Arc::new(decoder))
            } else {
                futures::stream::empty().boxed()
            });
        }
        let segments = self.segments();
        let decoder = Arc::new(decoder);
        // Partition 0's first page is asked for beside the count, not after it: a round
        // trip less (the page is cut to the rows the count then plans for it). Not when
        // the count was taken at planning ([`Self::plan_ranges`]).
        let head = if self.counts.initialized() {
            None
        } else {
            self.head_page(partition, &segments, page, &decoder)
        };
        let counts = self.segment_counts(&segments).await?;
        let Some(counts) = counts.into_iter().collect::<Option<Vec<u64>>>() else {
            // The server did not say how many rows match: read in order until the rows end.
            return Ok(if partition == 0 {
                self.sequential(decoder)
            } else {
                futures::stream::empty().boxed()
            });
        };
        let total: u64 = counts.iter().sum();
        let available = total.saturating_sub(self.skip);
        let wanted = self.limit.map_or(available, |l| available.min(l as u64));
        if self.schema.fields().is_empty() {
            // No column is read: the count is the answer.
            let rows = if partition == 0 { wanted } else { 0 };
            return Ok(futures::stream::iter(columnless_batches(&self.schema, rows)).boxed());
        }
        // Each partition reads a contiguous share of the rows, in pages sized when they are
        // planned: once the client learns the server's page cap, the pages follow it.
        let range_page = *self.range_page.get_or_init(|| page);
        let pages = wanted.div_ceil(range_page);
        let share = pages.div_ceil(self.partitions as u64) * range_page;
        let first = (partition as u64 * share).min(wanted);
        let last = (first + share).min(wanted);
        // Each partition keeps its share of the requests the client's limiter allows now on
        // the way (fetching, or decoding on a worker thread, or decoded and waiting); the
        // requests themselves are bounded across everything the client does by it.
        let client = self.client.clone();
        let partitions = self.partitions;
        let this = Arc::new(self);
        let segments = Arc::new(Segments::new(segments, counts));
        let planner = Arc::clone(&this);
        let head_rows = if head.is_some() { page.min(last) } else { 0 };
        let head = futures::stream::iter(head).map(move |task| {
            async move {
                let batches = task.join().await.map_err(external)??;
                Ok(cut(batches, head_rows))
            }
            .boxed()
        });
        let pages = futures::stream::unfold(first + head_rows, move |offset| {
            let size = planner.page_rows();
            futures::future::ready(
                (offset < last).then(|| ((offset, size.min(last - offset)), offset + size)),
            )
        })
        .map(move |(offset, len)| {
            let this = Arc::clone(&this);
            let decoder = Arc::clone(&decoder);
            let segments = Arc::clone(&segments);
            async move {
                let at = this.skip + offset;
                // Aborted when the scan is dropped (a query that stopped early or was
                // cancelled fetches no more).
                SpawnedTask::spawn(async move {
                    let mut batches = Vec::with_capacity(1);
                    for (index, segment, at, len) in segments.ranges(at, len) {
                        if segment.sort_here {
                            let sorted = this.sorted_segment(index, segment, &decoder).await?;
                            let at = (at as usize).min(sorted.num_rows());
                            let len = (len as usize).min(sorted.num_rows() - at);
                            batches.push(sorted.slice(at, len));
                        } else {
                            batches
                                .extend(this.fetch_range(&segment.query, at, len, &decoder).await?);
                        }
                    }
                    Ok::<_, DataFusionError>(batches)
                })
                .join()
                .await
                .map_err(external)?
            }
            .boxed()
        });
        let pages = head.chain(pages).boxed();
        let stream = refuel_client::window::ordered_within_limit(client, pages, partitions)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(stream.boxed())
    }

    /// A limit within one page: read in order by one partition, with no count.
    fn small_limit(&self) -> Option<usize> {
        self.limit
            .filter(|l| *l as u64 <= self.page_rows() && !self.schema.fields().is_empty())
    }

    /// The number of rows matching each segment's query: asked for once, shared by the
    /// partitions (and by the copies of this plan made after it was asked).
    async fn segment_counts(&self, segments: &[Segment]) -> Result<Vec<Option<u64>>> {
        self.range_page.get_or_init(|| self.page_rows());
        Ok(self
            .counts
            .get_or_try_init(|| {
                futures::future::try_join_all(segments.iter().map(|s| self.count(&s.query)))
            })
            .await?
            .clone())
    }

    /// Fixes now which rows each partition reads: asks for the count the partitions'
    /// ranges come from (unless the scan needs none), so that copies of this plan made
    /// afterwards, in other processes (the tasks of a Ballista cluster) or not, read
    /// exactly the rows planned, never recount, and cannot overlap or miss rows when the
    /// dataset changes meanwhile. Without it the count is asked for at the first
    /// `execute`.
    pub async fn plan_ranges(&self) -> Result<()> {
        if self.small_limit().is_some() {
            return Ok(());
        }
        self.segment_counts(&self.segments()).await.map(drop)
    }

    /// Whether the partitions' ranges are fixed: the count is known or not needed.
    pub fn ranges_planned(&self) -> bool {
        self.small_limit().is_some() || self.counts.initialized()
    }

    /// Partition 0's first page, fetched at once (beside the count), when the scan reads
    /// columns from the start of one segment the server orders.
    fn head_page(
        &self,
        partition: usize,
        segments: &[Segment],
        page: u64,
        decoder: &Arc<PageDecoder>,
    ) -> Option<SpawnedTask<Result<Vec<RecordBatch>>>> {
        let simple = partition == 0
            && self.skip == 0
            && !self.schema.fields().is_empty()
            && matches!(segments, [only] if !only.sort_here);
        simple.then(|| {
            let this = self.clone();
            let decoder = Arc::clone(decoder);
            let query = segments[0].query.clone();
            SpawnedTask::spawn(async move { this.fetch_range(&query, 0, page, &decoder).await })
        })
    }

    /// The scan's rows from `skip`, at most `limit`, read one page after another through
    /// the segments, each until the server says it has no more rows (its `total_count`) or
    /// answers an empty page. Needs no count.
    fn sequential(self, decoder: Arc<PageDecoder>) -> BatchStream {
        struct State {
            segment: usize,
            /// The next row to ask for within the segment.
            at: u64,
            /// Rows still to skip before the first one returned.
            skip: u64,
            /// Rows still to return.
            remaining: Option<u64>,
        }
        impl State {
            /// The rows of `batch` left after the rows still to skip, at most those still
            /// to return; both counts move on.
            fn cut(&mut self, batch: RecordBatch) -> RecordBatch {
                let got = batch.num_rows() as u64;
                let dropped = self.skip.min(got);
                self.skip -= dropped;
                let mut batch = batch.slice(dropped as usize, (got - dropped) as usize);
                if let Some(r) = self.remaining.as_mut() {
                    let keep = (*r).min(batch.num_rows() as u64);
                    batch = batch.slice(0, keep as usize);
                    *r -= keep;
                }
                batch
            }
        }
        let segments = self.segments();
        let page = self.page_rows();
        let state = State {
            segment: 0,
            at: 0,
            skip: self.skip,
            remaining: self.limit.map(|l| l as u64),
        };
        let this = Arc::new(self);
        futures::stream::try_unfold(state, move |mut st| {
            let this = Arc::clone(&this);
            let decoder = Arc::clone(&decoder);
            let segments = segments.clone();
            async move {
                loop {
                    if st.segment >= segments.len() || st.remaining == Some(0) {
                        return Ok(None);
                    }
                    if segments[st.segment].sort_here {
                        // Read whole and sorted here; then skipped and cut as any page.
                        let batch = this
                            .sorted_segment(st.segment, &segments[st.segment], &decoder)
                            .await?;
                        st.segment += 1;
                        st.at = 0;
                        let batch = st.cut(batch);
                        if batch.num_rows() > 0 {
                            return Ok(Some((batch, st)));
                        }
                        continue;
                    }
                    // Rows to skip in the last segment are skipped by the server; in an
                    // earlier one (whose length is not known) they are read and dropped.
                    if st.segment + 1 == segments.len() && st.skip > 0 {
                        st.at += st.skip;
                        st.skip = 0;
                    }
                    let ask = st.remaining.map_or(page, |r| (r + st.skip).min(page));
                    let body = this
                        .client
                        .items()
                        .fetch_bytes(&this.target, &segments[st.segment].query, st.at, ask)
                        .await
                        .map_err(external)?;
                    let (batch, total) = if this.schema.fields().is_empty() {
                        // No column is read (`count(*)` on a server that does not count):
                        // the page's rows are only counted.
                        let (rows, total) = rows_of_page(&body)
                            .map_err(|e| e.context(format!("a page of {}", this.table)))?;
                        let batch = RecordBatch::try_new_with_options(
                            Arc::clone(&this.schema),
                            vec![],
                            &RecordBatchOptions::new().with_row_count(Some(rows)),
                        )?;
                        (batch, total)
                    } else {
                        let decoded = decoder
                            .decode(&body)
                            .map_err(|e| e.context(format!("decoding a page of {}", this.table)))?;
                        (decoded.batch, decoded.total_count)
                    };
                    let got = batch.num_rows() as u64;
                    st.at += got;
                    // A `total_count` of 0 beside rows is not trusted (the Python SDK does not trust 0).
                    if got == 0 || total.is_some_and(|total| total > 0 && st.at >= total) {
                        st.segment += 1;
                        st.at = 0;
                    }
                    let batch = st.cut(batch);
                    if batch.num_rows() > 0 {
                        return Ok(Some((batch, st)));
                    }
                }
            }
        })
        .boxed()
    }

    /// The number of rows matching `query`, `None` when the server does not say. A 0 is
    /// not taken on trust (the Python SDK does not): one page request of one row checks it.
    async fn count(&self, query: &ItemQuery) -> Result<Option<u64>> {
        let items = self.client.items();
        let total = items
            .total_resolved(&self.target, query)
            .await
            .map_err(external)?;
        if total != Some(0) {
            return Ok(total);
        }
        let body = items
            .fetch_bytes(&self.target, query, 0, 1)
            .await
            .map_err(external)?;
        let (rows, _) =
            rows_of_page(&body).map_err(|e| e.context(format!("a page of {}", self.table)))?;
        Ok((rows == 0).then_some(0))
    }

    /// All rows of segment `index` (one the server cannot order as SQL does), sorted by
    /// the scan's order: read and sorted once, shared by the partitions.
    async fn sorted_segment(
        &self,
        index: usize,
        segment: &Segment,
        decoder: &PageDecoder,
    ) -> Result<RecordBatch> {
        let cell = self.sorted.cell(index);
        cell.get_or_try_init(|| async {
            let batches = self
                .fetch_range(&segment.query, 0, u64::MAX, decoder)
                .await?;
            let batch = concat_batches(&self.schema, &batches)?;
            let keys = self
                .ordering
                .iter()
                .map(|s| {
                    let column = s.expr.downcast_ref::<Column>().ok_or_else(|| {
                        DataFusionError::Internal(format!(
                            "the scan's order key {} is not a column",
                            s.expr
                        ))
                    })?;
                    Ok(SortColumn {
                        values: Arc::clone(batch.column(column.index())),
                        options: Some(s.options),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let indices = lexsort_to_indices(&keys, None)?;
            Ok(take_record_batch(&batch, &indices)?)
        })
        .await
        .cloned()
    }

    /// The `len` rows from `offset` of `query` as batches: one request, or more when the
    /// server answers with fewer rows than asked for. When the page says how many rows
    /// match, a short page before them is the server's page cap: the rest of the range is
    /// fetched in pages of that size concurrently ([`refuel_client::Items::rest_of_range`]);
    /// otherwise it is asked for from where it stopped, until the rows end (an empty page,
    /// or the page's `total_count` reached).
    async fn fetch_range(
        &self,
        query: &ItemQuery,
        offset: u64,
        len: u64,
        decoder: &PageDecoder,
    ) -> Result<Vec<RecordBatch>> {
        let items = self.client.items();
        let asked = len.min(items.page_rows());
        let page = self.fetch_page(query, offset, len, decoder).await?;
        let got = page.batch.num_rows() as u64;
        let rest = items.rest_of_range(offset, len, asked, got, page.total_count);
        if rest.is_empty() {
            return self.continue_range(query, offset, len, decoder, page).await;
        }
        let mut batches = vec![page.batch];
        let more: Vec<Vec<RecordBatch>> = futures::stream::iter(rest)
            .map(|(at, len)| async move {
                let page = self.fetch_page(query, at, len, decoder).await?;
                self.continue_range(query, at, len, decoder, page).await
            })
            .buffered(self.client.limiter().bound())
            .try_collect()
            .await?;
        batches.extend(more.into_iter().flatten());
        Ok(batches)
    }

    /// One page of `query` from `offset`, at most `len` rows, decoded.
    async fn fetch_page(
        &self,
        query: &ItemQuery,
        offset: u64,
        len: u64,
        decoder: &PageDecoder,
    ) -> Result<crate::decode::DecodedPage> {
        let body = self
            .client
            .items()
            .fetch_bytes(&self.target, query, offset, len)
            .await
            .map_err(external)?;
        decoder
            .decode(&body)
            .map_err(|e| e.context(format!("decoding a page of {}", self.table)))
    }

    /// The range `[offset, offset + len)` whose first page is `first`: pages one after
    /// another from where it stopped, until the range is full or the rows end (an empty
    /// page, or the page's `total_count` reached).
    async fn continue_range(
        &self,
        query: &ItemQuery,
        offset: u64,
        len: u64,
        decoder: &PageDecoder,
        first: crate::decode::DecodedPage,
    ) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::with_capacity(1);
        let mut at = offset;
        let end = offset.saturating_add(len);
        let mut page = first;
        let mut asked = len.min(self.client.items().page_rows());
        let mut short = None;
        loop {
            let got = page.batch.num_rows() as u64;
            if got == 0 {
                break;
            }
            // The previous page came back short, yet rows followed: the server's cap.
            if let Some(rows) = short.take() {
                self.client.items().learn_page_cap(rows);
            }
            if got < asked {
                short = Some(got);
            }
            batches.push(page.batch);
            at += got;
            if at >= end
                || page
                    .total_count
                    .is_some_and(|total| total > 0 && at >= total)
            {
                break;
            }
            asked = (end - at).min(self.client.items().page_rows());
            page = self.fetch_page(query, at, end - at, decoder).await?;
        }
        Ok(batches)
    }
}

/// `rows` rows of no column, in batches of at most 8192.
fn columnless_batches(schema: &SchemaRef, rows: u64) -> Vec<Result<RecordBatch>> {
    (0..rows)
        .step_by(8192)
        .map(|start| {
            let n = (rows - start).min(8192) as usize;
            RecordBatch::try_new_with_options(
                Arc::clone(schema),
                vec![],
                &RecordBatchOptions::new().with_row_count(Some(n)),
            )
            .map_err(DataFusionError::from)
        })
        .collect()
}

/// The first `rows` rows of `batches`.
fn cut(batches: Vec<RecordBatch>, rows: u64) -> Vec<RecordBatch> {
    let mut left = rows as usize;
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        if left == 0 {
            break;
        }
        let keep = batch.num_rows().min(left);
        left -= keep;
        out.push(batch.slice(0, keep));
    }
    out
}

/// The number of rows in a page answer and its `total_count`, when given.
fn rows_of_page(body: &[u8]) -> Result<(usize, Option<u64>)> {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        items: Option<Vec<serde::de::IgnoredAny>>,
        #[serde(default, deserialize_with = "refuel_client::models::lenient::lenient")]
        total_count: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Body {
        Wrapped { data: Page },
        Bare(Page),
    }
    let page = match serde_json::from_slice::<Body>(body) {
        Ok(Body::Wrapped { data } | Body::Bare(data)) => data,
        Err(e) => {
            return Err(DataFusionError::Execution(format!(
                "the answer is not a page of rows: {e}"
            )));
        }
    };
    Ok((page.items.map_or(0, |i| i.len()), page.total_count))
}

/// The segments a scan sorts itself, by segment index.
#[derive(Debug, Default)]
pub(crate) struct SortedSegments(
    parking_lot::Mutex<HashMap<usize, Arc<tokio::sync::OnceCell<RecordBatch>>>>,
);

impl SortedSegments {
    fn cell(&self, index: usize) -> Arc<tokio::sync::OnceCell<RecordBatch>> {
        let mut cells = self.0.lock();
        Arc::clone(cells.entry(index).or_default())
    }
}

/// The segments of a scan with known counts: where each starts among the scan's rows.
struct Segments {
    segments: Vec<Segment>,
    /// `starts[i]` is the first row of segment `i`; `starts[n]` the total.
    starts: Vec<u64>,
}

impl Segments {
    fn new(segments: Vec<Segment>, counts: Vec<u64>) -> Self {
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut at = 0;
        starts.push(0);
        for c in counts {
            at += c;
            starts.push(at);
        }
        Self { segments, starts }
    }

    /// The rows `at..at + len` of the scan as (segment index, segment, offset in it, rows).
    fn ranges(&self, at: u64, len: u64) -> Vec<(usize, &Segment, u64, u64)> {
        let end = at + len;
        self.segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let (lo, hi) = (self.starts[i].max(at), self.starts[i + 1].min(end));
                (lo < hi).then(|| (i, s, lo - self.starts[i], hi - lo))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_map_onto_segments() {
        let q = |f: &str| Segment {
            query: ItemQuery::new().filter(Filter::is_null(f)),
            sort_here: false,
        };
        let s = Segments::new(vec![q("a"), q("b")], vec![3, 5]);
        let spans = |at, len| {
            s.ranges(at, len)
                .into_iter()
                .map(|(_, s, o, n)| (s.query.filters[0].field.clone(), o, n))
                .collect::<Vec<_>>()
        };
        assert_eq!(spans(0, 2), vec![("a".into(), 0, 2)]);
        assert_eq!(spans(2, 4), vec![("a".into(), 2, 1), ("b".into(), 0, 3)]);
        assert_eq!(spans(3, 10), vec![("b".into(), 0, 5)]);
        assert_eq!(spans(8, 1), vec![]);
        let empty_first = Segments::new(vec![q("a"), q("b")], vec![0, 2]);
        assert_eq!(empty_first.ranges(0, 2).len(), 1);
    }
}
