//! Ordered concurrency that follows the client's limiter: like `StreamExt::buffered`, but
//! the number of futures running at once is read from the limiter at every step, so read-
//! ahead grows with what the server sustains and stays small while it does not (a query
//! that stops early, such as a `LIMIT` over a filter, has not fetched far ahead).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{Fuse, FuturesOrdered, Stream, StreamExt};

use crate::RefuelClient;

/// The futures of `source`, their outputs in the order of `source`, run at most the
/// limiter's current limit (plus a quarter, see below) divided by `shares` at once
/// (`shares` streams that run side by side, e.g. the partitions of a scan, each take their
/// share; at least one each). Futures past the limit wait for the limiter itself.
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
    running: FuturesOrdered<St::Item>,
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
        // A quarter more than the requests allowed: futures that completed out of order
        // and wait for an earlier one would otherwise leave the limiter idle.
        let limit = this.client.limiter().limit();
        let window = (limit + limit / 4).div_ceil(this.shares);
        while this.running.len() < window {
            match this.source.poll_next_unpin(cx) {
                Poll::Ready(Some(future)) => this.running.push_back(future),
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        match this.running.poll_next_unpin(cx) {
            Poll::Ready(Some(output)) => Poll::Ready(Some(output)),
            Poll::Ready(None) if this.source.is_done() => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl<St> Unpin for WithinLimit<St>
where
    St: Stream + Unpin,
    St::Item: Future,
{
}
