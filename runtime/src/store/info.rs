//! What a stream looks like from outside, and how to trim it.

use std::time::Duration;

use crate::event::Position;

/// A stream's name, length and ends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct StreamInfo {
    /// The stream's name.
    pub name: String,
    /// How many events it holds now (after trimming).
    pub length: u64,
    /// The position of its oldest event, if it has any.
    pub first: Option<Position>,
    /// The position of its newest event, if it has any.
    pub last: Option<Position>,
}

/// How much of a stream to keep when trimming. Trimming removes the oldest events only, and
/// never one that a consumer group has not acknowledged (delivered-but-pending or not yet
/// delivered): it stops before the first such event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many events.
    MaxLen(u64),
    /// Keep events appended less than this long ago (by their position's milliseconds).
    MaxAge(Duration),
}

/// What a trim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trimmed {
    /// How many events were removed.
    pub removed: u64,
    /// True if the trim stopped early because a consumer group still needs older events.
    pub held_by_groups: bool,
}
