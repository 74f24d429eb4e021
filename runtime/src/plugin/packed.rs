//! The `packed-events` encoding of the `reducer-packed` world: every event of a call in one
//! buffer (the layout is specified in `wit/plugin.wit`, above the world).
//!
//! Why it exists: a `list<event>` crosses into WebAssembly string by string — the engine calls
//! the guest's allocator for every field of every event, and the host first builds a record
//! of owned strings per event. A packed buffer is written straight from the stored event and
//! crosses in one copy; the guest reads the fields back out of it. The guest SDK has the
//! matching reader (`guest-sdk/src/packed.rs`); a test checks the two agree.

use std::fmt::Write as _;

use super::bindings::types;
use crate::event::{CloudEvent, Position};

/// The length written for an absent optional field.
pub(crate) const ABSENT: u32 = u32::MAX;

/// The length written for a field whose value is the one it had in the previous event of the
/// buffer. Within one subject's call most fields repeat (`source`, `specversion`, `subject`,
/// `datacontenttype`, `stream`, …): the plugin then keeps what it read for the previous event
/// instead of reading the field again, which was a third of a small reducer's time.
pub(crate) const SAME: u32 = u32::MAX - 1;

/// Slots in an event's table of lengths besides two per extension: nine fields before the
/// extensions, their count, and two after.
const FIXED_SLOTS: usize = 12;

/// Where the extension count sits in the table (after `id` … `data`).
const EXTENSION_COUNT_SLOT: usize = 9;

/// The fields that may be written as [`SAME`], in table order: all but `id` and the
/// extensions.
const REPEATABLE: usize = 10;

/// What the previous event of a buffer held in each repeatable field: where its bytes are in
/// the buffer. Empty before the first event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Previous(Option<[Span; REPEATABLE]>);

/// Where a field's bytes are in the buffer; `len` [`ABSENT`] for an absent field.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

/// Appends `event`, read from `stream` at `position`, to `out`: its table of lengths, then
/// the bytes of its fields in the same order. A field equal to the `previous` event's is
/// written as [`SAME`]; `previous` then describes this event.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    event: &CloudEvent,
    stream: &str,
    position: Position,
    previous: &mut Previous,
) {
    let mut fields = Fields::start(out, event.extensions.len(), previous);
    fields.put(event.id.as_bytes());
    fields.put_repeatable(Some(event.source.as_bytes()));
    fields.put_repeatable(Some(event.ty.as_bytes()));
    fields.put_repeatable(Some(event.specversion.as_bytes()));
    fields.put_repeatable(event.subject.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.time.as_ref().map(|t| t.as_str().as_bytes()));
    fields.put_repeatable(event.datacontenttype.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.dataschema.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.data.as_ref().map(|d| d.as_bytes()));
    fields.put_count(event.extensions.len());
    for (name, value) in &event.extensions {
        fields.put(name.as_bytes());
        fields.put_display(value);
    }
    fields.put_repeatable(Some(stream.as_bytes()));
    fields.put_position(position);
    fields.finish();
}

/// Appends a WIT record in full, as the first event of a buffer (no field [`SAME`]).
pub(crate) fn encode_record(out: &mut Vec<u8>, event: &types::Event) {
    let mut previous = Previous::default();
    let mut fields = Fields::start(out, event.extensions.len(), &mut previous);
    fields.put(event.id.as_bytes());
    fields.put_repeatable(Some(event.source.as_bytes()));
    fields.put_repeatable(Some(event.type_.as_bytes()));
    fields.put_repeatable(Some(event.specversion.as_bytes()));
    fields.put_repeatable(event.subject.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.time.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.datacontenttype.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.dataschema.as_deref().map(str::as_bytes));
    fields.put_repeatable(event.data.as_deref());
    fields.put_count(event.extensions.len());
    for (name, value) in &event.extensions {
        fields.put(name.as_bytes());
        fields.put(value.as_bytes());
    }
    fields.put_repeatable(Some(event.stream.as_bytes()));
    fields.put_repeatable(Some(event.position.as_bytes()));
    fields.finish();
}

/// Writes one event: reserves its table of lengths, then appends each field's bytes and
/// fills in its slot.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    /// Where the next slot of the table is in `out`.
    slot: usize,
    previous: &'a mut Previous,
    /// This event's repeatable fields, as they are written.
    current: [Span; REPEATABLE],
    repeatable: usize,
}

impl<'a> Fields<'a> {
    fn start(out: &'a mut Vec<u8>, extensions: usize, previous: &'a mut Previous) -> Self {
        let slot = out.len();
        out.resize(slot + 4 * (FIXED_SLOTS + 2 * extensions), 0);
        Self {
            out,
            slot,
            previous,
            current: [Span::default(); REPEATABLE],
            repeatable: 0,
        }
    }

    fn fill(&mut self, value: u32) {
        self.out[self.slot..self.slot + 4].copy_from_slice(&value.to_le_bytes());
        self.slot += 4;
    }

    fn put_count(&mut self, count: usize) {
        self.fill(length(count));
    }

    fn put(&mut self, bytes: &[u8]) {
        self.fill(length(bytes.len()));
        self.out.extend_from_slice(bytes);
    }

    /// Writes a repeatable field: [`SAME`] when the previous event had the same value.
    fn put_repeatable(&mut self, bytes: Option<&[u8]>) {
        let index = self.repeatable;
        self.repeatable += 1;
        if let Some(previous) = &self.previous.0 {
            let before = previous[index];
            let same = match bytes {
                None => before.len == ABSENT,
                Some(bytes) => {
                    before.len as usize == bytes.len()
                        && self.out[before.start as usize..][..bytes.len()] == *bytes
                }
            };
            if same {
                self.fill(SAME);
                self.current[index] = before;
                return;
            }
        }
        self.current[index] = match bytes {
            Some(bytes) => {
                let start = length(self.out.len());
                self.put(bytes);
                Span {
                    start,
                    len: length(bytes.len()),
                }
            }
            None => {
                self.fill(ABSENT);
                Span {
                    start: 0,
                    len: ABSENT,
                }
            }
        };
    }

    /// Writes a value's text form without an intermediate `String`.
    fn put_display(&mut self, value: &impl std::fmt::Display) {
        let at = self.out.len();
        write!(ByteWriter(self.out), "{value}").expect("writing into a Vec cannot fail");
        let len = self.out.len() - at;
        self.fill(length(len));
    }

    /// Writes `<ms>-<seq>` as `Position`'s `Display` does, without the formatting machinery
    /// (it is written for every event, and `write!` cost as much as the rest of the event).
    fn put_position(&mut self, position: Position) {
        let mut text = [0u8; 41];
        let mut len = decimal(position.ms, &mut text);
        text[len] = b'-';
        len += 1;
        len += decimal(position.seq, &mut text[len..]);
        self.put_repeatable(Some(&text[..len]));
    }

    /// Makes this event the previous one of the next.
    fn finish(self) {
        debug_assert_eq!(
            self.repeatable, REPEATABLE,
            "every repeatable field written"
        );
        self.previous.0 = Some(self.current);
    }
}

fn length(len: usize) -> u32 {
    // Events are bounded far below 4 GiB by the store's limits; a longer field would make the
    // buffer unreadable, so it is a bug worth stopping on, not something to truncate.
    u32::try_from(len).expect("an event field shorter than 4 GiB")
}

/// Writes `n` in decimal at the start of `out`; returns how many digits it took.
fn decimal(mut n: u64, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - start;
    out[..len].copy_from_slice(&digits[start..]);
    len
}

/// `fmt::Write` into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The id of the event that `bytes` starts with (its first field).
pub(crate) fn id(bytes: &[u8]) -> &str {
    let mut reader = Reader::new(bytes);
    let id = reader.optional().expect("an event starts with its id");
    std::str::from_utf8(id).expect("packed strings are the UTF-8 this host wrote")
}

/// Reads packed events back into WIT records, for the worlds that take a `list<event>`.
///
/// The buffer is one this module wrote, so a malformed one is a bug: it panics.
pub(crate) fn decode(mut bytes: &[u8]) -> Vec<types::Event> {
    let mut events = Vec::new();
    // The previous event's repeatable fields, for the ones written as `SAME`.
    let mut previous: Option<[Option<&[u8]>; REPEATABLE]> = None;
    while !bytes.is_empty() {
        let mut reader = Reader::new(bytes);
        let id = text(reader.optional()).expect("an event starts with its id");
        let mut fields: [Option<&[u8]>; REPEATABLE] = [None; REPEATABLE];
        // `source` … `data`, then after the extensions `stream` and `position`.
        for i in 0..8 {
            fields[i] = reader.repeatable(previous.map(|p| p[i]));
        }
        let extensions = (0..reader.count())
            .map(|_| (reader.string(), reader.string()))
            .collect();
        for i in 8..REPEATABLE {
            fields[i] = reader.repeatable(previous.map(|p| p[i]));
        }
        previous = Some(fields);
        let required = |i: usize| text(fields[i]).expect("a required field is present");
        events.push(types::Event {
            id,
            source: required(0),
            type_: required(1),
            specversion: required(2),
            subject: text(fields[3]),
            time: text(fields[4]),
            datacontenttype: text(fields[5]),
            dataschema: text(fields[6]),
            data: fields[7].map(<[u8]>::to_vec),
            extensions,
            stream: required(8),
            position: required(9),
        });
        bytes = reader.rest();
    }
    events
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|bytes| {
        String::from_utf8(bytes.to_vec()).expect("packed strings are the UTF-8 this host wrote")
    })
}

/// Reads one event: its table of lengths and, beside it, the bytes they measure.
struct Reader<'b> {
    table: &'b [u8],
    body: &'b [u8],
}

impl<'b> Reader<'b> {
    fn new(event: &'b [u8]) -> Self {
        let count_at = 4 * EXTENSION_COUNT_SLOT;
        let extensions = u32::from_le_bytes(
            event[count_at..count_at + 4]
                .try_into()
                .expect("four bytes"),
        ) as usize;
        let (table, body) = event.split_at(4 * (FIXED_SLOTS + 2 * extensions));
        Self { table, body }
    }

    /// What follows this event, once every field has been read.
    fn rest(self) -> &'b [u8] {
        debug_assert!(self.table.is_empty(), "every field of the event was read");
        self.body
    }

    fn slot(&mut self) -> u32 {
        let (value, rest) = self.table.split_at(4);
        self.table = rest;
        u32::from_le_bytes(value.try_into().expect("four bytes"))
    }

    fn count(&mut self) -> u32 {
        self.slot()
    }

    /// The next field's bytes, or `previous`'s when it is written as [`SAME`].
    fn repeatable(&mut self, previous: Option<Option<&'b [u8]>>) -> Option<&'b [u8]> {
        if self.table[..4] == SAME.to_le_bytes() {
            self.slot();
            return previous.expect("the first event of a buffer repeats no field");
        }
        self.optional()
    }

    fn optional(&mut self) -> Option<&'b [u8]> {
        let len = self.slot();
        if len == ABSENT {
            return None;
        }
        let (bytes, rest) = self.body.split_at(len as usize);
        self.body = rest;
        Some(bytes)
    }

    fn string(&mut self) -> String {
        text(self.optional()).expect("a required field of a packed event is present")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Data, EventTime, ExtensionValue};
    use crate::plugin::EventBatch;

    fn full_event() -> CloudEvent {
        let mut event = CloudEvent::new("id-1", "/shop", "order.created");
        event.subject = Some("order-7".into());
        event.time = Some(EventTime::parse("2026-11-24T10:00:00.5Z").unwrap());
        event.datacontenttype = Some("application/json".into());
        event.dataschema = Some("https://example.com/schema".into());
        event.data = Some(Data::Binary(br#"{"qty":2}"#.to_vec()));
        event
            .extensions
            .insert("tenant".into(), ExtensionValue::String("acme".into()));
        event
            .extensions
            .insert("attempt".into(), ExtensionValue::Integer(3));
        event
    }

    #[test]
    fn decoding_gives_back_every_field_as_the_record_would_carry_it() {
        let full = full_event();
        let bare = CloudEvent::new("id-2", "/shop", "order.paid");
        let mut out = Vec::new();
        let mut previous = Previous::default();
        for (event, position) in [
            (&full, Position::new(1_700_000_000_000, 12)),
            (&bare, Position::new(1_700_000_000_001, 0)),
            (&full, Position::new(1_700_000_000_002, 0)),
        ] {
            encode(&mut out, event, "orders", position, &mut previous);
        }
        let events = decode(&out);
        assert_eq!(events.len(), 3);
        let first = &events[0];
        assert_eq!(first.id, "id-1");
        assert_eq!(first.source, "/shop");
        assert_eq!(first.type_, "order.created");
        assert_eq!(first.specversion, "1.0");
        assert_eq!(first.subject.as_deref(), Some("order-7"));
        assert_eq!(first.time.as_deref(), Some("2026-11-24T10:00:00.5Z"));
        assert_eq!(first.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            first.dataschema.as_deref(),
            Some("https://example.com/schema")
        );
        assert_eq!(first.data.as_deref(), Some(&br#"{"qty":2}"#[..]));
        let mut extensions = first.extensions.clone();
        extensions.sort();
        assert_eq!(
            extensions,
            [
                ("attempt".to_string(), "3".to_string()),
                ("tenant".to_string(), "acme".to_string())
            ]
        );
        assert_eq!(first.stream, "orders");
        assert_eq!(first.position, "1700000000000-12");
        let second = &events[1];
        assert_eq!(second.id, "id-2");
        assert_eq!(second.subject, None);
        assert_eq!(second.time, None);
        assert_eq!(second.data, None);
        assert!(second.extensions.is_empty());
        assert_eq!(second.position, "1700000000001-0");
        // Written as the same as the event before, read back as it.
        assert_eq!(second.source, "/shop");
        assert_eq!(second.specversion, "1.0");
        assert_eq!(second.stream, "orders");
        let third = &events[2];
        assert_eq!(third.subject.as_deref(), Some("order-7"));
        assert_eq!(third.data.as_deref(), Some(&br#"{"qty":2}"#[..]));
        assert_eq!(third.position, "1700000000002-0");
    }

    #[test]
    fn a_buffer_cut_after_its_first_event_starts_with_that_event_in_full() {
        let mut batch = EventBatch::default();
        let full = full_event();
        for seq in 0..3 {
            batch.push(&full, "orders", Position::new(5, seq));
        }
        let whole = decode(&batch.packed(0..3));
        for start in 0..3 {
            let part = batch.packed(start..3);
            assert_eq!(
                format!("{:?}", decode(&part)),
                format!("{:?}", &whole[start..]),
                "from event {start}"
            );
            assert_eq!(id(&part), "id-1");
        }
        assert!(
            batch.packed(0..3).len() < 3 * batch.packed(2..3).len(),
            "repeated fields are written once"
        );
    }

    #[test]
    fn positions_are_written_as_their_display_form() {
        for position in [
            Position::ZERO,
            Position::new(1_700_000_000_000, 12),
            Position::new(9, 10),
            Position::MAX,
        ] {
            let mut out = Vec::new();
            let mut previous = Previous::default();
            let mut fields = Fields::start(&mut out, 0, &mut previous);
            fields.put_position(position);
            let text = position.to_string();
            assert_eq!(&out[4 * FIXED_SLOTS..], text.as_bytes());
            assert_eq!(out[..4], (text.len() as u32).to_le_bytes());
        }
    }

    #[test]
    fn the_layout_is_the_one_the_wit_documents() {
        let mut event = CloudEvent::new("i", "s", "t");
        event.data = Some(Data::Binary(vec![0xff, 0]));
        event
            .extensions
            .insert("e".into(), ExtensionValue::Integer(7));
        let mut out = Vec::new();
        let mut previous = Previous::default();
        encode(&mut out, &event, "x", Position::new(1, 2), &mut previous);
        let first_len = out.len();
        encode(&mut out, &event, "x", Position::new(1, 3), &mut previous);
        let lengths: &[u32] = &[
            1,        // id
            1,        // source
            1,        // type
            3,        // specversion
            u32::MAX, // subject: absent
            u32::MAX, // time
            u32::MAX, // datacontenttype
            u32::MAX, // dataschema
            2,        // data
            1,        // one extension pair
            1,        // its name
            1,        // its value
            1,        // stream
            3,        // position
        ];
        let mut expected: Vec<u8> = lengths.iter().flat_map(|n| n.to_le_bytes()).collect();
        expected.extend_from_slice(b"ist1.0");
        expected.extend_from_slice(&[0xff, 0]);
        expected.extend_from_slice(b"e7x1-2");
        assert_eq!(out[..first_len], expected);
        assert_eq!(id(&out), "i");
        // The same event again: every repeatable field that did not change is `SAME`.
        let same = u32::MAX - 1;
        let lengths: &[u32] = &[
            1, same, same, same, same, same, same, same, same, // id, then source … data
            1, 1, 1, // the extension pair is always written
            same, 3, // stream, position
        ];
        let mut expected: Vec<u8> = lengths.iter().flat_map(|n| n.to_le_bytes()).collect();
        expected.extend_from_slice(b"ie71-3");
        assert_eq!(out[first_len..], expected);
    }
}
