//! Health probes: `/healthz` says the process is alive, `/readyz` that it can do its work.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;

use super::{ApiError, AppState};

/// How long the store gets to answer a readiness probe.
pub const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A probe's answer.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok` (alive) or `ready`.
    pub status: &'static str,
}

/// `GET /healthz`: 200 while the process serves requests at all.
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: 200 once start-up is done, the store answers within
/// [`STORE_PROBE_TIMEOUT`] and every subscription's workers run; 503 naming the failed check
/// otherwise.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let not_ready = |check: &str, detail: String| {
        ApiError::unavailable("not-ready", "Not ready", detail).with("check", check)
    };
    if let Some(started) = &state.started
        && !started.load(Ordering::Acquire)
    {
        return Err(not_ready(
            "startup",
            "still starting: loading plugins and subscriptions".into(),
        ));
    }
    // A lookup of one stream's metadata: the cheapest call that crosses to the store.
    match tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store.stream("eddy.readyz")).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the store failed");
            return Err(not_ready(
                "store",
                "the event store is not answering".into(),
            ));
        }
        Err(_) => {
            return Err(not_ready(
                "store",
                format!("the event store did not answer within {STORE_PROBE_TIMEOUT:?}"),
            ));
        }
    }
    let stalled = state.subscriptions.stalled().await;
    if !stalled.is_empty() {
        return Err(not_ready(
            "subscriptions",
            format!(
                "subscription workers have stopped: {} (see the server log)",
                stalled.join(", ")
            ),
        ));
    }
    Ok(Json(Health { status: "ready" }))
}
