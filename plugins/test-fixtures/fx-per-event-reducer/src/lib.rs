//! Test fixture `fx-per-event-reducer`: a reducer written without guest-sdk, straight on
//! `wit-bindgen`, implementing the per-event world `eddy:plugin/reducer` (one call per event),
//! to prove the host accepts that form.
//!
//! State: `{"count": n, "types": {type: n}}`.

// The generated bindings and their exports are `unsafe` by nature.
#![allow(unsafe_code)]

use std::collections::BTreeMap;

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "eddy:plugin/reducer",
    });
}

use bindings::eddy::plugin::types::{Error, Event};

#[derive(serde::Serialize, serde::Deserialize)]
struct Counts {
    count: u64,
    types: BTreeMap<String, u64>,
}

struct PerEventReducer;

impl bindings::Guest for PerEventReducer {
    fn init() -> Vec<u8> {
        serde_json::to_vec(&Counts {
            count: 0,
            types: BTreeMap::new(),
        })
        .expect("a map of strings encodes")
    }

    fn apply_event(state: Vec<u8>, event: Event) -> Result<Vec<u8>, Error> {
        let mut counts: Counts = serde_json::from_slice(&state)
            .map_err(|err| Error::Reject(format!("cannot decode the state: {err}")))?;
        counts.count += 1;
        *counts.types.entry(event.type_).or_default() += 1;
        serde_json::to_vec(&counts)
            .map_err(|err| Error::Reject(format!("cannot encode the state: {err}")))
    }
}

bindings::export!(PerEventReducer with_types_in bindings);
