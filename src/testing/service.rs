//! How the local server answers a request: the API key checked from its head, scripted
//! answers and random faults, the delay, the route, the rate limit, then GraphQL (with the
//! faults scripted for imports); every request counted, logged and given an id.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::failure::error_body;
use super::graphql::execute;
use super::graphql::schema::vendored_schema;
use super::http::{HttpAnswer, HttpRequest, Service};
use super::request_log::{log_entry, LogEntry};
use super::scripted::{random_fault, ScriptedAnswer};
use super::state::{Shared, State};
use crate::response::REQUEST_ID_HEADER;

/// The path Plain serves its GraphQL API on.
pub const GRAPHQL_PATH: &str = "/graphql/v1";

/// Counts a request and gives it its id.
fn next_request_id(shared: &Shared, state: &mut State) -> String {
    state.next_request += 1;
    state.stats.requests += 1;
    format!("local-{}-{:08}", shared.instance, state.next_request)
}

impl Service for Shared {
    fn connected(&self) {
        self.state().stats.connections += 1;
    }

    fn refuse(&self, head: &HttpRequest) -> Option<HttpAnswer> {
        refuse_unauthenticated(self, head)
    }

    fn answer(
        self: Arc<Self>,
        request: HttpRequest,
    ) -> impl std::future::Future<Output = HttpAnswer> + Send {
        handle(self, request)
    }
}

/// Refuses a request to the API without the right key from its head alone, before any of
/// its body is read: the body is read past, never kept, and the log keeps only the
/// request's id, method, route and status (a stranger's request may be anything, of any
/// size). Other paths and methods are answered 404 and 405 first, as before the key.
fn refuse_unauthenticated(shared: &Shared, head: &HttpRequest) -> Option<HttpAnswer> {
    let key = shared.api_key.as_ref()?;
    let path = head.path.split('?').next().unwrap_or_default();
    if path != GRAPHQL_PATH || head.method != "POST" {
        return None;
    }
    if head.header("authorization") == Some(format!("Bearer {key}").as_str()) {
        return None;
    }
    let mut state = shared.state();
    let request_id = next_request_id(shared, &mut state);
    let entry = LogEntry {
        request_id: request_id.clone(),
        method: head.method.clone(),
        path: GRAPHQL_PATH.to_owned(),
        headers: Vec::new(),
        body_excerpt: Vec::new(),
        body_length: 0,
        status: Some(401),
    };
    state.log.keep(entry);
    let body = error_body(
        "Authentication failed: the API key is missing or invalid",
        "UNAUTHENTICATED",
    );
    let headers = vec![
        (REQUEST_ID_HEADER.to_owned(), request_id),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    Some(HttpAnswer::Full {
        status: 401,
        headers,
        body,
        delay: state.delay,
    })
}

/// What the state decided for one request, before any waiting.
enum Decision {
    Scripted(ScriptedAnswer),
    Process,
}

/// Counts a request as being handled for as long as it lives, whatever ends it.
struct Handling(Arc<Shared>);

impl Handling {
    fn start(shared: &Arc<Shared>) -> Self {
        let mut state = shared.state();
        state.handling += 1;
        state.stats.most_concurrent = state.stats.most_concurrent.max(state.handling);
        Self(shared.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.state().handling -= 1;
    }
}

async fn handle(shared: Arc<Shared>, request: HttpRequest) -> HttpAnswer {
    let _handling = Handling::start(&shared);
    let (request_id, decision, delay) = {
        let mut state = shared.state();
        let request_id = next_request_id(&shared, &mut state);
        state.log.keep(log_entry(&request, &request_id));
        let decision = match state.scripted.pop_front() {
            Some(answer) => Decision::Scripted(answer),
            None if state.failure_rate > 0.0 && state.fault_rng.next_f64() < state.failure_rate => {
                let answer = random_fault(&mut state.fault_rng);
                Decision::Scripted(answer)
            }
            None => Decision::Process,
        };
        if matches!(&decision, Decision::Scripted(a) if a.is_fault()) {
            state.stats.faults += 1;
        }
        (request_id, decision, state.delay)
    };
    let mut total_delay = delay;
    let scripted = match decision {
        Decision::Scripted(scripted) => {
            total_delay += scripted.wait();
            scripted.answer(&request, &request_id)
        }
        Decision::Process => None,
    };
    let answer = match scripted {
        Some(answer) => answer,
        None => {
            let (answer, wait) = process(&shared, &request, &request_id);
            total_delay += wait;
            answer
        }
    };
    if !total_delay.is_zero() {
        tokio::time::sleep(total_delay).await;
    }
    let mut state = shared.state();
    if let HttpAnswer::Full { status, .. } = &answer {
        state.log.answered(&request_id, *status);
        if *status == 429 {
            state.stats.rate_limited += 1;
        }
    }
    answer
}

/// Normal processing: path, method, rate limit, then GraphQL (the key was checked from the
/// request's head, in [`refuse_unauthenticated`]). With the answer comes how long an import
/// fault's answer waits before it is sent.
fn process(shared: &Shared, request: &HttpRequest, request_id: &str) -> (HttpAnswer, Duration) {
    let answer = |answer| (answer, Duration::ZERO);
    let mut headers = vec![(REQUEST_ID_HEADER.to_owned(), request_id.to_owned())];
    let path = request.path.split('?').next().unwrap_or_default();
    if path != GRAPHQL_PATH {
        let body = error_body(
            &format!("No route for {path}; use {GRAPHQL_PATH}"),
            "NOT_FOUND",
        );
        return answer(HttpAnswer::json(404, headers, body));
    }
    if request.method != "POST" {
        headers.push(("allow".into(), "POST".into()));
        let body = error_body("Use POST with a JSON body", "METHOD_NOT_ALLOWED");
        return answer(HttpAnswer::json(405, headers, body));
    }
    let now = SystemTime::now();
    let mut state = shared.state();
    if let Some(limit) = state.rate_limit {
        let verdict = state.window.count(limit, shared.started, now);
        if verdict.opens_window {
            state.stats.rate_limit_windows += 1;
        }
        headers.extend(verdict.headers);
        if verdict.over {
            let body = error_body("Too Many Requests - Rate limit exceeded", "RATE_LIMITED");
            return answer(HttpAnswer::json(429, headers, body));
        }
    }
    let schema = shared.schema.as_ref().unwrap_or_else(|| vendored_schema());
    let state = &mut *state;
    let executed = execute(
        schema,
        &request.body,
        &mut state.store,
        now,
        &state.answers,
        &mut state.import_faults,
    );
    state.stats.faults += state.import_faults.take_used();
    if let Some(webhooks) = &shared.webhooks {
        webhooks.enqueue(state.store.take_changes(), now);
    }
    match executed {
        Ok(mut executed) => {
            let Some(instead) = executed.instead.take() else {
                return answer(HttpAnswer::json(200, headers, executed.body()));
            };
            let wait = instead.wait();
            match instead.answer(request, request_id) {
                Some(scripted) => (scripted, wait),
                None => (HttpAnswer::json(200, headers, executed.body()), wait),
            }
        }
        Err(failure) => answer(HttpAnswer::json(failure.status, headers, failure.body())),
    }
}
