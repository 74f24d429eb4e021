//! What one processing step writes — events, acknowledgements, reducer states, checkpoints —
//! applied as one atomic [`Commit`], optionally fenced by a [`Lease`].

use crate::event::{CloudEvent, Position};

/// Everything one processing step writes, applied atomically: all of it or none of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Events to append, per stream, in order. Deduplicated on `source` + `id` exactly like
    /// `EventStore::append` (so a retried commit stores nothing twice); no expected version.
    pub appends: Vec<(String, Vec<CloudEvent>)>,
    /// Consumer-group entries to acknowledge.
    pub acks: Vec<GroupAck>,
    /// Reducer states to save.
    pub states: Vec<StateWrite>,
    /// Checkpoints to save: (stream, name, position) — same namespace as `save_checkpoint`.
    pub checkpoints: Vec<(String, String, Position)>,
    /// When set, the commit applies only while this lease is held by this owner with this
    /// token; otherwise nothing is written and it fails with `StoreError::LeaseLost`.
    pub fence: Option<Fence>,
}

/// Consumer-group entries to acknowledge as part of a [`Commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAck {
    /// The stream the group reads.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// The entries to acknowledge; ones that are not pending are ignored.
    pub positions: Vec<Position>,
}

/// A reducer state to save as part of a [`Commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The projection (one reducer binding) the state belongs to.
    pub projection: String,
    /// The subject the state is about.
    pub subject: String,
    /// The state, replacing any saved before.
    pub state: SavedState,
}

/// A reducer's state for one subject, with what it reflects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SavedState {
    /// The state bytes (JSON for Rust SDK reducers).
    pub state: Vec<u8>,
    /// The stream and position of the last event applied.
    pub stream: String,
    /// The position of the last event applied.
    pub position: Position,
    /// The hash of the reducer that computed it.
    pub plugin: String,
    /// How many events have been applied to it.
    pub events: u64,
}

/// The lease a [`Commit`] is conditional on: it applies only while `owner` holds `lease` with
/// this `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// Who must hold it.
    pub owner: String,
    /// The token [`super::EventStore::acquire_lease`] returned when it was taken.
    pub token: u64,
}

/// A lease held by an owner until it expires, with its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    /// The lease's name.
    pub name: String,
    /// Who holds it.
    pub owner: String,
    /// Its fencing token: greater than every token the lease had before this acquisition.
    pub token: u64,
    /// How long until it expires unless renewed.
    pub expires_in_ms: u64,
}
