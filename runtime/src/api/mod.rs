//! The HTTP API (axum): one resource per file.
//!
//! - [`routes`] — the table of every endpoint; the router, the auth test and the OpenAPI
//!   document are all built from it, so a new route is one line there.
//! - [`health`] — `/healthz` (alive) and `/readyz` (store reachable, subscriptions running).
//! - [`auth`] — bearer tokens with read or admin roles.
//! - [`metrics`] — `/metrics` in the Prometheus text format.
//! - [`events`] — publish (structured, batch and binary mode) and read events.
//! - [`live`] — follow a stream live: server-sent events and WebSocket.
//! - `live_feed` — one shared store reader per followed stream, fanning events out to clients.
//! - [`streams`] — list, inspect and delete streams.
//! - [`subscriptions`] — run, inspect and stop subscriptions; dead letters and redrive.
//! - [`plugins`] — the watched plugins folder: list, inspect, upload and delete plugins.
//! - [`projections`] — reducer state per subject.
//! - [`replays`] — replay jobs: a range of a stream through a subscription again.
//! - [`status`] — an event's processing status per subscription.
//! - [`ingest`] — the three CloudEvents content modes of a publish request.
//! - [`limits`] — request timeouts.
//! - [`openapi`] — the OpenAPI 3.1 document, generated from the route table.
//! - [`error`] — [`ApiError`]: every error answer is an `application/problem+json` document.
//! - [`server`] — serving with graceful, time-bounded shutdown.
//! - `write_timeout` — closing connections whose peer stops reading.
//!
//! The routes are listed in `docs/STORAGE.md` and the README.

pub mod auth;
mod error;
pub mod events;
pub mod health;
mod ingest;
mod limits;
pub mod live;
mod live_feed;
pub mod metrics;
pub mod openapi;
pub mod plugins;
pub mod projections;
pub mod replays;
pub mod routes;
pub mod server;
pub mod status;
pub mod streams;
pub mod subscriptions;
mod write_timeout;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;

pub use auth::{Auth, Role};
pub use error::ApiError;
pub use live::{Closing, LiveLimits};
pub use routes::{Access, Endpoint, endpoints};
pub use server::{serve, serve_app, shutdown_signal};

use crate::plugin::{EngineOptions, PluginEngine};
use crate::store::EventStore;
use crate::subscription::SubscriptionHost;

/// The stream the original event-store routes (`/api/v1/events`) use.
pub const DEFAULT_STREAM: &str = "events";
/// The default limit on request bodies: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The default bound on handling one request (live streams are exempt).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Requests that take longer are answered with 503 (live streams are exempt).
    pub request_timeout: Duration,
    /// Who may call what; [`Auth::open`] lets everyone do everything.
    pub auth: Auth,
    /// `/readyz` answers 503 until this is true; `None` means ready from the start.
    pub started: Option<Arc<AtomicBool>>,
    /// Bounds on each live (SSE or WebSocket) client.
    pub live: LiveLimits,
    /// Closing this ends every live stream (`serve` does on shutdown).
    pub closing: Closing,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            auth: Auth::open(),
            started: None,
            live: LiveLimits::default(),
            closing: Closing::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn EventStore>,
    subscriptions: Arc<SubscriptionHost>,
    max_body_bytes: usize,
    started: Option<Arc<AtomicBool>>,
    live: LiveLimits,
    closing: Closing,
    feeds: live_feed::LiveFeeds,
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
    let store = subscriptions.store().clone();
    let state = AppState {
        feeds: live_feed::LiveFeeds::new(store.clone(), config.closing.subscribe()),
        store,
        subscriptions,
        max_body_bytes: config.max_body_bytes,
        started: config.started.clone(),
        live: config.live,
        closing: config.closing.clone(),
    };
    routes::build(endpoints(), &config).with_state(state)
}
