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

/// Appends `event`, read from `stream` at `position`, to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, event: &CloudEvent, stream: &str, position: Position) {
    put(out, event.id.as_bytes());
    put(out, event.source.as_bytes());
    put(out, event.ty.as_bytes());
    put(out, event.specversion.as_bytes());
    put_optional(out, event.subject.as_deref().map(str::as_bytes));
    put_optional(out, event.time.as_ref().map(|t| t.as_str().as_bytes()));
    put_optional(out, event.datacontenttype.as_deref().map(str::as_bytes));
    put_optional(out, event.dataschema.as_deref().map(str::as_bytes));
    put_optional(out, event.data.as_ref().map(|d| d.as_bytes()));
    put_len(out, event.extensions.len());
    for (name, value) in &event.extensions {
        put(out, name.as_bytes());
        put_display(out, value);
    }
    put(out, stream.as_bytes());
    put_position(out, position);
}

/// Writes `<ms>-<seq>` as `Position`'s `Display` does, without the formatting machinery (it
/// is written for every event, and `write!` cost as much as the rest of the event).
fn put_position(out: &mut Vec<u8>, position: Position) {
    let mut text = [0u8; 41];
    let mut len = decimal(position.ms, &mut text);
    text[len] = b'-';
    len += 1;
    len += decimal(position.seq, &mut text[len..]);
    put(out, &text[..len]);
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

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Events are bounded far below 4 GiB by the store's limits; a longer field would make the
    // buffer unreadable, so it is a bug worth stopping on, not something to truncate.
    let len = u32::try_from(len).expect("an event field shorter than 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_optional(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => put(out, bytes),
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// Writes a value's text form without an intermediate `String`: a placeholder length, the
/// text, then the real length.
fn put_display(out: &mut Vec<u8>, value: &impl std::fmt::Display) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut text = ByteWriter(out);
    write!(text, "{value}").expect("writing into a Vec cannot fail");
    let len = u32::try_from(out.len() - at - 4).expect("an event field shorter than 4 GiB");
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
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
pub(crate) fn id(mut bytes: &[u8]) -> &str {
    let bytes = Reader(&mut bytes)
        .optional()
        .expect("an event starts with its id");
    std::str::from_utf8(bytes).expect("packed strings are the UTF-8 this host wrote")
}

/// Reads packed events back into WIT records, for the worlds that take a `list<event>`.
///
/// The buffer is one this module wrote, so a malformed one is a bug: it panics.
pub(crate) fn decode(mut bytes: &[u8]) -> Vec<types::Event> {
    let mut events = Vec::new();
    while !bytes.is_empty() {
        let mut reader = Reader(&mut bytes);
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
            extensions: (0..reader.len())
                .map(|_| (reader.string(), reader.string()))
                .collect(),
            stream: reader.string(),
            position: reader.string(),
        });
    }
    events
}

struct Reader<'a, 'b>(&'a mut &'b [u8]);

impl<'b> Reader<'_, 'b> {
    fn len(&mut self) -> u32 {
        let (len, rest) = self.0.split_at(4);
        *self.0 = rest;
        u32::from_le_bytes(len.try_into().expect("four bytes"))
    }

    fn optional(&mut self) -> Option<&'b [u8]> {
        let len = self.len();
        if len == ABSENT {
            return None;
        }
        let (bytes, rest) = self.0.split_at(len as usize);
        *self.0 = rest;
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
            put_position(&mut out, position);
            assert_eq!(&out[4..], position.to_string().as_bytes());
            assert_eq!(out[..4], (out.len() as u32 - 4).to_le_bytes());
        }
    }

    #[test]
    fn the_layout_is_the_one_the_wit_documents() {
        let event = CloudEvent::new("i", "s", "t");
        let mut out = Vec::new();
        encode(&mut out, &event, "x", Position::new(1, 2));
        let absent = [0xff, 0xff, 0xff, 0xff];
        let mut expected = Vec::new();
        for field in [&b"i"[..], b"s", b"t", b"1.0"] {
            expected.extend_from_slice(&(field.len() as u32).to_le_bytes());
            expected.extend_from_slice(field);
        }
        for _ in 0..5 {
            expected.extend_from_slice(&absent);
        }
        expected.extend_from_slice(&0u32.to_le_bytes());
        expected.extend_from_slice(&[1, 0, 0, 0, b'x', 3, 0, 0, 0, b'1', b'-', b'2']);
        assert_eq!(out, expected);
    }
}
