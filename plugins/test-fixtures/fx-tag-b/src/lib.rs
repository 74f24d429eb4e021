//! Test fixture `fx-tag-b`: version "b" of a handler that emits, per input, one `fx.tagged`
//! event to the stream `tagged` with data `{"version": "b", "input": <input id>}`. It and its
//! twin `fx-tag-a` are swapped under load by the hot-reload tests, which
//! then check that every input was handled by exactly one version.

use guest_sdk::{Error, Event, Handler, Outgoing};

/// Tags every input with this version.
pub struct Tag;

impl Handler for Tag {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        let data = serde_json::json!({ "version": "b", "input": event.id });
        Ok(vec![Outgoing::new("tagged", "fx.tagged").json(&data)?])
    }
}

guest_sdk::export!(Tag: Handler);
