//! `plain serve` stays bounded: the local server's limits on connections, idle time, request
//! heads and bodies, the request log and a query's cost, each at its bound and one past it,
//! against a real server on 127.0.0.1 spoken to over raw TCP.
//!
//! Timing holds on a loaded machine: waits are hang detectors far longer than any answer
//! needs, and the idle timeout is checked from below only (a connection is never closed
//! before it), since a slow machine can only make the close come later.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use plain_client::testing::limits::{
    IDLE_TIMEOUT, LOG_BODY_BYTES, MAX_ALIASES, MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_DEPTH,
    MAX_HEADERS, MAX_HEAD_BYTES, MAX_QUERY_BYTES, MAX_SELECTIONS,
};
use plain_client::testing::{LocalServer, LocalServerBuilder};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Long enough that only a hang reaches it, never a slow machine.
const HANG: Duration = Duration::from_secs(60);

/// Fails the test instead of hanging it.
async fn finishes<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress in {HANG:?}"))
}

/// A server without a key, whose idle connections stay open for the whole test unless room
/// is needed.
fn patient() -> LocalServerBuilder {
    LocalServer::builder()
        .no_auth()
        .idle_timeout(Duration::from_secs(3600))
}

/// An answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }

    /// `errors[0].message`, after checking the answer is a refused query.
    fn refused_query(&self) -> String {
        let json = self.json();
        assert_eq!(self.status, 400, "{json}");
        assert_eq!(
            json["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{json}"
        );
        json["errors"][0]["message"].as_str().unwrap().to_owned()
    }
}

/// One raw connection to the server.
struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Connection {
    async fn open(server: &LocalServer) -> Self {
        let stream = finishes("connect", TcpStream::connect(server.address()))
            .await
            .unwrap();
        let (read, writer) = stream.into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        finishes("send", self.writer.write_all(bytes))
            .await
            .unwrap();
    }

    async fn answer(&mut self) -> Answer {
        finishes("an answer", read_answer(&mut self.reader)).await
    }

    /// Sends one request and reads its answer.
    async fn exchange(&mut self, bytes: &[u8]) -> Answer {
        self.send(bytes).await;
        self.answer().await
    }

    /// Waits until the server closes the connection, which must send nothing more.
    async fn closed(&mut self) {
        let mut rest = Vec::new();
        match finishes("the server closing", self.reader.read_to_end(&mut rest)).await {
            Ok(_) => assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest)),
            Err(e) => assert!(is_reset(&e), "{e}"),
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

async fn read_answer(reader: &mut BufReader<OwnedReadHalf>) -> Answer {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// A GraphQL request body for `query`.
fn graphql(query: &str) -> Vec<u8> {
    json!({ "query": query }).to_string().into_bytes()
}

/// A small request the server answers 200.
fn typename() -> Vec<u8> {
    graphql("{ __typename }")
}

/// A JSON body of exactly `size` bytes (the request padded with spaces, which JSON allows).
fn body_of(size: usize) -> Vec<u8> {
    let mut body = typename();
    assert!(body.len() <= size);
    body.resize(size, b' ');
    body
}

/// The head of a POST to the API, with `extra` header lines after the usual three.
fn head_with(length: usize, extra: &[String]) -> String {
    let mut head = format!(
        "POST /graphql/v1 HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n"
    );
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// The number of header lines [`head_with`] writes besides `extra`.
const USUAL_HEADERS: usize = 3;

fn request(head: &str, body: &[u8]) -> Vec<u8> {
    let mut out = head.as_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A POST of `body`, with `extra` header lines.
fn post(body: &[u8], extra: &[String]) -> Vec<u8> {
    request(&head_with(body.len(), extra), body)
}

/// A POST whose head is exactly `size` bytes long, padded in one header's value.
fn post_with_head_of(size: usize) -> Vec<u8> {
    let body = typename();
    let bare = head_with(body.len(), &["x-pad: ".to_owned()]).len();
    let head = head_with(body.len(), &[format!("x-pad: {}", "a".repeat(size - bare))]);
    assert_eq!(head.len(), size);
    request(&head, &body)
}

/// A POST with `count` header lines in all.
fn post_with_headers(count: usize) -> Vec<u8> {
    let extra: Vec<String> = (USUAL_HEADERS..count)
        .map(|i| format!("x-fill-{i}: {i}"))
        .collect();
    let body = typename();
    let head = head_with(body.len(), &extra);
    assert_eq!(head.matches("\r\n").count(), count + 2);
    request(&head, &body)
}

#[tokio::test]
async fn a_head_of_exactly_the_size_limit_is_read_and_one_byte_more_is_431_then_closed() {
    let server = patient().start().await.unwrap();
    let mut connection = Connection::open(&server).await;
    let answer = connection
        .exchange(&post_with_head_of(MAX_HEAD_BYTES))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    // The connection serves on.
    let answer = connection
        .exchange(&post_with_head_of(MAX_HEAD_BYTES + 1))
        .await;
    assert_eq!(answer.status, 431);
    assert_eq!(answer.header("connection"), Some("close"));
    let message = answer.json()["errors"][0]["message"].to_string();
    assert!(message.contains(&MAX_HEAD_BYTES.to_string()), "{message}");
    connection.closed().await;
    assert_eq!(server.requests().len(), 1, "the refused one is not logged");
}

#[tokio::test]
async fn exactly_the_most_header_lines_are_read_and_one_more_is_431_then_closed() {
    let server = patient().start().await.unwrap();
    let mut connection = Connection::open(&server).await;
    let answer = connection.exchange(&post_with_headers(MAX_HEADERS)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let logged = &server.requests()[0];
    assert_eq!(logged.headers.len(), MAX_HEADERS);
    let answer = connection
        .exchange(&post_with_headers(MAX_HEADERS + 1))
        .await;
    assert_eq!(answer.status, 431);
    let message = answer.json()["errors"][0]["message"].to_string();
    assert!(message.contains(&MAX_HEADERS.to_string()), "{message}");
    connection.closed().await;
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_body_of_exactly_the_size_limit_is_served_and_logged_as_an_excerpt() {
    let server = patient().start().await.unwrap();
    let mut connection = Connection::open(&server).await;
    let body = body_of(MAX_BODY_BYTES);
    let answer = connection.exchange(&post(&body, &[])).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let logged = &server.requests()[0];
    assert_eq!(logged.body_length, MAX_BODY_BYTES);
    assert!(logged.body_truncated());
    assert_eq!(logged.raw_body, body[..LOG_BODY_BYTES]);
    assert!(logged.body.is_string(), "a cut body is not JSON");
}

#[tokio::test]
async fn a_body_one_byte_over_the_limit_is_413_then_closed_and_never_read() {
    let server = patient().start().await.unwrap();
    // Announced: the answer comes from the head alone, before any byte of the body is sent.
    let mut connection = Connection::open(&server).await;
    let answer = connection
        .exchange(head_with(MAX_BODY_BYTES + 1, &[]).as_bytes())
        .await;
    assert_eq!(answer.status, 413);
    let message = answer.json()["errors"][0]["message"].to_string();
    assert!(message.contains(&MAX_BODY_BYTES.to_string()), "{message}");
    connection.closed().await;
    // Chunked: refused at the chunk that passes the limit, before its bytes are read.
    let mut connection = Connection::open(&server).await;
    let head = "POST /graphql/v1 HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n";
    let chunks = format!(
        "{head}10\r\n{}\r\n{:x}\r\n",
        " ".repeat(16),
        MAX_BODY_BYTES - 15
    );
    let answer = connection.exchange(chunks.as_bytes()).await;
    assert_eq!(answer.status, 413);
    connection.closed().await;
    assert!(server.requests().is_empty());
    assert_eq!(server.stats().requests, 0);
}

#[tokio::test]
async fn a_chunked_body_of_exactly_the_size_limit_is_served() {
    let server = patient().start().await.unwrap();
    let mut connection = Connection::open(&server).await;
    let body = body_of(MAX_BODY_BYTES);
    let head = "POST /graphql/v1 HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut bytes = head.as_bytes().to_vec();
    for piece in body.chunks(1 << 20) {
        bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        bytes.extend_from_slice(piece);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    let answer = connection.exchange(&bytes).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    assert_eq!(server.requests()[0].body_length, MAX_BODY_BYTES);
}

#[tokio::test]
async fn the_log_keeps_a_body_of_the_excerpt_size_whole_and_cuts_one_byte_longer() {
    let server = patient().start().await.unwrap();
    let mut connection = Connection::open(&server).await;
    let whole = body_of(LOG_BODY_BYTES);
    let longer = body_of(LOG_BODY_BYTES + 1);
    for body in [&whole, &longer] {
        let answer = connection.exchange(&post(body, &[])).await;
        assert_eq!(answer.status, 200, "{:?}", answer.json());
    }
    let log = server.requests();
    assert!(!log[0].body_truncated());
    assert_eq!(log[0].raw_body, whole);
    assert_eq!(log[0].body_length, LOG_BODY_BYTES);
    assert_eq!(log[0].body["query"], "{ __typename }");
    assert!(log[1].body_truncated());
    assert_eq!(log[1].raw_body, longer[..LOG_BODY_BYTES]);
    assert_eq!(log[1].body_length, LOG_BODY_BYTES + 1);
    assert_eq!(
        log[1].body,
        Value::String(String::from_utf8(longer[..LOG_BODY_BYTES].to_vec()).unwrap())
    );
}

#[tokio::test]
async fn a_refused_key_leaves_neither_body_nor_headers_in_the_log_and_the_connection_serves_on() {
    let server = LocalServer::builder()
        .api_key("plainApiKey_right")
        .start()
        .await
        .unwrap();
    let big = body_of(15 << 20);
    let mut connection = Connection::open(&server).await;
    for key in [Some("plainApiKey_wrong"), None] {
        let extra: Vec<String> = key
            .map(|key| format!("authorization: Bearer {key}"))
            .into_iter()
            .collect();
        let answer = connection.exchange(&post(&big, &extra)).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.json()["errors"][0]["extensions"]["code"],
            "UNAUTHENTICATED"
        );
        assert!(answer.header("apigw-requestid").is_some());
        assert_eq!(answer.header("connection"), None, "kept alive");
    }
    // The bodies were read past: the same connection carries the next request.
    let right = ["authorization: Bearer plainApiKey_right".to_owned()];
    let answer = connection.exchange(&post(&typename(), &right)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());

    let log = server.requests();
    assert_eq!(log.len(), 3, "refused requests are counted");
    for refused in &log[..2] {
        assert_eq!(refused.status, Some(401));
        assert_eq!(
            (refused.method.as_str(), refused.path.as_str()),
            ("POST", "/graphql/v1")
        );
        assert!(refused.headers.is_empty(), "{:?}", refused.headers);
        assert!(refused.raw_body.is_empty());
        assert_eq!(refused.body_length, 0);
    }
    assert_eq!(log[2].status, Some(200));
    assert_eq!(log[2].raw_body, typename());
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn a_refused_key_that_waits_for_100_continue_is_answered_and_closed_without_its_body() {
    let server = LocalServer::builder()
        .api_key("plainApiKey_right")
        .start()
        .await
        .unwrap();
    let mut connection = Connection::open(&server).await;
    let head = head_with(
        15 << 20,
        &[
            "authorization: Bearer plainApiKey_wrong".to_owned(),
            "expect: 100-continue".to_owned(),
        ],
    );
    let answer = connection.exchange(head.as_bytes()).await;
    assert_eq!(answer.status, 401, "not 100 Continue");
    assert_eq!(answer.header("connection"), Some("close"));
    connection.closed().await;
    assert_eq!(server.requests()[0].status, Some(401));
}

#[tokio::test]
async fn malformed_requests_leave_nothing_in_the_log() {
    let server = patient().start().await.unwrap();
    for bytes in [
        &b"NONSENSE\r\n\r\n"[..],
        b"POST /graphql/v1 HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST /graphql/v1 HTTP/1.1\r\ncontent-length: many\r\n\r\n",
        b"POST /graphql/v1 HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut connection = Connection::open(&server).await;
        let answer = connection.exchange(bytes).await;
        assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(bytes));
        // Real JSON, whatever the bytes were.
        assert!(answer.json()["errors"][0]["message"].is_string());
        connection.closed().await;
    }
    assert!(server.requests().is_empty());
    assert_eq!(server.stats().requests, 0);
}

/// Posts a query over a fresh connection.
async fn query(server: &LocalServer, query: &str) -> Answer {
    Connection::open(server)
        .await
        .exchange(&post(&graphql(query), &[]))
        .await
}

/// `count` root fields, each with its own alias.
fn aliased(count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("a{i}: __typename")).collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn exactly_the_most_aliases_are_served_and_one_more_is_refused() {
    let server = patient().start().await.unwrap();
    let answer = query(&server, &aliased(MAX_ALIASES)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let data = answer.json()["data"].clone();
    assert_eq!(data.as_object().unwrap().len(), MAX_ALIASES);
    assert_eq!(data[format!("a{}", MAX_ALIASES - 1)], "Query");

    let message = query(&server, &aliased(MAX_ALIASES + 1))
        .await
        .refused_query();
    assert!(
        message.contains(&format!("alias limit of {MAX_ALIASES}")),
        "{message}"
    );
}

/// The vendored schema with a field that nests without end, so that any depth is valid.
fn nesting_schema() -> String {
    let sdl = include_str!("../graphql/schema.graphql");
    assert!(sdl.contains("type Customer {"));
    sdl.replacen("type Customer {", "type Customer {\n  friend: Customer", 1)
}

/// A query whose deepest field is at `depth` (the root field at 1).
fn nested(depth: usize) -> String {
    let mut inner = "id".to_owned();
    for _ in 2..depth {
        inner = format!("friend {{ {inner} }}");
    }
    format!("{{ customer(customerId: \"c_none\") {{ {inner} }} }}")
}

#[tokio::test]
async fn selections_exactly_the_most_levels_deep_are_served_and_one_deeper_are_refused() {
    let server = patient().schema(nesting_schema()).start().await.unwrap();
    let answer = query(&server, &nested(MAX_DEPTH)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    assert_eq!(answer.json()["data"], json!({"customer": null}));

    let message = query(&server, &nested(MAX_DEPTH + 1)).await.refused_query();
    assert!(
        message.contains(&format!("depth limit of {MAX_DEPTH}")),
        "{message}"
    );
}

/// `count` selections of the same field, which the answer merges into one.
fn repeated(count: usize) -> String {
    format!("{{ {} }}", vec!["__typename"; count].join(" "))
}

#[tokio::test]
async fn exactly_the_most_selections_are_served_and_one_more_is_refused() {
    let server = patient().start().await.unwrap();
    let answer = query(&server, &repeated(MAX_SELECTIONS)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    assert_eq!(answer.json()["data"], json!({"__typename": "Query"}));

    let message = query(&server, &repeated(MAX_SELECTIONS + 1))
        .await
        .refused_query();
    assert!(
        message.contains(&format!("selection limit of {MAX_SELECTIONS}")),
        "{message}"
    );
}

#[tokio::test]
async fn fragments_count_each_time_they_are_spread_so_a_fragment_bomb_is_refused() {
    let server = patient().start().await.unwrap();
    // Ten spreads of the fragment below, six times over: 10^6 fields in 400 bytes of query.
    let spreads = |name: &str| vec![format!("...{name}"); 10].join(" ");
    let mut document = format!("query bomb {{ {} }}\n", spreads("F6"));
    let fields = ["__typename"; 10].join(" ");
    document.push_str(&format!("fragment F0 on Query {{ {fields} }}\n"));
    for level in 1..=6 {
        let below = format!("F{}", level - 1);
        document.push_str(&format!(
            "fragment F{level} on Query {{ {} }}\n",
            spreads(&below)
        ));
    }
    let message = query(&server, &document).await.refused_query();
    assert!(
        message.contains(&format!("selection limit of {MAX_SELECTIONS}")),
        "{message}"
    );
    // A fragment used a few times is fine.
    let few = "{ ...F ...F } fragment F on Query { __typename }";
    assert_eq!(query(&server, few).await.status, 200);
}

#[tokio::test]
async fn a_fragment_that_spreads_itself_is_refused_as_invalid_not_walked_forever() {
    let server = patient().start().await.unwrap();
    let cycle = "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }";
    let message = query(&server, cycle).await.refused_query();
    assert!(message.contains("spreads itself"), "{message}");
}

/// A valid query of exactly `size` bytes: a small query padded with a comment.
fn query_of(size: usize) -> String {
    let mut text = "{ __typename }\n#".to_owned();
    text.push_str(&"x".repeat(size - text.len()));
    assert_eq!(text.len(), size);
    text
}

#[tokio::test]
async fn a_query_text_of_exactly_the_size_limit_is_served_and_one_byte_longer_is_refused() {
    let server = patient().start().await.unwrap();
    let answer = query(&server, &query_of(MAX_QUERY_BYTES)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let message = query(&server, &query_of(MAX_QUERY_BYTES + 1))
        .await
        .refused_query();
    assert!(
        message.contains(&format!("query size limit of {MAX_QUERY_BYTES}")),
        "{message}"
    );
}

/// The idle timeout the idle tests use: short, since they wait it out.
const IDLE: Duration = Duration::from_millis(200);

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout_not_before() {
    assert_eq!(IDLE_TIMEOUT, Duration::from_secs(10));
    let server = patient().idle_timeout(IDLE).start().await.unwrap();
    let opened = Instant::now();
    let mut connection = Connection::open(&server).await;
    connection.closed().await;
    assert!(
        opened.elapsed() >= IDLE,
        "closed after {:?}",
        opened.elapsed()
    );
}

#[tokio::test]
async fn a_connection_is_closed_the_idle_timeout_after_its_last_answer() {
    let server = patient().idle_timeout(IDLE).start().await.unwrap();
    let mut connection = Connection::open(&server).await;
    let sent = Instant::now();
    let answer = connection.exchange(&post(&typename(), &[])).await;
    assert_eq!(answer.status, 200);
    connection.closed().await;
    assert!(sent.elapsed() >= IDLE, "closed after {:?}", sent.elapsed());
}

#[tokio::test]
async fn a_head_or_body_that_stops_coming_is_given_up_after_the_idle_timeout() {
    let server = patient().idle_timeout(IDLE).start().await.unwrap();
    let body = typename();
    let half_head = &head_with(body.len(), &[])[..30];
    let half_body = request(&head_with(body.len(), &[]), &body[..5]);
    for bytes in [half_head.as_bytes(), &half_body] {
        let mut connection = Connection::open(&server).await;
        let sent = Instant::now();
        connection.send(bytes).await;
        connection.closed().await;
        assert!(sent.elapsed() >= IDLE, "closed after {:?}", sent.elapsed());
    }
    assert!(server.requests().is_empty());
}

/// Lets this process open the thousands of sockets the flood tests need (clients and
/// server in one process).
fn allow_many_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max.min(8192);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// Opens `count` connections that send nothing, as plain blocking sockets.
async fn idle_connections(server: &LocalServer, count: usize) -> Vec<std::net::TcpStream> {
    let address = server.address();
    let open = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|_| std::net::TcpStream::connect(address).expect("raise `ulimit -n`"))
            .collect()
    });
    finishes("opening idle connections", open).await.unwrap()
}

/// How many of `connections` the server has closed, as far as this side has heard.
fn count_closed(connections: &[std::net::TcpStream]) -> usize {
    connections
        .iter()
        .filter(|connection| {
            connection.set_nonblocking(true).unwrap();
            let mut byte = [0];
            let mut reader: &std::net::TcpStream = connection;
            match reader.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => panic!("the server sent bytes unasked"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(e) => is_reset(&e) || panic!("{e}"),
            }
        })
        .count()
}

/// Waits until at least `count` of `connections` were closed by the server.
async fn until_closed(connections: &[std::net::TcpStream], count: usize) {
    let mut patience = Patience::default();
    loop {
        let closed = count_closed(connections);
        if closed >= count {
            return;
        }
        assert!(
            patience.pause().await,
            "{closed} of {} connections closed, not {count}",
            connections.len()
        );
    }
}

/// A hang detector that counts its pauses, not the time that passed: a loaded machine makes
/// each pause longer, never shorter, so only a hang runs it out.
#[derive(Default)]
struct Patience(Duration);

impl Patience {
    const STEP: Duration = Duration::from_millis(20);

    /// Pauses a step; `false` once the pauses add up to [`HANG`].
    async fn pause(&mut self) -> bool {
        tokio::time::sleep(Self::STEP).await;
        self.0 += Self::STEP;
        self.0 < HANG
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_none_is_closed_and_one_more_closes_an_idle_one() {
    allow_many_open_files();
    let server = patient().start().await.unwrap();
    let idle = idle_connections(&server, MAX_CONNECTIONS).await;
    let mut patience = Patience::default();
    while server.stats().connections < MAX_CONNECTIONS as u64 {
        assert!(patience.pause().await, "{:?}", server.stats());
    }
    assert_eq!(count_closed(&idle), 0, "none closed at the limit");
    // One more: served, by closing an idle connection to make room.
    let answer = query(&server, "{ __typename }").await;
    assert_eq!(answer.status, 200);
    until_closed(&idle, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_a_new_one_is_served_once_one_becomes_idle() {
    allow_many_open_files();
    let server = patient().start().await.unwrap();
    let mut busy = idle_connections(&server, MAX_CONNECTIONS).await;
    // Each sends a head and half its body: busy, not idle, until the rest comes.
    let body = typename();
    let first = request(&head_with(body.len(), &[]), &body[..5]);
    let rest = body[5..].to_vec();
    let started = tokio::task::spawn_blocking(move || {
        for connection in &mut busy {
            connection.write_all(&first).unwrap();
        }
        busy
    });
    let mut busy = finishes("starting requests", started).await.unwrap();
    // A pause only makes it likely that the server has read them all; the test holds either way.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut waiting = Connection::open(&server).await;
    waiting.send(&post(&typename(), &[])).await;
    // The bodies end, the answers go out, the connections become idle: one makes room.
    let ended = tokio::task::spawn_blocking(move || {
        for connection in &mut busy {
            connection.write_all(&rest).unwrap();
        }
        busy
    });
    let _busy = finishes("ending requests", ended).await.unwrap();
    assert_eq!(waiting.answer().await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_answered_while_1100_idle_connections_are_open() {
    allow_many_open_files();
    let server = patient().start().await.unwrap();
    let idle = idle_connections(&server, 1100).await;
    let answer = query(&server, "{ __typename }").await;
    assert_eq!(answer.status, 200);
    // The server holds at most its limit: the request's connection, and the rest idle.
    until_closed(&idle, idle.len() + 1 - MAX_CONNECTIONS).await;
}

/// Out of file descriptors, the server cannot accept: it must pause and try again, not spin
/// a core (as it did under an idle flood past `ulimit -n`), and accept once it can.
///
/// Run in a child process of its own, whose file-descriptor limit it lowers.
#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_the_server_waits_instead_of_spinning() {
    const CHILD: &str = "PLAIN_SERVE_LIMITS_FD_CHILD";
    const NAME: &str = "out_of_file_descriptors_the_server_waits_instead_of_spinning";
    if std::env::var_os(CHILD).is_some() {
        return out_of_file_descriptors();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let shown = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("1 passed"), "{shown}");
}

#[cfg(target_os = "linux")]
fn out_of_file_descriptors() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(patient().start()).unwrap();
    // A limit a little above the descriptors open now, then every one of them used.
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let limit = libc::rlimit {
        rlim_cur: highest + 16,
        rlim_max: highest + 16,
    };
    // SAFETY: a plain system call on a local struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let mut fillers = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        fillers.push(file);
    }
    // One free for this side's socket: the connection is made, the server cannot accept it.
    fillers.pop();
    let mut connection = std::net::TcpStream::connect(server.address()).unwrap();
    let before = cpu_time();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time() - before;
    let waited = started.elapsed();
    drop(fillers);
    // With descriptors again, the waiting connection is served.
    connection.set_read_timeout(Some(HANG)).unwrap();
    connection
        .write_all(&post(&typename(), &["connection: close".to_owned()]))
        .unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        used < waited / 4,
        "the process used {used:?} of CPU in {waited:?} while the server could not accept"
    );
}

/// The CPU time this process has used.
#[cfg(target_os = "linux")]
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}
