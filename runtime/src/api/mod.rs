//! The HTTP API (axum): one resource per file.
//!
//! - [`events`] — publish (structured, batch and binary mode) and read events.
//! - [`streams`] — list, inspect and delete streams.
//! - [`subscriptions`] — run, inspect and stop subscriptions; dead letters and redrive.
//! - [`plugins`] — the watched plugins folder: list, inspect, upload and delete plugins.
//! - [`projections`] — reducer state per subject.
//! - [`ingest`] — the three CloudEvents content modes of a publish request.
//! - [`error`] — [`ApiError`]: every error answer is an `application/problem+json` document.
//! - [`server`] — serving with graceful, time-bounded shutdown.
//!
//! The routes are listed in `docs/STORAGE.md`.

mod error;
pub mod events;
mod ingest;
pub mod plugins;
pub mod projections;
pub mod server;
pub mod streams;
pub mod subscriptions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use error::ApiError;
pub use server::{serve, serve_app, shutdown_signal};

use crate::plugin::{EngineOptions, PluginEngine};
use crate::store::EventStore;
use crate::subscription::SubscriptionHost;

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
    subscriptions: Arc<SubscriptionHost>,
    max_body_bytes: usize,
}

/// The API's router over a store, with no subscriptions running yet (plugins are looked up
/// in `./plugins`).
pub fn router(store: Arc<dyn EventStore>, config: ApiConfig) -> Router {
    // The default engine has no disk cache and nothing that can fail to set up.
    let engine = PluginEngine::new(&EngineOptions::default()).expect("the default engine starts");
    let subscriptions = Arc::new(SubscriptionHost::new(store.clone(), engine, None));
    router_with(subscriptions, config)
}

/// The API's router over the store of a subscription host.
pub fn router_with(subscriptions: Arc<SubscriptionHost>, config: ApiConfig) -> Router {
    let state = AppState {
        store: subscriptions.store().clone(),
        subscriptions,
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
        .route(
            "/api/v1/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/api/v1/subscriptions/{name}",
            get(subscriptions::info).delete(subscriptions::delete),
        )
        .route(
            "/api/v1/subscriptions/{name}/dlq",
            get(subscriptions::dead_letters),
        )
        .route(
            "/api/v1/subscriptions/{name}/dlq/redrive",
            axum::routing::post(subscriptions::redrive),
        )
        .route("/api/v1/plugins", get(plugins::list))
        .route(
            "/api/v1/plugins/{name}",
            get(plugins::info).put(plugins::put).delete(plugins::delete),
        )
        .route(
            "/api/v1/projections/{subscription}",
            get(projections::subjects),
        )
        .route(
            "/api/v1/projections/{subscription}/{subject}",
            get(projections::get),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}
