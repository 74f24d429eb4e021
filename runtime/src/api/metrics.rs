//! `GET /metrics`: the process's metrics in the Prometheus text format.
//!
//! Counters and histograms come from [`crate::metrics::global`]; the state of running
//! subscriptions (lag, dead letters, consumers) is read at scrape time into a registry of
//! its own, so a stopped subscription's series disappear instead of going stale.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::metrics::{Registry, global};
use crate::subscription::dead_letter::dlq_stream;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`
pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let now = Registry::default();
    for info in state.subscriptions.list().await {
        let name = info.name.as_str();
        for progress in &info.streams {
            now.gauge(
                "eddy_subscription_lag",
                "Events after the subscription's checkpoint (counted up to 10,000).",
                &[("subscription", name), ("stream", &progress.stream)],
            )
            .set(progress.lag as i64);
        }
        now.gauge(
            "eddy_subscription_consumers",
            "Consumers (processes) working on the subscription.",
            &[("subscription", name)],
        )
        .set(info.consumers.len() as i64);
        // Redriven letters stay in the stream: this is its length, not the unresolved count.
        if let Ok(Some(dlq)) = state.store.stream(&dlq_stream(name)).await {
            now.gauge(
                "eddy_dead_letter_stream_length",
                "Events in the subscription's dead-letter stream (redriven ones included).",
                &[("subscription", name)],
            )
            .set(dlq.length as i64);
        }
    }
    let body = global().render() + &now.render();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}
