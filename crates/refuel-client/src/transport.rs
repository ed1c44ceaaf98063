//! The HTTP layer: authentication, the `{"data": ...}` envelope, error bodies, timeouts and
//! retries. Every call of the client goes through [`Transport::call`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use url::Url;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::limiter::{Outcome, Permit, RequestLimiter};
use crate::retry::{Idempotency, RetryPolicy, retry_after};

/// A request to make, rebuilt for every try so that even multipart bodies can be retried.
pub(crate) struct Call<'a> {
    /// What is being done, for errors and logs (e.g. `get dataset 'sales'`).
    pub context: String,
    pub method: Method,
    /// The path below the base URL, starting with `/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub idempotency: Idempotency,
    /// Adds the body to a fresh request (JSON, form or multipart).
    #[allow(clippy::type_complexity)]
    pub body: Option<Box<dyn Fn(RequestBuilder) -> Result<RequestBuilder> + Send + Sync + 'a>>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: impl Into<String>, context: impl Into<String>) -> Self {
        let idempotency = if method == Method::POST || method == Method::PATCH {
            Idempotency::NotIdempotent
        } else {
            Idempotency::Idempotent
        };
        Self {
            context: context.into(),
            method,
            path: path.into(),
            query: Vec::new(),
            idempotency,
            body: None,
        }
    }

    pub(crate) fn get(path: impl Into<String>, context: impl Into<String>) -> Self {
        Self::new(Method::GET, path, context)
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    pub(crate) fn queries(
        mut self,
        params: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Self {
        self.query.extend(params);
        self
    }

    pub(crate) fn json<T: serde::Serialize + Sync + 'a>(mut self, body: &'a T) -> Self {
        self.body = Some(Box::new(move |rb| Ok(rb.json(body))));
        self
    }

    pub(crate) fn body_with(
        mut self,
        body: impl Fn(RequestBuilder) -> Result<RequestBuilder> + Send + Sync + 'a,
    ) -> Self {
        self.body = Some(Box::new(body));
        self
    }

    pub(crate) fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = idempotency;
        self
    }
}

/// What a client has learned about how its server pages rows: a cap on `max_items` (set
/// when the server refused a larger page) and the largest page it answered in full. Kept
/// per transport, so per server, and shared by the clones of a client.
#[derive(Debug, Default)]
pub(crate) struct PageLimits {
    /// The most rows to ask for in one page; 0 while no cap is known.
    cap: AtomicU64,
    /// The largest `max_items` the server answered with that many rows; 0 while unknown.
    honoured: AtomicU64,
}

impl PageLimits {
    /// The cap on `max_items`, once the server refused a larger page.
    pub(crate) fn cap(&self) -> Option<u64> {
        Some(self.cap.load(Ordering::Relaxed)).filter(|c| *c > 0)
    }

    /// Remembers a cap on `max_items` (the smallest one wins).
    pub(crate) fn set_cap(&self, rows: u64) {
        let rows = rows.max(1);
        let _ = self
            .cap
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c == 0 || rows < c).then_some(rows)
            });
    }

    /// `max_items` capped by what the server accepts.
    pub(crate) fn capped(&self, max_items: u64) -> u64 {
        self.cap().map_or(max_items, |cap| max_items.min(cap))
    }

    /// Records a page that came back with `got` rows for `asked`.
    pub(crate) fn record(&self, asked: u64, got: u64) {
        if asked > 0 && got >= asked {
            self.honoured.fetch_max(asked, Ordering::Relaxed);
        }
    }

    /// Whether a page of `asked` rows that comes back shorter means the rows ended: the
    /// server answered a page at least that large in full before, so it does not cut pages
    /// of this size short.
    pub(crate) fn honours(&self, asked: u64) -> bool {
        asked > 0 && asked <= self.honoured.load(Ordering::Relaxed)
    }
}

/// The shared HTTP machinery of a client.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// What the server's pages are known to be.
    pub paging: PageLimits,
    /// The requests in flight to the API, adapted to how the server keeps up.
    limiter: Arc<RequestLimiter>,
}

impl Transport {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self> {
        let key = config.api_key.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "no API key: pass one or set {}",
                crate::config::ENV_API_KEY
            ))
        })?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                Error::Config(
                    "the API key contains characters not allowed in an HTTP header".into(),
                )
            })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(match &config.user_agent {
                Some(agent) => format!("refuel-rs/{} {agent}", env!("CARGO_PKG_VERSION")),
                None => format!("refuel-rs/{}", env!("CARGO_PKG_VERSION")),
            })
            .connect_timeout(config.timeout.min(Duration::from_secs(30)))
            .pool_max_idle_per_host(config.workers_bound().max(4))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut base = config.base_url.clone();
        // Paths are appended to the base, so it must not end with '/'.
        let trimmed = base.path().trim_end_matches('/').to_string();
        base.set_path(&trimmed);
        Ok(Self {
            http,
            base,
            auth,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                max_throttled_retries: config.max_throttled_retries,
                base_delay: config.retry_base_delay,
                max_delay: config.retry_max_delay,
            },
            timeout: config.timeout,
            paging: PageLimits::default(),
            limiter: Arc::new(RequestLimiter::new(
                config.initial_workers(),
                config.workers_bound(),
            )),
        })
    }

    /// The limiter every API request passes.
    pub(crate) fn limiter(&self) -> &RequestLimiter {
        &self.limiter
    }

    /// The base URL requests go to.
    pub(crate) fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// Sends the call, retrying as its idempotency allows, and returns the successful
    /// response; an error status becomes [`Error::Api`] with the server's message.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<Sent> {
        let url = self.url(&call.path);
        self.send_to(call, &url, Target::Api).await
    }

    /// GETs an absolute, presigned URL (an export's download link): no `Authorization`
    /// header (the signature is in the URL, and the key must not leak to a third party),
    /// retried as an idempotent call. The timeout covers the wait for the response's
    /// headers only, so that a large body can take as long as it needs; readers of the body
    /// should bound the wait for each chunk themselves. An error status becomes
    /// [`Error::Api`] carrying only the status's reason: object stores echo parts of the
    /// signature in their error bodies.
    pub(crate) async fn send_presigned(&self, url: &Url, context: &str) -> Result<Response> {
        let call = Call::get("", context);
        let sent = self.send_to(&call, url.as_str(), Target::Presigned).await?;
        Ok(sent.response)
    }

    /// One try of the call: a fresh request with its authentication, query and body.
    fn request(&self, call: &Call<'_>, url: &str, target: Target) -> Result<RequestBuilder> {
        let mut rb = self.http.request(call.method.clone(), url);
        if target == Target::Api {
            rb = rb
                .header(AUTHORIZATION, self.auth.clone())
                .timeout(self.timeout);
        }
        if !call.query.is_empty() {
            rb = rb.query(&call.query);
        }
        match &call.body {
            Some(body) => body(rb),
            None => Ok(rb),
        }
    }

    /// Sends the call, each try through the limiter when it goes to the API.
    async fn send_to(&self, call: &Call<'_>, url: &str, target: Target) -> Result<Sent> {
        let mut retry = 0u32;
        let mut throttled = 0u32;
        loop {
            let permit = match target {
                Target::Api => Some(self.limiter.acquire().await),
                Target::Presigned => None,
            };
            let rb = self.request(call, url, target)?;
            let can_retry = retry < self.retry.max_retries;
            let sent = match target {
                Target::Api => rb.send().await,
                Target::Presigned => match tokio::time::timeout(self.timeout, rb.send()).await {
                    Ok(sent) => sent,
                    Err(_) if can_retry && call.idempotency == Idempotency::Idempotent => {
                        let delay = self.retry.delay(retry, None);
                        tracing::warn!(context = %call.context, ?delay, "no response in time; retrying");
                        tokio::time::sleep(delay).await;
                        retry += 1;
                        continue;
                    }
                    Err(_) => {
                        return Err(Error::Timeout {
                            what: format!("{}: the response", call.context),
                            timeout: self.timeout,
                        });
                    }
                },
            };
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    if let Some(permit) = &permit {
                        permit.answered();
                    }
                    return Ok(Sent {
                        response: resp,
                        _permit: permit,
                    });
                }
                Ok(resp) => {
                    let status = resp.status();
                    if let Some(permit) = &permit {
                        record_error(permit, status, resp.headers());
                    }
                    drop(permit);
                    // A 429 was not acted on: it has its own budget, for every call.
                    if status == StatusCode::TOO_MANY_REQUESTS
                        && throttled < self.retry.max_throttled_retries
                        && self.retry.max_retries > 0
                    {
                        let delay = self.retry.delay(throttled, Some(resp.headers()));
                        tracing::warn!(context = %call.context, %status, ?delay, "throttled; retrying");
                        drop(resp);
                        tokio::time::sleep(delay).await;
                        throttled += 1;
                        continue;
                    }
                    if can_retry && self.retry.retry_status(status, call.idempotency) {
                        let delay = self.retry.delay(retry, Some(resp.headers()));
                        tracing::warn!(context = %call.context, %status, ?delay, "retrying");
                        drop(resp);
                        tokio::time::sleep(delay).await;
                        retry += 1;
                        continue;
                    }
                    return Err(match target {
                        Target::Api => api_error(&call.context, resp).await,
                        Target::Presigned => Error::Api {
                            context: call.context.clone(),
                            status,
                            message: status
                                .canonical_reason()
                                .unwrap_or("no message")
                                .to_string(),
                        },
                    });
                }
                Err(err) => {
                    if let Some(permit) = permit {
                        permit.record(Outcome::Failed);
                    }
                    if can_retry && self.retry.retry_error(&err, call.idempotency) {
                        let delay = self.retry.delay(retry, None);
                        tracing::warn!(context = %call.context, error = %err.without_url_ref(), ?delay, "retrying");
                        tokio::time::sleep(delay).await;
                        retry += 1;
                        continue;
                    }
                    return Err(Error::transport(call.context.clone(), err));
                }
            }
        }
    }

    /// Sends the call and returns the success status with the raw body, for the endpoints
    /// whose success statuses differ in meaning (`202 Accepted` while an async label is
    /// pending, `200 OK` once it is done).
    pub(crate) async fn call_status(&self, call: &Call<'_>) -> Result<(StatusCode, Bytes)> {
        let sent = self.send(call).await?;
        let status = sent.response.status();
        let body = sent
            .response
            .bytes()
            .await
            .map_err(|e| Error::transport(call.context.clone(), e))?;
        Ok((status, body))
    }

    /// Sends the call and decodes `data` (or the whole body when it has no `data`).
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T> {
        let body = self.call_bytes(call).await?;
        decode_data(&call.context, &body)
    }

    /// Sends the call and returns the raw success body.
    pub(crate) async fn call_bytes(&self, call: &Call<'_>) -> Result<Bytes> {
        let sent = self.send(call).await?;
        sent.response
            .bytes()
            .await
            .map_err(|e| Error::transport(call.context.clone(), e))
    }

    /// Sends the call and ignores the success body.
    pub(crate) async fn call_unit(&self, call: &Call<'_>) -> Result<()> {
        self.call_bytes(call).await.map(drop)
    }
}

/// A successful answer, holding its place among the requests in flight until its body is
/// read (or it is dropped).
pub(crate) struct Sent {
    pub(crate) response: Response,
    _permit: Option<Permit>,
}

/// Tells the limiter what an error status says about the server's load.
fn record_error(permit: &Permit, status: StatusCode, headers: &reqwest::header::HeaderMap) {
    match status {
        StatusCode::TOO_MANY_REQUESTS => permit.record(Outcome::Throttled(retry_after(headers))),
        StatusCode::SERVICE_UNAVAILABLE => {
            permit.record(Outcome::Overloaded(retry_after(headers)));
        }
        // A gateway's failure says nothing about the API's pace.
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => permit.record(Outcome::Failed),
        // Any other answer (404, 400, ...) came back as the server answers.
        _ => permit.answered(),
    }
}

/// Where a request goes, which decides its authentication and timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// An API endpoint: the API key, and the timeout over the whole exchange.
    Api,
    /// A presigned URL: no API key, and the timeout over the wait for headers only.
    Presigned,
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        // `Display` of reqwest::Error appends the URL; our URLs hold no secrets (the key is a
        // header), but presigned-looking query strings are redacted all the same.
        let text = self.to_string();
        match self.url() {
            Some(url) => text.replace(url.as_str(), &crate::error::redact_url(url.as_str())),
            None => text,
        }
    }
}

/// Decodes the payload of a success body: `data` when present, else the whole body.
pub(crate) fn decode_data<T: DeserializeOwned>(context: &str, body: &[u8]) -> Result<T> {
    // The fast path: one pass over an enveloped body.
    if let Ok(envelope) = serde_json::from_slice::<crate::models::Envelope<T>>(body) {
        return Ok(envelope.data);
    }
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        data: Option<&'a RawValue>,
    }
    let payload = match serde_json::from_slice::<Raw<'_>>(body) {
        Ok(Raw { data: Some(raw) }) => raw.get().as_bytes(),
        _ => body,
    };
    // A bare body; on failure, decode again tracking the path, to say where it failed.
    if let Ok(value) = serde_json::from_slice(payload) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        context: context.to_string(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
        excerpt: excerpt(body),
    })
}

/// The first 200 bytes of a body, printable, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let mut s: String = text.chars().filter(|c| !c.is_control()).collect();
    if body.len() > 200 {
        s.push('…');
    }
    s
}

/// Turns an error response into [`Error::Api`], keeping the server's message.
async fn api_error(context: &str, resp: Response) -> Error {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    Error::Api {
        context: context.to_string(),
        status,
        message: error_message(status, &body),
    }
}

/// The message of an error body: `detail`, `message` or `error` of a JSON body, else the
/// text itself, else the status's reason.
pub(crate) fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["detail", "message", "error"] {
            match value.get(key) {
                Some(serde_json::Value::String(s)) => return s.clone(),
                Some(other) if !other.is_null() => return other.to_string(),
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    } else {
        excerpt(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct P {
        id: String,
    }

    #[test]
    fn envelope_and_bare_bodies() {
        let p: P = decode_data("t", br#"{"data": {"id": "a"}}"#).unwrap();
        assert_eq!(p, P { id: "a".into() });
        let p: P = decode_data("t", br#"{"id": "b"}"#).unwrap();
        assert_eq!(p, P { id: "b".into() });
        let v: Vec<P> = decode_data("t", br#"{"data": [{"id": "c"}]}"#).unwrap();
        assert_eq!(v, vec![P { id: "c".into() }]);
    }

    #[test]
    fn decode_errors_name_the_path() {
        let err = decode_data::<Vec<P>>("list things", br#"{"data": [{"id": "a"}, {"id": 3}]}"#)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("list things"), "{text}");
        assert!(text.contains("[1].id"), "{text}");
    }

    #[test]
    fn page_limits() {
        let limits = PageLimits::default();
        assert_eq!(limits.cap(), None);
        assert_eq!(limits.capped(1000), 1000);
        limits.set_cap(100);
        limits.set_cap(500);
        assert_eq!(limits.cap(), Some(100));
        assert_eq!((limits.capped(1000), limits.capped(20)), (100, 20));
        assert!(!limits.honours(100));
        limits.record(100, 40);
        assert!(!limits.honours(100));
        limits.record(100, 100);
        assert!(limits.honours(100) && limits.honours(30) && !limits.honours(101));
        assert!(!limits.honours(0));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, br#"{"detail": "bad filter"}"#),
            "bad filter"
        );
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, br#"{"message": "m"}"#),
            "m"
        );
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, b"upstream down"),
            "upstream down"
        );
        assert_eq!(error_message(StatusCode::NOT_FOUND, b""), "Not Found");
    }
}
