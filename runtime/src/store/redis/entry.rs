//! Turning Redis stream entries back into events.
//!
//! Range replies (`XRANGE`, `XREVRANGE`, scripts returning entries) are taken apart straight
//! from the reply, moving each entry's `event` bytes out of it: the redis crate's
//! `StreamRangeReply` builds a `HashMap` of owned field names and values per entry, which
//! cost about as much as decoding the event itself (`perf`, `eddy bench replay`).

use redis::streams::StreamId;
use redis::{FromRedisValue, ParsingError, Value};

use crate::store::error::parse_position;
use crate::store::{StoreError, StoredEvent, decode_event};

/// The field of a stream entry that holds the structured-mode JSON event.
pub(super) const EVENT_FIELD: &str = "event";

/// The entries of a range reply, in reply order.
#[derive(Debug, Default)]
pub(super) struct RangeReply(pub(super) Vec<RawEntry>);

/// One stream entry: its id and its `event` field, if it has one.
#[derive(Debug)]
pub(super) struct RawEntry {
    pub(super) id: String,
    event: Option<Vec<u8>>,
}

impl FromRedisValue for RangeReply {
    fn from_redis_value(value: Value) -> Result<Self, ParsingError> {
        match value {
            Value::Nil => Ok(Self::default()),
            Value::Array(entries) => entries
                .into_iter()
                .map(RawEntry::from_value)
                .collect::<Result<_, _>>()
                .map(Self),
            other => Err(format!("a stream range reply is an array, not {other:?}").into()),
        }
    }
}

impl RawEntry {
    fn from_value(value: Value) -> Result<Self, ParsingError> {
        let Value::Array(parts) = value else {
            return Err(format!("a stream entry is an array, not {value:?}").into());
        };
        let mut parts = parts.into_iter();
        let id = match parts.next() {
            Some(Value::BulkString(id)) => String::from_utf8(id)?,
            Some(Value::SimpleString(id)) => id,
            other => return Err(format!("a stream entry starts with its id, not {other:?}").into()),
        };
        let event = match parts.next() {
            Some(Value::Array(fields)) => {
                let mut fields = fields.into_iter();
                let mut event = None;
                while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                    if is_event_field(&name) {
                        event = Some(bytes_of(value)?);
                        break;
                    }
                }
                event
            }
            Some(Value::Map(fields)) => match fields.into_iter().find(|(n, _)| is_event_field(n)) {
                Some((_, value)) => Some(bytes_of(value)?),
                None => None,
            },
            // An entry deleted while pending (claims) has no fields.
            Some(Value::Nil) | None => None,
            Some(other) => {
                return Err(format!("a stream entry's fields are an array, not {other:?}").into());
            }
        };
        Ok(Self { id, event })
    }
}

fn is_event_field(name: &Value) -> bool {
    match name {
        Value::BulkString(name) => name == EVENT_FIELD.as_bytes(),
        Value::SimpleString(name) => name == EVENT_FIELD,
        _ => false,
    }
}

fn bytes_of(value: Value) -> Result<Vec<u8>, ParsingError> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        other => Err(format!("a stream entry's field value is a string, not {other:?}").into()),
    }
}

/// Decodes one entry of an Eddy stream.
pub(super) fn decode(entry: &RawEntry) -> Result<StoredEvent, StoreError> {
    decode_parts(&entry.id, entry.event.as_deref())
}

/// Decodes the entries of a group read or claim, which the redis crate's stream replies hand
/// over as `StreamId`s.
pub(super) fn decode_stream_ids(entries: &[StreamId]) -> Result<Vec<StoredEvent>, StoreError> {
    entries
        .iter()
        .map(|entry| {
            let json: Option<Vec<u8>> = entry.get(EVENT_FIELD);
            decode_parts(&entry.id, json.as_deref())
        })
        .collect()
}

fn decode_parts(id: &str, json: Option<&[u8]>) -> Result<StoredEvent, StoreError> {
    let position = parse_position(id)?;
    let json = json.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "stream entry {position} has no `{EVENT_FIELD}` field (written by another tool?)"
        ))
    })?;
    decode_event(position, json)
}

/// Decodes entries in order.
pub(super) fn decode_all(reply: &RangeReply) -> Result<Vec<StoredEvent>, StoreError> {
    reply.0.iter().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn entries_are_read_from_arrays_and_maps_finding_the_event_field_among_others() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("id"), bulk("a"), bulk("event"), bulk("{}")]),
            ]),
            Value::Array(vec![
                bulk("2-0"),
                Value::Map(vec![(bulk("event"), bulk("[1]")), (bulk("x"), bulk("y"))]),
            ]),
            Value::Array(vec![bulk("3-0"), Value::Array(vec![bulk("id"), bulk("b")])]),
            Value::Array(vec![bulk("4-0"), Value::Nil]),
        ]);
        let RangeReply(entries) = RangeReply::from_redis_value(reply).unwrap();
        let seen: Vec<(&str, Option<&[u8]>)> = entries
            .iter()
            .map(|e| (e.id.as_str(), e.event.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("1-0", Some(&b"{}"[..])),
                ("2-0", Some(&b"[1]"[..])),
                ("3-0", None),
                ("4-0", None)
            ]
        );
        assert!(
            RangeReply::from_redis_value(Value::Nil)
                .unwrap()
                .0
                .is_empty()
        );
    }

    #[test]
    fn a_reply_of_another_shape_is_a_parsing_error_not_a_panic() {
        for bad in [
            Value::Int(1),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![Value::Int(1)])]),
            Value::Array(vec![Value::Array(vec![bulk("1-0"), Value::Int(2)])]),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("event"), Value::Int(3)]),
            ])]),
        ] {
            assert!(RangeReply::from_redis_value(bad).is_err());
        }
    }

    #[test]
    fn an_entry_without_an_event_field_is_reported_as_corrupt() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("5-1"),
            Value::Array(vec![bulk("id"), bulk("a")]),
        ])]);
        let reply = RangeReply::from_redis_value(reply).unwrap();
        assert!(matches!(decode_all(&reply), Err(StoreError::Corrupt(m)) if m.contains("5-1")));
    }
}
