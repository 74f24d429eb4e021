//! Reading the `packed-events` buffer of the `reducer-packed` world (the layout is specified in
//! the WIT, above the world; the host writes it in `runtime/src/plugin/packed.rs`).
//!
//! Events are read one at a time into the same [`Event`], whose strings keep their capacity
//! from one event to the next: after the first few events of a call, reading an event copies
//! its bytes and allocates nothing.

use crate::Event;

/// The length that marks an absent optional field.
const ABSENT: u32 = u32::MAX;

/// The events of a packed buffer, read in order.
pub(crate) struct PackedEvents<'a> {
    rest: &'a [u8],
}

/// Why a buffer could not be read: it does not follow the `packed-events` encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl<'a> PackedEvents<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Reads the next event into `event`; `Ok(false)` at the end of the buffer.
    pub(crate) fn read_into(&mut self, event: &mut Event) -> Result<bool, Malformed> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        set(&mut event.id, self.string("id")?);
        set(&mut event.source, self.string("source")?);
        set(&mut event.ty, self.string("type")?);
        set(&mut event.specversion, self.string("specversion")?);
        set_optional(&mut event.subject, self.optional_string("subject")?);
        set_optional(&mut event.time, self.optional_string("time")?);
        set_optional(
            &mut event.datacontenttype,
            self.optional_string("datacontenttype")?,
        );
        set_optional(&mut event.dataschema, self.optional_string("dataschema")?);
        match self.optional("data")? {
            Some(bytes) => match &mut event.data {
                Some(data) => {
                    data.clear();
                    data.extend_from_slice(bytes);
                }
                None => event.data = Some(bytes.to_vec()),
            },
            None => event.data = None,
        }
        let pairs = self.len("extensions")? as usize;
        event.extensions.truncate(pairs);
        for i in 0..pairs {
            let name = self.string("extension name")?;
            let value = self.string("extension value")?;
            match event.extensions.get_mut(i) {
                Some((n, v)) => {
                    set(n, name);
                    set(v, value);
                }
                None => event.extensions.push((name.to_owned(), value.to_owned())),
            }
        }
        set(&mut event.stream, self.string("stream")?);
        set(&mut event.position, self.string("position")?);
        Ok(true)
    }

    fn len(&mut self, field: &'static str) -> Result<u32, Malformed> {
        let Some((len, rest)) = self.rest.split_first_chunk::<4>() else {
            return Err(Malformed(field));
        };
        self.rest = rest;
        Ok(u32::from_le_bytes(*len))
    }

    fn optional(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, Malformed> {
        let len = self.len(field)?;
        if len == ABSENT {
            return Ok(None);
        }
        let len = len as usize;
        if len > self.rest.len() {
            return Err(Malformed(field));
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(Some(bytes))
    }

    fn optional_string(&mut self, field: &'static str) -> Result<Option<&'a str>, Malformed> {
        match self.optional(field)? {
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Malformed(field)),
            None => Ok(None),
        }
    }

    fn string(&mut self, field: &'static str) -> Result<&'a str, Malformed> {
        self.optional_string(field)?.ok_or(Malformed(field))
    }
}

/// Overwrites `target` with `text`, keeping its allocation.
fn set(target: &mut String, text: &str) {
    target.clear();
    target.push_str(text);
}

fn set_optional(target: &mut Option<String>, text: Option<&str>) {
    match (target.as_mut(), text) {
        (Some(target), Some(text)) => set(target, text),
        (None, Some(text)) => *target = Some(text.to_owned()),
        (_, None) => *target = None,
    }
}

/// Packs events as the host does; for the SDK's own tests and for checking a plugin natively.
#[cfg(test)]
pub(crate) fn pack(events: &[Event]) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    fn put_optional(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => put(out, bytes),
            None => out.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }
    let mut out = Vec::new();
    for e in events {
        put(&mut out, e.id.as_bytes());
        put(&mut out, e.source.as_bytes());
        put(&mut out, e.ty.as_bytes());
        put(&mut out, e.specversion.as_bytes());
        put_optional(&mut out, e.subject.as_deref().map(str::as_bytes));
        put_optional(&mut out, e.time.as_deref().map(str::as_bytes));
        put_optional(&mut out, e.datacontenttype.as_deref().map(str::as_bytes));
        put_optional(&mut out, e.dataschema.as_deref().map(str::as_bytes));
        put_optional(&mut out, e.data.as_deref());
        out.extend_from_slice(&(e.extensions.len() as u32).to_le_bytes());
        for (name, value) in &e.extensions {
            put(&mut out, name.as_bytes());
            put(&mut out, value.as_bytes());
        }
        put(&mut out, e.stream.as_bytes());
        put(&mut out, e.position.as_bytes());
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
            Event {
                id: "c".into(),
                data: Some(Vec::new()),
                extensions: vec![("only".into(), "one".into())],
                subject: Some(String::new()),
                ..Event::default()
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
        assert_eq!(read_all(&bytes[..2]), Err(Malformed("id")));
        let mut bad_utf8 = pack(&sample()[1..2]);
        bad_utf8[4] = 0xff;
        assert_eq!(read_all(&bad_utf8), Err(Malformed("id")));
        let mut too_long = pack(&sample()[1..2]);
        too_long[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(read_all(&too_long), Err(Malformed("id")));
    }
}
