//! Request limits: the size of the headers, a body's declared length (the body itself is
//! bounded as it is read, by [`axum::extract::DefaultBodyLimit`]) and the time taken to handle
//! one request.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::ApiError;

/// The most bytes of header names and values a request may carry. hyper refuses more than
/// 100 headers, or a head over about 400 KiB, by itself (with a bare 431); below that, one
/// huge header reached the handlers, and in binary mode became an event attribute that no
/// body limit bounded.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The middleware: a request whose headers exceed [`MAX_HEADER_BYTES`] gets a 431 problem.
pub(super) async fn header_size(request: Request, next: Next) -> Result<Response, ApiError> {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return Err(ApiError::headers_too_large(MAX_HEADER_BYTES));
    }
    Ok(next.run(request).await)
}

/// The middleware: a body whose `Content-Length` exceeds `limit` gets a 413 problem before it
/// is read. Without this the body was read up to the limit first; a client that waits for
/// `100 Continue` before sending it waited until the request timeout, and one that sent it all
/// could lose the answer to the reset that closing a socket with unread data causes.
pub(super) async fn declared_length(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    Ok(next.run(request).await)
}

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
