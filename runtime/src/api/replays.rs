//! `/api/v1/replays`: run a range of a stream through a handler subscription again, or dry-run
//! a plugin over it, as a job (see `subscription/replay_job.rs` for what a replay does).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

use super::{ApiError, AppState};
use crate::subscription::{ReplayError, ReplayInfo, ReplayRequest};

/// Every job this process remembers.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ReplayList {
    /// Oldest first.
    pub replays: Vec<ReplayInfo>,
}

impl From<ReplayError> for ApiError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Invalid(_) => ApiError::bad_request(error.to_string()),
            ReplayError::Conflict(_) => ApiError::conflict(error.to_string()),
            ReplayError::NotFound(_) => ApiError::not_found(error.to_string()),
            ReplayError::Subscription(error) => error.into(),
            ReplayError::Store(error) => error.into(),
        }
    }
}

/// `POST /api/v1/replays`: `{"stream", "type"?, "from"?, "to"?, "subscription" | "plugin"}`;
/// answers 202 with the job and its `Location`.
pub async fn start(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, HeaderMap, Json<ReplayInfo>), ApiError> {
    let request: ReplayRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a replay request: {e}")))?;
    let info = state.subscriptions.start_replay(request).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/replays/{}", info.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::ACCEPTED, headers, Json(info)))
}

/// `GET /api/v1/replays`
pub async fn list(State(state): State<AppState>) -> Json<ReplayList> {
    Json(ReplayList {
        replays: state.subscriptions.replays(),
    })
}

/// `GET /api/v1/replays/{id}`: status, progress and counts.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ReplayInfo>, ApiError> {
    Ok(Json(state.subscriptions.replay(&id)?))
}

/// `DELETE /api/v1/replays/{id}`: asks the job to stop after its current page; answers 202
/// with the job as it is (its status turns `cancelled` when it has stopped).
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ReplayInfo>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.subscriptions.cancel_replay(&id)?),
    ))
}
