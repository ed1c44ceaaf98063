//! One query's labeling: each distinct input is sent once (later occurrences, in any
//! batch or partition of the query, wait for the same answer), NULL inputs are not sent,
//! and `refuel.label.max_rows` bounds the distinct inputs sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::error::{DataFusionError, Result};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use refuel_client::models::{LabelOutput, Row};
use refuel_client::{LabelOptions, RefuelClient};

use super::directory::LabelApp;
use super::options::LabelConfig;

/// The answer for one input: its output, or the message of its failure.
pub type Outcome = Result<Arc<LabelOutput>, Arc<str>>;

/// An input's answer, awaited by every row that has that input.
type PendingOutcome = Shared<BoxFuture<'static, Outcome>>;

/// The labeling state of one query (see the module docs). A rule of ours gives each plan
/// a fresh one; the function registered in the session, when run outside that rule's
/// plans, uses one per call.
#[derive(Debug, Default)]
pub struct LabelRun {
    outcomes: Mutex<HashMap<(String, String), PendingOutcome>>,
    sent: AtomicU64,
}

impl LabelRun {
    /// Distinct inputs sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The outcomes of `rows` in order (`None` for a NULL input, which sends nothing). New
    /// distinct inputs are sent concurrently, each through the client's limiter and
    /// retries; inputs already sent (or in flight) in this query are not sent again.
    pub async fn label(
        &self,
        client: &RefuelClient,
        app: &LabelApp,
        rows: Vec<Option<Row>>,
        config: &LabelConfig,
    ) -> Result<Vec<Option<Outcome>>> {
        let mut options = LabelOptions::new().explain(config.explain);
        if let Some(model) = &config.model {
            options = options.model(model.clone());
        }
        options.query_params().map_err(crate::error::external)?;
        let mut waits = Vec::with_capacity(rows.len());
        {
            let mut outcomes = self.outcomes.lock();
            for row in rows {
                let Some(row) = row else {
                    waits.push(None);
                    continue;
                };
                let key = (
                    app.id.clone(),
                    serde_json::to_string(&row).map_err(crate::error::external)?,
                );
                if let Some(known) = outcomes.get(&key) {
                    waits.push(Some(known.clone()));
                    continue;
                }
                let sent = self.sent.load(Ordering::Relaxed);
                if let Some(max) = config.max_rows
                    && sent >= max
                {
                    return Err(DataFusionError::Execution(format!(
                        "refuel_label: this query would send more than refuel.label.max_rows = {max} \
                         distinct inputs to application '{}'; raise it (SET refuel.label.max_rows = N) \
                         or label fewer rows",
                        app.name
                    )));
                }
                self.sent.fetch_add(1, Ordering::Relaxed);
                let future = label_one(client.clone(), app.id.clone(), row, options.clone())
                    .boxed()
                    .shared();
                outcomes.insert(key, future.clone());
                waits.push(Some(future));
            }
        }
        let done = futures::future::join_all(waits.into_iter().map(|w| async move {
            match w {
                Some(f) => Some(f.await),
                None => None,
            }
        }))
        .await;
        Ok(done)
    }
}

async fn label_one(
    client: RefuelClient,
    app_id: String,
    row: Row,
    options: LabelOptions,
) -> Outcome {
    client
        .applications()
        .label_one(&app_id, &row, &options)
        .await
        .map(Arc::new)
        .map_err(|e| Arc::from(e.to_string()))
}
