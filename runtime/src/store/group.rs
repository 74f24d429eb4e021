//! Consumer groups: where a new group starts, and entries delivered but not yet acknowledged.

use std::time::Duration;

use crate::event::Position;

/// The owner that a removed consumer's pending entries pass to, so they stay claimable. The
/// `~` cannot occur in a consumer name, so no real consumer can collide with it.
pub const ORPHANED_CONSUMER: &str = "~orphaned";

/// Where a new consumer group starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStart {
    /// From the first event in the stream.
    Beginning,
    /// After the last event appended so far: only new events.
    Now,
    /// After this position (exclusive), like a checkpoint.
    After(Position),
}

/// An entry delivered to a consumer of a group and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry's position.
    pub position: Position,
    /// The consumer that holds it ([`ORPHANED_CONSUMER`] after its consumer was removed).
    pub consumer: String,
    /// Time since it was last delivered.
    pub idle: Duration,
    /// How many times it has been delivered (1 on first delivery, +1 on each claim).
    pub deliveries: u64,
}
