//! Request limits other than body size (which [`axum::extract::DefaultBodyLimit`] enforces):
//! a time bound on handling one request.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;

/// The middleware: a request not answered within the timeout gets 503, and its handler is
/// dropped (a publish either committed before that or did not happen; publishing again is
/// safe, as it is idempotent).
pub(super) async fn timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    tokio::time::timeout(limit, next.run(request))
        .await
        .map_err(|_| {
            ApiError::unavailable(
                "timeout",
                "Request timeout",
                format!(
                    "the request was not answered within {limit:?}; retry, or ask for less (a smaller `limit` or batch)"
                ),
            )
        })
}
