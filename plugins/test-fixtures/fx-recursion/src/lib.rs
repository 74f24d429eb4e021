//! Test fixture `fx-recursion`: a reducer that, on an event of type `recurse`, calls itself
//! without end, so the stack overflows and the host must fail that call and survive. Any other
//! event adds 1 to `{"count": n}`.

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The counter every fixture reducer keeps.
#[derive(Serialize, Deserialize)]
pub struct Count {
    /// Events counted.
    pub count: u64,
}

/// Overflows the stack on `recurse`, counts everything else.
pub struct Recursion;

/// Recurses for ever; `black_box` keeps the compiler from turning it into a loop.
#[allow(unconditional_recursion)]
fn descend(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    descend(frame[depth as usize % 16] + 1) + frame[0]
}

impl Reducer for Recursion {
    type State = Count;

    fn init() -> Count {
        Count { count: 0 }
    }

    fn apply_event(state: &mut Count, event: &Event) -> Result<(), Error> {
        if event.ty == "recurse" {
            state.count += descend(0);
        }
        state.count += 1;
        Ok(())
    }
}

guest_sdk::export!(Recursion: Reducer);
