//! Subscriptions: plugins bound to streams, running.
//!
//! [`SubscriptionSpec`] is what a user writes (config file, sidecar file or API JSON);
//! [`SubscriptionHost`] runs specs. A handler subscription reads its streams through a
//! consumer group (at-least-once; emitted events and the acknowledgement are committed
//! together, and emitted ids derive from the input, so retries are deduplicated). A reducer
//! subscription spreads subjects over partitions held under leases and commits states with
//! checkpoints (exactly-once state, per-subject order). Failures are retried per
//! [`RetryPolicy`], then dead-lettered (see [`dead_letter`]).
//!
//! Reducer subscriptions also answer time-travel queries ([`SubscriptionHost::state_at`],
//! from snapshots kept every `snapshot_every` events) and can run a shadow: a candidate
//! plugin beside the live one on the same events, compared subject by subject
//! ([`SubscriptionHost::shadow_report`]).
//!
//! Replay jobs ([`SubscriptionHost::start_replay`]) run a range of a stream through a handler
//! subscription again, or dry-run a plugin over it.
//!
//! With a watched plugins folder, [`SidecarBindings`] start a subscription for each
//! `<name>.toml` beside its plugin, and workers move to a new plugin version between batches.

mod consumer_name;
pub mod dead_letter;
mod handler_worker;
mod host;
mod in_progress;
mod membership;
mod pipeline;
mod reducer_worker;
mod replay_job;
mod retry;
mod shadow;
mod sidecar;
mod spec;
mod stats;
mod status;
mod time_travel;
mod worker;

pub use host::{
    STOP_TIMEOUT, StreamProgress, SubscriptionError, SubscriptionHost, SubscriptionInfo,
};
pub(crate) use reducer_worker::lease_name;
pub use replay_job::{
    EXT_REPLAY, ReplayError, ReplayFailure, ReplayInfo, ReplayRequest, ReplayStatus, ReplayTarget,
};
pub use retry::RetryPolicy;
pub use shadow::{ShadowReport, ShadowSubject, shadow_name};
pub use sidecar::{SidecarBindings, SidecarError, parse_sidecar};
pub use spec::{MAX_BATCH, SpecError, Start, SubscriptionSpec};
pub use stats::StatsSnapshot;
pub use status::{EventStatuses, ProcessingStatus};
pub use time_travel::{At, StateAt, TimeTravelError};
