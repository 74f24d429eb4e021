//! The streams resource: list streams, inspect one, delete one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{ApiError, AppState};
use crate::store::StreamInfo;

/// The answer to a listing.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct StreamList {
    /// Every stream, by name.
    pub streams: Vec<StreamInfo>,
}

/// `GET /api/v1/streams`
pub async fn list(State(state): State<AppState>) -> Result<Json<StreamList>, ApiError> {
    Ok(Json(StreamList {
        streams: state.store.streams().await?,
    }))
}

/// `GET /api/v1/streams/{stream}`
pub async fn info(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<Json<StreamInfo>, ApiError> {
    state
        .store
        .stream(&stream)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no stream `{stream}`")))
}

/// `DELETE /api/v1/streams/{stream}`: 204 when deleted, 404 when there was none.
pub async fn delete(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_stream(&stream).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no stream `{stream}`")))
    }
}
