//! Subscriptions: plugins bound to streams.
//!
//! [`SubscriptionSpec`] is what a user writes (config file, sidecar file or API JSON);
//! [`RetryPolicy`] says how failures are retried before an event is dead-lettered.

mod retry;
mod spec;

pub use retry::RetryPolicy;
pub use spec::{MAX_BATCH, SpecError, Start, SubscriptionSpec};
