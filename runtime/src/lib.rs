//! # Eddy
//!
//! A WebAssembly-extensible event processing runtime. The host (this crate) owns storage,
//! subscriptions and replay; user logic — filters, handlers and reducers — runs as sandboxed,
//! deterministic WebAssembly components written against the WIT contract in `wit/`.
//!
//! ## Map of the crate
//!
//! Grouped by the data flow of one event:
//!
//! - [`event`] — the CloudEvents 1.0 envelope, its validation, stream [`event::Position`]s,
//!   JSON Lines files and type patterns.
//! - [`store`] — the [`store::EventStore`] contract and its backends: Redis Streams and an
//!   embedded durable store (redb), opened by URL.
//! - [`plugin`] — the WebAssembly host: one engine, components loaded and checked against
//!   their world, a deterministic sandbox with fuel and memory limits, and typed calls; the
//!   registry of serving versions and the plugins-folder watcher (hot reload).
//! - [`subscription`] — plugins bound to streams: the spec users write (config file, sidecar
//!   `<name>.toml`, API), the workers, retry policy and dead letters, snapshots and time
//!   travel of reducer states, shadow subscriptions.
//! - [`replay`] — folding events through a plugin: `eddy replay`, golden-state tests
//!   (`eddy test`) and shadow replay (`--compare`).
//! - [`config`] — the `eddy.toml` file.
//! - [`api`] — the HTTP API (axum): events, live streams, subscriptions, projections,
//!   plugins, health, auth.
//! - [`metrics`] — counters, gauges and histograms, exposed at `/metrics`.
//! - [`client`] — Eddy as a library: open a store by URL, publish, subscribe, history,
//!   consumer groups, checkpoints, processing status, from Rust code without HTTP.
//! - [`cli`] — the `eddy` command line (and a small HTTP client for the commands that talk
//!   to a running Eddy).

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod event;
pub mod metrics;
pub mod plugin;
pub mod replay;
pub mod store;
pub mod subscription;
