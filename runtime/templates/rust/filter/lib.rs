//! `{{name}}`: an Eddy filter. It keeps `order.paid` events and drops every other event.

use guest_sdk::{Error, Event, Filter};

/// The plugin: `export!` below makes it the component's filter.
pub struct Plugin;

impl Filter for Plugin {
    fn filter_event(event: &Event) -> Result<bool, Error> {
        Ok(event.ty == "order.paid")
    }
}

guest_sdk::export!(Plugin: Filter);
