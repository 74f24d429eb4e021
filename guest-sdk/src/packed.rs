//! Reading the `packed-events` buffer of the `reducer-packed` world (the layout is specified in
//! the WIT, above the world; the host writes it in `runtime/src/plugin/packed.rs`).
//!
//! Events are read one at a time into the same [`Event`], whose strings keep their capacity
//! from one event to the next: after the first few events of a call, reading an event copies
//! its bytes and allocates nothing. The text fields of an event sit back to back in two runs
//! (before and after `data`), so UTF-8 is checked twice per event, not once per field: a
//! check per field was a fifth of a reducer's time.

use crate::Event;

/// The length that marks an absent optional field.
const ABSENT: u32 = u32::MAX;

/// The length that marks a field with the value it had in the previous event of the buffer:
/// the reused [`Event`] already holds it, so reading it costs nothing.
const SAME: u32 = u32::MAX - 1;

/// Slots in an event's table besides two per extension: nine lengths before the extension
/// count, the count, and two lengths after the extensions.
const FIXED_SLOTS: usize = 12;

/// The slot of the extension count, after the lengths of `id` … `data`.
const EXTENSION_COUNT_SLOT: usize = 9;

/// The text fields before `data`, in table order.
const LEADING_TEXT: [&str; 8] = [
    "id",
    "source",
    "type",
    "specversion",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
];

/// The events of a packed buffer, read in order.
pub(crate) struct PackedEvents<'a> {
    rest: &'a [u8],
    /// Whether an event was read: only then may fields be [`SAME`].
    started: bool,
}

/// Why a buffer could not be read: it does not follow the `packed-events` encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl<'a> PackedEvents<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            started: false,
        }
    }

    /// Reads the next event into `event`; `Ok(false)` at the end of the buffer.
    pub(crate) fn read_into(&mut self, event: &mut Event) -> Result<bool, Malformed> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let pairs = slot(self.rest, EXTENSION_COUNT_SLOT).ok_or(Malformed("lengths"))? as usize;
        let table_len = pairs
            .checked_mul(2)
            .and_then(|n| n.checked_add(FIXED_SLOTS))
            .and_then(|n| n.checked_mul(4))
            .filter(|&n| n <= self.rest.len())
            .ok_or(Malformed("extensions"))?;
        let (table, mut body) = self.rest.split_at(table_len);

        let repeats = self.started;
        let mut leading = Run::take(&mut body, &table[..4 * 8], repeats, |i| LEADING_TEXT[i])?;
        leading.required(&mut event.id)?;
        leading.required(&mut event.source)?;
        leading.required(&mut event.ty)?;
        leading.required(&mut event.specversion)?;
        leading.optional(&mut event.subject)?;
        leading.optional(&mut event.time)?;
        leading.optional(&mut event.datacontenttype)?;
        leading.optional(&mut event.dataschema)?;

        match slot(table, 8).expect("the table holds the data slot") {
            ABSENT => event.data = None,
            SAME if repeats => {}
            SAME => return Err(Malformed("data")),
            len => {
                let (bytes, rest) = body
                    .split_at_checked(len as usize)
                    .ok_or(Malformed("data"))?;
                body = rest;
                match &mut event.data {
                    Some(data) => {
                        data.clear();
                        data.extend_from_slice(bytes);
                    }
                    None => event.data = Some(bytes.to_vec()),
                }
            }
        }

        let trailing_name = |i: usize| match i {
            i if i < 2 * pairs && i % 2 == 0 => "extension name",
            i if i < 2 * pairs => "extension value",
            i if i == 2 * pairs => "stream",
            _ => "position",
        };
        let mut trailing = Run::take(&mut body, &table[4 * 10..], repeats, trailing_name)?;
        event.extensions.truncate(pairs);
        for i in 0..pairs {
            let name = trailing.text()?;
            let value = trailing.text()?;
            match event.extensions.get_mut(i) {
                Some((n, v)) => {
                    set(n, name);
                    set(v, value);
                }
                None => event.extensions.push((name.to_owned(), value.to_owned())),
            }
        }
        trailing.required(&mut event.stream)?;
        trailing.required(&mut event.position)?;
        self.started = true;
        self.rest = body;
        Ok(true)
    }
}

/// The number in slot `index` of a table, if the bytes reach that far.
#[inline(always)]
fn slot(table: &[u8], index: usize) -> Option<u32> {
    let bytes = table.get(4 * index..4 * index + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Text fields stored back to back, measured by consecutive slots of the table: checked as
/// UTF-8 once, then cut field by field.
struct Run<'a, Name> {
    text: &'a str,
    slots: &'a [u8],
    index: usize,
    /// Whether fields may be [`SAME`] (not in the first event of a buffer).
    repeats: bool,
    name: Name,
}

/// One field of a run.
enum Field<'a> {
    Absent,
    Same,
    Text(&'a str),
}

// The per-field methods are `#[inline(always)]`: as calls (each with its own fuel checks in
// the engine) they were a quarter of a small reducer's time.
impl<'a, Name: Fn(usize) -> &'static str> Run<'a, Name> {
    /// Takes the run measured by `slots` off the front of `body`; `name` names field `i` of
    /// the run in errors.
    fn take(
        body: &mut &'a [u8],
        slots: &'a [u8],
        repeats: bool,
        name: Name,
    ) -> Result<Self, Malformed> {
        let mut total = 0usize;
        for i in 0..slots.len() / 4 {
            let len = slot(slots, i).expect("within the slots");
            if len != ABSENT && len != SAME {
                total = total.checked_add(len as usize).ok_or(Malformed(name(i)))?;
            }
        }
        let Some((bytes, rest)) = body.split_at_checked(total) else {
            return Err(Malformed(name(field_at(slots, body.len()))));
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Malformed(name(field_at(slots, e.valid_up_to()))))?;
        *body = rest;
        Ok(Self {
            text,
            slots,
            index: 0,
            repeats,
            name,
        })
    }

    #[inline(always)]
    fn next(&mut self) -> Result<Field<'a>, Malformed> {
        let index = self.index;
        let malformed = || Malformed((self.name)(index));
        let len = slot(self.slots, index).ok_or_else(malformed)?;
        self.index += 1;
        match len {
            ABSENT => Ok(Field::Absent),
            SAME if self.repeats => Ok(Field::Same),
            SAME => Err(malformed()),
            len => {
                // Cutting inside a character: the field's own bytes are not UTF-8.
                let (field, rest) = self
                    .text
                    .split_at_checked(len as usize)
                    .ok_or_else(malformed)?;
                self.text = rest;
                Ok(Field::Text(field))
            }
        }
    }

    /// Reads a field that every event has into `target` (left as it is when it repeats).
    #[inline(always)]
    fn required(&mut self, target: &mut String) -> Result<(), Malformed> {
        let name = (self.name)(self.index);
        match self.next()? {
            Field::Text(text) => set(target, text),
            Field::Same => {}
            Field::Absent => return Err(Malformed(name)),
        }
        Ok(())
    }

    /// Reads an optional field into `target` (left as it is when it repeats).
    #[inline(always)]
    fn optional(&mut self, target: &mut Option<String>) -> Result<(), Malformed> {
        match self.next()? {
            Field::Text(text) => set_optional(target, Some(text)),
            Field::Absent => *target = None,
            Field::Same => {}
        }
        Ok(())
    }

    /// Reads a field that is always written out (an extension's name or value).
    #[inline(always)]
    fn text(&mut self) -> Result<&'a str, Malformed> {
        let name = (self.name)(self.index);
        match self.next()? {
            Field::Text(text) => Ok(text),
            Field::Same | Field::Absent => Err(Malformed(name)),
        }
    }
}

/// The index of the field of a run that byte `offset` of the run falls in (the last field
/// when it is past the end).
fn field_at(slots: &[u8], offset: usize) -> usize {
    let fields = slots.len() / 4;
    let mut end = 0usize;
    for i in 0..fields {
        let len = slot(slots, i).expect("within the slots");
        if len != ABSENT && len != SAME {
            end = end.saturating_add(len as usize);
            if offset < end {
                return i;
            }
        }
    }
    fields.saturating_sub(1)
}

/// Overwrites `target` with `text`, keeping its allocation.
#[inline(always)]
fn set(target: &mut String, text: &str) {
    target.clear();
    target.push_str(text);
}

#[inline(always)]
fn set_optional(target: &mut Option<String>, text: Option<&str>) {
    match (target.as_mut(), text) {
        (Some(target), Some(text)) => set(target, text),
        (None, Some(text)) => *target = Some(text.to_owned()),
        (_, None) => *target = None,
    }
}

/// Packs events as the host does (fields equal to the previous event's as [`SAME`]); for the
/// SDK's own tests and for checking a plugin natively.
#[cfg(test)]
pub(crate) fn pack(events: &[Event]) -> Vec<u8> {
    fn repeatable(e: &Event) -> [Option<&[u8]>; 10] {
        [
            Some(e.source.as_bytes()),
            Some(e.ty.as_bytes()),
            Some(e.specversion.as_bytes()),
            e.subject.as_deref().map(str::as_bytes),
            e.time.as_deref().map(str::as_bytes),
            e.datacontenttype.as_deref().map(str::as_bytes),
            e.dataschema.as_deref().map(str::as_bytes),
            e.data.as_deref(),
            Some(e.stream.as_bytes()),
            Some(e.position.as_bytes()),
        ]
    }
    let mut out = Vec::new();
    let mut previous: Option<[Option<&[u8]>; 10]> = None;
    for e in events {
        let fields = repeatable(e);
        let mut table = vec![e.id.len() as u32];
        let mut body = e.id.as_bytes().to_vec();
        let put = |table: &mut Vec<u32>, body: &mut Vec<u8>, i: usize| {
            if previous.is_some_and(|p| p[i] == fields[i]) {
                table.push(SAME);
            } else if let Some(bytes) = fields[i] {
                table.push(bytes.len() as u32);
                body.extend_from_slice(bytes);
            } else {
                table.push(ABSENT);
            }
        };
        for i in 0..8 {
            put(&mut table, &mut body, i);
        }
        table.push(e.extensions.len() as u32);
        for (name, value) in &e.extensions {
            table.extend([name.len() as u32, value.len() as u32]);
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(value.as_bytes());
        }
        for i in 8..10 {
            put(&mut table, &mut body, i);
        }
        out.extend(table.iter().flat_map(|n| n.to_le_bytes()));
        out.extend_from_slice(&body);
        previous = Some(fields);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<Vec<Event>, Malformed> {
        let mut reader = PackedEvents::new(bytes);
        let mut event = Event::default();
        let mut all = Vec::new();
        while reader.read_into(&mut event)? {
            all.push(event.clone());
        }
        Ok(all)
    }

    fn sample() -> Vec<Event> {
        let c = Event {
            id: "c".into(),
            source: "/shop".into(),
            specversion: "1.0".into(),
            stream: "orders".into(),
            data: Some(Vec::new()),
            extensions: vec![("only".into(), "one".into())],
            subject: Some(String::new()),
            ..Event::default()
        };
        vec![
            Event {
                id: "a-long-identifier".into(),
                source: "/shop".into(),
                ty: "order.created".into(),
                specversion: "1.0".into(),
                subject: Some("order-1".into()),
                time: Some("2026-11-24T10:00:00Z".into()),
                datacontenttype: Some("application/json".into()),
                dataschema: None,
                data: Some(br#"{"qty":2}"#.to_vec()),
                extensions: vec![("tenant".into(), "acme".into()), ("n".into(), "3".into())],
                stream: "orders".into(),
                position: "10-0".into(),
            },
            // Every optional field absent after a full event: nothing may carry over.
            Event {
                id: "b".into(),
                source: "/s".into(),
                ty: "t".into(),
                specversion: "1.0".into(),
                stream: "orders".into(),
                position: "10-1".into(),
                ..Event::default()
            },
            c.clone(),
            // Every field but the id repeats the event before: packed as `SAME`.
            Event {
                id: "d".into(),
                ..c
            },
        ]
    }

    #[test]
    fn reading_into_one_reused_event_gives_each_event_exactly() {
        let events = sample();
        assert_eq!(read_all(&pack(&events)).unwrap(), events);
    }

    #[test]
    fn an_empty_buffer_holds_no_event() {
        assert_eq!(read_all(&[]).unwrap(), Vec::<Event>::new());
    }

    #[test]
    fn a_cut_or_corrupt_buffer_is_malformed_naming_the_field_not_a_panic() {
        let bytes = pack(&sample());
        for cut in 1..bytes.len() {
            let _ = read_all(&bytes[..cut]);
        }
        assert_eq!(read_all(&bytes[..2]), Err(Malformed("lengths")));
        // Event "b" has no extensions: a table of 12 lengths, then its bytes.
        let b = pack(&sample()[1..2]);
        let body = 4 * FIXED_SLOTS;
        let mut bad_utf8 = b.clone();
        bad_utf8[body] = 0xff;
        assert_eq!(read_all(&bad_utf8), Err(Malformed("id")));
        let mut bad_position = b.clone();
        *bad_position.last_mut().unwrap() = 0xff;
        assert_eq!(read_all(&bad_position), Err(Malformed("position")));
        let mut too_long = b.clone();
        too_long[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(read_all(&too_long), Err(Malformed("id")));
        let mut absurd_extensions = b.clone();
        absurd_extensions[4 * EXTENSION_COUNT_SLOT..4 * EXTENSION_COUNT_SLOT + 4]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_all(&absurd_extensions), Err(Malformed("extensions")));
    }

    #[test]
    fn repeated_fields_are_packed_once_and_read_back_in_every_event() {
        let events = sample();
        let alone = pack(&events[3..]);
        let after = pack(&events[2..]).split_off(pack(&events[2..3]).len());
        assert!(after.len() < alone.len(), "the repeating event is smaller");
        assert_eq!(read_all(&pack(&events)).unwrap(), events);
    }

    #[test]
    fn a_repeat_in_the_first_event_or_of_an_extension_is_malformed() {
        let events = sample();
        // The fourth event alone would repeat nothing: take its bytes as packed after the third.
        let after = pack(&events[2..]).split_off(pack(&events[2..3]).len());
        assert_eq!(read_all(&after), Err(Malformed("source")));
        let mut extension = pack(&events[3..]);
        let name_slot = 4 * (EXTENSION_COUNT_SLOT + 1);
        extension[name_slot..name_slot + 4].copy_from_slice(&SAME.to_le_bytes());
        assert_eq!(read_all(&extension), Err(Malformed("extension name")));
    }

    #[test]
    fn a_field_that_ends_inside_a_character_is_malformed_though_the_run_is_utf8() {
        let event = Event {
            id: "é".into(),
            source: "/s".into(),
            ..Event::default()
        };
        let mut bytes = pack(&[event]);
        // Move the boundary between `id` and `source` one byte into the `é`.
        bytes[..4].copy_from_slice(&1u32.to_le_bytes());
        bytes[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(read_all(&bytes), Err(Malformed("id")));
    }
}
