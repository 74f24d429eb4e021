//! The HTTP API through the real router (`oneshot`), and over a real socket.
//!
//! Run with `cargo test -p eddy --test http_api`.

mod support;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use eddy::api::ApiConfig;
use support::Target;
use support::api::{Api, api_with};

async fn api() -> Api {
    api_with(ApiConfig::default()).await
}

struct Reply {
    status: StatusCode,
    content_type: String,
    json: Value,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let (status, content_type, bytes) = self.fetch(method, uri, headers, body).await;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            content_type,
            json,
        }
    }

    async fn publish(&self, stream: &str, event: Value) -> Reply {
        self.call(
            "POST",
            &format!("/api/v1/streams/{stream}/events"),
            &[("content-type", "application/cloudevents+json")],
            event.to_string(),
        )
        .await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, &[], Body::empty()).await
    }
}

fn ce(id: &str, ty: &str, subject: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": ty, "subject": subject, "data": {"n": id}})
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_problem(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.json);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.json["status"], status);
    assert!(
        reply.json["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:eddy:problem:")
    );
    assert!(reply.json["title"].is_string());
    let detail = reply.json["detail"].as_str().unwrap();
    assert!(
        detail.contains(needle),
        "`{detail}` does not mention `{needle}`"
    );
}

#[tokio::test]
async fn events_published_in_all_three_modes_read_back_in_order() {
    let api = api().await;
    let structured = api.publish("orders", ce("1", "order.created", "o-1")).await;
    assert_eq!(structured.status, StatusCode::CREATED);
    assert_eq!(structured.json["results"][0]["id"], "1");
    assert_eq!(structured.json["results"][0]["duplicate"], false);

    let batch = json!([ce("2", "order.paid", "o-1"), ce("3", "invoice.sent", "o-2")]);
    let batch = api
        .call(
            "POST",
            "/api/v1/streams/orders/events",
            &[("content-type", "application/cloudevents-batch+json")],
            batch.to_string(),
        )
        .await;
    assert_eq!(batch.status, StatusCode::CREATED);
    assert_eq!(batch.json["results"].as_array().unwrap().len(), 2);

    let array = json!([ce("4", "order.noted", "o-1")]);
    let plain = api
        .call(
            "POST",
            "/api/v1/streams/orders/events",
            &[("content-type", "application/json")],
            array.to_string(),
        )
        .await;
    assert_eq!(plain.status, StatusCode::CREATED, "a JSON array is a batch");

    let binary = api
        .call(
            "POST",
            "/api/v1/streams/orders/events",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "5"),
                ("ce-source", "/shop"),
                ("ce-type", "order.shipped"),
                ("ce-subject", "o-1"),
                ("ce-carrier", "DHL%20Express"),
                ("content-type", "application/octet-stream"),
            ],
            vec![0u8, 159, 146, 150],
        )
        .await;
    assert_eq!(binary.status, StatusCode::CREATED, "{}", binary.json);

    let all = api.get("/api/v1/streams/orders/events").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(ids(&all), ["1", "2", "3", "4", "5"]);
    assert_eq!(all.json["next"], Value::Null);
    let shipped = &all.json["events"][4]["event"];
    assert_eq!(shipped["data_base64"], "AJ+Slg==");
    assert_eq!(shipped["carrier"], "DHL Express");
    assert_eq!(shipped["datacontenttype"], "application/octet-stream");
    assert_eq!(all.json["events"][0]["event"]["data"], json!({"n": "1"}));
    let position = all.json["events"][0]["position"].as_str().unwrap();
    assert_eq!(
        position,
        structured.json["results"][0]["position"].as_str().unwrap()
    );
}

#[tokio::test]
async fn republishing_an_event_reports_a_duplicate_with_the_original_position() {
    let api = api().await;
    let first = api.publish("orders", ce("1", "order.created", "o-1")).await;
    let again = api.publish("orders", ce("1", "order.created", "o-1")).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json["results"][0]["duplicate"], true);
    assert_eq!(
        again.json["results"][0]["position"],
        first.json["results"][0]["position"]
    );
}

#[tokio::test]
async fn a_stale_expected_version_is_a_409_with_the_current_version() {
    let api = api().await;
    let publish = |id: &'static str, version: &'static str| {
        let api = &api;
        async move {
            api.call(
                "POST",
                "/api/v1/streams/orders/events",
                &[
                    ("content-type", "application/json"),
                    ("eddy-expected-version", version),
                ],
                ce(id, "order.created", "o-1").to_string(),
            )
            .await
        }
    };
    assert_eq!(publish("1", "0").await.status, StatusCode::CREATED);
    let conflict = publish("2", "0").await;
    assert_problem(&conflict, 409, "version 1");
    assert_eq!(conflict.json["currentVersion"], 1);
    assert_eq!(conflict.json["expectedVersion"], 0);
    assert_eq!(publish("2", "1").await.status, StatusCode::CREATED);
    assert_problem(&publish("3", "soon").await, 400, "Eddy-Expected-Version");
}

#[tokio::test]
async fn bad_requests_get_problem_bodies_naming_what_is_wrong() {
    let api = api_with(ApiConfig {
        max_body_bytes: 1024,
        ..ApiConfig::default()
    })
    .await;
    let missing_type = json!({"specversion": "1.0", "id": "1", "source": "/shop"});
    assert_problem(&api.publish("orders", missing_type).await, 400, "type");
    let bad_batch = json!([ce("1", "a", "s"), {"specversion": "1.0", "id": "2"}]);
    let reply = api
        .call(
            "POST",
            "/api/v1/streams/orders/events",
            &[("content-type", "application/cloudevents-batch+json")],
            bad_batch.to_string(),
        )
        .await;
    assert_problem(&reply, 400, "event 1");
    let empty = api
        .call(
            "POST",
            "/api/v1/events",
            &[("content-type", "application/json")],
            "[]",
        )
        .await;
    assert_problem(&empty, 400, "empty");
    let binary_without_id = api
        .call(
            "POST",
            "/api/v1/events",
            &[
                ("ce-specversion", "1.0"),
                ("ce-source", "/x"),
                ("ce-type", "t"),
            ],
            "{}",
        )
        .await;
    assert_problem(&binary_without_id, 400, "ce-id");

    let huge = json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": "x".repeat(2000)});
    assert_problem(&api.publish("orders", huge).await, 413, "1024 bytes");

    let xml = api
        .call(
            "POST",
            "/api/v1/events",
            &[("content-type", "text/xml")],
            "<x/>",
        )
        .await;
    assert_problem(&xml, 415, "text/xml");
    let untyped = api.call("POST", "/api/v1/events", &[], "{}").await;
    assert_problem(&untyped, 415, "Content-Type");

    assert_problem(
        &api.publish("bad%20name!", ce("1", "t", "s")).await,
        400,
        "stream name",
    );
    assert_problem(&api.get("/api/v1/events?from=yesterday").await, 400, "from");
    assert_problem(&api.get("/api/v1/events?limit=0").await, 400, "limit");
    assert_problem(
        &api.get("/api/v1/events?direction=up").await,
        400,
        "direction",
    );
    assert_problem(&api.get("/api/v1/nothing").await, 404, "route");
    assert_problem(
        &api.call("PUT", "/api/v1/events", &[], "").await,
        405,
        "method",
    );
}

#[tokio::test]
async fn pages_link_with_next_forward_and_backward() {
    let api = api().await;
    for i in 0..5 {
        api.publish("orders", ce(&i.to_string(), "order.created", "o-1"))
            .await;
    }
    let mut seen = Vec::new();
    let mut uri = "/api/v1/streams/orders/events?limit=2".to_string();
    loop {
        let page = api.get(&uri).await;
        seen.extend(ids(&page));
        match page.json["next"].as_str() {
            Some(next) => uri = format!("/api/v1/streams/orders/events?limit=2&from={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["0", "1", "2", "3", "4"]);

    let newest = api
        .get("/api/v1/streams/orders/events?direction=backward&limit=2")
        .await;
    assert_eq!(ids(&newest), ["4", "3"]);
    let next = newest.json["next"].as_str().unwrap();
    let older = api
        .get(&format!(
            "/api/v1/streams/orders/events?direction=backward&limit=10&from={next}"
        ))
        .await;
    assert_eq!(ids(&older), ["2", "1", "0"]);
    assert_eq!(older.json["next"], Value::Null);
}

#[tokio::test]
async fn reads_filter_by_subject_and_type_glob() {
    let api = api().await;
    api.publish("orders", ce("1", "order.created", "o-1")).await;
    api.publish("orders", ce("2", "invoice.sent", "o-1")).await;
    api.publish("orders", ce("3", "order.paid", "o-2")).await;
    api.publish("orders", ce("4", "order.paid", "o-1")).await;

    let subject = api.get("/api/v1/streams/orders/events?subject=o-1").await;
    assert_eq!(ids(&subject), ["1", "2", "4"]);
    let orders = api.get("/api/v1/streams/orders/events?type=order.*").await;
    assert_eq!(ids(&orders), ["1", "3", "4"]);
    let both = api
        .get("/api/v1/streams/orders/events?type=order.*&subject=o-1&direction=backward")
        .await;
    assert_eq!(ids(&both), ["4", "1"]);
    let first = api
        .get("/api/v1/streams/orders/events?type=*.paid&limit=1")
        .await;
    assert_eq!(ids(&first), ["3"]);
    assert!(
        first.json["next"].is_string(),
        "a full filtered page links on"
    );
}

#[tokio::test]
async fn the_original_event_routes_use_the_events_stream() {
    let api = api().await;
    let published = api
        .call(
            "POST",
            "/api/v1/events",
            &[("content-type", "application/cloudevents+json")],
            ce("1", "order.created", "o-1").to_string(),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED);
    assert_eq!(ids(&api.get("/api/v1/events").await), ["1"]);
    assert_eq!(ids(&api.get("/api/v1/streams/events/events").await), ["1"]);
    let one = api.get("/api/v1/events/1").await;
    assert_eq!(one.json["event"]["id"], "1");
    assert_eq!(
        one.json["position"],
        published.json["results"][0]["position"]
    );
    assert_problem(&api.get("/api/v1/events/2").await, 404, "`2`");
}

#[tokio::test]
async fn streams_are_listed_inspected_and_deleted() {
    let api = api().await;
    let first = api.publish("orders", ce("1", "order.created", "o-1")).await;
    api.publish("orders", ce("2", "order.created", "o-1")).await;
    api.publish("payments", ce("1", "payment.received", "p-1"))
        .await;

    let list = api.get("/api/v1/streams").await;
    let names: Vec<_> = list.json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("orders"), json!("payments")]);
    let orders = api.get("/api/v1/streams/orders").await;
    assert_eq!(orders.json["length"], 2);
    assert_eq!(orders.json["first"], first.json["results"][0]["position"]);
    let by_id = api
        .get("/api/v1/streams/orders/events/2?source=/shop")
        .await;
    assert_eq!(by_id.json["event"]["id"], "2");

    let deleted = api.call("DELETE", "/api/v1/streams/orders", &[], "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_problem(&api.get("/api/v1/streams/orders").await, 404, "orders");
    assert_problem(
        &api.call("DELETE", "/api/v1/streams/orders", &[], "").await,
        404,
        "orders",
    );
    assert!(ids(&api.get("/api/v1/streams/orders/events").await).is_empty());
}

/// Over a real socket, on the Redis backend: publish, read back, then shut down gracefully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_on_a_socket_over_redis_publishes_reads_and_stops_on_signal() {
    let target = Target::redis();
    let store = target.open().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(eddy::api::serve(
        listener,
        store,
        ApiConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let body = ce("1", "order.created", "o-1").to_string();
    let request = format!(
        "POST /api/v1/streams/orders/events HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/cloudevents+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = http(address, &request).await;
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let reply = http(
        address,
        &format!("GET /api/v1/streams/orders/events HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(r#""id":"1""#), "{reply}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
}

async fn http(address: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply
}
