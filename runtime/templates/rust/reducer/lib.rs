//! `{{name}}`: an Eddy reducer. Per subject, it counts the events, in total and by type.
//!
//! State (JSON), before the first event: `{"count": 0, "types": {}}`.

use std::collections::BTreeMap;

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The plugin: `export!` below makes it the component's reducer.
pub struct Plugin;

/// The state of one subject. Maps are `BTreeMap`s so that their JSON is ordered.
#[derive(Serialize, Deserialize)]
pub struct State {
    count: u64,
    types: BTreeMap<String, u64>,
}

impl Reducer for Plugin {
    type State = State;

    fn init() -> State {
        State {
            count: 0,
            types: BTreeMap::new(),
        }
    }

    fn apply_event(state: &mut State, event: &Event) -> Result<(), Error> {
        state.count += 1;
        *state.types.entry(event.ty.clone()).or_default() += 1;
        Ok(())
    }
}

guest_sdk::export!(Plugin: Reducer);
