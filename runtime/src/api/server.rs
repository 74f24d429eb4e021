//! Serving the API on a listener until a shutdown signal, with a bounded grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::serve::Listener as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

use super::write_timeout::WriteTimeoutListener;
use super::{ApiConfig, router};
use crate::store::EventStore;

/// How long in-flight requests get to finish after the shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves the API on `listener` until `shutdown` completes, then stops accepting connections
/// and lets in-flight requests finish (each append is durable before it is answered, so
/// nothing acknowledged is lost), for at most [`SHUTDOWN_GRACE`]. A connection whose peer
/// reads nothing, or leaves its request headers unfinished, for the live stall timeout is
/// closed.
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
/// the shutdown up until the grace period ends. `peer_stall` bounds how long a peer may stall
/// a connection (pass the router's [`super::LiveLimits::stall_timeout`]): one that reads
/// nothing of a response for that long is closed, and so is one that leaves its request's
/// headers unfinished for that long (slowloris), before any handler runs.
///
/// The accept loop is axum's `serve` (HTTP/1.1, upgrades for WebSocket) with one difference:
/// hyper is given a timer, without which it enforces no header read timeout.
pub async fn serve_app(
    listener: TcpListener,
    app: axum::Router,
    peer_stall: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut listener = WriteTimeoutListener::new(listener, peer_stall);
    // Every connection task holds a clone of `stop_tx` (and shuts its connection down
    // gracefully once `stop_rx` is dropped) and of `done_rx` (dropped when it ends).
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|request: Request<Incoming>| request.map(axum::body::Body::new)),
        );
        let (stop_tx, done_rx) = (stop_tx.clone(), done_rx.clone());
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(
                http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(peer_stall)
                    .serve_connection(TokioIo::new(io), service)
                    .with_upgrades()
            );
            let mut stopping = std::pin::pin!(stop_tx.closed());
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::trace!("connection ended: {error:#}");
                        }
                        break;
                    }
                    () = &mut stopping => connection.as_mut().graceful_shutdown(),
                }
            }
            drop(done_rx);
        });
    }
    // No new connections; in-flight requests may finish, for at most SHUTDOWN_GRACE.
    drop(listener);
    drop(stop_rx);
    drop(done_rx);
    if tokio::time::timeout(SHUTDOWN_GRACE, done_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway"
        );
    }
    Ok(())
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
