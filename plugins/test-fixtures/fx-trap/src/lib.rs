//! Test fixture `fx-trap`: a reducer that panics on an event of type `trap` (with
//! `panic = "abort"` a panic is a wasm trap), so the host must fail that call and survive.
//! Any other event adds 1 to `{"count": n}`.

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The counter every fixture reducer keeps.
#[derive(Serialize, Deserialize)]
pub struct Count {
    /// Events counted.
    pub count: u64,
}

/// Traps on `trap`, counts everything else.
pub struct Trap;

impl Reducer for Trap {
    type State = Count;

    fn init() -> Count {
        Count { count: 0 }
    }

    fn apply_event(state: &mut Count, event: &Event) -> Result<(), Error> {
        if event.ty == "trap" {
            panic!("fx-trap: trapping on event {} as asked", event.id);
        }
        state.count += 1;
        Ok(())
    }
}

guest_sdk::export!(Trap: Reducer);
