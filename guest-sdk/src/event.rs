//! The event a plugin receives, and helpers to read its payload.

use serde::de::DeserializeOwned;
use std::fmt;

/// One CloudEvents 1.0 event, as read from a stream; field meanings follow the CloudEvents spec.
///
/// `Default` gives an empty event, handy in unit tests:
/// `Event { ty: "order.created".into(), ..Default::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// Identifies the event; unique per `source`.
    pub id: String,
    /// The context in which the event happened (a URI-reference), e.g. `/shop`.
    pub source: String,
    /// The kind of event (CloudEvents `type`), e.g. `order.created`.
    pub ty: String,
    /// The CloudEvents version, `1.0`.
    pub specversion: String,
    /// The thing the event is about: the aggregate key (an order id); reducer state is per subject.
    pub subject: Option<String>,
    /// When the event happened, RFC 3339 (e.g. `2026-11-24T10:00:00Z`).
    pub time: Option<String>,
    /// The media type of `data`, e.g. `application/json`.
    pub datacontenttype: Option<String>,
    /// A URI of the schema `data` adheres to.
    pub dataschema: Option<String>,
    /// The payload; for JSON events the UTF-8 JSON text. Read it with [`Event::data_json`].
    pub data: Option<Vec<u8>>,
    /// CloudEvents extension attributes as name/value pairs; look one up with [`Event::extension`].
    pub extensions: Vec<(String, String)>,
    /// The stream the event was read from.
    pub stream: String,
    /// The event's position in that stream, `<milliseconds>-<sequence>`.
    pub position: String,
}

impl Event {
    /// Parses `data` as JSON into `T`; absent data or a shape mismatch is a [`DataError`].
    ///
    /// Use `serde_json::Value` as `T` to accept any JSON. `?` turns the error into
    /// [`Error::Reject`](crate::Error::Reject).
    pub fn data_json<T: DeserializeOwned>(&self) -> Result<T, DataError> {
        let data = self.data.as_deref().ok_or(DataError::Missing)?;
        serde_json::from_slice(data).map_err(DataError::Invalid)
    }

    /// The payload as text, if there is one and it is valid UTF-8.
    pub fn data_str(&self) -> Option<&str> {
        self.data
            .as_deref()
            .and_then(|d| std::str::from_utf8(d).ok())
    }

    /// The value of the extension attribute `name`, if the event carries it.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Why [`Event::data_json`] could not produce a value.
#[derive(Debug)]
pub enum DataError {
    /// The event has no `data` at all.
    Missing,
    /// `data` is not JSON, or not JSON of the expected shape; the serde error says where.
    Invalid(serde_json::Error),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("event data is missing"),
            Self::Invalid(err) => write!(f, "event data does not have the expected shape: {err}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Missing => None,
            Self::Invalid(err) => Some(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        sku: String,
        qty: i64,
    }

    fn event_with_data(data: &str) -> Event {
        Event {
            data: Some(data.as_bytes().to_vec()),
            ..Event::default()
        }
    }

    #[test]
    fn data_json_parses_the_expected_shape_and_ignores_extra_fields() {
        let event = event_with_data(r#"{"sku":"a","qty":2,"extra":true}"#);
        let item: Item = event.data_json().unwrap();
        assert_eq!(
            item,
            Item {
                sku: "a".into(),
                qty: 2
            }
        );
    }

    #[test]
    fn data_json_without_data_is_a_missing_error() {
        let err = Event::default().data_json::<Item>().unwrap_err();
        assert!(matches!(err, DataError::Missing));
        assert_eq!(err.to_string(), "event data is missing");
    }

    #[test]
    fn data_json_names_the_problem_on_a_shape_mismatch() {
        let err = event_with_data(r#"{"sku":"a"}"#)
            .data_json::<Item>()
            .unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("event data does not have the expected shape"));
        assert!(message.contains("missing field `qty`"), "{message}");

        let err = event_with_data("not json").data_json::<Item>().unwrap_err();
        assert!(matches!(err, DataError::Invalid(_)));
    }

    #[test]
    fn data_str_is_the_utf8_payload_or_none() {
        assert_eq!(event_with_data("héllo").data_str(), Some("héllo"));
        assert_eq!(Event::default().data_str(), None);
        let binary = Event {
            data: Some(vec![0xff, 0xfe]),
            ..Event::default()
        };
        assert_eq!(binary.data_str(), None);
    }

    #[test]
    fn extension_finds_a_value_by_name() {
        let event = Event {
            extensions: vec![
                ("traceparent".into(), "00-abc".into()),
                ("tenant".into(), "acme".into()),
            ],
            ..Event::default()
        };
        assert_eq!(event.extension("tenant"), Some("acme"));
        assert_eq!(event.extension("missing"), None);
    }
}
