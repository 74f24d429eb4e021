//! The events resource: publish to a stream, read it, get one event.
//!
//! `/api/v1/streams/{stream}/events[/{id}]`, and the original event-store routes
//! `/api/v1/events[/{id}]` as aliases on the default stream.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};

use super::{ApiError, AppState, DEFAULT_STREAM, ingest};
use crate::event::{CloudEvent, Position, TypePattern};
use crate::store::{Append, Appended, Direction, Read, StoredEvent};
use crate::subscription::EventStatuses;
use std::time::Duration;

/// The header carrying the expected version of the events' subject.
pub const EXPECTED_VERSION_HEADER: &str = "eddy-expected-version";
/// The header naming subscriptions a synchronous publish waits for (`sub1,sub2`).
pub const WAIT_FOR_HEADER: &str = "eddy-wait-for";
/// The header bounding that wait, in milliseconds.
pub const WAIT_TIMEOUT_HEADER: &str = "eddy-wait-timeout";
/// How long a synchronous publish waits when `Eddy-Wait-Timeout` is not given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// The longest wait a synchronous publish may ask for (below the default request timeout,
/// so that the answer carries the outcome rather than a 503).
pub const MAX_WAIT: Duration = Duration::from_secs(25);
/// Events per page when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;
/// The largest page.
const MAX_LIMIT: usize = 1_000;
/// The most events one filtered read examines before answering with what it found and a
/// `next` to continue from, so a rare type cannot make one request scan a whole stream.
const MAX_SCAN: usize = 10_000;

/// The answer to a publish.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Published {
    /// One result per event, in the order they were sent.
    pub results: Vec<PublishResult>,
    /// Synchronous publishes only: whether the wait ended before every event was settled in
    /// every subscription waited for (the answer is then 202, with the statuses seen last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<bool>,
}

/// What happened to one published event.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct PublishResult {
    /// Its id, position, and whether it was a duplicate.
    #[serde(flatten)]
    pub appended: Appended,
    /// Synchronous publishes only: its processing status in each subscription waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<EventStatuses>,
}

/// A synchronous publish: the subscriptions to wait for and for how long.
struct WaitFor {
    subscriptions: Vec<String>,
    timeout: Duration,
}

impl WaitFor {
    /// From the `Eddy-Wait-For` and `Eddy-Wait-Timeout` headers; `None` without the first.
    fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let text = |name: &str| -> Result<Option<&str>, ApiError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| ApiError::bad_request(format!("{name} must be ASCII text")))
                })
                .transpose()
        };
        let timeout = match text(WAIT_TIMEOUT_HEADER)? {
            None => None,
            Some(ms) => match ms.trim().parse::<u64>() {
                Ok(ms) if Duration::from_millis(ms) <= MAX_WAIT => Some(Duration::from_millis(ms)),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Eddy-Wait-Timeout must be a number of milliseconds from 0 to {}",
                        MAX_WAIT.as_millis()
                    )));
                }
            },
        };
        let Some(names) = text(WAIT_FOR_HEADER)? else {
            if timeout.is_some() {
                return Err(ApiError::bad_request(
                    "Eddy-Wait-Timeout needs Eddy-Wait-For: the subscriptions to wait for",
                ));
            }
            return Ok(None);
        };
        let subscriptions: Vec<String> = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        if subscriptions.is_empty() {
            return Err(ApiError::bad_request(
                "Eddy-Wait-For must name at least one subscription (`sub1,sub2`)",
            ));
        }
        Ok(Some(Self {
            subscriptions,
            timeout: timeout.unwrap_or(DEFAULT_WAIT),
        }))
    }
}

/// One event with its position.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct EventAt {
    /// Where it is in the stream.
    pub position: Position,
    /// The event in structured mode.
    pub event: CloudEvent,
}

/// A page of events.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct EventPage {
    /// The events, in the direction read.
    pub events: Vec<EventAt>,
    /// Pass as `from` to read on; `null` when the read reached the end of the stream.
    pub next: Option<Position>,
}

/// The query of a read. Everything arrives as text so each bad value gets its own message.
#[derive(Debug, serde::Deserialize)]
pub struct ReadQuery {
    from: Option<String>,
    limit: Option<String>,
    direction: Option<String>,
    subject: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
}

/// The query of a single-event lookup.
#[derive(Debug, serde::Deserialize)]
pub struct GetQuery {
    source: Option<String>,
}

/// `POST /api/v1/streams/{stream}/events`
pub async fn publish(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    publish_to(state, &stream, headers, body).await
}

/// `POST /api/v1/events` (the default stream).
pub async fn publish_default(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    publish_to(state, DEFAULT_STREAM, headers, body).await
}

async fn publish_to(
    state: AppState,
    stream: &str,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(state.max_body_bytes)
        } else {
            ApiError::bad_request(format!(
                "could not read the body: {}",
                rejection.body_text()
            ))
        }
    })?;
    let expected_version = headers
        .get(EXPECTED_VERSION_HEADER)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("Eddy-Expected-Version must be a non-negative integer")
                })
        })
        .transpose()?;
    let wait = WaitFor::from_headers(&headers)?;
    if let Some(wait) = &wait {
        // Refused before anything is stored: a typo must not publish and then fail.
        state
            .subscriptions
            .check_subscribed(stream, &wait.subscriptions)
            .await?;
    }
    let events = ingest::events_from_request(&headers, body)?;
    let types: Vec<String> = events.iter().map(|e| e.ty.clone()).collect();
    let kept = wait.as_ref().map(|_| events.clone());
    let results = state
        .store
        .append(
            stream,
            Append {
                events,
                expected_version,
            },
        )
        .await?;
    state.feeds.wake(stream);
    let mut published = std::collections::BTreeMap::<&str, u64>::new();
    for (ty, result) in types.iter().zip(&results) {
        if !result.duplicate {
            *published.entry(ty).or_default() += 1;
        }
    }
    for (ty, n) in published {
        crate::metrics::events_published(stream, ty, n);
    }
    let (Some(wait), Some(events)) = (wait, kept) else {
        let results = results
            .into_iter()
            .map(|appended| PublishResult {
                appended,
                subscriptions: None,
            })
            .collect();
        let published = Published {
            results,
            timed_out: None,
        };
        return Ok((StatusCode::CREATED, Json(published)));
    };
    // A duplicate waits on the original event, at the position the store answered.
    let stored: Vec<StoredEvent> = events
        .into_iter()
        .zip(&results)
        .map(|(event, appended)| StoredEvent {
            position: appended.position,
            event,
        })
        .collect();
    let (statuses, timed_out) = state
        .subscriptions
        .wait_for(stream, &stored, &wait.subscriptions, wait.timeout)
        .await?;
    let results = results
        .into_iter()
        .zip(statuses)
        .map(|(appended, statuses)| PublishResult {
            appended,
            subscriptions: Some(statuses),
        })
        .collect();
    let status = if timed_out {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    let published = Published {
        results,
        timed_out: Some(timed_out),
    };
    Ok((status, Json(published)))
}

/// `GET /api/v1/streams/{stream}/events`
pub async fn read(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    read_from(state, &stream, query).await
}

/// `GET /api/v1/events` (the default stream).
pub async fn read_default(
    State(state): State<AppState>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    read_from(state, DEFAULT_STREAM, query).await
}

async fn read_from(
    state: AppState,
    stream: &str,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let from = query
        .from
        .filter(|f| !f.is_empty())
        .map(|f| f.parse::<Position>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("`from`: {e}")))?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`limit` must be an integer from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    let direction = match query.direction.as_deref() {
        None | Some("forward") => Direction::Forward,
        Some("backward") => Direction::Backward,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`direction` must be `forward` or `backward`, not `{other}`"
            )));
        }
    };
    let pattern = query.ty.map(TypePattern::new);
    // Unfiltered reads ask for exactly one page; filtered ones read larger pages and keep
    // going until the page is full, the stream ends, or the scan budget is spent.
    let batch = if pattern.is_some() {
        limit.max(DEFAULT_LIMIT)
    } else {
        limit
    };
    let mut events = Vec::new();
    let mut cursor = from;
    let mut scanned = 0;
    let next = loop {
        let read = Read {
            from: cursor,
            direction,
            limit: batch,
            subject: query.subject.clone(),
        };
        let page = state.store.read(stream, read).await?;
        let got = page.len();
        let mut consumed = 0;
        for stored in page {
            consumed += 1;
            cursor = Some(stored.position);
            if pattern.as_ref().is_none_or(|p| p.matches(&stored.event.ty)) {
                events.push(EventAt {
                    position: stored.position,
                    event: stored.event,
                });
                if events.len() == limit {
                    break;
                }
            }
        }
        scanned += consumed;
        if got < batch && consumed == got {
            break None;
        }
        if events.len() == limit || scanned >= MAX_SCAN {
            break cursor;
        }
    };
    Ok(Json(EventPage { events, next }))
}

/// `GET /api/v1/streams/{stream}/events/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path((stream, id)): Path<(String, String)>,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Json<EventAt>, ApiError> {
    get_from(state, &stream, &id, query).await
}

/// `GET /api/v1/events/{id}` (the default stream).
pub async fn get_default(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Json<EventAt>, ApiError> {
    get_from(state, DEFAULT_STREAM, &id, query).await
}

async fn get_from(
    state: AppState,
    stream: &str,
    id: &str,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Json<EventAt>, ApiError> {
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    match state.store.get(stream, id, query.source.as_deref()).await? {
        Some(stored) => Ok(Json(EventAt {
            position: stored.position,
            event: stored.event,
        })),
        None => Err(ApiError::not_found(format!(
            "no event with id `{id}` in stream `{stream}`"
        ))),
    }
}
