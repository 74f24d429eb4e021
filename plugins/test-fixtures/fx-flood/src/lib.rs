//! Test fixture `fx-flood`: a handler that, for an input of type `flood`, emits `count`
//! events (configuration key `count`, a million by default), so the host must refuse the
//! output by a bound instead of taking it in. Any other input emits one `fx.one` event.

use guest_sdk::{Error, Event, Handler, Outgoing};

/// Floods on `flood`, emits one event otherwise.
pub struct Flood;

impl Handler for Flood {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        if event.ty != "flood" {
            return Ok(vec![Outgoing::new("out", "fx.one")]);
        }
        let count: usize = guest_sdk::config::parse("count")?.unwrap_or(1_000_000);
        Ok((0..count)
            .map(|_| Outgoing::new("out", "fx.flood"))
            .collect())
    }
}

guest_sdk::export!(Flood: Handler);
