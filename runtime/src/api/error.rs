//! HTTP errors as RFC 9457 problem documents (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// An error answer: a status and a problem body `{type, title, status, detail}` that names what
/// is wrong in the request and never reveals internals (those go to the log).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            extra: serde_json::Map::new(),
        }
    }

    /// 400: the request is malformed; `detail` says how.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 400: an event is not a valid CloudEvent.
    pub fn invalid_event(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-event",
            "Invalid event",
            detail,
        )
    }

    /// 401: no token, or not a valid one; send `Authorization: Bearer <token>`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    /// 403: the token is valid but may not do this (a read-only token on a write).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 503: the service cannot answer now (not ready, or too slow); retry later.
    pub fn unavailable(slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, slug, title, detail)
    }

    /// 404: nothing at this address.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this route does not accept this method",
        )
    }

    /// 413: the body is larger than the server accepts.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 431: the request's headers are larger than the server accepts; send fewer or shorter
    /// ones (a binary-mode event with large attributes can be sent in structured mode).
    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request header fields too large",
            format!("the request's headers exceed the limit of {limit} bytes"),
        )
    }

    /// 415: the body's content type is not one the route reads.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 409: the request conflicts with what exists (e.g. a subscription of that name).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 422: the request is well-formed but cannot be carried out (e.g. an unusable plugin).
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            "Unprocessable request",
            detail,
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub(super) fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(name.to_string(), value.into());
        self
    }
}

impl From<crate::subscription::SubscriptionError> for ApiError {
    fn from(error: crate::subscription::SubscriptionError) -> Self {
        use crate::subscription::SubscriptionError as E;
        match error {
            E::NotFound(_) => ApiError::not_found(error.to_string()),
            E::AlreadyExists(_) | E::NotQuarantined(_) => ApiError::conflict(error.to_string()),
            E::Invalid(_) | E::NotSubscribed { .. } => ApiError::bad_request(error.to_string()),
            E::Plugin(_) => ApiError::unprocessable(error.to_string()),
            E::Store(store) => store.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::VersionConflict {
                subject,
                expected,
                current,
            } => Self::new(
                StatusCode::CONFLICT,
                "version-conflict",
                "Version conflict",
                format!("subject `{subject}` is at version {current}, not the expected {expected}"),
            )
            .with("subject", subject)
            .with("expectedVersion", expected)
            .with("currentVersion", current),
            StoreError::InvalidRequest(detail) => Self::bad_request(detail),
            StoreError::LeaseLost { .. } => Self::new(
                StatusCode::CONFLICT,
                "lease-lost",
                "Lease lost",
                error.to_string(),
            ),
            StoreError::GroupNotFound { .. } => Self::not_found(error.to_string()),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "event store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "Store unavailable",
                    "the event store is unavailable; retry later (publishing again is safe)",
                )
            }
            // 507, not 503: the store is reachable but cannot take more until an operator
            // acts, and the cause (never a path) tells them what to do.
            StoreError::Unwritable(cause) => {
                tracing::error!(%cause, "event store cannot write");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "store-unwritable",
                    "Store cannot write",
                    format!(
                        "the event store cannot write: {cause}; retry once an operator has fixed it (publishing again is safe)"
                    ),
                )
            }
            StoreError::BadUrl { .. } | StoreError::Corrupt(_) => {
                tracing::error!(%error, "event store failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the server failed; the problem has been logged",
                )
            }
        }
    }
}

/// Turns an error answer that is not a problem document yet (an extractor's rejection, such
/// as a bad query string or a missing WebSocket upgrade) into one, keeping its message, which
/// axum words for the caller.
pub(super) async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let detail = if text.is_empty() || status.is_server_error() {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string()
    } else {
        text
    };
    let title = status.canonical_reason().unwrap_or("Error");
    ApiError::new(status, "http", title, detail).into_response()
}

/// The problem document, members in the order RFC 9457 lists them.
#[derive(serde::Serialize)]
struct Problem {
    #[serde(rename = "type")]
    ty: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let problem = Problem {
            ty: format!("urn:eddy:problem:{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            extra: self.extra,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
