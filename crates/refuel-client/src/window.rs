//! Ordered concurrency that follows the client's limiter: like `StreamExt::buffered`, but
//! the number of futures running at once is read from the limiter at every step, so read-
//! ahead grows with what the server sustains and stays small while it does not (a query
//! that stops early, such as a `LIMIT` over a filter, has not fetched far ahead).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::stream::{Fuse, FuturesOrdered, Stream, StreamExt};

use crate::RefuelClient;

/// The futures of `source`, their outputs in the order of `source`, run at most the
/// limiter's current limit (plus a quarter, see below) divided by `shares` at once
/// (`shares` streams that run side by side, e.g. the partitions of a scan, each take their
/// share; at least one each). Futures past the limit wait for the limiter itself.
///
/// A future that finished before an earlier one waits for it without holding a running
/// place, so one slow answer does not leave the limiter idle; finished outputs waiting so
/// are at most the same number again (memory stays bounded by twice the window).
pub fn ordered_within_limit<St>(client: RefuelClient, source: St, shares: usize) -> WithinLimit<St>
where
    St: Stream + Unpin,
    St::Item: Future,
{
    WithinLimit {
        client,
        shares: shares.max(1),
        source: source.fuse(),
        running: FuturesOrdered::new(),
        unfinished: Arc::new(AtomicUsize::new(0)),
    }
}

/// A future of the window, counted among the unfinished ones until it finishes.
struct Tracked<F> {
    inner: Pin<Box<F>>,
    unfinished: Option<Arc<AtomicUsize>>,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = self.inner.as_mut().poll(cx);
        if out.is_ready() {
            if let Some(unfinished) = self.unfinished.take() {
                unfinished.fetch_sub(1, Ordering::Relaxed);
            }
        }
        out
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        if let Some(unfinished) = self.unfinished.take() {
            unfinished.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// See [`ordered_within_limit`].
#[must_use = "streams do nothing unless polled"]
pub struct WithinLimit<St>
where
    St: Stream,
    St::Item: Future,
{
    client: RefuelClient,
    shares: usize,
    source: Fuse<St>,
    running: FuturesOrdered<Tracked<St::Item>>,
    /// The futures in `running` that have not finished.
    unfinished: Arc<AtomicUsize>,
}

impl<St> std::fmt::Debug for WithinLimit<St>
where
    St: Stream,
    St::Item: Future,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithinLimit")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl<St> Stream for WithinLimit<St>
where
    St: Stream + Unpin,
    St::Item: Future,
{
    type Item = <St::Item as Future>::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // A quarter more than the requests allowed, so that a request is ready to go
        // whenever a place frees.
        let limit = this.client.limiter().limit();
        let window = (limit + limit / 4).div_ceil(this.shares);
        loop {
            // Start futures while fewer than the window run (and fewer than twice the window
            // are held, finished ones included).
            let mut source_waits = false;
            while this.unfinished.load(Ordering::Relaxed) < window
                && this.running.len() < 2 * window
            {
                match this.source.poll_next_unpin(cx) {
                    Poll::Ready(Some(future)) => {
                        this.unfinished.fetch_add(1, Ordering::Relaxed);
                        this.running.push_back(Tracked {
                            inner: Box::pin(future),
                            unfinished: Some(Arc::clone(&this.unfinished)),
                        });
                    }
                    Poll::Ready(None) => break,
                    Poll::Pending => {
                        source_waits = true;
                        break;
                    }
                }
            }
            match this.running.poll_next_unpin(cx) {
                Poll::Ready(Some(output)) => return Poll::Ready(Some(output)),
                Poll::Ready(None) if this.source.is_done() => return Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending => {
                    // Futures that finished behind a slower one gave their places back:
                    // start more now rather than at the next wake-up.
                    let room = this.unfinished.load(Ordering::Relaxed) < window
                        && this.running.len() < 2 * window;
                    if source_waits || this.source.is_done() || !room {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<St> Unpin for WithinLimit<St>
where
    St: Stream + Unpin,
    St::Item: Future,
{
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::ClientConfig;

    #[tokio::test]
    async fn finished_futures_behind_a_slow_one_free_their_places_within_a_bound() {
        // A limit of 4: a window of 5 running futures, at most 10 held.
        let client = RefuelClient::new(
            ClientConfig::default()
                .with_api_key("k")
                .with_max_workers(4),
        )
        .unwrap();
        let (release, slow) = tokio::sync::oneshot::channel::<()>();
        let started = Arc::new(AtomicUsize::new(0));
        let mut slow = Some(slow);
        let counter = Arc::clone(&started);
        let source = futures::stream::iter(0..40).map(move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            let wait = if i == 0 { slow.take() } else { None };
            Box::pin(async move {
                if let Some(wait) = wait {
                    let _ = wait.await;
                }
                i
            })
        });
        let mut out = ordered_within_limit(client, source, 1);
        // The first future waits: the others finish, give their places back, and more
        // start, up to twice the window.
        let first = tokio::time::timeout(Duration::from_millis(100), out.next()).await;
        assert!(first.is_err(), "the slow first output cannot come yet");
        assert_eq!(started.load(Ordering::SeqCst), 10);
        release.send(()).unwrap();
        let all: Vec<i32> = out.collect().await;
        assert_eq!(all, (0..40).collect::<Vec<_>>());
    }
}
