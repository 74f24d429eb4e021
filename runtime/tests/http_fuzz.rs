//! Hostile publish requests: valid requests in each CloudEvents content mode (structured,
//! batch, binary), mutated at random — bytes changed, bodies cut, JSON fragments and invalid
//! UTF-8 spliced in, headers dropped or garbled — are answered 201 or with a 4xx problem
//! document, never a 5xx or a panic. Property-based (proptest), so a failure shrinks to a
//! small request.
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
