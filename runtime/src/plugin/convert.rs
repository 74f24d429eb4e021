//! Converting between the host's events and the WIT records plugins see.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::bindings::types;
use super::packed;
use crate::event::{CloudEvent, Data, EventError, EventTime, Position};

/// Events ready to be handed to a plugin, in the form its world takes.
///
/// The events are written once, into the `packed-events` buffer that `reducer-packed` plugins
/// receive as it is; the WIT records the other worlds take are decoded from it on first use.
/// Beside them, each event's time for the deterministic environment.
#[derive(Debug, Clone, Default)]
pub struct EventBatch {
    packed: Vec<u8>,
    /// Where each event ends in `packed`.
    ends: Vec<usize>,
    /// Each event's time in nanoseconds since the Unix epoch (0 when it has none), for the
    /// plugin's clocks.
    times: Vec<i64>,
    /// The last event pushed, for the fields of the next that repeat it.
    previous: packed::Previous,
    records: OnceLock<Vec<types::Event>>,
}

impl EventBatch {
    /// An empty batch with room for `capacity` events.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            packed: Vec::with_capacity(capacity * 256),
            ends: Vec::with_capacity(capacity),
            times: Vec::with_capacity(capacity),
            previous: packed::Previous::default(),
            records: OnceLock::new(),
        }
    }

    /// Adds an event read from `stream` at `position`.
    pub fn push(&mut self, event: &CloudEvent, stream: &str, position: Position) {
        self.times
            .push(event.time.as_ref().map_or(0, EventTime::unix_nanos));
        packed::encode(
            &mut self.packed,
            event,
            stream,
            position,
            &mut self.previous,
        );
        self.ends.push(self.packed.len());
        self.records = OnceLock::new();
    }

    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Removes every event, keeping the allocation.
    pub fn clear(&mut self) {
        self.packed.clear();
        self.ends.clear();
        self.times.clear();
        self.previous = packed::Previous::default();
        self.records = OnceLock::new();
    }

    /// The events of `range`, packed (the argument of `apply-packed-events`). A range that
    /// does not start at the first event (the one-event calls that pin down a trap) gets its
    /// first event written in full: in the batch it may repeat fields of the event before.
    pub(crate) fn packed(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        let rest = &self.packed[self.start_of(range.start)..self.start_of(range.end)];
        if range.start == 0 || range.is_empty() {
            return Cow::Borrowed(rest);
        }
        let mut out = Vec::with_capacity(rest.len() + 256);
        packed::encode_record(&mut out, &self.records()[range.start]);
        out.extend_from_slice(&rest[self.start_of(range.start + 1) - self.start_of(range.start)..]);
        Cow::Owned(out)
    }

    /// Where event `index` starts in `packed` (its end, for the index past the last event).
    fn start_of(&self, index: usize) -> usize {
        index.checked_sub(1).map_or(0, |i| self.ends[i])
    }

    /// What the deterministic environment needs of event `index`: its time and its id.
    pub(crate) fn stamp(&self, index: usize) -> (i64, &str) {
        (
            self.times[index],
            packed::id(&self.packed[self.start_of(index)..]),
        )
    }

    /// Every event as a WIT record (decoded on first use, then kept).
    pub(crate) fn records(&self) -> &[types::Event] {
        self.records.get_or_init(|| packed::decode(&self.packed))
    }
}

/// An event a handler emitted, ready to publish: its target stream and the full CloudEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// The stream to publish to.
    pub stream: String,
    /// The event, with its derived id.
    pub event: CloudEvent,
}

/// The id of the `index`-th event that `plugin` emits for the input event `source` + `id`.
pub(crate) fn emitted_id(plugin: &str, source: &str, id: &str, index: usize) -> String {
    let mut hasher = Sha256::new();
    for part in [plugin, source, id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update((index as u64).to_be_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Turns a handler's output into a CloudEvent.
///
/// The id is derived from the plugin, the input event and the output's index, so a retried
/// handler emits the same ids and the store deduplicates them. The time is the input's time.
pub(crate) fn emitted_event(
    plugin: &str,
    input: &types::Event,
    index: usize,
    out: types::OutgoingEvent,
) -> Result<Emitted, EventError> {
    let id = emitted_id(plugin, &input.source, &input.id, index);
    if out.stream.is_empty() {
        return Err(EventError::field(
            "stream",
            "an emitted event needs a target stream",
        ));
    }
    let mut event = CloudEvent::new(
        id,
        out.source
            .unwrap_or_else(|| format!("eddy://plugin/{plugin}")),
        out.type_,
    );
    event.subject = out.subject;
    event.time = match &input.time {
        Some(time) => Some(EventTime::parse(time).map_err(|p| EventError::field("time", p))?),
        None => None,
    };
    event.dataschema = out.dataschema;
    if let Some(bytes) = out.data {
        let content_type = out
            .datacontenttype
            .clone()
            .unwrap_or_else(|| "application/json".to_string());
        event.data = Some(Data::from_bytes(bytes, Some(&content_type))?);
        event.datacontenttype = Some(content_type);
    } else {
        event.datacontenttype = out.datacontenttype;
    }
    for (name, value) in out.extensions {
        event
            .extensions
            .insert(name, crate::event::ExtensionValue::String(value));
    }
    event.validate()?;
    Ok(Emitted {
        stream: out.stream,
        event,
    })
}
