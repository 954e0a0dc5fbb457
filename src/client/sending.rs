//! The one path every request takes: the body encoded once, each attempt sent and its answer
//! read within bounds, retries and pacing, and the answer decoded.

use std::sync::atomic::Ordering;
use std::time::Instant;

use graphql_client::{GraphQLQuery, QueryBody};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tracing::Instrument;

use super::PlainClient;
use crate::error::{Error, Result, TransportErrorKind};
use crate::redact;
use crate::response::{decode, ResponseMeta};
use crate::retry::Idempotency;

impl PlainClient {
    /// Sends any GraphQL operation through the client: the same key, rate-limit pacing,
    /// timeout, answer size cap, retries, tracing span and typed errors as
    /// [`PlainClient::upsert_customer`]. `Q` is an operation derived with graphql_client
    /// (`#[derive(GraphQLQuery)]`), in this crate or yours, against Plain's schema.
    ///
    /// What is retried follows the operation ([`Idempotency::of_operation`]): a query is
    /// retried on every failure that can succeed later; a mutation only when it surely never
    /// reached Plain (no connection, or HTTP 429). Use [`PlainClient::execute_with`] to declare
    /// a mutation idempotent.
    ///
    /// The answer's `data` is returned when it has no `errors`. An answer with `errors` is an
    /// error even when it also has `data` (Plain sends both only when part of the operation
    /// failed): [`Error::Request`] with each message and `extensions.code`, or the error its
    /// status or code stands for ([`Error::Unauthenticated`], [`Error::RateLimited`]...).
    /// A mutation's own `MutationError` is part of `data`: look at it in the result.
    ///
    /// ```no_run
    /// # async fn run(client: plain_client::PlainClient) -> plain_client::Result<()> {
    /// use graphql_client::GraphQLQuery;
    /// use plain_client::graphql_client::QueryBody;
    ///
    /// // What `#[derive(GraphQLQuery)]` writes, by hand here to keep the example short.
    /// struct CustomerCount;
    /// #[derive(serde::Deserialize)]
    /// struct Data { customers: Page }
    /// #[derive(serde::Deserialize)]
    /// struct Page { #[serde(rename = "totalCount")] total_count: i64 }
    ///
    /// impl GraphQLQuery for CustomerCount {
    ///     type Variables = ();
    ///     type ResponseData = Data;
    ///     fn build_query(variables: ()) -> QueryBody<()> {
    ///         QueryBody {
    ///             variables,
    ///             query: "query customerCount { customers(first: 1) { totalCount } }",
    ///             operation_name: "customerCount",
    ///         }
    ///     }
    /// }
    ///
    /// let data = client.execute::<CustomerCount>(()).await?;
    /// println!("{} customers", data.customers.total_count);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn execute<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData> {
        let body = Q::build_query(variables);
        let idempotency = Idempotency::of_operation(body.query, body.operation_name);
        self.send_body::<Q>(&body, idempotency).await
    }

    /// Like [`PlainClient::execute`], retrying as `idempotency` says rather than by the
    /// operation's kind: declare a mutation [`Idempotency::Idempotent`] when sending it twice
    /// has the same effect as sending it once.
    pub async fn execute_with<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        idempotency: Idempotency,
    ) -> Result<Q::ResponseData> {
        self.send_body::<Q>(&Q::build_query(variables), idempotency)
            .await
    }

    async fn send_body<Q: GraphQLQuery>(
        &self,
        body: &QueryBody<Q::Variables>,
        idempotency: Idempotency,
    ) -> Result<Q::ResponseData> {
        let bytes = encode_body(body)?;
        self.send(bytes, body.operation_name, idempotency, |data, _| Ok(data))
            .await
    }

    /// Sends one GraphQL request, with retries, and turns its `data` into `T` with `finish`
    /// (inside the retry loop, so that a `MutationError` of type `INTERNAL` is retried).
    pub(crate) async fn send<R: DeserializeOwned, T>(
        &self,
        bytes: Vec<u8>,
        operation: &str,
        idempotency: Idempotency,
        finish: impl Fn(R, &ResponseMeta) -> Result<T>,
    ) -> Result<T> {
        let bytes = bytes::Bytes::from(bytes);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let span = tracing::info_span!(
                "plain.request",
                operation,
                attempt,
                status = tracing::field::Empty,
                request_id = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
                rate_limit_remaining = tracing::field::Empty,
            );
            let result = self
                .send_once::<R>(&bytes, started, &span)
                .instrument(span.clone())
                .await
                .and_then(|(data, meta)| finish(data, &meta));
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retryable = match idempotency {
                Idempotency::Idempotent => true,
                Idempotency::NotIdempotent => surely_not_sent(&error),
            };
            let wait = if retryable {
                self.inner
                    .retry
                    .wait(attempt, &error, started, crate::rng::shared_f64())
            } else {
                None
            };
            let Some(wait) = wait else {
                span.in_scope(|| tracing::warn!(error = %error, "request failed"));
                return Err(if attempt > 1 {
                    Error::GaveUp {
                        attempts: attempt,
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            };
            span.in_scope(
                || tracing::info!(error = %error, wait_ms = wait.as_millis() as u64, "retrying"),
            );
            self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: wait for the rate-limit budget, send, decode.
    async fn send_once<R: DeserializeOwned>(
        &self,
        bytes: &bytes::Bytes,
        started: Instant,
        span: &tracing::Span,
    ) -> Result<(R, ResponseMeta)> {
        let inner = &self.inner;
        let (permit, paced) = inner.pacer.acquire(inner.retry.hold_limit(started)).await;
        if !paced.is_zero() {
            tracing::debug!(
                waited_ms = paced.as_millis() as u64,
                "held for the rate limit"
            );
        }
        let sent = Instant::now();
        inner.counters.attempts.fetch_add(1, Ordering::Relaxed);
        // The permit goes with the exchange: dropped on every path but an answer, it gives
        // the request's share of the rate-limit budget back.
        let (status, meta, body) = inner
            .timers
            .within(inner.timeout, self.exchange(bytes))
            .await
            .unwrap_or_else(|| Err(self.transport(TransportErrorKind::Timeout, None)))?;
        permit.answered(&meta);
        if status == 429 {
            inner.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        span.record("status", status);
        span.record("latency_ms", sent.elapsed().as_millis() as u64);
        if let Some(id) = &meta.request_id {
            span.record("request_id", id.as_str());
        }
        if let Some(remaining) = meta.rate_limit_remaining {
            span.record("rate_limit_remaining", remaining);
        }
        tracing::debug!(status, "answered");
        let data = decode::<R>(status, &meta, &body)?;
        Ok((data, meta))
    }

    /// Sends the request and reads the answer: its status, headers and at most
    /// `max_response_bytes` of body, with any echo of the API key replaced.
    async fn exchange(&self, bytes: &bytes::Bytes) -> Result<(u16, ResponseMeta, bytes::Bytes)> {
        let inner = &self.inner;
        let mut response = inner
            .http
            .post(inner.endpoint.clone())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, inner.user_agent.clone())
            .body(bytes.clone())
            .send()
            .await
            .map_err(|e| self.reqwest_error(e))?;
        let status = response.status().as_u16();
        let mut meta = ResponseMeta::from_headers(response.headers());
        if let Some(id) = meta.request_id.take() {
            meta.request_id = Some(redact::secret_in_text(&id, &inner.secret.0));
        }
        let limit = inner.max_response_bytes;
        let too_large = |meta: &ResponseMeta| Error::ResponseTooLarge {
            status,
            limit,
            request_id: meta.request_id.clone(),
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large(&meta));
        }
        // Most answers arrive as one chunk, which is kept as it is rather than copied.
        let mut body = bytes::Bytes::new();
        let mut joined: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.reqwest_error(e))? {
            if body.len() + joined.len() + chunk.len() > limit {
                return Err(too_large(&meta));
            }
            if body.is_empty() && joined.is_empty() {
                body = chunk;
            } else {
                if joined.is_empty() {
                    joined.extend_from_slice(&body);
                }
                joined.extend_from_slice(&chunk);
            }
        }
        if !joined.is_empty() {
            body = joined.into();
        }
        Ok((status, meta, redact::secret_in_body(body, &inner.secret.0)))
    }

    fn transport(&self, kind: TransportErrorKind, source: Option<reqwest::Error>) -> Error {
        Error::Transport {
            kind,
            endpoint: self.inner.endpoint.to_string(),
            source: source.map(reqwest::Error::without_url),
        }
    }

    fn reqwest_error(&self, e: reqwest::Error) -> Error {
        let kind = if e.is_timeout() {
            TransportErrorKind::Timeout
        } else if e.is_connect() {
            TransportErrorKind::Connect
        } else {
            TransportErrorKind::Other
        };
        self.transport(kind, Some(e))
    }
}

/// Whether a failed request surely never reached Plain's API, so that even a request that is
/// not idempotent may be sent again.
fn surely_not_sent(error: &Error) -> bool {
    matches!(
        error,
        Error::RateLimited { .. }
            | Error::Transport {
                kind: TransportErrorKind::Connect,
                ..
            }
    )
}

/// An operation whose document is JSON-escaped once, not for every request that sends it.
pub(crate) trait Operation: GraphQLQuery {
    /// The operation's document.
    const QUERY: &'static str;

    /// The document as a JSON string, quotes and escapes included.
    fn escaped_query() -> &'static RawValue;
}

pub(crate) fn escape(query: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(query).expect("a string is always valid JSON")
}

/// The bytes of any request body.
pub(crate) fn encode_body<V: Serialize>(body: &QueryBody<V>) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::InvalidInput {
        message: format!("the request cannot be encoded as JSON: {e}"),
    })
}

/// A [`QueryBody`] with its document already escaped: the same fields in the same order, so
/// the same bytes as serializing the `QueryBody` itself.
#[derive(Serialize)]
struct WireBody<'a, V> {
    variables: &'a V,
    query: &'a RawValue,
    #[serde(rename = "operationName")]
    operation_name: &'a str,
}

/// The bytes a request sends: exactly `serde_json::to_vec(body)`, without escaping the
/// document again.
pub(crate) fn encode<Q: Operation>(body: &QueryBody<Q::Variables>) -> Result<Vec<u8>> {
    encode_parts::<Q, _>(&body.variables, body.query, body.operation_name)
}

/// [`encode`] for variables that need not be owned: the same bytes as the `QueryBody` of
/// `variables`, `query` and `operation_name`.
pub(crate) fn encode_parts<Q: Operation, V: Serialize>(
    variables: &V,
    query: &str,
    operation_name: &str,
) -> Result<Vec<u8>> {
    // A body built by hand around another document is escaped as it is.
    let fresh;
    let query = if query == Q::QUERY {
        Q::escaped_query()
    } else {
        fresh = escape(query);
        &fresh
    };
    let wire = WireBody {
        variables,
        query,
        operation_name,
    };
    let mut out = Vec::with_capacity(query.get().len() + 512);
    serde_json::to_writer(&mut out, &wire).map_err(|e| Error::InvalidInput {
        message: format!("the request cannot be encoded as JSON: {e}"),
    })?;
    Ok(out)
}
