//! Test fixture `fx-per-event-handler`: a handler written without guest-sdk, straight on
//! `wit-bindgen`, implementing the per-event world `eddy:plugin/handler`: for every event it
//! emits one `fx.echo` event to the stream `echo` with the same subject and data (and data
//! content type).

// The generated bindings and their exports are `unsafe` by nature.
#![allow(unsafe_code)]

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "eddy:plugin/handler",
    });
}

use bindings::eddy::plugin::types::{Error, Event, OutgoingEvent};

struct PerEventHandler;

impl bindings::Guest for PerEventHandler {
    fn handle_event(event: Event) -> Result<Vec<OutgoingEvent>, Error> {
        Ok(vec![OutgoingEvent {
            stream: "echo".to_owned(),
            type_: "fx.echo".to_owned(),
            subject: event.subject,
            source: None,
            datacontenttype: event.datacontenttype,
            dataschema: None,
            data: event.data,
            extensions: Vec::new(),
        }])
    }
}

bindings::export!(PerEventHandler with_types_in bindings);
