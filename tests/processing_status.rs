//! Processing status per event per subscription, and synchronous publish — through the
//! library (`eddy::client`) and over HTTP — with real plugins on an embedded store.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use eddy::api::ApiConfig;
use eddy::client::{Eddy, WaitFor};
use eddy::event::CloudEvent;
use eddy::store::{Append, Read};
use eddy::subscription::{ProcessingStatus, SubscriptionSpec};
use support::plugins::plugin_path;

/// A guard against a hang, not a timing assertion.
const HANG: Duration = Duration::from_secs(60);

struct Fixture {
    eddy: Eddy,
    _dir: tempfile::TempDir,
}

/// An embedded store with the given subscriptions running (`spec` JSON objects, the plugin
/// given by crate name).
async fn fixture(specs: &[Value]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let eddy = Eddy::open(&format!("embedded:{}", dir.path().display()))
        .await
        .unwrap();
    for spec in specs {
        let mut spec = spec.clone();
        let plugin = plugin_path(spec["plugin"].as_str().unwrap());
        spec["plugin"] = json!(plugin.display().to_string());
        let spec: SubscriptionSpec = serde_json::from_value(spec).unwrap();
        eddy.start_subscription(spec).await.unwrap();
    }
    Fixture { eddy, _dir: dir }
}

fn orders() -> Vec<Value> {
    vec![
        json!({"name": "order-totals", "plugin": "order_totals", "streams": ["orders"]}),
        json!({"name": "high-value", "plugin": "high_value", "streams": ["orders"],
               "config": {"threshold": "10000"}}),
    ]
}

/// fx-reject: `bad` is rejected, `flaky` asks for a retry every time, others succeed.
fn rejecter() -> Value {
    json!({"name": "rejecter", "plugin": "fx_reject", "streams": ["s"], "batch": 1,
           "retry": {"max_attempts": 100, "backoff_ms": 5, "max_backoff_ms": 20}})
}

fn paid(id: &str, subject: &str, cents: i64) -> CloudEvent {
    CloudEvent::new(id, "/shop", "order.paid")
        .with_subject(subject)
        .with_json_data(&json!({ "amount_cents": cents }))
        .unwrap()
}

fn typed(id: &str, ty: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", ty).with_subject("x")
}

async fn status_of(eddy: &Eddy, stream: &str, id: &str, subscription: &str) -> ProcessingStatus {
    let statuses = eddy
        .status(stream, id)
        .await
        .unwrap()
        .expect("the event exists");
    statuses[subscription].clone()
}

/// Polls until the status of `id` satisfies `want` (bounded by [`HANG`]).
async fn wait_status(
    eddy: &Eddy,
    stream: &str,
    id: &str,
    subscription: &str,
    want: impl Fn(&ProcessingStatus) -> bool,
) -> ProcessingStatus {
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let status = status_of(eddy, stream, id, subscription).await;
        if want(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {status:?} for {id}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_publish_answers_once_each_subscription_has_processed_the_event() {
    let Fixture { eddy, _dir } = fixture(&orders()).await;
    let wait = WaitFor::new(["order-totals", "high-value"], HANG);
    let batch = vec![
        CloudEvent::new("c", "/shop", "order.created")
            .with_subject("o-1")
            .with_json_data(&json!({"customer": "ada"}))
            .unwrap(),
        paid("p", "o-1", 25_000),
    ];
    let processed = eddy
        .publish_and_wait("orders", Append::new(batch), &wait)
        .await
        .unwrap();
    assert!(!processed.timed_out);
    for (appended, statuses) in &processed.events {
        assert_eq!(statuses.len(), 2, "{}", appended.id);
        assert!(
            statuses.values().all(|s| *s == ProcessingStatus::Completed),
            "{statuses:?}"
        );
    }
    // Done means done: the handler's output and the reducer's state are there already.
    let alerts = eddy.read("alerts", Read::forward(10)).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let state = eddy
        .store()
        .load_state("order-totals", "o-1")
        .await
        .unwrap()
        .unwrap();
    let state: Value = serde_json::from_slice(&state.state).unwrap();
    assert_eq!(state["paid_cents"], 25_000);
    // Asked afterwards, the status is the same.
    assert_eq!(
        status_of(&eddy, "orders", "p", "high-value").await,
        ProcessingStatus::Completed
    );
    eddy.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_event_is_dead_lettered_with_its_error_and_attempts() {
    let Fixture { eddy, _dir } = fixture(&[rejecter()]).await;
    let wait = WaitFor::new(["rejecter"], HANG);
    let processed = eddy
        .publish_and_wait("s", Append::one(typed("b-1", "bad")), &wait)
        .await
        .unwrap();
    let status = &processed.events[0].1["rejecter"];
    let ProcessingStatus::DeadLettered {
        error, attempts, ..
    } = status
    else {
        panic!("not dead-lettered: {status:?}");
    };
    assert!(error.contains("has type bad"), "{error}");
    assert_eq!(*attempts, 1, "a reject is not retried");
    assert_eq!(&status_of(&eddy, "s", "b-1", "rejecter").await, status);
    eddy.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_event_is_failed_with_its_attempts_and_those_behind_it_are_pending() {
    let Fixture { eddy, _dir } = fixture(&[rejecter()]).await;
    let batch = vec![typed("f-1", "flaky"), typed("ok-1", "fine")];
    eddy.publish_batch("s", batch).await.unwrap();
    let failed = wait_status(
        &eddy,
        "s",
        "f-1",
        "rejecter",
        |s| matches!(s, ProcessingStatus::Failed { attempts, .. } if *attempts >= 2),
    )
    .await;
    let ProcessingStatus::Failed { error, .. } = failed else {
        unreachable!()
    };
    assert!(error.contains("flaky"), "{error}");
    // Batches hold one event here, and the flaky one never finishes: the next one waits.
    assert_eq!(
        status_of(&eddy, "s", "ok-1", "rejecter").await,
        ProcessingStatus::Pending
    );
    // A synchronous publish that cannot finish says so when its time is up.
    let processed = eddy
        .publish_and_wait(
            "s",
            Append::one(typed("ok-2", "fine")),
            &WaitFor::new(["rejecter"], Duration::from_millis(50)),
        )
        .await
        .unwrap();
    assert!(processed.timed_out);
    assert_eq!(processed.events[0].1["rejecter"], ProcessingStatus::Pending);
    eddy.close().await;
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

fn publish(stream: &str, headers: &[(&str, &str)], event: &CloudEvent) -> Request<Body> {
    let mut request = Request::post(format!("/api/v1/streams/{stream}/events"))
        .header("content-type", "application/cloudevents+json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(event.to_json())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_the_status_route_and_the_wait_headers_carry_the_outcome() {
    let Fixture { eddy, _dir } = fixture(&[rejecter()]).await;
    let app = eddy.router(ApiConfig::default());

    let wait = [
        ("eddy-wait-for", "rejecter"),
        ("eddy-wait-timeout", "20000"),
    ];
    let (status, body) = call(&app, publish("s", &wait, &typed("b-1", "bad"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["timed_out"], false);
    let outcome = &body["results"][0]["subscriptions"]["rejecter"];
    assert_eq!(outcome["status"], "dead-lettered", "{body}");
    assert_eq!(outcome["attempts"], 1);

    let (status, body) = call(
        &app,
        Request::get("/api/v1/streams/s/events/b-1/status")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], "b-1");
    assert_eq!(body["subscriptions"]["rejecter"]["status"], "dead-lettered");

    let short = [("eddy-wait-for", "rejecter"), ("eddy-wait-timeout", "50")];
    let (status, body) = call(&app, publish("s", &short, &typed("f-1", "flaky"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["timed_out"], true);

    // Mistakes are refused before anything is stored.
    let typo = [("eddy-wait-for", "rejectr")];
    let (status, body) = call(&app, publish("s", &typo, &typed("t-1", "fine"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let other_stream = [("eddy-wait-for", "rejecter")];
    let (status, body) = call(
        &app,
        publish("elsewhere", &other_stream, &typed("t-2", "fine")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let bad_timeout = [("eddy-wait-for", "rejecter"), ("eddy-wait-timeout", "soon")];
    let (status, _) = call(&app, publish("s", &bad_timeout, &typed("t-3", "fine"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for id in ["t-1", "t-3"] {
        assert!(
            eddy.store().get("s", id, None).await.unwrap().is_none(),
            "{id}"
        );
    }
    assert!(eddy.store().stream("elsewhere").await.unwrap().is_none());

    let (status, _) = call(
        &app,
        Request::get("/api/v1/streams/s/events/nope/status")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    eddy.close().await;
}
