//! What an append asks for and what it answers.

use super::StoreError;
use crate::event::{CloudEvent, Position};

/// The most events one append may carry. Bounds the work of one atomic step on every backend.
pub const MAX_BATCH: usize = 10_000;

/// One atomic append: a batch of events, optionally guarded by the expected version of their
/// subject.
#[derive(Debug, Clone, Default)]
pub struct Append {
    /// The events, stored in this order.
    pub events: Vec<CloudEvent>,
    /// The number of events their subject must already have (0 = a new subject). When set,
    /// every event in the batch must carry the same subject.
    pub expected_version: Option<u64>,
}

impl Append {
    /// An append of these events with no version check.
    pub fn new(events: Vec<CloudEvent>) -> Self {
        Self {
            events,
            expected_version: None,
        }
    }

    /// An append of one event with no version check.
    pub fn one(event: CloudEvent) -> Self {
        Self::new(vec![event])
    }

    /// Guards the append with the expected version of the events' subject.
    pub fn expecting(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Checks the request and returns the subject and version to check, if any. Both backends
    /// call this first, so they refuse the same requests with the same messages.
    pub(crate) fn check(&self) -> Result<Option<(&str, u64)>, StoreError> {
        if self.events.is_empty() {
            return Err(StoreError::invalid("an append needs at least one event"));
        }
        if self.events.len() > MAX_BATCH {
            return Err(StoreError::invalid(format!(
                "an append may carry at most {MAX_BATCH} events, not {}",
                self.events.len()
            )));
        }
        for (index, event) in self.events.iter().enumerate() {
            event
                .validate()
                .map_err(|e| StoreError::invalid(format!("event {index}: {e}")))?;
        }
        let Some(version) = self.expected_version else {
            return Ok(None);
        };
        let subject = self.events[0].subject.as_deref().ok_or_else(|| {
            StoreError::invalid("an expected version needs events with a `subject`")
        })?;
        if self
            .events
            .iter()
            .any(|e| e.subject.as_deref() != Some(subject))
        {
            return Err(StoreError::invalid(
                "an expected version applies to one subject: every event must have the same `subject`",
            ));
        }
        Ok(Some((subject, version)))
    }
}

/// What happened to one event of an append, in the order of the batch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Appended {
    /// The event's `id`.
    pub id: String,
    /// Where the event is: its new position, or for a duplicate the original one.
    pub position: Position,
    /// True if an event with the same `source` + `id` was already in the stream (or earlier in
    /// the same batch) and this one was not stored again.
    pub duplicate: bool,
}
