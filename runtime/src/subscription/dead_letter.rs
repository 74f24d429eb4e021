//! Dead letters: events a subscription gave up on, kept with why, and their redrive.
//!
//! A dead letter is the original event, appended to the subscription's dead-letter stream
//! `<name>.dlq` with extension attributes that say what happened: `eddydlqerror`,
//! `eddydlqplugin` (the plugin's hash), `eddydlqattempts`, `eddydlqstream` and
//! `eddydlqposition` (where the event was read). A redrive appends a small link event to
//! `<name>.redrive`, a stream the subscription also reads; the link is resolved to the
//! original event, so the plugin sees it exactly as it first did.

use super::SubscriptionError;
use crate::store::Append;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::{CloudEvent, ExtensionValue, Position};
use crate::plugin::CallError;
use crate::store::{Direction, EventStore, Read, StoreError, StoredEvent};

/// The dead-letter stream of a subscription.
pub fn dlq_stream(subscription: &str) -> String {
    format!("{subscription}.dlq")
}

/// The stream of redrive links a subscription reads besides its own streams.
pub fn redrive_stream(subscription: &str) -> String {
    format!("{subscription}.redrive")
}

/// Where redriven dead letters are marked as resolved (subject = their position).
pub(crate) fn resolved_projection(subscription: &str) -> String {
    format!("{subscription}.dlq-resolved")
}

/// The type of redrive link events.
pub(crate) const REDRIVE_TYPE: &str = "eddy.redrive";

pub(crate) const EXT_ERROR: &str = "eddydlqerror";
const EXT_PLUGIN: &str = "eddydlqplugin";
const EXT_ATTEMPTS: &str = "eddydlqattempts";
const EXT_STREAM: &str = "eddydlqstream";
const EXT_POSITION: &str = "eddydlqposition";

/// The dead letter of `event`, read from `stream` at `position`.
pub(crate) fn dead_letter_event(
    event: &CloudEvent,
    stream: &str,
    position: Position,
    error: &CallError,
    attempts: u32,
    plugin_hash: &str,
) -> CloudEvent {
    let mut letter = event.clone();
    let mut set = |name: &str, value: ExtensionValue| {
        letter.extensions.insert(name.to_string(), value);
    };
    set(EXT_ERROR, ExtensionValue::String(error.to_string()));
    set(EXT_PLUGIN, ExtensionValue::String(plugin_hash.to_string()));
    set(EXT_ATTEMPTS, ExtensionValue::Integer(i64::from(attempts)));
    set(EXT_STREAM, ExtensionValue::String(stream.to_string()));
    set(EXT_POSITION, ExtensionValue::String(position.to_string()));
    letter
}

/// A dead letter as the API shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct DeadLetter {
    /// Its position in the dead-letter stream (what a redrive names).
    pub position: Position,
    /// The stream the event was read from.
    pub stream: String,
    /// The event's position there.
    pub original_position: Option<Position>,
    /// How many attempts were made.
    pub attempts: i64,
    /// The last error.
    pub error: String,
    /// The hash of the plugin that failed.
    pub plugin: String,
    /// The original event.
    pub event: CloudEvent,
}

impl DeadLetter {
    /// Reads a dead letter back from its stored form.
    pub(crate) fn from_stored(stored: StoredEvent) -> Self {
        let mut event = stored.event;
        let mut take = |name: &str| event.extensions.remove(name);
        let text = |v: Option<ExtensionValue>| v.map(|v| v.to_string()).unwrap_or_default();
        let error = text(take(EXT_ERROR));
        let plugin = text(take(EXT_PLUGIN));
        let attempts = match take(EXT_ATTEMPTS) {
            Some(ExtensionValue::Integer(n)) => n,
            _ => 0,
        };
        let stream = text(take(EXT_STREAM));
        let original_position = text(take(EXT_POSITION)).parse().ok();
        DeadLetter {
            position: stored.position,
            stream,
            original_position,
            attempts,
            error,
            plugin,
            event,
        }
    }
}

/// A link event asking the subscription to process the dead letter at `dlq_position` again.
pub(crate) fn redrive_link(dlq_position: Position) -> CloudEvent {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut link = CloudEvent::new(
        format!("{dlq_position}/{}/{n}", crate::store::now_ms()),
        "eddy://redrive",
        REDRIVE_TYPE,
    );
    link.extensions.insert(
        "eddydlq".to_string(),
        ExtensionValue::String(dlq_position.to_string()),
    );
    link
}

/// Resolves a redrive link to the dead letter it names: its position in the dead-letter
/// stream and the original event as it was first read. `None` if the link is malformed or
/// the dead letter is gone (trimmed).
pub(crate) async fn resolve_link(
    store: &dyn EventStore,
    subscription: &str,
    link: &CloudEvent,
) -> Result<Option<(Position, String, StoredEvent)>, StoreError> {
    let Some(position) = link
        .extensions
        .get("eddydlq")
        .and_then(|v| v.to_string().parse::<Position>().ok())
    else {
        return Ok(None);
    };
    let read = Read {
        from: position.prev(),
        direction: Direction::Forward,
        limit: 1,
        subject: None,
    };
    let found = store.read(&dlq_stream(subscription), read).await?;
    let Some(stored) = found.into_iter().next().filter(|s| s.position == position) else {
        return Ok(None);
    };
    let letter = DeadLetter::from_stored(stored);
    let original = StoredEvent {
        position: letter.original_position.unwrap_or(position),
        event: letter.event,
    };
    Ok(Some((position, letter.stream, original)))
}

impl super::SubscriptionHost {
    /// Dead letters not yet redriven successfully, oldest first, after `from`.
    pub async fn dead_letters(
        &self,
        name: &str,
        from: Option<Position>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, SubscriptionError> {
        self.require(name).await?;
        let mut letters = Vec::new();
        let mut cursor = from;
        while letters.len() < limit {
            let page = self
                .store
                .read(
                    &dlq_stream(name),
                    Read {
                        from: cursor,
                        direction: Direction::Forward,
                        limit: 256,
                        subject: None,
                    },
                )
                .await?;
            let Some(last) = page.last().map(|s| s.position) else {
                break;
            };
            cursor = Some(last);
            for stored in page {
                let resolved = self
                    .store
                    .load_state(&resolved_projection(name), &stored.position.to_string())
                    .await?
                    .is_some();
                if !resolved && letters.len() < limit {
                    letters.push(DeadLetter::from_stored(stored));
                }
            }
        }
        Ok(letters)
    }

    /// Asks the subscription to process dead letters again: all of them, or those whose
    /// event has one of `ids`. Returns how many were sent. Each is processed like a new event; if it
    /// fails again it stays a dead letter.
    pub async fn redrive(
        &self,
        name: &str,
        ids: Option<Vec<String>>,
    ) -> Result<usize, SubscriptionError> {
        let letters = self.dead_letters(name, None, usize::MAX).await?;
        let links: Vec<_> = letters
            .iter()
            .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.event.id)))
            .map(|l| redrive_link(l.position))
            .collect();
        let count = links.len();
        for chunk in links.chunks(512) {
            self.store
                .append(
                    &redrive_stream(name),
                    Append {
                        events: chunk.to_vec(),
                        expected_version: None,
                    },
                )
                .await?;
        }
        Ok(count)
    }
}
