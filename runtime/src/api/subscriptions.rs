//! `/api/v1/subscriptions`: run, inspect and stop subscriptions; their dead letters.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::event::Position;
use crate::subscription::dead_letter::DeadLetter;
use crate::subscription::{ShadowReport, SubscriptionInfo, SubscriptionSpec, shadow_name};

/// The list of running subscriptions.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct SubscriptionList {
    /// Every running subscription.
    pub subscriptions: Vec<SubscriptionInfo>,
}

/// `GET /api/v1/subscriptions`
pub async fn list(State(state): State<AppState>) -> Json<SubscriptionList> {
    Json(SubscriptionList {
        subscriptions: state.subscriptions.list().await,
    })
}

/// `GET /api/v1/subscriptions/{name}`: status, plugin hash, checkpoints, lag, counts,
/// consumers.
pub async fn info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SubscriptionInfo>, ApiError> {
    Ok(Json(state.subscriptions.info(&name).await?))
}

/// `POST /api/v1/subscriptions/{name}/resume`: starts a quarantined subscription again (with
/// the plugin's current version), from its checkpoints; 409 if it is not quarantined.
pub async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SubscriptionInfo>, ApiError> {
    state.subscriptions.resume(&name).await?;
    Ok(Json(state.subscriptions.info(&name).await?))
}

/// `POST /api/v1/subscriptions`: the same fields as a `[[subscription]]` of the config file.
pub async fn create(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SubscriptionInfo>), ApiError> {
    let spec: SubscriptionSpec = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a subscription: {e}")))?;
    let name = spec.name.clone();
    state.subscriptions.start(spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(state.subscriptions.info(&name).await?),
    ))
}

/// `DELETE /api/v1/subscriptions/{name}`: stops it; its checkpoints, states and dead letters
/// stay, so creating it again resumes.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.subscriptions.stop(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging of dead letters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqQuery {
    /// Dead letters after this position of the dead-letter stream.
    from: Option<Position>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// A page of dead letters.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct DeadLetterPage {
    /// Dead letters not redriven successfully, oldest first.
    pub dead_letters: Vec<DeadLetter>,
    /// Pass as `from` for the next page; `null` at the end.
    pub next: Option<Position>,
}

/// `GET /api/v1/subscriptions/{name}/dlq`
pub async fn dead_letters(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<DlqQuery>,
) -> Result<Json<DeadLetterPage>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let dead_letters = state
        .subscriptions
        .dead_letters(&name, query.from, limit)
        .await?;
    let next = (dead_letters.len() == limit)
        .then(|| dead_letters.last().map(|d| d.position))
        .flatten();
    Ok(Json(DeadLetterPage { dead_letters, next }))
}

/// What to redrive: the events with these ids, or (no body, or no `ids`) every dead letter.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Event ids (the original events' `id`).
    ids: Option<Vec<String>>,
}

/// The answer to a redrive.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Redriven {
    /// How many dead letters were sent back to the subscription.
    pub redriven: usize,
}

/// `POST /api/v1/subscriptions/{name}/dlq/redrive`: 202, processing happens in the
/// subscription; a dead letter that fails again stays in the list.
pub async fn redrive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Redriven>), ApiError> {
    let request: RedriveRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RedriveRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("not a redrive request: {e}")))?
    };
    let redriven = state.subscriptions.redrive(&name, request.ids).await?;
    Ok((StatusCode::ACCEPTED, Json(Redriven { redriven })))
}

/// A shadow to start.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// The candidate reducer: a name in the plugins folder or a path.
    plugin: String,
}

/// `POST /api/v1/subscriptions/{name}/shadow`: runs `plugin` beside reducer subscription
/// `name` on the same events, as subscription `<name>.shadow`, from the spec's start.
pub async fn start_shadow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SubscriptionInfo>), ApiError> {
    let request: ShadowRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a shadow request: {e}")))?;
    state
        .subscriptions
        .start_shadow(&name, &request.plugin)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(state.subscriptions.info(&shadow_name(&name)).await?),
    ))
}

/// Paging of a shadow comparison.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowQuery {
    /// Subjects after this one (exclusive).
    after: Option<String>,
    /// At most this many subjects compared (default 100, at most 1000).
    limit: Option<usize>,
}

/// `GET /api/v1/subscriptions/{name}/shadow`: the subjects whose live and shadow states
/// differ, with a diff; `caught_up` says whether the shadow has read as far as the live one.
pub async fn shadow_report(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ShadowQuery>,
) -> Result<Json<ShadowReport>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        state
            .subscriptions
            .shadow_report(&name, query.after.as_deref(), limit)
            .await?,
    ))
}

/// `DELETE /api/v1/subscriptions/{name}/shadow`: stops the shadow for good (its states stay
/// until the next shadow starts).
pub async fn stop_shadow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.subscriptions.stop_shadow(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
