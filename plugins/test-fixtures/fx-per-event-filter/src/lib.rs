//! Test fixture `fx-per-event-filter`: a filter written without guest-sdk, straight on
//! `wit-bindgen`, implementing the per-event world `eddy:plugin/filter`: it keeps the events
//! whose type starts with `keep` and drops the rest.

// The generated bindings and their exports are `unsafe` by nature.
#![allow(unsafe_code)]

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "eddy:plugin/filter",
    });
}

use bindings::eddy::plugin::types::{Error, Event};

struct PerEventFilter;

impl bindings::Guest for PerEventFilter {
    fn filter_event(event: Event) -> Result<bool, Error> {
        Ok(event.type_.starts_with("keep"))
    }
}

bindings::export!(PerEventFilter with_types_in bindings);
