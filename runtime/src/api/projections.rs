//! `/api/v1/projections`: reducer state per subject.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::event::Position;
use crate::plugin::PluginKind;
use crate::subscription::At;

/// One subject's state.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Projection {
    /// With `?at=`: the position of the snapshot the state was recomputed from (`null`: from
    /// the first event). Absent for the live state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_snapshot: Option<Option<Position>>,
    /// With `?at=`: how many events were replayed after the snapshot. Absent for the live state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<u64>,
    /// The state (as JSON when it is JSON, else `{"$base64": …}`).
    pub state: serde_json::Value,
    /// The position of the last event applied.
    pub position: Position,
    /// The stream of that event.
    pub stream: String,
    /// The hash of the reducer that computed it.
    pub plugin: String,
    /// How many events it reflects.
    pub events: u64,
}

/// The point of a time-travel query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// A position (`1767225600000-0`) or an RFC 3339 time; absent: the live state.
    at: Option<String>,
}

/// `GET /api/v1/projections/{subscription}/{subject}[?at=<position|RFC 3339 time>]`; 404 for an
/// unknown subject (or, with `at`, one that had no event applied by then).
pub async fn get(
    State(state): State<AppState>,
    Path((subscription, subject)): Path<(String, String)>,
    Query(query): Query<AtQuery>,
) -> Result<Json<Projection>, ApiError> {
    require_reducer(&state, &subscription).await?;
    if let Some(at) = query.at {
        let at: At = at.parse().map_err(ApiError::bad_request)?;
        let found = state
            .subscriptions
            .state_at(&subscription, &subject, &at)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "subscription `{subscription}` had no state of `{subject}` at that point"
                ))
            })?;
        let saved = found.saved;
        return Ok(Json(Projection {
            from_snapshot: Some(found.from_snapshot),
            replayed: Some(found.replayed),
            state: crate::replay::state_to_json(&saved.state),
            position: saved.position,
            stream: saved.stream,
            plugin: saved.plugin,
            events: saved.events,
        }));
    }
    let saved = state
        .subscriptions
        .projection(&subscription, &subject)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "subscription `{subscription}` has no subject `{subject}`"
            ))
        })?;
    Ok(Json(Projection {
        from_snapshot: None,
        replayed: None,
        state: crate::replay::state_to_json(&saved.state),
        position: saved.position,
        stream: saved.stream,
        plugin: saved.plugin,
        events: saved.events,
    }))
}

/// Paging of subjects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectsQuery {
    /// Subjects after this one (exclusive).
    after: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// A page of subjects.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct SubjectPage {
    /// Subjects in ascending order.
    pub subjects: Vec<String>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next: Option<String>,
}

/// `GET /api/v1/projections/{subscription}`
pub async fn subjects(
    State(state): State<AppState>,
    Path(subscription): Path<String>,
    Query(query): Query<SubjectsQuery>,
) -> Result<Json<SubjectPage>, ApiError> {
    require_reducer(&state, &subscription).await?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let subjects = state
        .subscriptions
        .projection_subjects(&subscription, query.after.as_deref(), limit)
        .await?;
    let next = (subjects.len() == limit)
        .then(|| subjects.last().cloned())
        .flatten();
    Ok(Json(SubjectPage { subjects, next }))
}

async fn require_reducer(state: &AppState, subscription: &str) -> Result<(), ApiError> {
    match state.subscriptions.kind(subscription).await? {
        PluginKind::Reducer => Ok(()),
        other => Err(ApiError::bad_request(format!(
            "subscription `{subscription}` runs a {other}; projections belong to reducers"
        ))),
    }
}
