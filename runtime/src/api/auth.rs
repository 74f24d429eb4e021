//! Bearer tokens: `Authorization: Bearer <token>` on every route but health and metrics.
//!
//! A token has a role: `read` may call `GET`s, `admin` may call everything. Tokens are kept
//! only as SHA-256 digests and compared in constant time, so neither a timing difference nor
//! a memory dump gives a token away. With no token configured the API is open, and
//! `eddy serve` then listens on loopback only.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::ApiError;

/// The fewest characters a token may have: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `GET` requests only.
    Read,
    /// Everything.
    Admin,
}

/// The tokens the API accepts.
#[derive(Clone, Default)]
pub struct Auth {
    tokens: Vec<([u8; 32], Role)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// A token that cannot be used; choose a longer one.
#[derive(Debug, thiserror::Error)]
#[error("an API token must have at least {MIN_TOKEN_LEN} characters (got {0})")]
pub struct WeakToken(pub usize);

impl Auth {
    /// No tokens: every request is allowed.
    pub fn open() -> Self {
        Self::default()
    }

    /// Adds a token with a role.
    pub fn with_token(mut self, token: &str, role: Role) -> Result<Self, WeakToken> {
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(WeakToken(token.chars().count()));
        }
        self.tokens.push((digest(token), role));
        Ok(self)
    }

    /// Whether no token is configured (the API is open).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The role of `token`, if it is one of ours. Takes the same time whichever token
    /// matches, or none.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let presented = digest(token);
        let mut found = None;
        for (known, role) in &self.tokens {
            if constant_time_eq(known, &presented) {
                // Keep the strongest role if a token is listed twice; never stop early.
                found = match (found, role) {
                    (Some(Role::Admin), _) | (_, Role::Admin) => Some(Role::Admin),
                    _ => Some(*role),
                };
            }
        }
        found
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `method` only reads (a read-only token may use it).
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware: 401 without a valid token, 403 for a read-only token on a write.
pub(super) async fn require(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if auth.is_open() {
        return Ok(next.run(request).await);
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = token else {
        return Err(ApiError::unauthorized(
            "this API needs a token: send `Authorization: Bearer <token>` (eddy: --token or EDDY_TOKEN)",
        ));
    };
    match auth.role_of(token) {
        None => Err(ApiError::unauthorized(
            "the token is not valid: check it against the server's --api-token or [api] tokens",
        )),
        Some(Role::Read) if !is_read(request.method()) => Err(ApiError::forbidden(
            "this token is read-only: use an admin token to change anything",
        )),
        Some(_) => Ok(next.run(request).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_recognised_with_their_role_and_short_ones_refused() {
        let auth = Auth::open()
            .with_token("reader-0123456789", Role::Read)
            .unwrap()
            .with_token("admin-0123456789", Role::Admin)
            .unwrap();
        assert_eq!(auth.role_of("reader-0123456789"), Some(Role::Read));
        assert_eq!(auth.role_of("admin-0123456789"), Some(Role::Admin));
        assert_eq!(auth.role_of("admin-012345678"), None);
        assert_eq!(auth.role_of(""), None);
        assert!(Auth::open().with_token("short", Role::Admin).is_err());
        assert!(Auth::open().is_open() && !auth.is_open());
    }
}
