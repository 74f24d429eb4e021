//! Test fixture `fx-loop`: a reducer that never returns on an event of type `loop`, so the
//! host's CPU limit (fuel) must stop it. Any other event adds 1 to `{"count": n}`.

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The counter every fixture reducer keeps.
#[derive(Serialize, Deserialize)]
pub struct Count {
    /// Events counted.
    pub count: u64,
}

/// Loops forever on `loop`, counts everything else.
pub struct Loop;

impl Reducer for Loop {
    type State = Count;

    fn init() -> Count {
        Count { count: 0 }
    }

    fn apply_event(state: &mut Count, event: &Event) -> Result<(), Error> {
        if event.ty == "loop" {
            // `black_box` keeps the optimiser from proving the loop has no effect.
            loop {
                std::hint::black_box(&mut *state);
            }
        }
        state.count += 1;
        Ok(())
    }
}

guest_sdk::export!(Loop: Reducer);
