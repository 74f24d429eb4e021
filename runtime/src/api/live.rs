//! Following a stream live: `GET /api/v1/streams/{stream}/events/live` as server-sent events
//! and `GET /api/v1/streams/{stream}/ws` as WebSocket.
//!
//! Each client has a task that catches up from the store after the client's position, then
//! takes the stream's shared feed ([`super::live_feed`]: one store reader per stream, each
//! event serialised once), into a bounded buffer. A client that stops taking events leaves
//! the buffer full; after [`LiveLimits::stall_timeout`] it is sent a final `end` message and
//! disconnected; a client that reads nothing at all cannot take that message either, and its
//! connection is closed once writes to it have made no progress for as long
//! (`write_timeout`). So a slow client holds at most one buffer of memory, and never slows the
//! store, the feed or another client. Each SSE event's `id` is its position, so a reconnect
//! with `Last-Event-ID` (browsers send it by themselves) resumes right after it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::SinkExt;
use tokio::sync::{broadcast, mpsc, watch};

use super::live_feed::{LiveEvent, POLL_BATCH};
use super::{ApiError, AppState};
use crate::event::{Position, TypePattern};
use crate::store::{Direction, EventStore, Read};

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

    pub(super) fn subscribe(&self) -> watch::Receiver<bool> {
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
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct End {
    /// `slow-client`, `shutdown` or `store-unavailable`.
    pub reason: &'static str,
    /// What to do about it.
    pub detail: String,
}

struct Follow {
    events: mpsc::Receiver<Arc<LiveEvent>>,
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
    let feed = state.feeds.join(stream).await?;
    let (tx, events) = mpsc::channel(state.live.buffer.max(1));
    let end = Arc::new(Mutex::new(None));
    let client = Client {
        store: state.store.clone(),
        stream: stream.to_string(),
        pattern,
        tx,
        limits: state.live,
        closing: state.closing.subscribe(),
    };
    let ended = end.clone();
    tokio::spawn(async move {
        if let Err(stop) = client.follow(after, feed).await {
            *ended.lock().unwrap_or_else(|e| e.into_inner()) = stop.end(&client.limits);
        }
    });
    let gauge = crate::metrics::live_clients(stream, transport);
    gauge.add(1);
    Ok(Follow {
        events,
        end,
        _client: ClientGauge(gauge),
    })
}

/// Why a client's task stopped sending.
enum Stop {
    /// The client went away.
    Gone,
    /// The server is stopping.
    Shutdown,
    /// The client left its buffer full for too long.
    Slow,
}

impl Stop {
    /// The final message the client gets, if it is still there to get one.
    fn end(&self, limits: &LiveLimits) -> Option<End> {
        match self {
            Stop::Gone => None,
            Stop::Shutdown => Some(End {
                reason: "shutdown",
                detail: "the server is stopping; reconnect with Last-Event-ID to resume".into(),
            }),
            Stop::Slow => Some(End {
                reason: "slow-client",
                detail: format!(
                    "the client took no event for {:?} with {} waiting; reconnect with Last-Event-ID to resume",
                    limits.stall_timeout, limits.buffer
                ),
            }),
        }
    }
}

/// One live client's task: what it follows and where it sends.
struct Client {
    store: Arc<dyn EventStore>,
    stream: String,
    pattern: Option<TypePattern>,
    tx: mpsc::Sender<Arc<LiveEvent>>,
    limits: LiveLimits,
    closing: watch::Receiver<bool>,
}

impl Client {
    /// Sends the stream's events after `after` until the client goes, stalls or the server
    /// closes: catching up from the store, then from the feed — and from the store again
    /// whenever it falls too far behind the feed (see [`super::live_feed`] for why this
    /// leaves no gap and no duplicate).
    async fn follow(
        &self,
        mut after: Option<Position>,
        mut feed: broadcast::Receiver<Arc<LiveEvent>>,
    ) -> Result<(), Stop> {
        let mut closing = self.closing.clone();
        loop {
            after = self.catch_up(after).await?;
            let mut taken = 0u32;
            loop {
                // Take what the feed holds already without a select; wait only when it is empty.
                // Yield now and then, since taking without waiting never gives way to other tasks.
                taken = taken.wrapping_add(1);
                if taken.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
                let received = match feed.try_recv() {
                    Ok(event) => Ok(event),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Err(broadcast::error::RecvError::Lagged(n))
                    }
                    Err(broadcast::error::TryRecvError::Closed) => {
                        Err(broadcast::error::RecvError::Closed)
                    }
                    Err(broadcast::error::TryRecvError::Empty) => tokio::select! {
                        received = feed.recv() => received,
                        _ = closing.changed() => return Err(Stop::Shutdown),
                        () = self.tx.closed() => return Err(Stop::Gone),
                    },
                };
                match received {
                    Ok(event) => {
                        if after.is_some_and(|last| event.position <= last) {
                            continue;
                        }
                        after = Some(event.position);
                        self.send(event).await?;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        feed = feed.resubscribe();
                        break;
                    }
                    // The feed ends only when the server closes.
                    Err(broadcast::error::RecvError::Closed) => return Err(Stop::Shutdown),
                }
            }
        }
    }

    /// Sends the store's events after `after` until the store has no more; returns the last
    /// position read.
    async fn catch_up(&self, mut after: Option<Position>) -> Result<Option<Position>, Stop> {
        let mut retry = Duration::from_millis(20);
        loop {
            if *self.closing.borrow() {
                return Err(Stop::Shutdown);
            }
            let read = Read {
                from: after,
                direction: Direction::Forward,
                limit: POLL_BATCH,
                subject: None,
            };
            let page = match self.store.read(&self.stream, read).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, stream = %self.stream, "live stream: reading the store failed; retrying");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let full = page.len() == POLL_BATCH;
            for stored in page {
                after = Some(stored.position);
                if self.wants(&stored.event.ty) {
                    self.send(Arc::new(LiveEvent::new(stored))).await?;
                }
            }
            if !full {
                return Ok(after);
            }
        }
    }

    fn wants(&self, ty: &str) -> bool {
        self.pattern.as_ref().is_none_or(|p| p.matches(ty))
    }

    /// Hands `event` to the client's buffer (if it wants the type), waiting at most the stall
    /// timeout for room.
    async fn send(&self, event: Arc<LiveEvent>) -> Result<(), Stop> {
        if !self.wants(&event.ty) {
            return Ok(());
        }
        // The usual case, with room in the buffer, needs no timer and no select: they cost
        // more than the rest of sending when a hundred clients take every event.
        match self.tx.try_reserve() {
            Ok(permit) => {
                permit.send(event);
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(())) => return Err(Stop::Gone),
            Err(mpsc::error::TrySendError::Full(())) => {}
        }
        let mut closing = self.closing.clone();
        let permit = tokio::select! {
            permit = tokio::time::timeout(self.limits.stall_timeout, self.tx.reserve()) => permit,
            _ = closing.changed() => return Err(Stop::Shutdown),
        };
        match permit {
            Ok(Ok(permit)) => {
                permit.send(event);
                Ok(())
            }
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Slow),
        }
    }
}

/// Events written to a connection at once: whatever is waiting, up to this many, goes out in
/// one write instead of one per event.
const WRITE_BATCH: usize = 256;
/// A comment line sent on a quiet stream, so that proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/v1/streams/{stream}/events/live?from=&type=`: server-sent events, one `message`
/// per event (`id` = position, `data` = `{"position", "event"}`), then a final `end` event
/// if the server ends the stream.
///
/// The body is written by hand rather than with axum's `Sse`: each event's frame is formatted
/// once by the feed and shared by every client, and the events waiting for a client go out in
/// one chunk (one write), which is what lets a hundred clients follow a busy stream.
pub async fn sse(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let follow = start(&state, &stream, &headers, query, "sse").await?;
    let chunks = futures_util::stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        let first = match tokio::time::timeout(KEEP_ALIVE, follow.events.recv()).await {
            Err(_) => {
                return Some((
                    Ok::<_, Infallible>(Bytes::from_static(b":\n\n")),
                    Some(follow),
                ));
            }
            Ok(first) => first,
        };
        match first {
            Some(first) => {
                let mut chunk = BytesMut::from(&first.sse[..]);
                for _ in 1..WRITE_BATCH {
                    match follow.events.try_recv() {
                        Ok(event) => chunk.extend_from_slice(&event.sse),
                        Err(_) => break,
                    }
                }
                Some((Ok(chunk.freeze()), Some(follow)))
            }
            None => {
                let end = follow
                    .end
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()?;
                let json = serde_json::to_string(&end).expect("serialises");
                Some((
                    Ok(Bytes::from(format!("event: end\ndata: {json}\n\n"))),
                    None,
                ))
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(chunks),
    )
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
                Some(event) => {
                    // Queue whatever else is waiting, then write it all at once.
                    let mut sent = socket.feed(Message::Text(event.json.clone())).await;
                    for _ in 1..WRITE_BATCH {
                        let Ok(event) = follow.events.try_recv() else { break };
                        if sent.is_err() {
                            break;
                        }
                        sent = socket.feed(Message::Text(event.json.clone())).await;
                    }
                    if sent.is_err() || socket.flush().await.is_err() {
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
