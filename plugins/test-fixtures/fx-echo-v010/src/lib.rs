//! Test fixture `fx-echo-v010`: `fx-echo` written straight on `wit-bindgen` against the
//! released `eddy:plugin@0.1.0` (`wit/plugin.wit` here is that release, verbatim), in its
//! `reducer-batch` world (events as a `list<event>`). It proves two things: a component built
//! against 0.1.0 still loads in a host of a later 0.1.x, and the record form and the packed
//! form hand a plugin the same events.

// The generated bindings and their exports are `unsafe` by nature.
#![allow(unsafe_code)]

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "eddy:plugin/reducer-batch@0.1.0",
    });
}

use bindings::eddy::plugin::batch_context::enter_event;
use bindings::eddy::plugin::types::{BatchError, Error, Event};
use serde_json::{Value, json};

struct EchoV010;

impl bindings::Guest for EchoV010 {
    fn init() -> Vec<u8> {
        b"[]".to_vec()
    }

    fn apply_events(state: Vec<u8>, events: Vec<Event>) -> Result<Vec<u8>, BatchError> {
        let reject = |index, message: String| BatchError {
            index,
            error: Error::Reject(message),
        };
        let mut seen: Vec<Value> = serde_json::from_slice(&state)
            .map_err(|err| reject(0, format!("cannot decode the state: {err}")))?;
        for (index, event) in (0u32..).zip(events) {
            enter_event(index);
            seen.push(json!({
                "id": event.id,
                "source": event.source,
                "type": event.type_,
                "specversion": event.specversion,
                "subject": event.subject,
                "time": event.time,
                "datacontenttype": event.datacontenttype,
                "dataschema": event.dataschema,
                "data": event.data,
                "extensions": event.extensions,
                "stream": event.stream,
                "position": event.position,
            }));
        }
        serde_json::to_vec(&seen).map_err(|err| reject(0, format!("cannot encode: {err}")))
    }
}

bindings::export!(EchoV010 with_types_in bindings);
