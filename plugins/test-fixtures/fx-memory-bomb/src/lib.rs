//! Test fixture `fx-memory-bomb`: a reducer that, on an event of type `bomb`, allocates and
//! touches 1 MiB after 1 MiB without end, so the host's memory limit must stop it. Any other
//! event adds 1 to `{"count": n}`.

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The counter every fixture reducer keeps.
#[derive(Serialize, Deserialize)]
pub struct Count {
    /// Events counted.
    pub count: u64,
}

/// Exhausts memory on `bomb`, counts everything else.
pub struct MemoryBomb;

impl Reducer for MemoryBomb {
    type State = Count;

    fn init() -> Count {
        Count { count: 0 }
    }

    fn apply_event(state: &mut Count, event: &Event) -> Result<(), Error> {
        if event.ty == "bomb" {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Filled with 1s (not zeros) so every page is really written.
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&mut hoard);
            }
        }
        state.count += 1;
        Ok(())
    }
}

guest_sdk::export!(MemoryBomb: Reducer);
