//! Hostile publish requests: valid requests in each CloudEvents content mode (structured,
//! batch, binary), mutated at random — bytes changed, bodies cut, JSON fragments and invalid
//! UTF-8 spliced in, headers dropped or garbled — are answered 201 or with a 4xx problem
//! document, never a 5xx or a panic. Property-based (proptest), so a failure shrinks to a
//! small request.
//!
//! Every route, too: requests built from the route table with hostile methods, path segments
//! (`..`, `%2F`, encoded invalid UTF-8, NUL, very long), query strings, headers (binary-mode
//! `ce-*` with garbage, bad content types) and bodies (random bytes, invalid UTF-8, deep or cut
//! JSON), sent as raw bytes to a real server on loopback. A request that is valid HTTP gets a
//! 2xx or a 4xx problem document, never a 5xx; one that is not HTTP (a NUL or a raw space in
//! the target, a control character in a header) is refused by the HTTP layer with a bare 4xx.
//! Either way the server answers `/healthz` afterwards.
//!
//! Run with `cargo test -p eddy --test http_fuzz`.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::json;

use eddy::api::ApiConfig;
use support::api::{Api, api_with};

/// Fragments that tend to break parsers.
const FRAGMENTS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\xff",
    b"\xc3",
    b"null",
    b"1e999",
    b"-",
    b":",
    b",",
    b"%",
    b"%zz",
    b"\"data_base64\":\"@@\"",
    b"\"specversion\":\"0.3\"",
];

/// The three content modes, each a valid request before mutation.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Structured,
    Batch,
    Binary,
}

/// One change to a request.
#[derive(Debug, Clone)]
enum Mutation {
    SetByte { at: usize, byte: u8 },
    Truncate { at: usize },
    Splice { at: usize, fragment: usize },
    DropHeader { index: usize },
    GarbleHeader { index: usize, fragment: usize },
    AddSubjectHeader { fragment: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragment = 0..FRAGMENTS.len();
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), fragment.clone())
            .prop_map(|(at, fragment)| Mutation::Splice { at, fragment }),
        any::<usize>().prop_map(|index| Mutation::DropHeader { index }),
        (any::<usize>(), fragment.clone())
            .prop_map(|(index, fragment)| Mutation::GarbleHeader { index, fragment }),
        fragment.prop_map(|fragment| Mutation::AddSubjectHeader { fragment }),
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Structured),
        Just(Mode::Batch),
        Just(Mode::Binary)
    ]
}

fn event(id: &str) -> serde_json::Value {
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": "order.created", "subject": "o-1", "time": "2026-01-01T00:00:00Z", "data": {"n": 1}})
}

/// A valid request of `mode`: headers and body.
fn valid(mode: Mode) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let header = |name: &str, value: &str| (name.to_string(), value.as_bytes().to_vec());
    match mode {
        Mode::Structured => (
            vec![header("content-type", "application/cloudevents+json")],
            event("s").to_string().into_bytes(),
        ),
        Mode::Batch => (
            vec![header("content-type", "application/cloudevents-batch+json")],
            json!([event("b1"), event("b2")]).to_string().into_bytes(),
        ),
        Mode::Binary => (
            vec![
                header("ce-specversion", "1.0"),
                header("ce-id", "bin"),
                header("ce-source", "/shop"),
                header("ce-type", "order.created"),
                header("ce-time", "2026-01-01T00:00:00Z"),
                header("content-type", "application/json"),
            ],
            br#"{"n":1}"#.to_vec(),
        ),
    }
}

fn apply(mutation: &Mutation, headers: &mut Vec<(String, Vec<u8>)>, body: &mut Vec<u8>) {
    match *mutation {
        Mutation::SetByte { at, byte } if !body.is_empty() => {
            let at = at % body.len();
            body[at] = byte;
        }
        Mutation::Truncate { at } => body.truncate(at % (body.len() + 1)),
        Mutation::Splice { at, fragment } => {
            let at = at % (body.len() + 1);
            body.splice(at..at, FRAGMENTS[fragment].iter().copied());
        }
        Mutation::DropHeader { index } if !headers.is_empty() => {
            headers.remove(index % headers.len());
        }
        Mutation::GarbleHeader { index, fragment } if !headers.is_empty() => {
            let index = index % headers.len();
            headers[index].1.extend_from_slice(FRAGMENTS[fragment]);
        }
        Mutation::AddSubjectHeader { fragment } => {
            headers.push(("ce-subject".into(), FRAGMENTS[fragment].to_vec()));
        }
        _ => {}
    }
}

/// Sends the request; returns the status and the content type of the answer.
async fn publish(api: &Api, headers: &[(String, Vec<u8>)], body: Vec<u8>) -> (StatusCode, String) {
    let mut request = Request::builder()
        .method("POST")
        .uri("/api/v1/streams/fuzz/events");
    for (name, value) in headers {
        // A value no HTTP client could send is left out, as a client library would refuse it.
        if let Ok(value) = axum::http::HeaderValue::from_bytes(value) {
            request = request.header(name.as_str(), value);
        }
    }
    let response = api.send(request.body(Body::from(body)).unwrap()).await;
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    (response.status(), content_type)
}

/// One server (and its runtime) for every case: the parsers are what is under test.
static SERVER: std::sync::LazyLock<(tokio::runtime::Runtime, Api)> =
    std::sync::LazyLock::new(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let api = runtime.block_on(api_with(ApiConfig::default()));
        (runtime, api)
    });

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_publish_requests_get_201_or_a_4xx_problem_never_a_5xx(
        mode in mode(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        let (runtime, api) = &*SERVER;
        let (status, content_type) = runtime.block_on(async {
            let (mut headers, mut body) = valid(mode);
            for mutation in &mutations {
                apply(mutation, &mut headers, &mut body);
            }
            publish(api, &headers, body).await
        });
        prop_assert!(
            status == StatusCode::CREATED || status.is_client_error(),
            "{status} for {mode:?} after {mutations:?}"
        );
        if status.is_client_error() {
            prop_assert_eq!(content_type, "application/problem+json");
        }
    }
}

/// Path parameter values: ordinary, traversal, encoded separators and invalid UTF-8, long.
const SEGMENTS: &[&str] = &[
    "x",
    "orders",
    "..",
    ".",
    "%2E%2E",
    "%2F",
    "a%2Fb",
    "%FF%FE",
    "%C3%28",
    "%00",
    "a%20b",
    "%",
    "%zz",
    "~",
    "live",
    "events",
    "0",
    "1732450000000-0",
    "%E2%82%AC",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
];

/// Bytes that are not allowed raw in a request target: the request is not HTTP.
const RAW_IN_TARGET: &[&str] = &["\0", " ", "\x7f", "\u{ff}"];

/// Query parameters: bad numbers, positions, patterns, unknown names, broken encodings.
const QUERIES: &[&str] = &[
    "from=abc",
    "from=",
    "from=0",
    "from=-1",
    "from=99999999999999999999999-0",
    "from=%FF%FE",
    "limit=0",
    "limit=-5",
    "limit=1e3",
    "limit=18446744073709551616",
    "limit=1000000",
    "limit=1&limit=2",
    "direction=sideways",
    "direction=backward",
    "subject=%FF%FE",
    "subject=%00",
    "type=%00",
    "type=*",
    "type=order.**",
    "source=%C3",
    "at=yesterday",
    "at=%FF",
    "after=",
    "subscription=%2F",
    "unknown=1",
    "=",
    "&&",
    "a=b=c",
    "%zz=1",
];

/// Headers, valid and hostile; values are bytes, some not UTF-8 (allowed as obs-text).
const HEADERS: &[(&str, &[u8])] = &[
    ("content-type", b"application/json"),
    ("content-type", b"application/cloudevents+json"),
    ("content-type", b"application/cloudevents-batch+json"),
    (
        "content-type",
        b"application/cloudevents+json; charset=utf-16",
    ),
    ("content-type", b"text/plain"),
    ("content-type", b";;;"),
    ("content-type", b"application/json; charset=\"\xff\""),
    ("content-type", b""),
    ("ce-specversion", b"1.0"),
    ("ce-specversion", b"0.3"),
    ("ce-id", b"e-1"),
    ("ce-id", b""),
    ("ce-source", b"/shop"),
    ("ce-source", b"%zz"),
    ("ce-type", b"order.created"),
    ("ce-type", b"%FF%FE"),
    ("ce-time", b"yesterday"),
    ("ce-time", b"2026-13-45T99:99:99Z"),
    ("ce-subject", b"\xff\xfe"),
    ("ce-subject", b"%"),
    ("ce-datacontenttype", b"x"),
    ("ce-data_base64", b"@@"),
    ("ce-", b"x"),
    ("ce-%", b"1"),
    ("ce-ext", b"%C3%28"),
    ("eddy-expected-version", b"-1"),
    ("eddy-expected-version", b"99999999999999999999999"),
    ("eddy-wait-for", b",,,"),
    ("eddy-wait-for", b"nosuch"),
    ("eddy-wait-timeout", b"1e3"),
    ("eddy-wait-timeout", b"999999999"),
    ("last-event-id", b"abc"),
    ("last-event-id", b"\xff"),
    ("authorization", b"Bearer"),
    ("authorization", b"Basic \xff"),
    ("accept", b"text/event-stream"),
    ("content-encoding", b"gzip"),
    ("expect", b"100-continue"),
];

/// Header values that are not HTTP (control characters).
const RAW_IN_HEADER: &[&[u8]] = &[b"a\0b", b"\x01", b"a\x7fb"];

fn valid_event() -> String {
    event("e").to_string()
}

/// A request body.
#[derive(Debug, Clone)]
enum FuzzBody {
    Empty,
    Bytes(Vec<u8>),
    Event,
    Batch,
    Truncated(usize),
    Mutated(usize, u8),
    /// `depth` arrays or objects nested, closed or not.
    Nested {
        depth: usize,
        object: bool,
        closed: bool,
    },
    /// A valid event whose data is nested `depth` deep.
    NestedData(usize),
    InvalidUtf8,
}

impl FuzzBody {
    fn bytes(&self) -> Vec<u8> {
        match self {
            FuzzBody::Empty => Vec::new(),
            FuzzBody::Bytes(bytes) => bytes.clone(),
            FuzzBody::Event => valid_event().into_bytes(),
            FuzzBody::Batch => json!([event("b1"), event("b2")]).to_string().into_bytes(),
            FuzzBody::Truncated(at) => {
                let event = valid_event().into_bytes();
                event[..at % event.len()].to_vec()
            }
            FuzzBody::Mutated(at, byte) => {
                let mut event = valid_event().into_bytes();
                let len = event.len();
                event[at % len] = *byte;
                event
            }
            FuzzBody::Nested {
                depth,
                object,
                closed,
            } => {
                let (open, close) = if *object {
                    ("{\"a\":", "}")
                } else {
                    ("[", "]")
                };
                let mut text = open.repeat(*depth);
                if *closed {
                    text.push('1');
                    text.push_str(&close.repeat(*depth));
                }
                text.into_bytes()
            }
            FuzzBody::NestedData(depth) => format!(
                r#"{{"specversion":"1.0","id":"n","source":"/s","type":"t","data":{}1{}}}"#,
                "[".repeat(*depth),
                "]".repeat(*depth)
            )
            .into_bytes(),
            FuzzBody::InvalidUtf8 => {
                b"{\"specversion\":\"1.0\",\"id\":\"\xff\xfe\",\"source\":\"/s\",\"type\":\"t\"}"
                    .to_vec()
            }
        }
    }
}

fn fuzz_body() -> impl Strategy<Value = FuzzBody> {
    prop_oneof![
        Just(FuzzBody::Empty),
        proptest::collection::vec(any::<u8>(), 0..512).prop_map(FuzzBody::Bytes),
        Just(FuzzBody::Event),
        Just(FuzzBody::Batch),
        any::<usize>().prop_map(FuzzBody::Truncated),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| FuzzBody::Mutated(at, byte)),
        (
            prop_oneof![Just(200usize), Just(10_000), Just(100_000)],
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(depth, object, closed)| FuzzBody::Nested {
                depth,
                object,
                closed
            }),
        prop_oneof![Just(100usize), Just(10_000)].prop_map(FuzzBody::NestedData),
        Just(FuzzBody::InvalidUtf8),
    ]
}

/// One path parameter's value.
#[derive(Debug, Clone)]
enum Segment {
    Listed(usize),
    /// `n` copies of a listed value (5,000 characters or more).
    Long(usize, usize),
    /// A listed value with a byte not allowed in a target spliced in.
    Raw(usize, usize),
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        6 => (0..SEGMENTS.len()).prop_map(Segment::Listed),
        1 => (0..SEGMENTS.len(), prop_oneof![Just(2_000usize), Just(20_000)])
            .prop_map(|(s, n)| Segment::Long(s, n)),
        1 => (0..SEGMENTS.len(), 0..RAW_IN_TARGET.len()).prop_map(|(s, r)| Segment::Raw(s, r)),
    ]
}

/// A request built from the route table.
#[derive(Debug, Clone)]
struct RouteRequest {
    route: usize,
    /// `None`: the route's own method.
    method: Option<&'static str>,
    segments: Vec<Segment>,
    queries: Vec<usize>,
    raw_query: Option<usize>,
    headers: Vec<usize>,
    raw_header: Option<usize>,
    body: FuzzBody,
}

/// The indexes of the publish routes in the route table.
fn publish_routes() -> Vec<usize> {
    let endpoints = eddy::api::endpoints();
    let publish = endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| e.method == axum::http::Method::POST && e.path.ends_with("/events"));
    publish.map(|(i, _)| i).collect()
}

fn route_request() -> impl Strategy<Value = RouteRequest> {
    let methods = prop_oneof![
        4 => Just(None),
        1 => proptest::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO"]).prop_map(Some),
    ];
    (
        prop_oneof![
            4 => 0..eddy::api::endpoints().len(),
            // The publish routes again, so that some events get through and are stored.
            1 => proptest::sample::select(publish_routes()),
        ],
        methods,
        proptest::collection::vec(segment(), 3),
        proptest::collection::vec(0..QUERIES.len(), 0..4),
        proptest::option::weighted(0.05, 0..RAW_IN_TARGET.len()),
        proptest::collection::vec(0..HEADERS.len(), 0..6),
        proptest::option::weighted(0.05, 0..RAW_IN_HEADER.len()),
        fuzz_body(),
    )
        .prop_map(
            |(route, method, segments, queries, raw_query, headers, raw_header, body)| {
                RouteRequest {
                    route,
                    method,
                    segments,
                    queries,
                    raw_query,
                    headers,
                    raw_header,
                    body,
                }
            },
        )
}

impl RouteRequest {
    /// The method; the request's bytes; its body, if it is to be sent only once the server
    /// asks for it; and whether the request is valid HTTP.
    fn build(&self) -> (String, Vec<u8>, Option<Vec<u8>>, bool) {
        let endpoints = eddy::api::endpoints();
        let endpoint = &endpoints[self.route];
        let method = self
            .method
            .map_or_else(|| endpoint.method.to_string(), str::to_string);
        let mut valid = true;
        let mut segments = self.segments.iter();
        let mut target = String::new();
        for part in endpoint.path.split('/').skip(1) {
            target.push('/');
            if !part.starts_with('{') {
                target.push_str(part);
                continue;
            }
            match segments.next().expect("three segments are enough") {
                Segment::Listed(s) => target.push_str(SEGMENTS[*s]),
                Segment::Long(s, n) => {
                    while target.len() < *n {
                        target.push_str(SEGMENTS[*s]);
                    }
                }
                Segment::Raw(s, r) => {
                    target.push_str(SEGMENTS[*s]);
                    target.push_str(RAW_IN_TARGET[*r]);
                    valid = false;
                }
            }
        }
        if !self.queries.is_empty() || self.raw_query.is_some() {
            let mut query: Vec<&str> = self.queries.iter().map(|q| QUERIES[*q]).collect();
            if let Some(raw) = self.raw_query {
                query.push(RAW_IN_TARGET[raw]);
                valid = false;
            }
            target.push('?');
            target.push_str(&query.join("&"));
        }
        let body = self.body.bytes();
        let mut request = format!("{method} ").into_bytes();
        // The target's raw bytes: `\u{ff}` stands for the single byte 0xFF.
        request.extend(target.chars().map(|c| c as u32 as u8));
        request.extend_from_slice(b" HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
        // Valid events come with their content type (first, so that it is the one read), so
        // that some publishes succeed, under whatever stream name and headers.
        match self.body {
            FuzzBody::Event => {
                request.extend_from_slice(b"content-type: application/cloudevents+json\r\n")
            }
            FuzzBody::Batch => {
                request.extend_from_slice(b"content-type: application/cloudevents-batch+json\r\n")
            }
            _ => {}
        }
        for header in &self.headers {
            let (name, value) = HEADERS[*header];
            request.extend_from_slice(format!("{name}: ").as_bytes());
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        if let Some(raw) = self.raw_header {
            request.extend_from_slice(b"x-raw: ");
            request.extend_from_slice(RAW_IN_HEADER[raw]);
            request.extend_from_slice(b"\r\n");
            valid = false;
        }
        if !body.is_empty() {
            request.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        // A large body waits for the server's `100 Continue`, as clients do: a route that
        // answers without reading it is then not sent it, and its answer is not lost to the
        // reset that closing a socket with unread data causes.
        let wait = body.len() > 4096;
        if wait {
            request.extend_from_slice(b"expect: 100-continue\r\n");
        }
        request.extend_from_slice(b"\r\n");
        if wait {
            (method, request, Some(body), valid)
        } else {
            request.extend_from_slice(&body);
            (method, request, None, valid)
        }
    }
}

/// Sends a request, and its body once the server asks for it if `body` is given.
async fn send(
    conn: &mut support::wire::Conn,
    head: &[u8],
    body: Option<Vec<u8>>,
    head_only: bool,
) -> std::io::Result<support::wire::Answer> {
    conn.write(head).await?;
    let Some(body) = body else {
        return conn.answer(head_only).await;
    };
    let (status, headers) = conn.any_head().await?;
    if status != 100 {
        return conn.rest_of_answer(status, headers, head_only).await;
    }
    conn.write(&body).await?;
    conn.answer(head_only).await
}

/// A real server on loopback (and its runtime) for every case.
static WIRE: std::sync::LazyLock<(tokio::runtime::Runtime, support::wire::Server)> =
    std::sync::LazyLock::new(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(support::wire::Server::start(ApiConfig::default()));
        (runtime, server)
    });

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_request_to_any_route_gets_a_2xx_or_a_4xx_problem_and_the_server_stays_up(
        request in route_request(),
    ) {
        let (runtime, server) = &*WIRE;
        let (method, head, body, valid) = request.build();
        let head_only = method == "HEAD";
        let answer = runtime.block_on(async {
            let mut conn = server.connect().await;
            let answer = send(&mut conn, &head, body, head_only).await;
            server.assert_healthy().await;
            answer
        });
        let answer = answer.map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
        prop_assert!(answer.status < 500, "{answer:?}");
        if valid && answer.status >= 400 {
            prop_assert!(answer.is_problem(head_only), "{answer:?}");
        }
        if !valid {
            prop_assert!((400..500).contains(&answer.status), "{answer:?}");
        }
    }
}
