//! Row queries: one call returning rows in order, and a stream of pages fetched
//! concurrently.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use crate::RefuelClient;
use crate::error::Result;
use crate::models::{Dataset, ItemQuery, LabeledItem, Row};
use crate::transport::Call;

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
            Some(task) => format!("/tasks/{task}/datasets/{}", self.dataset_id),
            None => format!("/datasets/{}", self.dataset_id),
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
    pub async fn resolve(&self, dataset: &str, query: &ItemQuery) -> Result<ResolvedTarget> {
        let dataset_id = self.client.datasets().id(dataset).await?;
        let task_id = match &query.task {
            Some(task) => Some(self.client.tasks().id(task).await?),
            None => None,
        };
        Ok(ResolvedTarget {
            dataset_id,
            task_id,
        })
    }

    /// The number of rows matching the query's filters (ignoring its offset and limit).
    pub async fn count(&self, dataset: &str, query: &ItemQuery) -> Result<u64> {
        let target = self.resolve(dataset, query).await?;
        self.count_resolved(&target, query).await
    }

    /// The number of rows matching the query's filters, for an already resolved target.
    pub async fn count_resolved(&self, target: &ResolvedTarget, query: &ItemQuery) -> Result<u64> {
        let page: Dataset<serde::de::IgnoredAny> = self.fetch(target, query, 0, 0).await?;
        Ok(page.total_count.unwrap_or(0))
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
    /// page is one request; a larger one is fetched as [`Items::stream_as`] does.
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
    /// It asks for the count first, then fetches pages of `page_size` rows concurrently (at
    /// most `max_workers` in flight) and yields them in order. Pages are fetched only as
    /// fast as the consumer takes them (back-pressure), so memory stays bounded by
    /// `max_workers` pages. Rows keep a stable order across pages as long as the dataset does
    /// not change during the scan; give the query an explicit order for stability under
    /// concurrent appends.
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
            let head: Dataset<serde::de::IgnoredAny> = items.fetch(&target, &query, 0, 0).await?;
            Ok::<_, crate::Error>(match head.total_count {
                Some(total) => page_stream(client.clone(), target, query, total),
                None => sequential_pages(client.clone(), target, query),
            })
        })
        .try_flatten()
        .boxed()
    }

    /// One page request: `max_items` rows from `offset` (`max_items = 0` asks only for the
    /// count).
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        max_items: u64,
    ) -> Result<Dataset<T>> {
        self.client
            .transport()
            .call(&page_call(target, query, offset, max_items))
            .await
    }

    /// The raw JSON body of one page request, for callers that decode pages themselves
    /// (e.g. straight into Arrow).
    pub async fn fetch_bytes(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        max_items: u64,
    ) -> Result<bytes::Bytes> {
        self.client
            .transport()
            .call_bytes(&page_call(target, query, offset, max_items))
            .await
    }

    /// `len` rows from `offset`, in as many requests as the server needs (a server may
    /// return fewer rows than asked for; the rest is fetched from where it stopped, until
    /// the rows end).
    pub async fn fetch_range<T: DeserializeOwned>(
        &self,
        target: &ResolvedTarget,
        query: &ItemQuery,
        offset: u64,
        len: u64,
    ) -> Result<Page<T>> {
        let mut items: Vec<T> = Vec::new();
        while (items.len() as u64) < len {
            let at = offset + items.len() as u64;
            let page: Dataset<T> = self
                .fetch(target, query, at, len - items.len() as u64)
                .await?;
            let total = page.total_count;
            let got = page.items.unwrap_or_default();
            if got.is_empty() {
                break;
            }
            items.extend(got);
            // The server said how many rows match: nothing lies past them.
            if total.is_some_and(|t| offset + items.len() as u64 >= t) {
                break;
            }
        }
        Ok(Page { offset, items })
    }
}

/// Pages fetched one after another until a short page, for a server that does not say how
/// many rows match.
fn sequential_pages<T: DeserializeOwned + Send + 'static>(
    client: RefuelClient,
    target: ResolvedTarget,
    query: ItemQuery,
) -> BoxStream<'static, Result<Page<T>>> {
    let page_size = client.config().page_size.max(1);
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

/// The request for `max_items` rows of the query from `offset`.
fn page_call<'a>(
    target: &ResolvedTarget,
    query: &ItemQuery,
    offset: u64,
    max_items: u64,
) -> Call<'a> {
    let call = Call::get(
        target.path(),
        format!("query dataset {}", target.dataset_id),
    )
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
    let page_size = client.config().page_size.max(1);
    let workers = client.config().max_workers.max(1);
    let start = query.offset;
    let end = match query.max_items {
        Some(max) => total.min(start.saturating_add(max)),
        None => total,
    };
    let ranges = (start..end)
        .step_by(usize::try_from(page_size).unwrap_or(usize::MAX))
        .map(move |o| (o, page_size.min(end - o)));
    stream::iter(ranges)
        .map(move |(offset, len)| {
            let client = client.clone();
            let target = target.clone();
            let query = query.clone();
            // Each page is fetched and decoded on its own task, so decoding runs on every
            // core; `buffered` still bounds the pages in flight (back-pressure).
            let task = AbortOnDrop(tokio::spawn(async move {
                client
                    .items()
                    .fetch_range(&target, &query, offset, len)
                    .await
            }));
            task.join()
        })
        .buffered(workers)
        .try_filter(|page: &Page<T>| futures::future::ready(!page.items.is_empty()))
        .boxed()
}

/// A spawned page fetch that is cancelled when the stream drops it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<Result<T>> {
    async fn join(mut self) -> Result<T> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) => Err(crate::Error::Internal(format!(
                "a page fetch task failed: {e}"
            ))),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
