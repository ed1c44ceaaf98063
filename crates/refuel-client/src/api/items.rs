//! Row queries: one call returning rows in order, and a stream of pages fetched
//! concurrently; and single rows by item id.
//!
//! Page requests are the Python SDK's (`get_items` and `_query_helper`, `client.py:263-376`
//! and `659-693`): `GET /datasets/{id}` (or `/tasks/{task}/datasets/{id}`) with `dataset_id`,
//! `offset`, `max_items`, `filters`, `order_bys`, `expand=true` (and `task_id`), the count
//! first with `max_items=0`. Where this client goes beyond the SDK it degrades safely:
//! - It asks pages of `page_size` rows (default 1,000; the SDK asks 100). A server that
//!   refuses such a page with a 400 or 422 whose message names `max_items` is asked the
//!   same page again with [`SDK_PAGE_ROWS`] rows, and from then on (per client and its
//!   clones) every page is at most that: see [`Items::page_rows`].
//! - A page shorter than asked is continued from where it stopped, in every paging path.
//! - A count that is missing (no `total_count`, or `null`) means "unknown", never 0: see
//!   [`Items::total`]. Streams then read until an empty page, or until a page shorter than
//!   asked from a server known to answer pages of that size in full.

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::RefuelClient;
use crate::error::{Error, Result};
use crate::models::{Dataset, ItemQuery, LabeledItem, Row};
use crate::transport::{Call, decode_data};

/// The page size of the Python SDK (`QUERY_STEP_SIZE`, `client.py:43`), which every server
/// that serves the SDK accepts: what [`Items`] falls back to when a server refuses a larger
/// page.
pub const SDK_PAGE_ROWS: u64 = 100;

/// A page of rows and where it starts in the query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The position of the first row in the query's result (including the query's offset).
    pub offset: u64,
    /// The rows, in order.
    pub items: Vec<T>,
}

/// Where a query's rows come from, once names are resolved.
#[derive(Debug, Clone)]
pub struct ResolvedTarget {
    /// The dataset's id.
    pub dataset_id: String,
    /// The task's id, when labels come with the rows.
    pub task_id: Option<String>,
}

impl ResolvedTarget {
    fn path(&self) -> String {
        match &self.task_id {
            Some(task) => format!(
                "/tasks/{}/datasets/{}",
                super::segment(task),
                super::segment(&self.dataset_id)
            ),
            None => format!("/datasets/{}", super::segment(&self.dataset_id)),
        }
    }
}

/// Rows of the datasets of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Items<'c> {
    client: &'c RefuelClient,
}

impl<'c> Items<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    /// Resolves the dataset (and the query's task) to ids.
    /// With a task, the dataset and the task are looked up at once (after the project),
    /// each a round trip at most.
    pub async fn resolve(&self, dataset: &str, query: &ItemQuery) -> Result<ResolvedTarget> {
        let (dataset_id, task_id) = match &query.task {
            Some(task) => {
                self.client.project_id().await?;
                let (dataset_id, task_id) = futures::future::try_join(
                    self.client.datasets().id(dataset),
                    self.client.tasks().id(task),
                )
                .await?;
                (dataset_id, Some(task_id))
            }
            None => (self.client.datasets().id(dataset).await?, None),
        };
        Ok(ResolvedTarget {
            dataset_id,
            task_id,
        })
    }

    /// The most rows this client asks for in one page: the configured `page_size` (within
    /// the server's declared `max_page_rows`, [`crate::ClientConfig::page_rows`]), capped at
    /// [`SDK_PAGE_ROWS`] once the server refused a larger page. The learned cap is
    /// remembered per client (and shared by its clones), so later queries ask pages the
    /// server takes straight away; callers that plan their own page requests (a scan
    /// splitting work by offset) should size them with this.
    pub fn page_rows(&self) -> u64 {
        self.client
            .transport()
            .paging
            .capped(self.client.config().page_rows())
            .max(1)
    }

    /// The number of rows matching the query's filters (ignoring its offset and limit), as
    /// the server states it in `total_count` of a `max_items=0` request (the SDK's count,
    /// `client.py:263-272`). `None` when the server does not say (no `total_count`, or
    /// `null`): the count is unknown, which is not zero. A `Some(0)` is what the server
    /// said; the Python SDK does not trust a 0 either and reads pages anyway.
    pub async fn total(&self, dataset: &str, query: &ItemQuery) -> Result<Option<u64>> {
        let target = self.resolve(dataset, query).await?;
        self.total_resolved(&target, query).await
    }

    /// As [`Items::total`], for an already resolved target.
    pub async fn total_resolved(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
    ) -> Result<Option<u64>> {
        let head: Dataset<IgnoredAny> = self.fetch(target, query, 0, 0).await?;
        Ok(head.total_count)
    }

    /// The number of rows matching the query's filters (ignoring its offset and limit). The
    /// server's `total_count` when it gives a positive one; when it gives none (or 0, which
    /// the Python SDK does not trust either), the matching rows are counted by reading them
    /// page by page, so a missing count is never taken for 0. Use [`Items::total`] to learn
    /// whether the server counts without reading rows.
    pub async fn count(&self, dataset: &str, query: &ItemQuery) -> Result<u64> {
        let target = self.resolve(dataset, query).await?;
        self.count_resolved(&target, query).await
    }

    /// As [`Items::count`], for an already resolved target.
    pub async fn count_resolved(&self, target: &ResolvedTarget, query: &ItemQuery) -> Result<u64> {
        match self.total_resolved(target, query).await? {
            Some(total) if total > 0 => Ok(total),
            _ => {
                let all = ItemQuery {
                    offset: 0,
                    max_items: None,
                    ..query.clone()
                };
                sequential_pages::<IgnoredAny>(self.client.clone(), target.clone(), all)
                    .try_fold(
                        0u64,
                        |n, page| async move { Ok(n + page.items.len() as u64) },
                    )
                    .await
            }
        }
    }

    /// The rows of a query without a task, in order.
    pub async fn query(&self, dataset: &str, query: &ItemQuery) -> Result<Vec<Row>> {
        self.query_as(dataset, query).await
    }

    /// The rows of a query with a task (`query.task`), with their labels, in order.
    pub async fn query_labeled(
        &self,
        dataset: &str,
        query: &ItemQuery,
    ) -> Result<Vec<LabeledItem>> {
        self.query_as(dataset, query).await
    }

    /// The rows of a query decoded as `T`, in order. A query whose `max_items` fits in one
    /// page is one request (more when the server answers with fewer rows than asked); a
    /// larger one is fetched as [`Items::stream_as`] does.
    pub async fn query_as<T: DeserializeOwned + Send + 'static>(
        &self,
        dataset: &str,
        query: &ItemQuery,
    ) -> Result<Vec<T>> {
        if let Some(max) = query
            .max_items
            .filter(|m| *m <= self.client.config().page_size)
        {
            let target = self.resolve(dataset, query).await?;
            return self
                .fetch_range(&target, query, query.offset, max)
                .await
                .map(|p| p.items);
        }
        let pages: Vec<Page<T>> = self.stream_as(dataset, query.clone()).try_collect().await?;
        Ok(pages.into_iter().flat_map(|p| p.items).collect())
    }

    /// The rows of a query without a task, as a stream of pages in order.
    pub fn stream(&self, dataset: &str, query: ItemQuery) -> BoxStream<'static, Result<Page<Row>>> {
        self.stream_as(dataset, query)
    }

    /// The rows of a query decoded as `T`, as a stream of pages in offset order.
    ///
    /// It asks for the count (`max_items=0`, as the Python SDK does) and, beside it, for the
    /// first page, so the count costs no round trip of its own. With a positive count it
    /// fetches the following pages of [`Items::page_rows`] rows concurrently (as many in
    /// flight as the client's [`crate::RequestLimiter`] allows) and yields them in order; a
    /// page answered short before the counted rows teaches the client the server's page cap,
    /// and the rest is planned in pages of that size. Without a count (or with 0, which the
    /// SDK does not trust) it reads pages one after another until an empty one (or one
    /// shorter than asked from a server known to answer pages of that size in full). Pages
    /// are fetched only as fast as the consumer takes them (back-pressure), so memory stays
    /// bounded by the limiter's bound in pages. Rows keep a stable order across pages as long
    /// as the dataset does not change during the scan; give the query an explicit order for
    /// stability under concurrent appends.
    pub fn stream_as<T: DeserializeOwned + Send + 'static>(
        &self,
        dataset: &str,
        query: ItemQuery,
    ) -> BoxStream<'static, Result<Page<T>>> {
        let client = self.client.clone();
        let dataset = dataset.to_string();
        stream::once(async move {
            let items = client.items();
            let target = items.resolve(&dataset, &query).await?;
            let head_len = items.page_rows().min(query.max_items.unwrap_or(u64::MAX));
            if head_len == 0 {
                return Ok::<_, Error>(stream::empty().boxed());
            }
            // The count and the first page at once; the first page is one request, so the
            // rest is planned as soon as it says whether the server caps pages.
            let (total, (head, asked)) = futures::try_join!(
                items.total_resolved(&target, &query),
                items.fetch_page::<T>(&target, &query, query.offset, head_len),
            )?;
            let total = total.or(head.total_count).filter(|t| *t > 0);
            let head = Page {
                offset: query.offset,
                items: head.items.unwrap_or_default(),
            };
            let got = head.items.len() as u64;
            let at = query.offset + got;
            let wanted_end = query.max_items.map(|m| query.offset.saturating_add(m));
            let end = match (total, wanted_end) {
                (Some(t), Some(e)) => Some(t.min(e)),
                (t, e) => t.or(e),
            };
            let paging = &client.transport().paging;
            // Short before the counted rows: a page cap, learned so the rest is planned in
            // pages of that size.
            if got > 0 && got < asked && total.is_some_and(|t| at < t) {
                items.learn_page_cap(got);
            }
            let rest = ItemQuery {
                offset: at,
                max_items: query.max_items.map(|m| m - got),
                ..query
            };
            let finished = got == 0
                || end.is_some_and(|e| at >= e)
                || (total.is_none() && got < asked && paging.honours(asked));
            let rest = match total {
                _ if finished => stream::empty().boxed(),
                Some(total) => page_stream(client.clone(), target, rest, total),
                None => sequential_pages(client.clone(), target, rest),
            };
            let head = (got > 0).then_some(Ok(head));
            Ok(stream::iter(head).chain(rest).boxed())
        })
        .try_flatten()
        .boxed()
    }

    /// One page request: at most `max_items` rows from `offset` (`max_items = 0` asks only
    /// for the count). The request asks for at most [`Items::page_rows`] rows; a server that
    /// refuses the page size (400 or 422 naming `max_items`) is asked again with
    /// [`SDK_PAGE_ROWS`] rows, and the cap is remembered. So the page may hold fewer rows
    /// than `max_items` even when more match: continue from where it stopped (as
    /// [`Items::fetch_range`] does).
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        max_items: u64,
    ) -> Result<Dataset<T>> {
        self.fetch_page(target, query, offset, max_items)
            .await
            .map(|(page, _)| page)
    }

    /// The raw JSON body of one page request, for callers that decode pages themselves
    /// (e.g. straight into Arrow). Sent as [`Items::fetch`] sends it: the page may hold
    /// fewer rows than `max_items`.
    pub async fn fetch_bytes(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        max_items: u64,
    ) -> Result<Bytes> {
        self.page_body(target, query, offset, max_items)
            .await
            .map(|(body, _)| body)
    }

    /// `len` rows from `offset`, in as many requests as the server needs: a page shorter
    /// than asked is continued from where it stopped, until `len` rows, an empty page, the
    /// server's positive `total_count`, or a short page from a server known to answer pages
    /// of that size in full. When the page says how many rows match, a short page before
    /// them is a page cap: it is learned ([`Items::learn_page_cap`]) and the rest of the
    /// range is fetched in pages of that size concurrently (see [`Items::rest_of_range`]).
    pub async fn fetch_range<T: DeserializeOwned + Send + 'static>(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        len: u64,
    ) -> Result<Page<T>> {
        let (page, asked): (Dataset<T>, u64) = self.fetch_page(target, query, offset, len).await?;
        let total = page.total_count;
        let mut items = page.items.unwrap_or_default();
        let n = items.len() as u64;
        let paging = &self.client.transport().paging;
        let done = n == 0
            || n >= len
            || total.is_some_and(|t| t > 0 && offset + n >= t)
            || (n < asked && paging.honours(asked));
        if done {
            return Ok(Page { offset, items });
        }
        let rest = self.rest_of_range(offset, len, asked, n, total);
        if rest.is_empty() {
            let short = (n < asked).then_some(n);
            return self
                .continue_range(target, query, offset, len, items, short)
                .await;
        }
        let client = self.client.clone();
        let pages: Vec<Page<T>> = stream::iter(rest)
            .map(|(at, len)| {
                let (client, target, query) = (client.clone(), target.clone(), query.clone());
                async move {
                    client
                        .items()
                        .continue_range(&target, &query, at, len, Vec::new(), None)
                        .await
                }
            })
            .buffered(self.client.limiter().bound())
            .try_collect()
            .await?;
        for page in pages {
            items.extend(page.items);
        }
        Ok(Page { offset, items })
    }

    /// Tells the client that its server answered `rows` rows to a page that asked for
    /// more while more rows followed: the server caps pages at `rows`. Later pages ask for
    /// at most that many, and callers that plan pages ([`Items::page_rows`]) plan them at
    /// that size, so that they are fetched concurrently rather than continued one after
    /// another. The smallest cap learned wins.
    pub fn learn_page_cap(&self, rows: u64) {
        let paging = &self.client.transport().paging;
        if rows > 0 && paging.cap().is_none_or(|cap| rows < cap) {
            tracing::debug!(rows, "the server caps pages; planning pages of that size");
            paging.set_cap(rows);
        }
    }

    /// After the first page of the range `[offset, offset + len)` asked `asked` rows and
    /// got `got`, with the page's `total_count`: the rest of the range as pages to fetch
    /// concurrently, when the page proves a cap (it came back short before the rows the
    /// server counts). Empty when the range is done or the rest must be read in order
    /// (the server gave no count). Learns the cap.
    pub fn rest_of_range(
        &self,
        offset: u64,
        len: u64,
        asked: u64,
        got: u64,
        total_count: Option<u64>,
    ) -> Vec<(u64, u64)> {
        let end = offset.saturating_add(len);
        let Some(total) = total_count.filter(|t| *t > 0) else {
            return Vec::new();
        };
        let end = end.min(total);
        let at = offset + got;
        if got == 0 || got >= asked || at >= end {
            return Vec::new();
        }
        self.learn_page_cap(got);
        let size = self.page_rows();
        (at..end)
            .step_by(usize::try_from(size).unwrap_or(usize::MAX))
            .map(|o| (o, size.min(end - o)))
            .collect()
    }

    /// The range `[offset, offset + len)` with `items` already read from its start: pages
    /// one after another from where they stopped, until the range is full or the rows end.
    /// `short` is the size of the last page read when it came back shorter than asked.
    async fn continue_range<T: DeserializeOwned>(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        len: u64,
        mut items: Vec<T>,
        mut short: Option<u64>,
    ) -> Result<Page<T>> {
        let paging = &self.client.transport().paging;
        while (items.len() as u64) < len {
            let at = offset + items.len() as u64;
            let (page, asked): (Dataset<T>, u64) = self
                .fetch_page(target, query, at, len - items.len() as u64)
                .await?;
            let total = page.total_count;
            let got = page.items.unwrap_or_default();
            let n = got.len() as u64;
            if n == 0 {
                break;
            }
            // The previous page came back short, yet rows followed: a cap.
            if let Some(rows) = short.take() {
                self.learn_page_cap(rows);
            }
            items.extend(got);
            // The server said how many rows match: nothing lies past them. (A 0 beside rows
            // says nothing.)
            if total.is_some_and(|t| t > 0 && offset + items.len() as u64 >= t) {
                break;
            }
            if n < asked {
                if paging.honours(asked) {
                    break;
                }
                short = Some(n);
            }
        }
        Ok(Page { offset, items })
    }

    /// One page, decoded, with the number of rows the request asked for.
    async fn fetch_page<T: DeserializeOwned>(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        max_items: u64,
    ) -> Result<(Dataset<T>, u64)> {
        let (body, asked) = self.page_body(target, query, offset, max_items).await?;
        let page: Dataset<T> = decode_data(&page_context(target), &body)?;
        if let Some(items) = &page.items {
            self.client
                .transport()
                .paging
                .record(asked, items.len() as u64);
        }
        Ok((page, asked))
    }

    /// One page request's body, with the number of rows it asked for: `max_items` capped at
    /// what the server accepts, and [`SDK_PAGE_ROWS`] once more when the server refuses the
    /// page size.
    async fn page_body(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        max_items: u64,
    ) -> Result<(Bytes, u64)> {
        let transport = self.client.transport();
        // Never more than `page_rows()`: the page size within the declared cap, then the
        // learned one.
        let declared = self.client.config().page_rows();
        let asked = transport.paging.capped(max_items.min(declared));
        match transport
            .call_bytes(&page_call(target, query, offset, asked))
            .await
        {
            Err(err) if asked > SDK_PAGE_ROWS && refuses_page_size(&err) => {
                tracing::warn!(
                    dataset = %target.dataset_id,
                    asked,
                    error = %err,
                    "the server refused the page size; asking pages of {SDK_PAGE_ROWS} rows from now on"
                );
                transport.paging.set_cap(SDK_PAGE_ROWS);
                let asked = transport.paging.capped(max_items.min(declared));
                let body = transport
                    .call_bytes(&page_call(target, query, offset, asked))
                    .await?;
                Ok((body, asked))
            }
            answer => answer.map(|body| (body, asked)),
        }
    }

    /// One row of a dataset (name or id) by its item id: `GET /datasets/{id}/items/{item}`
    /// (the contract's "get one row"; the Python SDK has no such call).
    pub async fn get(&self, dataset: &str, item_id: &str) -> Result<Row> {
        super::require(item_id, "the item id")?;
        let id = self.client.datasets().id(dataset).await?;
        let call = Call::get(
            format!(
                "/datasets/{}/items/{}",
                super::segment(&id),
                super::segment(item_id)
            ),
            format!("get item '{item_id}' of dataset '{dataset}'"),
        );
        self.client.transport().call(&call).await
    }

    /// Deletes one row of a dataset (name or id) by its item id:
    /// `DELETE /datasets/{id}/items/{item}` (the contract's "delete one row"; the Python SDK
    /// has no such call).
    pub async fn delete(&self, dataset: &str, item_id: &str) -> Result<()> {
        super::require(item_id, "the item id")?;
        let id = self.client.datasets().id(dataset).await?;
        let call = Call::new(
            Method::DELETE,
            format!(
                "/datasets/{}/items/{}",
                super::segment(&id),
                super::segment(item_id)
            ),
            format!("delete item '{item_id}' of dataset '{dataset}'"),
        );
        self.client.transport().call_unit(&call).await
    }
}

/// Whether an error is the server refusing the page size: a 400 or 422 whose message names
/// `max_items`. Any other client error is a real one.
fn refuses_page_size(err: &Error) -> bool {
    matches!(
        err,
        Error::Api { status, message, .. }
            if matches!(status.as_u16(), 400 | 422)
                && message.to_ascii_lowercase().contains("max_items")
    )
}

/// Pages fetched one after another until the rows end (an empty page, or a short one from a
/// server known to answer pages of that size in full), for a server that does not say how
/// many rows match.
fn sequential_pages<T: DeserializeOwned + Send + 'static>(
    client: RefuelClient,
    target: ResolvedTarget,
    query: ItemQuery,
) -> BoxStream<'static, Result<Page<T>>> {
    let page_size = client.items().page_rows();
    let end = query.max_items.map(|m| query.offset.saturating_add(m));
    stream::try_unfold(Some(query.offset), move |next| {
        let (client, target, query) = (client.clone(), target.clone(), query.clone());
        async move {
            let Some(offset) = next else { return Ok(None) };
            let len = end.map_or(page_size, |e| page_size.min(e.saturating_sub(offset)));
            if len == 0 {
                return Ok(None);
            }
            let page: Page<T> = client
                .items()
                .fetch_range(&target, &query, offset, len)
                .await?;
            if page.items.is_empty() {
                return Ok(None);
            }
            // `fetch_range` comes back short only at the end of the rows.
            let got = page.items.len() as u64;
            let following = (got == len).then_some(offset + got);
            Ok(Some((page, following)))
        }
    })
    .boxed()
}

/// What a page request is doing, for errors.
fn page_context(target: &ResolvedTarget) -> String {
    match &target.task_id {
        Some(task) => format!("query dataset {} with task {task}", target.dataset_id),
        None => format!("query dataset {}", target.dataset_id),
    }
}

/// The request for `max_items` rows of the query from `offset`, with the Python SDK's
/// parameters in its order (`client.py:672-684`): `dataset_id`, the page parameters, and
/// `task_id` last with a task.
fn page_call<'a>(
    target: &ResolvedTarget,
    query: &ItemQuery,
    offset: u64,
    max_items: u64,
) -> Call<'a> {
    let call = Call::get(target.path(), page_context(target))
        .query("dataset_id", &target.dataset_id)
        .queries(query.page_params(offset, max_items));
    match &target.task_id {
        Some(task) => call.query("task_id", task),
        None => call,
    }
}

/// The pages of `[query.offset, min(total, offset + max_items))`, fetched concurrently and
/// yielded in order.
fn page_stream<T: DeserializeOwned + Send + 'static>(
    client: RefuelClient,
    target: ResolvedTarget,
    query: ItemQuery,
    total: u64,
) -> BoxStream<'static, Result<Page<T>>> {
    let limited = client.clone();
    let start = query.offset;
    let end = match query.max_items {
        Some(max) => total.min(start.saturating_add(max)),
        None => total,
    };
    // Each range is sized when it is planned, so once the server's page cap is learned the
    // ranges follow it.
    let planner = client.clone();
    let pages = stream::unfold(start, move |o| {
        let size = planner.items().page_rows();
        futures::future::ready((o < end).then(|| ((o, size.min(end - o)), o + size)))
    })
    .map(move |(offset, len)| {
        let client = client.clone();
        let target = target.clone();
        let query = query.clone();
        // Each page is fetched and decoded on its own task, so decoding runs on every
        // core; the window below still bounds the pages in flight (back-pressure).
        let task = AbortOnDrop(tokio::spawn(async move {
            client
                .items()
                .fetch_range(&target, &query, offset, len)
                .await
        }));
        task.join()
    })
    .boxed();
    // Pages are planned (and fetched) only as far ahead as the limiter lets requests go.
    crate::window::ordered_within_limit(limited, pages, 1)
        .try_filter(|page: &Page<T>| futures::future::ready(!page.items.is_empty()))
        .boxed()
}

/// A spawned page fetch that is cancelled when the stream drops it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<Result<T>> {
    async fn join(mut self) -> Result<T> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) => Err(Error::Internal(format!("a page fetch task failed: {e}"))),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
