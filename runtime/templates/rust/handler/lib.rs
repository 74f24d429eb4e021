//! `{{name}}`: an Eddy handler. On each `order.paid` event it emits one `order.receipt` event
//! to the stream `receipts`, with the same subject and the data `{"paid_event": <its id>}`.

use guest_sdk::{Error, Event, Handler, Outgoing};

/// The plugin: `export!` below makes it the component's handler.
pub struct Plugin;

impl Handler for Plugin {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        if event.ty != "order.paid" {
            return Ok(Vec::new());
        }
        let mut receipt = Outgoing::new("receipts", "order.receipt")
            .json(&serde_json::json!({ "paid_event": event.id }))?;
        if let Some(subject) = &event.subject {
            receipt = receipt.subject(subject.as_str());
        }
        Ok(vec![receipt])
    }
}

guest_sdk::export!(Plugin: Handler);
