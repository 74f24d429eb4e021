//! Serving the API on a listener until a shutdown signal, with a bounded grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::write_timeout::WriteTimeoutListener;
use super::{ApiConfig, router};
use crate::store::EventStore;

/// How long in-flight requests get to finish after the shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves the API on `listener` until `shutdown` completes, then stops accepting connections
/// and lets in-flight requests finish (each append is durable before it is answered, so
/// nothing acknowledged is lost), for at most [`SHUTDOWN_GRACE`]. A connection whose peer
/// reads nothing for the live stall timeout is closed.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn EventStore>,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = config.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close();
    };
    let write_stall = config.live.stall_timeout;
    serve_app(listener, router(store, config), write_stall, shutdown).await
}

/// Like [`serve`], for a router built by the caller (e.g. with running subscriptions); the
/// caller's `shutdown` should also close the router's [`super::Closing`], or live streams hold
/// the shutdown up until the grace period ends. A connection whose peer reads nothing for
/// `write_stall` is closed (pass the router's [`super::LiveLimits::stall_timeout`]).
pub async fn serve_app(
    listener: TcpListener,
    app: axum::Router,
    write_stall: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (started_tx, mut started_rx) = tokio::sync::watch::channel(false);
    let listener = WriteTimeoutListener::new(listener, write_stall);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = started_tx.send(true);
    });
    let grace_over = async move {
        // An error means the server finished and dropped the sender: nothing left to bound.
        if started_rx.wait_for(|started| *started).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => result,
        () = grace_over => {
            tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
            Ok(())
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}
