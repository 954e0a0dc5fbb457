//! What one connection, one request and one query may cost the local server, so that a
//! long-running `plain serve` stays bounded in memory and time whatever it is sent. Each
//! limit is declared here once; the server, its tests and its documentation use these.
//!
//! A request past a limit is answered, never half-served:
//!
//! | Limit | Past it |
//! |---|---|
//! | [`MAX_CONNECTIONS`] open connections | the connection idle the longest is closed to make room; when none is idle, the new one waits |
//! | [`IDLE_TIMEOUT`] without a complete request head | the connection is closed |
//! | [`MAX_HEADERS`] header lines, [`MAX_HEAD_BYTES`] of head | `431`, and the connection is closed |
//! | [`MAX_BODY_BYTES`] of body | `413`, and the connection is closed |
//! | [`MAX_QUERY_BYTES`], [`MAX_ALIASES`], [`MAX_DEPTH`], [`MAX_SELECTIONS`] | `400` `GRAPHQL_VALIDATION_FAILED`, naming the limit |
//!
//! The request log keeps at most [`LOG_BODY_BYTES`] of each body, and nothing of a request
//! refused for its API key but its id, method, path and status.
//!
//! Webhook deliveries are bounded too: at most [`WEBHOOK_QUEUE`] events wait (past it, an
//! event is dropped and counted), [`WEBHOOK_IN_FLIGHT`] deliveries are under way at once, each
//! attempt waits at most [`WEBHOOK_TIMEOUT`] for its answer, whose body is never read, and the
//! delivery log keeps the newest [`WEBHOOK_LOG`] attempts.

use std::time::Duration;

/// The most connections open at once. A new connection past it closes the connection that
/// has waited longest for its next request; when every connection is busy with a request,
/// the new one waits (in the listening socket's queue) until one ends.
pub const MAX_CONNECTIONS: usize = 512;

/// How long a connection may take to send a request's whole head, counted from when it
/// connected or was last answered, and the longest pause while a body is read or an answer
/// written; past it, the connection is closed. [`LocalServerBuilder::idle_timeout`] changes
/// it.
///
/// [`LocalServerBuilder::idle_timeout`]: super::LocalServerBuilder::idle_timeout
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most header lines in a request (or trailer lines after a chunked body).
pub const MAX_HEADERS: usize = 100;

/// The most bytes in a request's head: the request line and the header lines, with their
/// line ends and the blank line that ends the head. The trailers of a chunked body have as
/// many.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The largest request body, as announced by `Content-Length` or as sent in chunks.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The most bytes of a body the request log keeps: a longer body is logged as its first
/// bytes and its full length.
pub const LOG_BODY_BYTES: usize = 64 * 1024;

/// The longest GraphQL document (the request's `query` text) the server parses.
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

/// The most aliases (`key: field`) in one request's query, counted where fragments are
/// spread.
pub const MAX_ALIASES: usize = 100;

/// The deepest selections may nest in one request's query: a field's sub-selection, a
/// fragment spread and an inline fragment each open a level; the root fields are level 1.
pub const MAX_DEPTH: usize = 20;

/// The most selections (fields, fragment spreads and inline fragments) in one request's
/// query, over all its operations, counting a fragment's selections each time it is spread,
/// so that fragments that spread others many times are bounded too.
pub const MAX_SELECTIONS: usize = 2_000;

/// The most webhook events waiting to be delivered; an event past it is dropped, counted in
/// [`WebhookStats::dropped`](super::WebhookStats::dropped) and logged, so that a slow or
/// absent receiver never holds up the GraphQL answers.
pub const WEBHOOK_QUEUE: usize = 1024;

/// The most webhook deliveries (an event to a target, with its retries) under way at once.
pub const WEBHOOK_IN_FLIGHT: usize = 64;

/// How long one delivery attempt waits for the target's answer; past it, the attempt failed.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How many delivery attempts the delivery log keeps (the newest).
pub const WEBHOOK_LOG: usize = 1000;

/// The wait before a failed delivery's first retry, unless
/// [`LocalServerBuilder::webhook_retries`](super::LocalServerBuilder::webhook_retries) says
/// otherwise; each later wait is twice the one before, up to [`WEBHOOK_LONGEST_WAIT`].
pub const WEBHOOK_FIRST_RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two attempts of one delivery.
pub const WEBHOOK_LONGEST_WAIT: Duration = Duration::from_secs(60);

/// How many attempts a delivery gets by default, the first included.
pub const WEBHOOK_ATTEMPTS: u32 = 5;
