//! What the workers of one subscription in this process are doing right now: the batches in
//! flight and the events being retried after a failure.
//!
//! Kept in memory only, and written once per batch (plus once per failed attempt), never per
//! event: processing status ([`super::status`]) reads it to tell `processing` and `failed` apart
//! from `pending`, which the store alone cannot.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::event::Position;

/// The batches in flight and the events failing, of one subscription.
#[derive(Debug, Default)]
pub(crate) struct InProgress {
    batches: Mutex<HashMap<String, Batch>>,
    failing: Mutex<HashMap<(String, Position), Failing>>,
}

/// A batch a worker has read and not yet committed.
#[derive(Debug, Clone)]
struct Batch {
    /// Reducers: the partition the worker holds (only its subjects' events are in the batch).
    partition: Option<u32>,
    /// Per stream, the first and last position of the batch's events.
    ranges: Vec<(String, Position, Position)>,
}

/// An event that failed and is being tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failing {
    /// Attempts made so far (all failed).
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

impl InProgress {
    /// Worker `worker` (of `partition`, for reducers) starts on events at these positions.
    pub(crate) fn begin_batch<'a>(
        &self,
        worker: &str,
        partition: Option<u32>,
        events: impl IntoIterator<Item = (&'a str, Position)>,
    ) {
        let mut ranges: Vec<(String, Position, Position)> = Vec::new();
        for (stream, position) in events {
            match ranges.iter_mut().find(|(s, _, _)| s == stream) {
                Some((_, first, last)) => {
                    *first = (*first).min(position);
                    *last = (*last).max(position);
                }
                None => ranges.push((stream.to_string(), position, position)),
            }
        }
        let batch = Batch { partition, ranges };
        lock(&self.batches).insert(worker.to_string(), batch);
    }

    /// Worker `worker` committed (or abandoned) its batch.
    pub(crate) fn end_batch(&self, worker: &str) {
        lock(&self.batches).remove(worker);
    }

    /// Whether a batch in flight holds the event at `position` of `stream`; `partition` is the
    /// event's partition for reducers.
    pub(crate) fn in_flight(
        &self,
        stream: &str,
        position: Position,
        partition: Option<u32>,
    ) -> bool {
        lock(&self.batches).values().any(|batch| {
            (batch.partition.is_none() || batch.partition == partition)
                && batch
                    .ranges
                    .iter()
                    .any(|(s, first, last)| s == stream && (*first..=*last).contains(&position))
        })
    }

    /// An attempt at the event failed; it will be tried again or given up on.
    pub(crate) fn failed(&self, stream: &str, position: Position, attempts: u32, error: String) {
        lock(&self.failing).insert((stream.to_string(), position), Failing { attempts, error });
    }

    /// The event succeeded or was given up on: it is not failing any more.
    pub(crate) fn settled(&self, stream: &str, position: Position) {
        let mut failing = lock(&self.failing);
        if !failing.is_empty() {
            failing.remove(&(stream.to_string(), position));
        }
    }

    /// The failure of the event at `position` of `stream`, if it is being retried.
    pub(crate) fn failing(&self, stream: &str, position: Position) -> Option<Failing> {
        lock(&self.failing)
            .get(&(stream.to_string(), position))
            .cloned()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_its_range_until_it_ends_and_only_its_partition() {
        let progress = InProgress::default();
        let at = |ms| Position::new(ms, 0);
        progress.begin_batch("p1", Some(1), [("orders", at(5)), ("orders", at(9))]);
        assert!(progress.in_flight("orders", at(7), Some(1)));
        assert!(!progress.in_flight("orders", at(7), Some(2)));
        assert!(!progress.in_flight("orders", at(10), Some(1)));
        assert!(!progress.in_flight("other", at(7), Some(1)));
        progress.end_batch("p1");
        assert!(!progress.in_flight("orders", at(7), Some(1)));
    }

    #[test]
    fn a_failing_event_is_known_until_it_settles() {
        let progress = InProgress::default();
        let at = Position::new(3, 0);
        progress.failed("orders", at, 2, "boom".into());
        assert_eq!(
            progress.failing("orders", at),
            Some(Failing {
                attempts: 2,
                error: "boom".into()
            })
        );
        progress.settled("orders", at);
        assert_eq!(progress.failing("orders", at), None);
    }
}
