//! Reading a stream: which events, in which direction, and what comes back.

use crate::event::{CloudEvent, Position};

/// The most events one read returns, whatever `limit` asks for.
pub const MAX_READ: usize = 10_000;

/// Which way a read walks the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// A read of a stream, or of one subject in it.
#[derive(Debug, Clone)]
pub struct Read {
    /// Where to start, **exclusive**: forward reads return events after this position, backward
    /// reads events before it. `None` starts at the beginning (forward) or the end (backward).
    /// Passing the last position of one page as `from` gives the next page, and a consumer's
    /// checkpoint (the last position it handled) can be passed as is.
    pub from: Option<Position>,
    /// Walk forward or backward.
    pub direction: Direction,
    /// The most events to return (capped at [`MAX_READ`]).
    pub limit: usize,
    /// Only this subject's events; reads in time proportional to the subject's events.
    pub subject: Option<String>,
}

impl Read {
    /// A forward read from the start of the stream.
    pub fn forward(limit: usize) -> Self {
        Self {
            from: None,
            direction: Direction::Forward,
            limit,
            subject: None,
        }
    }

    /// A backward read from the end of the stream.
    pub fn backward(limit: usize) -> Self {
        Self {
            direction: Direction::Backward,
            ..Self::forward(limit)
        }
    }

    /// Starts after (forward) or before (backward) this position.
    pub fn from(mut self, position: Position) -> Self {
        self.from = Some(position);
        self
    }

    /// Reads only this subject's events.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The limit actually applied.
    pub(crate) fn capped_limit(&self) -> usize {
        self.limit.min(MAX_READ)
    }
}

/// An event with its position in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Where it is.
    pub position: Position,
    /// The event, exactly as appended.
    pub event: CloudEvent,
}
