//! The HTTP API (axum): one resource per file.
//!
//! - [`events`] — publish (structured, batch and binary mode) and read events.
//! - [`streams`] — list, inspect and delete streams.
//! - [`ingest`] — the three CloudEvents content modes of a publish request.
//! - [`error`] — [`ApiError`]: every error answer is an `application/problem+json` document.
//! - [`server`] — serving with graceful, time-bounded shutdown.
//!
//! The routes are listed in `docs/STORAGE.md`.

mod error;
pub mod events;
mod ingest;
pub mod server;
pub mod streams;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use error::ApiError;
pub use server::{serve, shutdown_signal};

use crate::store::EventStore;

/// The stream the original event-store routes (`/api/v1/events`) use.
pub const DEFAULT_STREAM: &str = "events";
/// The default limit on request bodies: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn EventStore>,
    max_body_bytes: usize,
}

/// The API's router over a store.
pub fn router(store: Arc<dyn EventStore>, config: ApiConfig) -> Router {
    let state = AppState {
        store,
        max_body_bytes: config.max_body_bytes,
    };
    Router::new()
        .route("/api/v1/streams", get(streams::list))
        .route(
            "/api/v1/streams/{stream}",
            get(streams::info).delete(streams::delete),
        )
        .route(
            "/api/v1/streams/{stream}/events",
            get(events::read).post(events::publish),
        )
        .route("/api/v1/streams/{stream}/events/{id}", get(events::get))
        .route(
            "/api/v1/events",
            get(events::read_default).post(events::publish_default),
        )
        .route("/api/v1/events/{id}", get(events::get_default))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}
