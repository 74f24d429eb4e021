//! Test fixture `fx-counter-v2`: "version 2" of `fx-per-event-reducer`, for shadow-replay tests.
//!
//! It keeps the same state, `{"count": n, "types": {type: n}}`, and agrees with version 1 on
//! every event except those of type `diverge`, which version 2 does not count in `count`. A
//! test plants such an event at a known place and expects the comparison to name it.

use std::collections::BTreeMap;

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The counts, as version 1 keeps them.
#[derive(Serialize, Deserialize)]
pub struct Counts {
    /// Events counted (version 2 leaves out `diverge` events).
    pub count: u64,
    /// Events per type.
    pub types: BTreeMap<String, u64>,
}

/// Version 2 of the counter.
pub struct CounterV2;

impl Reducer for CounterV2 {
    type State = Counts;

    fn init() -> Counts {
        Counts {
            count: 0,
            types: BTreeMap::new(),
        }
    }

    fn apply_event(state: &mut Counts, event: &Event) -> Result<(), Error> {
        if event.ty != "diverge" {
            state.count += 1;
        }
        *state.types.entry(event.ty.clone()).or_default() += 1;
        Ok(())
    }
}

guest_sdk::export!(CounterV2: Reducer);
