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

/// Slots in an event's table of lengths besides two per extension: nine fields before the
/// extensions, their count, and two after.
const FIXED_SLOTS: usize = 12;

/// Where the extension count sits in the table (after `id` … `data`).
const EXTENSION_COUNT_SLOT: usize = 9;

/// Appends `event`, read from `stream` at `position`, to `out`: its table of lengths, then
/// the bytes of its fields in the same order.
pub(crate) fn encode(out: &mut Vec<u8>, event: &CloudEvent, stream: &str, position: Position) {
    let mut fields = Fields::start(out, event.extensions.len());
    fields.put(event.id.as_bytes());
    fields.put(event.source.as_bytes());
    fields.put(event.ty.as_bytes());
    fields.put(event.specversion.as_bytes());
    fields.put_optional(event.subject.as_deref().map(str::as_bytes));
    fields.put_optional(event.time.as_ref().map(|t| t.as_str().as_bytes()));
    fields.put_optional(event.datacontenttype.as_deref().map(str::as_bytes));
    fields.put_optional(event.dataschema.as_deref().map(str::as_bytes));
    fields.put_optional(event.data.as_ref().map(|d| d.as_bytes()));
    fields.put_count(event.extensions.len());
    for (name, value) in &event.extensions {
        fields.put(name.as_bytes());
        fields.put_display(value);
    }
    fields.put(stream.as_bytes());
    fields.put_position(position);
}

/// Writes one event: reserves its table of lengths, then appends each field's bytes and
/// fills in its slot.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    /// Where the next slot of the table is in `out`.
    slot: usize,
}

impl<'a> Fields<'a> {
    fn start(out: &'a mut Vec<u8>, extensions: usize) -> Self {
        let slot = out.len();
        out.resize(slot + 4 * (FIXED_SLOTS + 2 * extensions), 0);
        Self { out, slot }
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

    fn put_optional(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.put(bytes),
            None => self.fill(ABSENT),
        }
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
        self.put(&text[..len]);
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
    while !bytes.is_empty() {
        let mut reader = Reader::new(bytes);
        events.push(types::Event {
            id: reader.string(),
            source: reader.string(),
            type_: reader.string(),
            specversion: reader.string(),
            subject: reader.optional_string(),
            time: reader.optional_string(),
            datacontenttype: reader.optional_string(),
            dataschema: reader.optional_string(),
            data: reader.optional().map(<[u8]>::to_vec),
            extensions: (0..reader.count())
                .map(|_| (reader.string(), reader.string()))
                .collect(),
            stream: reader.string(),
            position: reader.string(),
        });
        bytes = reader.rest();
    }
    events
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

    fn optional(&mut self) -> Option<&'b [u8]> {
        let len = self.slot();
        if len == ABSENT {
            return None;
        }
        let (bytes, rest) = self.body.split_at(len as usize);
        self.body = rest;
        Some(bytes)
    }

    fn optional_string(&mut self) -> Option<String> {
        self.optional().map(|bytes| {
            String::from_utf8(bytes.to_vec()).expect("packed strings are the UTF-8 this host wrote")
        })
    }

    fn string(&mut self) -> String {
        self.optional_string()
            .expect("a required field of a packed event is present")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Data, EventTime, ExtensionValue};

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
        encode(
            &mut out,
            &full,
            "orders",
            Position::new(1_700_000_000_000, 12),
        );
        encode(
            &mut out,
            &bare,
            "orders",
            Position::new(1_700_000_000_001, 0),
        );
        let events = decode(&out);
        assert_eq!(events.len(), 2);
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
            let mut fields = Fields::start(&mut out, 0);
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
        encode(&mut out, &event, "x", Position::new(1, 2));
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
        assert_eq!(out, expected);
        assert_eq!(id(&out), "i");
    }
}
