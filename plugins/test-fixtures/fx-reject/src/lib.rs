//! Test fixture `fx-reject`: a handler whose outcome is chosen by the event type: `bad` is
//! rejected (dead-letter), `flaky` asks for a retry, anything else emits one `fx.ok` event to
//! the stream `out` with the same subject and the data `{"replay": <the input's `eddyreplay`
//! extension, or null>}` (so tests see that a replayed event is marked). Each reject and retry is also logged (at `warn`
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
                let replay = event.extension("eddyreplay");
                let mut ok = Outgoing::new("out", "fx.ok").data(
                    format!("{{\"replay\":{}}}", json_string(replay)),
                    "application/json",
                );
                if let Some(subject) = &event.subject {
                    ok = ok.subject(subject.as_str());
                }
                Ok(vec![ok])
            }
        }
    }
}

/// `value` as a JSON string, or `null`.
fn json_string(value: Option<&str>) -> String {
    match value {
        // Replay ids are plain ASCII (`replay-<ms>-<n>`); quote-free by construction.
        Some(v) if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => format!("\"{v}\""),
        Some(_) => "\"?\"".to_string(),
        None => "null".to_string(),
    }
}

guest_sdk::export!(Reject: Handler);
