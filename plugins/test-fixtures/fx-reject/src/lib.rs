//! Test fixture `fx-reject`: a handler whose outcome is chosen by the event type: `bad` is
//! rejected (dead-letter), `flaky` asks for a retry, anything else emits one `fx.ok` event to
//! the stream `out` with the same subject. Each reject and retry is also logged (at `warn`
//! and `info`), which exercises the `log` import.

use guest_sdk::{Error, Event, Handler, Outgoing};

/// Rejects `bad`, retries `flaky`, emits `fx.ok` otherwise.
pub struct Reject;

impl Handler for Reject {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        match event.ty.as_str() {
            "bad" => {
                guest_sdk::log::warn(format_args!("fx-reject: rejecting event {}", event.id));
                Err(Error::reject(format!(
                    "fx-reject: event {} has type bad",
                    event.id
                )))
            }
            "flaky" => {
                guest_sdk::log::info(format_args!(
                    "fx-reject: event {} will be retried",
                    event.id
                ));
                Err(Error::retry(format!(
                    "fx-reject: event {} is flaky, try again",
                    event.id
                )))
            }
            _ => {
                let mut ok = Outgoing::new("out", "fx.ok");
                if let Some(subject) = &event.subject {
                    ok = ok.subject(subject.as_str());
                }
                Ok(vec![ok])
            }
        }
    }
}

guest_sdk::export!(Reject: Handler);
