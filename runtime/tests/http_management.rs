//! The management side of the HTTP API: health probes, auth, metrics, limits and the OpenAPI
//! document. Live streams are in `http_live.rs`, hostile publish requests in `http_fuzz.rs`.
//!
//! Run with `cargo test -p eddy --test http_management`.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use eddy::api::{Access, ApiConfig, Auth, Role, endpoints};
use support::api::{Api, api_with, request};
use support::openapi::OpenApi;

const READER: &str = "reader-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

impl Api {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, String, String) {
        let (status, content_type, bytes) = self.fetch(method, uri, headers, body).await;
        (
            status,
            content_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn publish(&self, stream: &str, event: Value, token: Option<&str>) -> StatusCode {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/cloudevents+json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let uri = format!("/api/v1/streams/{stream}/events");
        self.call("POST", &uri, &headers, event.to_string()).await.0
    }
}

fn ce(id: &str, ty: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": ty, "subject": "o-1", "data": {"n": id}})
}

fn secured() -> ApiConfig {
    ApiConfig {
        auth: Auth::open()
            .with_token(READER, Role::Read)
            .unwrap()
            .with_token(ADMIN, Role::Admin)
            .unwrap(),
        ..ApiConfig::default()
    }
}

#[tokio::test]
async fn healthz_is_always_up_and_readyz_waits_for_start_up_and_the_store() {
    let started = Arc::new(AtomicBool::new(false));
    let api = api_with(ApiConfig {
        started: Some(started.clone()),
        ..secured()
    })
    .await;
    let (status, _, body) = api.call("GET", "/healthz", &[], "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"status":"ok"}"#)
    );

    let (status, content_type, body) = api.call("GET", "/readyz", &[], "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["check"], "startup", "{body}");

    started.store(true, std::sync::atomic::Ordering::Release);
    let (status, _, body) = api.call("GET", "/readyz", &[], "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"status":"ready"}"#)
    );
}

/// A concrete URI for an endpoint's path: every `{parameter}` becomes `x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_needs_the_right_token_except_health_and_metrics() {
    let api = api_with(secured()).await;
    let wrong = "Bearer not-a-token-0123456789".to_string();
    let reader = format!("Bearer {READER}");
    let admin = format!("Bearer {ADMIN}");
    let all = endpoints();
    assert!(all.len() >= 20, "the table lists every route");
    for endpoint in &all {
        let method = endpoint.method.as_str();
        let uri = concrete(endpoint.path);
        let what = format!("{method} {uri}");
        let mut statuses = Vec::new();
        for auth in [None, Some(&wrong), Some(&reader), Some(&admin)] {
            let headers: Vec<(&str, &str)> = auth
                .map(|a| ("authorization", a.as_str()))
                .into_iter()
                .collect();
            // Live routes answer with an endless body: look at the status only.
            statuses.push(
                api.send(request(method, &uri, &headers, "{}"))
                    .await
                    .status(),
            );
        }
        let [none, bad, read, full] = statuses[..] else {
            unreachable!()
        };
        let denied = [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];
        match endpoint.access() {
            Access::Public => {
                for s in [none, bad, read, full] {
                    assert!(!denied.contains(&s), "{what}: {s}");
                }
            }
            Access::Read => {
                assert_eq!(none, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(bad, StatusCode::UNAUTHORIZED, "{what}");
                assert!(!denied.contains(&read), "{what}: {read}");
                assert!(!denied.contains(&full), "{what}: {full}");
            }
            Access::Admin => {
                assert_eq!(none, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(bad, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(read, StatusCode::FORBIDDEN, "{what}");
                assert!(!denied.contains(&full), "{what}: {full}");
            }
        }
    }
    let (status, content_type, body) = api.call("GET", "/api/v1/streams", &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type, "application/problem+json");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    assert!(!body.contains(READER) && !body.contains(ADMIN));
}

#[tokio::test]
async fn without_tokens_the_api_is_open() {
    let api = api_with(ApiConfig::default()).await;
    assert_eq!(
        api.publish("open", ce("1", "a.b"), None).await,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call("GET", "/api/v1/streams", &[], "").await.0,
        StatusCode::OK
    );
}

/// Checks the Prometheus text exposition format line by line; returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    let mut typed = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            let name = parts.next().expect("a metric name after # HELP/# TYPE");
            assert!(matches!(keyword, "HELP" | "TYPE"), "{line}");
            if keyword == "TYPE" {
                let kind = parts.next().unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                assert!(
                    typed.insert(name.to_string(), kind.to_string()).is_none(),
                    "TYPE twice: {line}"
                );
            }
            continue;
        }
        assert!(!line.is_empty(), "no blank lines");
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("a number: {line}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name: {line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            typed.contains_key(family),
            "sample before its # TYPE: {line}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect("{labels}");
            // name="value" pairs, values with \\, \" and \n escapes only.
            let mut rest = inner;
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next().expect("a closing quote") {
                        (_, '\\') => assert!(
                            matches!(chars.next(), Some((_, '\\' | '"' | 'n'))),
                            "{line}"
                        ),
                        (i, '"') => break i,
                        _ => {}
                    }
                };
                rest = after[end + 1..]
                    .strip_prefix(',')
                    .unwrap_or(&after[end + 1..]);
            }
        }
        samples.push((series.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map_or(0.0, |(_, v)| *v)
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_published_events() {
    let api = api_with(secured()).await;
    let series = r#"eddy_events_published_total{stream="metered",type="order.created"}"#;
    let before = parse_prometheus(&api.call("GET", "/metrics", &[], "").await.2);
    assert_eq!(
        api.publish("metered", ce("1", "order.created"), Some(ADMIN))
            .await,
        StatusCode::CREATED
    );
    assert_eq!(
        api.publish("metered", ce("2", "order.created"), Some(ADMIN))
            .await,
        StatusCode::CREATED
    );
    // A duplicate is not a new event.
    assert_eq!(
        api.publish("metered", ce("2", "order.created"), Some(ADMIN))
            .await,
        StatusCode::CREATED
    );
    let (status, content_type, text) = api.call("GET", "/metrics", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let after = parse_prometheus(&text);
    assert_eq!(
        sample(&after, series) - sample(&before, series),
        2.0,
        "{text}"
    );
}

#[tokio::test]
async fn every_error_is_a_problem_document() {
    let api = api_with(ApiConfig {
        max_body_bytes: 64,
        ..ApiConfig::default()
    })
    .await;
    let cases = [
        ("GET", "/api/v1/subscriptions/x/dlq?limit=many", ""),
        ("POST", "/api/v1/subscriptions", "{ not json"),
        ("POST", "/api/v1/subscriptions", &"x".repeat(100)),
        ("GET", "/api/v1/streams/x/ws", ""),
        ("GET", "/nowhere", ""),
        ("PATCH", "/api/v1/streams", ""),
    ];
    for (method, uri, body) in cases {
        let (status, content_type, text) = api.call(method, uri, &[], body.to_string()).await;
        assert!(status.is_client_error(), "{method} {uri}: {status}");
        assert_eq!(
            content_type, "application/problem+json",
            "{method} {uri}: {text}"
        );
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["status"], status.as_u16());
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{text}"
        );
    }
}

/// A seeded random-mutation loop over valid publish requests in all three content modes:
/// whatever the bytes, the answer is 201 or a 4xx problem, never a 5xx or a panic.
#[tokio::test]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let api = api_with(secured()).await;
    let bearer = format!("Bearer {READER}");
    let (status, _, text) = api
        .call(
            "GET",
            "/api/v1/openapi.json",
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            documented += 1;
            // Every documented operation is routed: not the router's 404 or 405 fallback.
            let method = method.to_ascii_uppercase();
            let response = api
                .send(request(
                    &method,
                    &concrete(path),
                    &[("authorization", &format!("Bearer {ADMIN}"))],
                    "{}",
                ))
                .await;
            let status = response.status();
            let body = response.into_body();
            if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
                let bytes = body.collect().await.unwrap().to_bytes();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains("no such route") && !text.contains("method"),
                    "{method} {path}: {text}"
                );
            }
            let params = operation["parameters"].as_array().unwrap();
            for segment in path.split('/').filter_map(|s| s.strip_prefix('{')) {
                let name = segment.trim_end_matches('}');
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{method} {path}: {name}"
                );
            }
        }
    }
    // And every route the router is built from is documented.
    assert_eq!(documented, endpoints().len());
    for endpoint in endpoints() {
        let operation = &paths[endpoint.path][endpoint.method.as_str().to_ascii_lowercase()];
        assert_eq!(operation["summary"], endpoint.summary);
        let public = operation["security"] == json!([]);
        assert_eq!(
            public,
            endpoint.access() == Access::Public,
            "{}",
            endpoint.path
        );
    }
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    let meta: Value =
        serde_json::from_str(include_str!("fixtures/openapi-3.1-schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&meta).unwrap();
    let openapi = OpenApi::of_this_build();
    let errors: Vec<String> = validator
        .iter_errors(openapi.document())
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(
        !validator.is_valid(&json!({"openapi": "3.1.0", "paths": {}})),
        "no `info`"
    );
    // Every schema in it is a valid JSON Schema (2020-12, the dialect of OpenAPI 3.1).
    for (name, schema) in openapi.document()["components"]["schemas"]
        .as_object()
        .unwrap()
    {
        let mut root = json!({"allOf": [schema]});
        root["components"] = openapi.document()["components"].clone();
        jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn answers_fit_the_schemas_the_openapi_document_gives() {
    let openapi = OpenApi::of_this_build();
    let api = api_with(ApiConfig::default()).await;
    // (method, concrete path, route template, body): successes and errors alike.
    let event = ce("e-1", "order.created").to_string();
    let batch = format!("[{}]", ce("e-2", "order.paid"));
    let calls: Vec<(&str, &str, &str, String, &str)> = vec![
        ("GET", "/healthz", "/healthz", String::new(), ""),
        ("GET", "/readyz", "/readyz", String::new(), ""),
        (
            "POST",
            "/api/v1/streams/orders/events",
            "/api/v1/streams/{stream}/events",
            event.clone(),
            "application/cloudevents+json",
        ),
        (
            "POST",
            "/api/v1/streams/orders/events",
            "/api/v1/streams/{stream}/events",
            batch,
            "application/cloudevents-batch+json",
        ),
        (
            "POST",
            "/api/v1/streams/orders/events",
            "/api/v1/streams/{stream}/events",
            "{".into(),
            "application/json",
        ),
        (
            "POST",
            "/api/v1/events",
            "/api/v1/events",
            event,
            "application/json",
        ),
        (
            "GET",
            "/api/v1/streams",
            "/api/v1/streams",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/streams/orders",
            "/api/v1/streams/{stream}",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/streams/nope",
            "/api/v1/streams/{stream}",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/streams/orders/events?limit=10",
            "/api/v1/streams/{stream}/events",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/streams/orders/events?limit=0",
            "/api/v1/streams/{stream}/events",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/streams/orders/events/e-1?source=/shop",
            "/api/v1/streams/{stream}/events/{id}",
            String::new(),
            "",
        ),
        ("GET", "/api/v1/events", "/api/v1/events", String::new(), ""),
        (
            "GET",
            "/api/v1/events/e-1",
            "/api/v1/events/{id}",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/subscriptions",
            "/api/v1/subscriptions",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/subscriptions/nope",
            "/api/v1/subscriptions/{name}",
            String::new(),
            "",
        ),
        (
            "POST",
            "/api/v1/subscriptions",
            "/api/v1/subscriptions",
            r#"{"name":"x"}"#.into(),
            "application/json",
        ),
        (
            "GET",
            "/api/v1/replays",
            "/api/v1/replays",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/replays/nope",
            "/api/v1/replays/{id}",
            String::new(),
            "",
        ),
        (
            "POST",
            "/api/v1/replays",
            "/api/v1/replays",
            r#"{"stream":"orders"}"#.into(),
            "application/json",
        ),
        (
            "GET",
            "/api/v1/plugins",
            "/api/v1/plugins",
            String::new(),
            "",
        ),
        (
            "GET",
            "/api/v1/projections/nope/s",
            "/api/v1/projections/{subscription}/{subject}",
            String::new(),
            "",
        ),
    ];
    let mut statuses = Vec::new();
    for (method, uri, template, body, content_type) in calls {
        let headers: Vec<(&str, &str)> = if content_type.is_empty() {
            vec![]
        } else {
            vec![("content-type", content_type)]
        };
        let (status, _, text) = api.call(method, uri, &headers, body).await;
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {uri}: not JSON ({e}): {text}"));
        openapi.check(method, template, status.as_u16(), &json);
        statuses.push(status.as_u16());
    }
    // The check has teeth: a wrong shape is refused.
    let wrong = json!({"position": 5, "event": {"id": "x"}});
    assert!(
        openapi
            .fits("GET", "/api/v1/events/{id}", 200, &wrong)
            .is_err()
    );
    // Both kinds of answer were checked.
    assert!(statuses.iter().any(|s| *s < 300) && statuses.iter().any(|s| *s >= 400));
}
