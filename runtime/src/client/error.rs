//! What can go wrong using Eddy as a library, and what to do about it.

use crate::store::StoreError;
use crate::subscription::SubscriptionError;

/// Why a library call failed. Each variant says how a caller should react.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The store refused or failed the call: see [`StoreError`]'s variants (a version
    /// conflict to re-decide, a bad request to fix, an unavailable store to retry).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plugin subscription named in the call is unknown, does not read the stream, or
    /// could not start: fix the name or the spec.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// [`super::Eddy::close`] was called: open the store again to go on.
    #[error("this Eddy handle is closed")]
    Closed,
}

impl ClientError {
    /// Whether retrying the same call later could succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) | Self::Subscription(SubscriptionError::Store(error)) => {
                error.is_transient()
            }
            _ => false,
        }
    }
}
