//! Turning Redis stream entries back into events.

use redis::streams::StreamId;

use crate::store::error::parse_position;
use crate::store::{StoreError, StoredEvent, decode_event};

/// The field of a stream entry that holds the structured-mode JSON event.
pub(super) const EVENT_FIELD: &str = "event";

/// Decodes one entry of an Eddy stream.
pub(super) fn decode(entry: &StreamId) -> Result<StoredEvent, StoreError> {
    let position = parse_position(&entry.id)?;
    let json: Vec<u8> = entry.get(EVENT_FIELD).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "stream entry {position} has no `{EVENT_FIELD}` field (written by another tool?)"
        ))
    })?;
    decode_event(position, &json)
}

/// Decodes entries in order.
pub(super) fn decode_all(entries: &[StreamId]) -> Result<Vec<StoredEvent>, StoreError> {
    entries.iter().map(decode).collect()
}
