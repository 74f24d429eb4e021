//! Test fixture `fx-huge-state`: a reducer that, on an event of type `grow`, returns a state
//! of `size_mb` MiB (configuration key, 1 GiB by default), so the host must refuse it by a
//! bound instead of taking it in. Any other event adds 1 to `{"count": n}`.

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// The counter, and the padding that makes the state huge.
#[derive(Serialize, Deserialize)]
pub struct Count {
    /// Events counted.
    pub count: u64,
    /// Empty, or `size_mb` MiB of text after a `grow`.
    #[serde(default)]
    pub padding: String,
}

/// Returns a 1 GiB state on `grow`, counts everything else.
pub struct HugeState;

impl Reducer for HugeState {
    type State = Count;

    fn init() -> Count {
        Count {
            count: 0,
            padding: String::new(),
        }
    }

    fn apply_event(state: &mut Count, event: &Event) -> Result<(), Error> {
        if event.ty == "grow" {
            let size_mb: usize = guest_sdk::config::parse("size_mb")?.unwrap_or(1024);
            state.padding = "x".repeat(size_mb << 20);
        }
        state.count += 1;
        Ok(())
    }
}

guest_sdk::export!(HugeState: Reducer);
