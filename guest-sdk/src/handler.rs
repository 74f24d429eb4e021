//! Handlers: react to an event by emitting new events.

use crate::batch::{BatchFailure, run_batch};
use crate::{DataError, Error, Event};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A handler reacts to each event by asking the host to publish zero or more new events.
///
/// Implement it on a unit struct and export it with `guest_sdk::export!(MyType: Handler);`.
/// The returned events are published together with the acknowledgement of the input, with ids
/// derived from it, so a retried event does not publish twice.
pub trait Handler {
    /// The events to publish in reaction to `event` (an empty `Vec` for none).
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error>;
}

/// An event for the host to publish; build it with [`Outgoing::new`] and the chained setters.
///
/// ```
/// # fn main() -> Result<(), guest_sdk::Error> {
/// use guest_sdk::Outgoing;
/// let alert = Outgoing::new("alerts", "order.high_value")
///     .subject("o-1")
///     .json(&serde_json::json!({ "order": "o-1", "amount_cents": 250000 }))?;
/// # Ok(()) }
/// ```
///
/// The host fills in the rest: `id` (derived from the input event), `time` (the input's time),
/// `specversion`, and `source` when not set (`eddy://plugin/<plugin name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The stream to publish to.
    pub stream: String,
    /// The CloudEvents `type`.
    pub ty: String,
    /// The CloudEvents `subject`; set it with [`Outgoing::subject`].
    pub subject: Option<String>,
    /// The CloudEvents `source`; the host's default when `None`.
    pub source: Option<String>,
    /// The media type of `data`; the host assumes `application/json` when `None`.
    pub datacontenttype: Option<String>,
    /// A URI of the schema `data` adheres to.
    pub dataschema: Option<String>,
    /// The payload; set it with [`Outgoing::json`] or [`Outgoing::data`].
    pub data: Option<Vec<u8>>,
    /// CloudEvents extension attributes; add one with [`Outgoing::extension`].
    pub extensions: Vec<(String, String)>,
}

impl Outgoing {
    /// An event of type `ty` to publish to `stream`, with no subject and no data yet.
    pub fn new(stream: impl Into<String>, ty: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            ty: ty.into(),
            subject: None,
            source: None,
            datacontenttype: None,
            dataschema: None,
            data: None,
            extensions: Vec::new(),
        }
    }

    /// Sets the CloudEvents `subject` (the aggregate key, e.g. the order id).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the CloudEvents `source`, overriding the host's `eddy://plugin/<name>` default.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the URI of the schema the data adheres to.
    pub fn dataschema(mut self, dataschema: impl Into<String>) -> Self {
        self.dataschema = Some(dataschema.into());
        self
    }

    /// Sets the data to `value` as JSON (`application/json`); fails with a reject if it cannot
    /// be serialised.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|err| Error::reject(format!("cannot encode event data as JSON: {err}")))?;
        self.data = Some(bytes);
        self.datacontenttype = Some("application/json".to_owned());
        Ok(self)
    }

    /// Sets raw data with its media type, e.g. `.data(b"hi".to_vec(), "text/plain")`.
    pub fn data(mut self, bytes: impl Into<Vec<u8>>, content_type: impl Into<String>) -> Self {
        self.data = Some(bytes.into());
        self.datacontenttype = Some(content_type.into());
        self
    }

    /// Adds the CloudEvents extension attribute `name` with `value`.
    pub fn extension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((name.into(), value.into()));
        self
    }

    /// Parses the data back from JSON, e.g. to check a handler's output in a unit test.
    pub fn data_json<T: DeserializeOwned>(&self) -> Result<T, DataError> {
        let data = self.data.as_deref().ok_or(DataError::Missing)?;
        serde_json::from_slice(data).map_err(DataError::Invalid)
    }
}

/// `handle-events`: one list of outgoing events per input event, in order.
pub(crate) fn handle_events<H: Handler>(
    events: &[Event],
    enter: impl FnMut(u32),
) -> Result<Vec<Vec<Outgoing>>, BatchFailure> {
    run_batch(events, enter, H::handle_event)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Handler for Echo {
        fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
            match event.ty.as_str() {
                "flaky" => Err(Error::retry("try later")),
                "quiet" => Ok(Vec::new()),
                ty => Ok(vec![Outgoing::new("echo", format!("{ty}.echo"))]),
            }
        }
    }

    fn ev(ty: &str) -> Event {
        Event {
            ty: ty.into(),
            ..Event::default()
        }
    }

    #[test]
    fn builder_sets_every_field() {
        let out = Outgoing::new("alerts", "order.high_value")
            .subject("o-1")
            .source("/shop")
            .dataschema("https://example.invalid/schema")
            .extension("tenant", "acme")
            .json(&serde_json::json!({"amount_cents": 5}))
            .unwrap();
        assert_eq!(out.stream, "alerts");
        assert_eq!(out.ty, "order.high_value");
        assert_eq!(out.subject.as_deref(), Some("o-1"));
        assert_eq!(out.source.as_deref(), Some("/shop"));
        assert_eq!(
            out.dataschema.as_deref(),
            Some("https://example.invalid/schema")
        );
        assert_eq!(out.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(out.data.as_deref(), Some(&br#"{"amount_cents":5}"#[..]));
        assert_eq!(out.extensions, [("tenant".to_owned(), "acme".to_owned())]);
    }

    #[test]
    fn raw_data_keeps_its_content_type() {
        let out = Outgoing::new("s", "t").data(&b"hi"[..], "text/plain");
        assert_eq!(out.data.as_deref(), Some(&b"hi"[..]));
        assert_eq!(out.datacontenttype.as_deref(), Some("text/plain"));
        let bare = Outgoing::new("s", "t");
        assert_eq!(
            (bare.subject, bare.data, bare.datacontenttype),
            (None, None, None)
        );
    }

    #[test]
    fn data_json_reads_the_payload_back() {
        let out = Outgoing::new("s", "t")
            .json(&serde_json::json!({"n": 1}))
            .unwrap();
        assert_eq!(
            out.data_json::<serde_json::Value>().unwrap(),
            serde_json::json!({"n": 1})
        );
        assert!(matches!(
            Outgoing::new("s", "t").data_json::<serde_json::Value>(),
            Err(DataError::Missing)
        ));
    }

    #[test]
    fn json_that_cannot_be_encoded_is_a_reject() {
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1u8], 1);
        let err = Outgoing::new("s", "t").json(&bad).unwrap_err();
        assert!(!err.is_retry());
        assert!(
            err.message()
                .starts_with("cannot encode event data as JSON"),
            "{err}"
        );
    }

    #[test]
    fn returns_one_list_per_input_event() {
        let out = handle_events::<Echo>(&[ev("a"), ev("quiet"), ev("b")], |_| {}).unwrap();
        assert_eq!(
            out,
            [
                vec![Outgoing::new("echo", "a.echo")],
                vec![],
                vec![Outgoing::new("echo", "b.echo")]
            ]
        );
    }

    #[test]
    fn a_retry_fails_the_batch_at_that_event() {
        let err = handle_events::<Echo>(&[ev("a"), ev("flaky")], |_| {}).unwrap_err();
        assert_eq!(
            err,
            BatchFailure {
                index: 1,
                error: Error::retry("try later")
            }
        );
    }
}
