//! One feed per followed stream: a single task reads the stream's new events from the store,
//! serialises each once, and broadcasts it to every live client of that stream.
//!
//! Without it each client polled the store itself, so with 100 clients every event was read,
//! decoded and encoded 100 times and publishing slowed about fifteen-fold. Now the cost of a
//! client is a clone of an `Arc` per event.
//!
//! A client joins in three steps that leave neither a gap nor a duplicate (see
//! [`LiveFeeds::join`] and `live.rs`): it subscribes to the feed first, then catches up from
//! the store until the store has nothing more, then takes the feed's events, skipping those at
//! or before the last position it has sent. Everything the feed broadcast before the client
//! subscribed was in the store before the catch-up began, and everything after reaches the
//! subscription. A client that falls more than [`FEED_CAPACITY`] events behind is told so by
//! the broadcast channel and does the same again from its last position: a slow client reads
//! the store by itself and never holds the feed or the other clients back.
//!
//! The feed wakes when this process publishes to the stream, and otherwise polls with backoff
//! (events appended by subscriptions or other processes arrive within [`POLL_BACKOFF`]'s
//! longest wait). It ends when its last client leaves or the server closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, broadcast, watch};

use super::events::EventAt;
use crate::event::Position;
use crate::store::{Direction, EventStore, Read, StoreError, StoredEvent};

/// Events read from the store per poll (by the feed and by a client catching up).
pub(super) const POLL_BATCH: usize = 256;
/// The quickest and slowest re-poll of a quiet stream.
const POLL_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(200));
/// Events a client may fall behind the feed before it catches up from the store instead.
pub(super) const FEED_CAPACITY: usize = 4096;

/// An event as every live client sends it: serialised once, in both of its wire forms.
#[derive(Debug)]
pub struct LiveEvent {
    /// Its position in the stream (the SSE `id`).
    pub position: Position,
    /// Its type, for clients that follow only some types.
    pub ty: String,
    /// `{"position", "event"}` as JSON: a WebSocket text message.
    pub json: Utf8Bytes,
    /// The same as a server-sent event: `id: <position>`, `data: <json>` and a blank line.
    pub sse: Bytes,
}

impl LiveEvent {
    /// Serialises a stored event.
    pub fn new(stored: StoredEvent) -> Self {
        let position = stored.position;
        let ty = stored.event.ty.clone();
        // Compact JSON has no line breaks, so it is one `data:` line.
        let json = serde_json::to_string(&EventAt {
            position,
            event: stored.event,
        })
        .expect("an event serialises");
        let sse = Bytes::from(format!("id: {position}\ndata: {json}\n\n"));
        Self {
            position,
            ty,
            json: json.into(),
            sse,
        }
    }
}

struct Feed {
    events: broadcast::Sender<Arc<LiveEvent>>,
    wake: Notify,
}

/// The feeds of every followed stream of one server.
#[derive(Clone)]
pub struct LiveFeeds {
    store: Arc<dyn EventStore>,
    feeds: Arc<Mutex<HashMap<String, Arc<Feed>>>>,
    closing: watch::Receiver<bool>,
}

impl LiveFeeds {
    /// No feeds yet; each ends when `closing` turns true.
    pub fn new(store: Arc<dyn EventStore>, closing: watch::Receiver<bool>) -> Self {
        Self {
            store,
            feeds: Arc::default(),
            closing,
        }
    }

    /// Subscribes to `stream`'s feed, starting the feed if nobody follows the stream yet.
    ///
    /// The feed broadcasts the events after the stream's last position as it was when the feed
    /// started — a position read before this call returns — so a client that catches up from
    /// the store after joining meets the feed's events without a gap.
    pub async fn join(
        &self,
        stream: &str,
    ) -> Result<broadcast::Receiver<Arc<LiveEvent>>, StoreError> {
        if let Some(feed) = self.lock().get(stream) {
            return Ok(feed.events.subscribe());
        }
        let start = self.store.stream(stream).await?.and_then(|info| info.last);
        let mut feeds = self.lock();
        if let Some(feed) = feeds.get(stream) {
            return Ok(feed.events.subscribe());
        }
        let feed = Arc::new(Feed {
            events: broadcast::channel(FEED_CAPACITY).0,
            wake: Notify::new(),
        });
        let receiver = feed.events.subscribe();
        feeds.insert(stream.to_string(), feed.clone());
        tokio::spawn(self.clone().run(stream.to_string(), feed, start));
        Ok(receiver)
    }

    /// Tells `stream`'s feed, if anyone follows it, that events were just appended.
    pub fn wake(&self, stream: &str) {
        if let Some(feed) = self.lock().get(stream) {
            feed.wake.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Feed>>> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `stream`'s feed if nobody follows it any more. The decision is taken under the
    /// map's lock, where [`join`](Self::join) subscribes, so no client joins a feed that ends.
    fn leave_if_unfollowed(&self, stream: &str, feed: &Arc<Feed>) -> bool {
        let mut feeds = self.lock();
        if feed.events.receiver_count() > 0 {
            return false;
        }
        Self::remove(&mut feeds, stream, feed);
        true
    }

    fn forget(&self, stream: &str, feed: &Arc<Feed>) {
        Self::remove(&mut self.lock(), stream, feed);
    }

    /// Removes `feed` — not a newer feed of the same stream.
    fn remove(feeds: &mut HashMap<String, Arc<Feed>>, stream: &str, feed: &Arc<Feed>) {
        if feeds.get(stream).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(stream);
        }
    }

    async fn run(self, stream: String, feed: Arc<Feed>, mut after: Option<Position>) {
        let mut closing = self.closing.clone();
        let mut backoff = POLL_BACKOFF.0;
        loop {
            if *closing.borrow() {
                self.forget(&stream, &feed);
                return;
            }
            if self.leave_if_unfollowed(&stream, &feed) {
                return;
            }
            let read = Read {
                from: after,
                direction: Direction::Forward,
                limit: POLL_BATCH,
                subject: None,
            };
            let page = match self.store.read(&stream, read).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, %stream, "live feed: reading the store failed; retrying");
                    Vec::new()
                }
            };
            let full = page.len() == POLL_BATCH;
            for stored in page {
                after = Some(stored.position);
                // An error only means that nobody listens right now; the loop's check ends
                // the feed if nobody joins again.
                let _ = feed.events.send(Arc::new(LiveEvent::new(stored)));
            }
            if full {
                backoff = POLL_BACKOFF.0;
                continue;
            }
            tokio::select! {
                () = feed.wake.notified() => backoff = POLL_BACKOFF.0,
                () = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(POLL_BACKOFF.1),
                _ = closing.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn a_feed_ends_when_its_last_client_leaves_and_starts_again_for_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
        let (_closing, closed) = watch::channel(false);
        let feeds = LiveFeeds::new(store, closed);
        for _ in 0..2 {
            let first = feeds.join("s").await.unwrap();
            let second = feeds.join("s").await.unwrap();
            assert_eq!(feeds.lock().len(), 1, "one feed per stream");
            drop((first, second));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !feeds.lock().is_empty() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the feed never ended"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
