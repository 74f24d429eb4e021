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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_slow_request_gets_a_503_problem_and_a_quick_one_its_answer() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }),
            )
            .route("/quick", get(|| async { "ok" }))
            .route_layer(from_fn_with_state(
                Duration::from_millis(20),
                super::timeout,
            ));
        let call = |uri: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap()
            }
        };
        let slow = call("/slow").await;
        assert_eq!(slow.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(slow.headers()["content-type"], "application/problem+json");
        assert_eq!(call("/quick").await.status(), StatusCode::OK);
    }
}
