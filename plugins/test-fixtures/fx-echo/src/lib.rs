//! Test fixture `fx-echo`: a reducer whose state is the list of every event it was given, each
//! with all its fields, so a test can check that every field crosses into the plugin intact.
//! Built with guest-sdk, so it implements the `reducer-packed` world; `fx-echo-v010` is the
//! same reducer on the released 0.1.0 `reducer-batch` world, and must agree with it byte for byte.

use guest_sdk::{Error, Event, Reducer};
use serde_json::{Value, json};

/// Echoes events into its state.
pub struct Echo;

impl Reducer for Echo {
    type State = Vec<Value>;

    fn init() -> Vec<Value> {
        Vec::new()
    }

    fn apply_event(state: &mut Vec<Value>, event: &Event) -> Result<(), Error> {
        state.push(json!({
            "id": event.id,
            "source": event.source,
            "type": event.ty,
            "specversion": event.specversion,
            "subject": event.subject,
            "time": event.time,
            "datacontenttype": event.datacontenttype,
            "dataschema": event.dataschema,
            "data": event.data,
            "extensions": event.extensions,
            "stream": event.stream,
            "position": event.position,
        }));
        Ok(())
    }
}

guest_sdk::export!(Echo: Reducer);
