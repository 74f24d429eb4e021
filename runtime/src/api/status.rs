//! The processing status of one event in the subscriptions that read its stream:
//! `GET /api/v1/streams/{stream}/events/{id}/status`.
//!
//! Derived from what the store keeps (checkpoints, consumer-group pending entries, dead
//! letters) and what this process's workers are doing; see
//! [`crate::subscription::ProcessingStatus`].

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};

use super::{ApiError, AppState};
use crate::event::Position;
use crate::subscription::EventStatuses;

/// The query: `source` picks among events sharing an id; `subscription` (`a,b`) limits the
/// answer to those subscriptions.
#[derive(Debug, serde::Deserialize)]
pub struct StatusQuery {
    source: Option<String>,
    subscription: Option<String>,
}

/// An event's processing status per subscription.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct EventStatus {
    /// The stream.
    pub stream: String,
    /// The event's id.
    pub id: String,
    /// Its position in the stream.
    pub position: Position,
    /// Its status in each subscription reading the stream (or each one asked for), by name.
    pub subscriptions: EventStatuses,
}

/// `GET /api/v1/streams/{stream}/events/{id}/status`
pub async fn get(
    State(state): State<AppState>,
    Path((stream, id)): Path<(String, String)>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<EventStatus>, ApiError> {
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    let Some(stored) = state
        .store
        .get(&stream, &id, query.source.as_deref())
        .await?
    else {
        return Err(ApiError::not_found(format!(
            "no event with id `{id}` in stream `{stream}`"
        )));
    };
    let names: Option<Vec<String>> = query.subscription.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    });
    let subscriptions = state
        .subscriptions
        .event_statuses(&stream, &stored, names.as_deref())
        .await?;
    Ok(Json(EventStatus {
        stream,
        id,
        position: stored.position,
        subscriptions,
    }))
}
