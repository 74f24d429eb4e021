//! Following a stream live: `GET /api/v1/streams/{stream}/events/live` as server-sent events
//! and `GET /api/v1/streams/{stream}/ws` as WebSocket.
//!
//! Each client has its own poller task reading the store after the client's position (with
//! backoff while the stream is quiet) into a bounded buffer. A client that stops taking
//! events leaves the buffer full; after [`LiveLimits::stall_timeout`] it is sent a final
//! `end` message and disconnected. So a slow client holds at most one buffer of memory, and
//! never slows the store or another client. Each SSE event's `id` is its position, so a
//! reconnect with `Last-Event-ID` (browsers send it by themselves) resumes right after it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, watch};

use super::events::EventAt;
use super::{ApiError, AppState};
use crate::event::{Position, TypePattern};
use crate::store::{Direction, EventStore, Read, StoredEvent};

/// Events read from the store per poll.
const POLL_BATCH: usize = 256;
/// The quickest and slowest re-poll of a quiet stream.
const POLL_BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_millis(500));

/// Bounds on one live client.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// Events buffered for a client that has not taken them yet.
    pub buffer: usize,
    /// How long a client may leave its buffer full before it is disconnected.
    pub stall_timeout: Duration,
}

impl Default for LiveLimits {
    fn default() -> Self {
        Self {
            buffer: 1024,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Tells every live client that the server is stopping, so that graceful shutdown is not
/// held up by connections that never end on their own.
#[derive(Debug, Clone)]
pub struct Closing(Arc<watch::Sender<bool>>);

impl Default for Closing {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Closing {
    /// Ends every live stream with a final `end` message.
    pub fn close(&self) {
        self.0.send_replace(true);
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// The query of a live request.
#[derive(Debug, serde::Deserialize)]
pub struct LiveQuery {
    /// Start after this position (`0` for the whole stream); default: only new events.
    from: Option<String>,
    /// Only events whose type matches this pattern (such as `order.*`).
    #[serde(rename = "type")]
    ty: Option<String>,
}

/// Why a live stream ended, as its final message says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct End {
    /// `slow-client`, `shutdown` or `store-unavailable`.
    pub reason: &'static str,
    /// What to do about it.
    pub detail: String,
}

enum Item {
    Event(StoredEvent),
}

struct Follow {
    events: mpsc::Receiver<Item>,
    end: Arc<Mutex<Option<End>>>,
    _client: ClientGauge,
}

/// Counts the client in `eddy_live_clients` while it is connected.
struct ClientGauge(crate::metrics::Gauge);

impl Drop for ClientGauge {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

async fn start(
    state: &AppState,
    stream: &str,
    headers: &HeaderMap,
    query: Result<Query<LiveQuery>, QueryRejection>,
    transport: &str,
) -> Result<Follow, ApiError> {
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let resume = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<Position>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be a position such as 1732450000000-0",
                    )
                })
        })
        .transpose()?;
    let from = query
        .from
        .filter(|f| !f.is_empty())
        .map(|f| f.parse::<Position>())
        .transpose()
        .map_err(|e| {
            ApiError::bad_request(format!("`from`: {e} (use `0` for the whole stream)"))
        })?;
    let after = match resume.or(from) {
        Some(position) => Some(position),
        None => state.store.stream(stream).await?.and_then(|info| info.last),
    };
    let pattern = query.ty.filter(|t| !t.is_empty()).map(TypePattern::new);
    let (tx, events) = mpsc::channel(state.live.buffer.max(1));
    let end = Arc::new(Mutex::new(None));
    tokio::spawn(poll(
        state.store.clone(),
        stream.to_string(),
        after,
        pattern,
        tx,
        state.live,
        state.closing.subscribe(),
        end.clone(),
    ));
    let gauge = crate::metrics::live_clients(stream, transport);
    gauge.add(1);
    Ok(Follow {
        events,
        end,
        _client: ClientGauge(gauge),
    })
}

/// Reads the store after `after` into `tx` until the client goes away (the receiver is
/// dropped), stalls, or the server closes. Ends with `end` set when the client should be
/// told why.
#[allow(clippy::too_many_arguments)]
async fn poll(
    store: Arc<dyn EventStore>,
    stream: String,
    mut after: Option<Position>,
    pattern: Option<TypePattern>,
    tx: mpsc::Sender<Item>,
    limits: LiveLimits,
    mut closing: watch::Receiver<bool>,
    end: Arc<Mutex<Option<End>>>,
) {
    let finish = |reason: &'static str, detail: String| {
        *end.lock().unwrap_or_else(|e| e.into_inner()) = Some(End { reason, detail });
    };
    let shutdown = || {
        finish(
            "shutdown",
            "the server is stopping; reconnect with Last-Event-ID to resume".into(),
        )
    };
    let mut backoff = POLL_BACKOFF.0;
    loop {
        if *closing.borrow() {
            return shutdown();
        }
        let read = Read {
            from: after,
            direction: Direction::Forward,
            limit: POLL_BATCH,
            subject: None,
        };
        let page = match store.read(&stream, read).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, %stream, "live stream: reading the store failed; retrying");
                Vec::new()
            }
        };
        let full = page.len() == POLL_BATCH;
        for stored in page {
            after = Some(stored.position);
            if pattern
                .as_ref()
                .is_some_and(|p| !p.matches(&stored.event.ty))
            {
                continue;
            }
            let permit = tokio::select! {
                permit = tokio::time::timeout(limits.stall_timeout, tx.reserve()) => permit,
                // An error means the router is gone: the server is stopping too.
                _ = closing.changed() => return shutdown(),
            };
            match permit {
                Ok(Ok(permit)) => permit.send(Item::Event(stored)),
                // The client is gone.
                Ok(Err(_)) => return,
                Err(_) => {
                    return finish(
                        "slow-client",
                        format!(
                            "the client took no event for {:?} with {} waiting; reconnect with Last-Event-ID to resume",
                            limits.stall_timeout, limits.buffer
                        ),
                    );
                }
            }
        }
        if full {
            backoff = POLL_BACKOFF.0;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = tx.closed() => return,
            _ = closing.changed() => return shutdown(),
        }
        backoff = (backoff * 2).min(POLL_BACKOFF.1);
    }
}

fn event_json(stored: StoredEvent) -> (String, String) {
    let position = stored.position.to_string();
    let body = EventAt {
        position: stored.position,
        event: stored.event,
    };
    let json = serde_json::to_string(&body).expect("an event serialises");
    (position, json)
}

/// `GET /api/v1/streams/{stream}/events/live?from=&type=`: server-sent events, one `message`
/// per event (`id` = position, `data` = `{"position", "event"}`), then a final `end` event
/// if the server ends the stream.
pub async fn sse(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let follow = start(&state, &stream, &headers, query, "sse").await?;
    let events = futures_util::stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        match follow.events.recv().await {
            Some(Item::Event(stored)) => {
                let (id, json) = event_json(stored);
                Some((
                    Ok::<_, Infallible>(Event::default().id(id).data(json)),
                    Some(follow),
                ))
            }
            None => {
                let end = follow
                    .end
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()?;
                let json = serde_json::to_string(&end).expect("serialises");
                Some((Ok(Event::default().event("end").data(json)), None))
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `GET /api/v1/streams/{stream}/ws?from=&type=`: the same over WebSocket; each event is a
/// text message `{"position", "event"}`, and a final `{"end": {"reason", "detail"}}` precedes
/// the close when the server ends the stream. Resume with `from=<last position seen>`.
pub async fn ws(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, QueryRejection>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let follow = start(&state, &stream, &headers, query, "ws").await?;
    Ok(upgrade.on_upgrade(move |socket| forward(socket, follow)))
}

async fn forward(mut socket: WebSocket, mut follow: Follow) {
    loop {
        tokio::select! {
            item = follow.events.recv() => match item {
                Some(Item::Event(stored)) => {
                    let (_, json) = event_json(stored);
                    if socket.send(Message::Text(json.into())).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by axum; anything else from the client is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let end = follow.end.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(end) = end {
        let json = serde_json::json!({ "end": end }).to_string();
        let _ = socket.send(Message::Text(json.into())).await;
    }
    let _ = socket.send(Message::Close(None)).await;
}
