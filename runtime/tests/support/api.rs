//! Calling the API's router in-process (`oneshot`), for the HTTP tests.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use eddy::api::{ApiConfig, router};
use eddy::store::EventStore;

use super::Target;

/// A router over a fresh embedded store, kept alive as long as the router.
pub struct Api {
    pub app: Router,
    _target: Target,
    _store: Arc<dyn EventStore>,
}

/// The router with `config` over a fresh embedded store.
pub async fn api_with(config: ApiConfig) -> Api {
    let target = Target::embedded();
    let store = target.open().await;
    Api {
        app: router(store.clone(), config),
        _target: target,
        _store: store,
    }
}

/// A request with headers and a body.
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body.into()).unwrap()
}

impl Api {
    /// Sends a request; the response's body is left to the caller (live streams).
    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(request).await.unwrap()
    }

    /// Sends a request and reads the whole answer: status, content type and body.
    pub async fn fetch(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (StatusCode, String, Bytes) {
        let response = self.send(request(method, uri, headers, body)).await;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, content_type, bytes)
    }
}
