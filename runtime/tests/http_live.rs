//! Following streams live over server-sent events and WebSocket: new events arrive, a
//! reconnect resumes after `Last-Event-ID`, slow clients are cut off alone, many clients
//! joining mid-stream each get every event exactly once, and a client that falls far behind
//! the shared feed catches up from the store without a gap.
//!
//! Run with `cargo test -p eddy --test http_live`.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use eddy::api::{ApiConfig, Auth, LiveLimits, Role, router};
use support::Target;
use support::api::{Api, api_with, request};

const READER: &str = "reader-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

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

trait Publish {
    async fn publish(&self, stream: &str, event: Value, token: Option<&str>);
    async fn publish_batch(&self, stream: &str, ids: std::ops::Range<usize>);
}

impl Publish for Api {
    async fn publish(&self, stream: &str, event: Value, token: Option<&str>) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/cloudevents+json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let uri = format!("/api/v1/streams/{stream}/events");
        let (status, _, body) = self.fetch("POST", &uri, &headers, event.to_string()).await;
        assert_eq!(status, StatusCode::CREATED, "{body:?}");
    }

    async fn publish_batch(&self, stream: &str, ids: std::ops::Range<usize>) {
        let batch: Vec<Value> = ids.map(|i| ce(&i.to_string(), "t")).collect();
        let uri = format!("/api/v1/streams/{stream}/events");
        let headers = [("content-type", "application/cloudevents-batch+json")];
        let (status, _, body) = self
            .fetch("POST", &uri, &headers, Value::from(batch).to_string())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body:?}");
    }
}

/// Reads server-sent events from a body until `want` events (or the end) arrive: `(event
/// name, id, data)` each.
async fn read_sse(body: &mut Body, want: usize) -> Vec<(String, String, String)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < want {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s");
        let Some(frame) = frame else { break };
        let Ok(data) = frame.unwrap().into_data() else {
            continue;
        };
        buffer.push_str(std::str::from_utf8(&data).unwrap());
        while let Some((block, rest)) = buffer.split_once("\n\n") {
            let (mut name, mut id, mut data) =
                ("message".to_string(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            // Keep-alive comments carry no data.
            if !data.is_empty() {
                events.push((name, id, data));
            }
            buffer = rest.to_string();
        }
    }
    events
}

fn event_id(data: &str) -> String {
    let value: Value = serde_json::from_str(data).unwrap();
    value["event"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_live_client_gets_new_events_and_resumes_after_last_event_id() {
    let api = api_with(secured()).await;
    let bearer = format!("Bearer {READER}");
    api.publish("live", ce("old", "order.created"), Some(ADMIN))
        .await;
    let response = api
        .send(request(
            "GET",
            "/api/v1/streams/live/events/live?type=order.*",
            &[("authorization", &bearer)],
            "",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    api.publish("live", ce("1", "order.created"), Some(ADMIN))
        .await;
    api.publish("live", ce("skipped", "invoice.sent"), Some(ADMIN))
        .await;
    api.publish("live", ce("2", "order.paid"), Some(ADMIN))
        .await;
    let got = read_sse(&mut body, 2).await;
    let ids: Vec<_> = got.iter().map(|(_, _, data)| event_id(data)).collect();
    assert_eq!(ids, ["1", "2"], "only new events of the wanted types");
    let last_seen = got[0].1.clone();
    drop(body);

    // The client drops after the first event; events go on meanwhile.
    api.publish("live", ce("3", "order.shipped"), Some(ADMIN))
        .await;
    let response = api
        .send(request(
            "GET",
            "/api/v1/streams/live/events/live?type=order.*",
            &[("authorization", &bearer), ("last-event-id", &last_seen)],
            "",
        ))
        .await;
    let mut body = response.into_body();
    let got = read_sse(&mut body, 2).await;
    let ids: Vec<_> = got.iter().map(|(_, _, data)| event_id(data)).collect();
    assert_eq!(ids, ["2", "3"], "resumes right after the last event seen");

    let (status, content_type, _) = api
        .fetch(
            "GET",
            "/api/v1/streams/live/events/live",
            &[("authorization", &bearer), ("last-event-id", "nope")],
            "",
        )
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::BAD_REQUEST, "application/problem+json")
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_ended_with_a_final_message() {
    let api = api_with(ApiConfig {
        live: LiveLimits {
            buffer: 2,
            stall_timeout: Duration::from_millis(200),
        },
        ..ApiConfig::default()
    })
    .await;
    for i in 0..10 {
        api.publish("busy", ce(&i.to_string(), "t"), None).await;
    }
    let response = api
        .send(request(
            "GET",
            "/api/v1/streams/busy/events/live?from=0",
            &[],
            "",
        ))
        .await;
    let mut body = response.into_body();
    // Not reading: the buffer fills, and the server gives up on this client.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = read_sse(&mut body, 100).await;
    let names: Vec<_> = got.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["message", "message", "end"], "{got:?}");
    assert!(got[2].2.contains("slow-client"), "{}", got[2].2);
    // Another client is not affected.
    let response = api
        .send(request(
            "GET",
            "/api/v1/streams/busy/events/live?from=0",
            &[],
            "",
        ))
        .await;
    let mut body = response.into_body();
    let got = read_sse(&mut body, 10).await;
    assert_eq!(got.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_gets_events_and_the_server_shuts_down_cleanly() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let target = Target::embedded();
    let store = target.open().await;
    let config = ApiConfig::default();
    let closing = config.closing.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(eddy::api::serve(listener, store.clone(), config, async {
        let _ = stopped.await;
    }));
    let app = router(store, ApiConfig::default());
    let publish = |id: &'static str| {
        let app = app.clone();
        async move {
            let response = app
                .oneshot(request(
                    "POST",
                    "/api/v1/streams/ws/events",
                    &[("content-type", "application/json")],
                    ce(id, "t").to_string(),
                ))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
    };
    publish("1").await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{address}/api/v1/streams/ws/ws?from=0"))
            .await
            .unwrap();
    publish("2").await;
    let mut ids = Vec::new();
    while ids.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            ids.push(event_id(&text));
        }
    }
    assert_eq!(ids, ["1", "2"]);

    // Shutting down ends the live connection with a final message instead of waiting on it.
    stop.send(()).unwrap();
    let mut last = String::new();
    while let Some(Ok(message)) = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
    {
        if let Message::Text(text) = message {
            last = text.to_string();
        }
    }
    assert!(last.contains("shutdown"), "{last}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop(closing);
}

/// Follows `stream` from its start on a clone of the router and returns the ids of the first
/// `want` events received.
async fn follow_from_start(app: axum::Router, stream: &str, want: usize) -> Vec<String> {
    let uri = format!("/api/v1/streams/{stream}/events/live?from=0");
    let response = app.oneshot(request("GET", &uri, &[], "")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let got = read_sse(&mut body, want).await;
    got.iter().map(|(_, _, data)| event_id(data)).collect()
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_joining_while_events_flow_each_get_every_event_exactly_once() {
    const BATCHES: usize = 40;
    const BATCH: usize = 50;
    let api = api_with(ApiConfig::default()).await;
    let mut clients = Vec::new();
    for batch in 0..BATCHES {
        // A new client joins every other batch: some start before the stream exists, most
        // join a feed that is running, all first catch up from the store.
        if batch % 2 == 0 {
            let app = api.app.clone();
            clients.push(tokio::spawn(follow_from_start(
                app,
                "flow",
                BATCHES * BATCH,
            )));
        }
        api.publish_batch("flow", batch * BATCH..(batch + 1) * BATCH)
            .await;
    }
    for client in clients {
        assert_eq!(client.await.unwrap(), ids(0..BATCHES * BATCH));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_far_behind_the_shared_feed_catches_up_from_the_store_without_a_gap() {
    // One event of buffer and a long stall timeout: the client falls behind by more than the
    // feed keeps while it does not read, and must catch up from the store.
    let api = api_with(ApiConfig {
        live: LiveLimits {
            buffer: 1,
            stall_timeout: Duration::from_secs(60),
        },
        ..ApiConfig::default()
    })
    .await;
    api.publish("far", ce("before", "t"), None).await;
    let response = api
        .send(request("GET", "/api/v1/streams/far/events/live", &[], ""))
        .await;
    let mut body = response.into_body();
    const EVENTS: usize = 6000;
    for start in (0..EVENTS).step_by(500) {
        api.publish_batch("far", start..start + 500).await;
    }
    let got = read_sse(&mut body, EVENTS).await;
    let got: Vec<String> = got.iter().map(|(_, _, data)| event_id(data)).collect();
    assert_eq!(got, ids(0..EVENTS));
    // A second, quick client is not held back by the slow one.
    assert_eq!(
        follow_from_start(api.app.clone(), "far", EVENTS + 1)
            .await
            .len(),
        EVENTS + 1
    );
}
