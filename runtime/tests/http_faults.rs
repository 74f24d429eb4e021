//! Hostile connections against a real server on loopback: oversize bodies and headers, clients
//! that vanish mid-request or mid-response, live clients that never read, and a thousand
//! connections at once. Each gets a 4xx or is cut off; the server keeps answering everyone
//! else, stores nothing half-sent, and frees what a gone client held (its connection task, its
//! place in `eddy_live_clients`).
//!
//! Leaks are measured as the test runtime's live tasks (the server runs on it), which must
//! come back to what they were before the hostile clients came.
//!
//! Run with `cargo nextest run -p eddy --test http_faults`.

mod support;

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use eddy::api::{ApiConfig, LiveLimits, endpoints};
use support::wire::{Conn, Server};

/// The runtime's tasks that have not finished.
fn live_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until `done` holds, checking every 20 ms; panics with `what` after `within`. There
/// is no signal for "the server has noticed a client left", so this polls.
async fn eventually<F: Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + within;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The runtime's live tasks once the server has answered a first request (which starts a
/// task that stays) and that request's own task has ended.
async fn baseline_tasks(server: &Server) -> usize {
    server.assert_healthy().await;
    // Nothing signals that the server has finished with a closed connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    live_tasks()
}

/// Waits until the runtime has no more live tasks than `baseline`.
async fn tasks_back_to(baseline: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while live_tasks() > baseline {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} live tasks after {within:?}, not {baseline}: a gone client's task is still running",
            live_tasks()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A concrete URI for a route's path: every `{parameter}` becomes `x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn ce(id: &str, data: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": "order.created", "data": {"pad": data}})
}

/// The series of live clients of `stream` over server-sent events.
fn live_series(stream: &str) -> String {
    format!("eddy_live_clients{{stream=\"{stream}\",transport=\"sse\"}}")
}

/// A live request for `stream` (`query` such as `?from=0`, or empty for new events only).
fn live_request(stream: &str, query: &str) -> String {
    format!("GET /api/v1/streams/{stream}/events/live{query} HTTP/1.1\r\nhost: t\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_a_413_problem_on_every_route_that_takes_a_body() {
    const LIMIT: usize = 4096;
    let server = Server::start(ApiConfig {
        max_body_bytes: LIMIT,
        ..ApiConfig::default()
    })
    .await;
    // Every POST and PUT takes a body except resume, which takes none.
    let routes: Vec<_> = endpoints()
        .into_iter()
        .filter(|e| matches!(e.method, Method::POST | Method::PUT))
        .filter(|e| !e.path.ends_with("/resume"))
        .collect();
    assert!(routes.len() >= 7, "the route table lost its body routes");
    for endpoint in &routes {
        let uri = concrete(endpoint.path);
        let head = format!(
            "{} {uri} HTTP/1.1\r\nhost: t\r\ncontent-type: application/cloudevents+json\r\n",
            endpoint.method
        );
        // A declared length over the limit is refused before the body is sent.
        let mut conn = server.connect().await;
        conn.write(format!("{head}content-length: {}\r\n\r\n", 16 * LIMIT).as_bytes())
            .await
            .unwrap();
        let answer = conn.answer(false).await.unwrap();
        assert_eq!(answer.status, 413, "{} {uri}: {answer:?}", endpoint.method);
        assert!(
            answer.is_problem(false),
            "{} {uri}: {answer:?}",
            endpoint.method
        );
        // A chunked body has no length up front: it is refused once it grows past the limit.
        let mut conn = server.connect().await;
        conn.write(format!("{head}transfer-encoding: chunked\r\n\r\n").as_bytes())
            .await
            .unwrap();
        for _ in 0..3 {
            let chunk = format!("800\r\n{}\r\n", "x".repeat(0x800));
            conn.write(chunk.as_bytes()).await.unwrap();
        }
        let answer = conn.answer(false).await.unwrap();
        assert_eq!(
            answer.status, 413,
            "chunked {} {uri}: {answer:?}",
            endpoint.method
        );
        assert!(
            answer.is_problem(false),
            "chunked {} {uri}: {answer:?}",
            endpoint.method
        );
    }
    for stream in ["x", "events"] {
        assert!(
            server.store.stream(stream).await.unwrap().is_none(),
            "{stream} was written"
        );
    }
    server.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_get_a_4xx_and_the_server_carries_on() {
    let server = Server::start(ApiConfig::default()).await;
    let get = "GET /api/v1/streams HTTP/1.1\r\nhost: t\r\nconnection: close\r\n";
    let many: String = (0..1000).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let binary = "POST /api/v1/streams/big/events HTTP/1.1\r\nhost: t\r\nconnection: close\r\nce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\ncontent-length: 0\r\n";
    let big = |n: usize| "a".repeat(n);
    // (what, request, whether the API answers it — a 431 problem — rather than hyper, whose
    // own refusals of an unparseable head are a bare status line).
    let cases = [
        (
            "one 100 KB header",
            format!("{get}x-big: {}\r\n\r\n", big(100 * 1024)),
            true,
        ),
        (
            "a 100 KB binary-mode attribute",
            format!("{binary}ce-subject: {}\r\n\r\n", big(100 * 1024)),
            true,
        ),
        ("1,000 headers", format!("{get}{many}\r\n"), false),
        (
            "a 1 MB header",
            format!("{get}x-big: {}\r\n\r\n", big(1024 * 1024)),
            false,
        ),
        (
            "a 100 KB path",
            format!("GET /{} HTTP/1.1\r\nhost: t\r\n\r\n", big(100 * 1024)),
            false,
        ),
    ];
    for (what, request, ours) in cases {
        let conn = server.connect().await;
        // Written beside the read: the server may answer before it has read everything.
        let (mut read, mut write) = conn.stream.into_split();
        let writer = tokio::spawn(async move {
            let _ = write.write_all(request.as_bytes()).await;
            write
        });
        let mut head = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            use tokio::io::AsyncReadExt;
            let mut chunk = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match read.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 10 s"));
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: no status, got {head:?}"));
        if ours {
            assert_eq!(status, 431, "{what}: {head:?}");
            assert!(
                head.contains("content-type: application/problem+json"),
                "{what}: {head:?}"
            );
        } else {
            assert!([400, 414, 431].contains(&status), "{what}: {head:?}");
        }
        drop(writer.await.unwrap());
        server.assert_healthy().await;
    }
    assert!(server.store.stream("big").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_cut_off_mid_body_stores_nothing_and_its_connection_is_freed() {
    let server = Server::start(ApiConfig::default()).await;
    let baseline = baseline_tasks(&server).await;
    let body = ce("cut", &"p".repeat(2000)).to_string();
    let half = &body[..body.len() / 2];
    let head = "POST /api/v1/streams/cut/events HTTP/1.1\r\nhost: t\r\ncontent-type: application/cloudevents+json\r\n";
    let sized = format!("{head}content-length: {}\r\n\r\n", body.len());
    let chunked = format!(
        "{head}transfer-encoding: chunked\r\n\r\n{:x}\r\n",
        body.len()
    );
    for _ in 0..20 {
        // Headers only, then gone.
        let mut conn = server.connect().await;
        conn.write(sized.as_bytes()).await.unwrap();
        drop(conn);
        // Half the declared body, then gone.
        let mut conn = server.connect().await;
        conn.write(format!("{sized}{half}").as_bytes())
            .await
            .unwrap();
        drop(conn);
        // Half of a chunk, then gone.
        let mut conn = server.connect().await;
        conn.write(format!("{chunked}{half}").as_bytes())
            .await
            .unwrap();
        drop(conn);
    }
    // Half a body, then the client says it has no more: a 400 problem, not a wait.
    let mut conn = server.connect().await;
    conn.write(format!("{sized}{half}").as_bytes())
        .await
        .unwrap();
    conn.stream.shutdown().await.unwrap();
    let answer = conn.answer(false).await.unwrap();
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.is_problem(false), "{answer:?}");
    drop(conn);

    tasks_back_to(baseline, Duration::from_secs(10)).await;
    assert!(
        server.store.stream("cut").await.unwrap().is_none(),
        "a cut publish stored something"
    );
    // The whole request, on the same server, is stored once.
    let answer = server
        .post(
            "/api/v1/streams/cut/events",
            "application/cloudevents+json",
            body.as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let page = server.get("/api/v1/streams/cut/events").await.json();
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_gone_mid_response_leave_the_live_count_and_free_their_tasks() {
    let server = Server::start(ApiConfig::default()).await;
    let batch: Vec<Value> = (0..500)
        .map(|i| ce(&i.to_string(), &"p".repeat(2000)))
        .collect();
    let answer = server
        .post(
            "/api/v1/streams/gone/events",
            "application/cloudevents-batch+json",
            Value::from(batch).to_string().as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 201);
    let baseline = baseline_tasks(&server).await;

    // Live clients that go away after the head, and after some events.
    let mut clients = Vec::new();
    for i in 0..10 {
        let mut conn = server.connect().await;
        let from = if i % 2 == 0 { "" } else { "?from=0" };
        conn.write(live_request("gone", from).as_bytes())
            .await
            .unwrap();
        let answer = conn.answer(false).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        clients.push(conn);
    }
    assert_eq!(server.metric(&live_series("gone")).await, 10.0);
    drop(clients);
    // Pages of 1,000 events (about 2 MB) whose readers go away after the head.
    for _ in 0..10 {
        let mut conn = server.connect().await;
        conn.write(b"GET /api/v1/streams/gone/events?limit=1000 HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        conn.head().await.unwrap();
    }
    let answer = server
        .post(
            "/api/v1/streams/gone/events",
            "application/cloudevents+json",
            ce("after", "").to_string().as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    eventually(Duration::from_secs(10), "no live clients left", || async {
        server.metric(&live_series("gone")).await == 0.0
    })
    .await;
    tasks_back_to(baseline, Duration::from_secs(10)).await;
    server.assert_healthy().await;
}

/// A server whose peers may stall for `stall` (live clients with a 16-event buffer).
async fn server_with_stall_timeout(stall: Duration) -> Server {
    Server::start(ApiConfig {
        live: LiveLimits {
            buffer: 16,
            stall_timeout: stall,
        },
        ..ApiConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_clients_that_never_read_are_cut_off_and_a_reader_gets_every_event() {
    let stall = Duration::from_secs(1);
    let server = server_with_stall_timeout(stall).await;
    let baseline = baseline_tasks(&server).await;
    // Twenty clients with small receive buffers ask for the stream, ten over server-sent
    // events and ten over WebSocket, and never read a byte.
    let websocket = "GET /api/v1/streams/slow/ws HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let mut slow = Vec::new();
    for i in 0..20 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut conn = Conn::new(socket.connect(server.address).await.unwrap());
        let request = if i % 2 == 0 {
            live_request("slow", "")
        } else {
            websocket.to_string()
        };
        conn.write(request.as_bytes()).await.unwrap();
        slow.push(conn);
    }
    let ws_series = "eddy_live_clients{stream=\"slow\",transport=\"ws\"}";
    let mut reader = server.connect().await;
    reader
        .write(live_request("slow", "").as_bytes())
        .await
        .unwrap();
    assert_eq!(reader.answer(false).await.unwrap().status, 200);
    eventually(Duration::from_secs(10), "21 live clients", || async {
        server.metric(&live_series("slow")).await == 11.0 && server.metric(ws_series).await == 10.0
    })
    .await;
    // More than a client's connection holds (the server's socket buffer, at most the kernel's
    // tcp_wmem maximum, and hyper's, about 400 KB) and its live buffer: 8 KB events.
    let pad = "p".repeat(8000);
    let events = (send_buffer_max() + 4 * 1024 * 1024) / 8000 / 25 * 25;
    let reading = tokio::spawn(async move {
        let ids = reader.sse_event_ids(events).await;
        (ids, reader)
    });

    let mut sent = Vec::new();
    for batch in 0..events / 25 {
        let events: Vec<Value> = (0..25).map(|i| ce(&format!("{batch}-{i}"), &pad)).collect();
        sent.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_string()));
        let body = Value::from(events).to_string();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            server.post(
                "/api/v1/streams/slow/events",
                "application/cloudevents-batch+json",
                body.as_bytes(),
            ),
        )
        .await
        .expect("publishing is not held up by slow clients");
        assert_eq!(answer.status, 201, "{answer:?}");
    }
    let (got, reader) = tokio::time::timeout(Duration::from_secs(20), reading)
        .await
        .expect("the reader gets every event")
        .unwrap();
    assert_eq!(got, sent, "the reader got every event, in order, once");

    // The slow clients are cut off: out of the live count, their connections closed by the
    // server, their tasks gone, though they never read and never hung up.
    eventually(
        Duration::from_secs(10),
        "only the reader is live",
        || async {
            let (sse, ws) = (
                server.metric(&live_series("slow")).await,
                server.metric(ws_series).await,
            );
            sse == 1.0 && ws == 0.0
        },
    )
    .await;
    drop(reader);
    tasks_back_to(baseline, stall * 10).await;
    for (i, mut conn) in slow.into_iter().enumerate() {
        let got = conn.until_closed(Duration::from_secs(10)).await.unwrap();
        let status: &[u8] = if i % 2 == 0 {
            b"HTTP/1.1 200"
        } else {
            b"HTTP/1.1 101"
        };
        let start = String::from_utf8_lossy(&got[..got.len().min(200)]).into_owned();
        assert!(got.starts_with(status), "{start:?}");
    }
    server.assert_healthy().await;
}

/// The most a TCP socket's send buffer grows to (Linux's `tcp_wmem` maximum; 4 MiB if unknown).
fn send_buffer_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 * 1024 * 1024)
}

/// Raises this process's open-file limit to `want` if it is lower: the test holds both ends of
/// every connection, so 1,000 connections need over 2,000 descriptors.
fn ensure_open_files(want: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|current| current >= want) {
        return;
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        hard >= want,
        "RLIMIT_NOFILE's hard limit {hard} is below the {want} this test needs (`ulimit -Hn`)"
    );
    limit.current = Some(want);
    setrlimit(Resource::Nofile, limit).expect("RLIMIT_NOFILE can be raised to the hard limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_open_connections_leave_the_server_answering_others() {
    const CONNECTIONS: usize = 1000;
    ensure_open_files(4096);
    let server = Server::start(ApiConfig::default()).await;
    let baseline = baseline_tasks(&server).await;
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        conns.push(server.connect().await);
    }
    // A request on every one, all written before any answer is read.
    for conn in &mut conns {
        conn.write(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
    }
    for conn in &mut conns {
        assert_eq!(conn.answer(false).await.unwrap().status, 200);
    }
    // Half of them then start a publish and never finish it.
    for conn in conns.iter_mut().step_by(2) {
        conn.write(b"POST /api/v1/streams/held/events HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
            .await
            .unwrap();
    }
    // Everyone else is still answered, promptly.
    let started = tokio::time::Instant::now();
    let answer = server
        .post(
            "/api/v1/streams/other/events",
            "application/cloudevents+json",
            ce("1", "").to_string().as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let page = server.get("/api/v1/streams/other/events").await.json();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    server.assert_healthy().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "other clients waited {:?}",
        started.elapsed()
    );
    drop(conns);
    tasks_back_to(baseline, Duration::from_secs(15)).await;
    assert!(server.store.stream("held").await.unwrap().is_none());
    server.assert_healthy().await;
}

/// Slowloris: clients that trickle their request headers a byte at a time, or stop half-way,
/// are cut off once their headers have taken longer than the stall timeout — before any
/// handler runs — and their tasks end; other clients are answered all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_their_headers_are_cut_off_after_the_stall_timeout() {
    let stall = Duration::from_secs(1);
    let server = server_with_stall_timeout(stall).await;
    let baseline = baseline_tasks(&server).await;
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut conn = server.connect().await;
        conn.write(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: ")
            .await
            .unwrap();
        stalled.push((i % 2 == 0, conn));
    }
    // Half of them keep sending a byte every 200 ms, which a per-read timeout would not catch.
    let started = tokio::time::Instant::now();
    while started.elapsed() < stall * 2 {
        for (trickles, conn) in stalled.iter_mut() {
            if *trickles {
                let _ = conn.write(b"a").await;
            }
        }
        server.assert_healthy().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (_, conn) in stalled.iter_mut() {
        conn.until_closed(stall * 5)
            .await
            .expect("the server closes a connection whose headers never end");
    }
    drop(stalled);
    tasks_back_to(baseline, Duration::from_secs(5)).await;
    server.assert_healthy().await;
}
