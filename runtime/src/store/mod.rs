//! Event storage: one [`EventStore`] contract, two backends.
//!
//! - [`redis`] — Redis Streams (production; Redis 7.0 or newer).
//! - [`embedded`] — a durable store in one local redb file (the zero-set-up default).
//!
//! Both pass one conformance suite (`runtime/tests/store.rs`) and are opened by URL with
//! [`open`]: `redis://127.0.0.1:6379/0` or `embedded:./eddy-data`.
//!
//! # The contract
//!
//! **Streams and positions.** A stream is a totally ordered log of [`CloudEvent`]s named by
//! [`check_name`]'s rules. Every stored event has a [`Position`] `<ms>-<seq>`, exactly like a
//! Redis stream id, strictly increasing within the stream on every backend (also when the clock
//! goes backwards), so a checkpoint or a `from` means the same thing on every backend.
//!
//! **Appends are atomic and idempotent.** [`EventStore::append`] stores a whole batch or nothing.
//! An event whose `source` + `id` is already in the stream (or earlier in the same batch) is not
//! stored again: its [`Appended`] says `duplicate` and carries the original position. This holds
//! for as long as the original event is retained (until it is trimmed or the stream deleted),
//! across restarts.
//!
//! **Optimistic concurrency.** An append may carry the expected version of its events' subject:
//! the number of events that subject has had in this stream (trimming does not lower it; 0 = a
//! new subject). If it differs, nothing is stored and the call fails with
//! [`StoreError::VersionConflict`] carrying the current version. The check and the append are one
//! linearizable step: of N writers racing with the same expected version, exactly one wins. A
//! batch made only of duplicates is a retry of an append that already happened: it succeeds
//! with the original positions whatever the expected version.
//!
//! **Reads.** [`Read::from`] is exclusive (events after it going forward, before it going
//! backward). A subject read costs time proportional to that subject's events.
//!
//! **Consumer groups** follow Redis Streams: each entry is delivered to one consumer of a group,
//! stays pending until acknowledged, can be claimed by another consumer once it has been idle
//! long enough, and survives the removal of its consumer (it passes to
//! [`ORPHANED_CONSUMER`], from which it can be claimed). Trimming never removes an entry that a
//! group has not acknowledged.
//!
//! **Commits.** [`EventStore::commit`] applies everything one processing step writes —
//! appends to any streams, acknowledgements, reducer states, checkpoints — as one atomic step:
//! all of it or none of it. A commit that fails stores nothing (one that fails with
//! [`StoreError::Unavailable`] may or may not have been applied: retrying it is safe). Its
//! appends deduplicate on `source` + `id` like [`EventStore::append`], so a retried commit
//! stores no event twice and answers the original positions; acknowledging, saving states and
//! checkpoints again is harmless. Acknowledging through a group that does not exist fails the
//! commit with [`StoreError::GroupNotFound`].
//!
//! **Reducer states** are kept per projection and subject, each with the stream, position,
//! plugin hash and event count it reflects ([`SavedState`]); a save replaces the previous one.
//! Subjects list in ascending byte order. Deleting a stream does not delete states computed
//! from it.
//!
//! **Snapshots** are reducer states kept for time travel, written in a commit
//! ([`SnapshotWrite`]) and keyed by (projection, subject, plugin hash, position): a lookup
//! ([`EventStore::nearest_snapshot`]) only ever sees snapshots of the one plugin hash it asks
//! for, so a state made by other code is never used. After each write only the newest `keep`
//! snapshots of that subject and hash are kept. Deleting a projection deletes its snapshots.
//! States and snapshots keep the latest event time they reflect, and a snapshot can be looked
//! up by it ([`EventStore::nearest_snapshot_by_time`]).
//!
//! **Leases** give one owner at a time the right to process something (a stream partition, a
//! projection), for a time to live that the owner renews. Every acquisition by a new holder —
//! after the lease was free, released or expired, also by its previous holder — gets a token
//! greater than any the lease had before; a renewal by the holder while it holds the lease keeps
//! its token. A commit fenced ([`Fence`]) by the lease's name, owner and token applies only while
//! that owner holds the lease unexpired with that token, so a stalled process that lost its
//! lease cannot overwrite its successor's work: its commit fails with
//! [`StoreError::LeaseLost`]. The embedded store times leases by the system clock, Redis by the
//! server's.

mod append;
mod commit;
pub mod embedded;
mod error;
mod group;
mod info;
mod name;
mod read;
pub mod redis;
mod url;

use std::time::Duration;

pub use append::{Append, Appended, MAX_BATCH};
pub use commit::{Commit, Fence, GroupAck, Lease, SavedState, SnapshotWrite, StateWrite};
pub use error::{StoreError, WriteBlocked};
pub use group::{GroupStart, ORPHANED_CONSUMER, PendingEntry};
pub use info::{StreamInfo, Trim, Trimmed};
pub(crate) use name::check_claim_owner;
pub use name::{MAX_NAME_LEN, check_name};
pub use read::{Direction, MAX_READ, Read, StoredEvent};
pub use url::{DEFAULT_STORE_URL, StoreUrl, open};

use crate::event::{CloudEvent, Position};

/// A durable, ordered, idempotent store of event streams. See the [module docs](self) for the
/// contract every implementation keeps.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends a batch atomically and returns one [`Appended`] per event, in batch order.
    /// Fails with [`StoreError::VersionConflict`] (nothing stored) if `append.expected_version`
    /// is set and differs from the subject's version.
    async fn append(&self, stream: &str, append: Append) -> Result<Vec<Appended>, StoreError>;

    /// Reads up to `read.limit` events (see [`Read`] for the bounds). A stream that does not
    /// exist reads as empty.
    async fn read(&self, stream: &str, read: Read) -> Result<Vec<StoredEvent>, StoreError>;

    /// The event with this `id` (and `source`, if given; without it, the earliest event with
    /// this id), or `None`.
    async fn get(
        &self,
        stream: &str,
        id: &str,
        source: Option<&str>,
    ) -> Result<Option<StoredEvent>, StoreError>;

    /// The number of events `subject` has had in the stream (0 if none): the version an
    /// append expects.
    async fn subject_version(&self, stream: &str, subject: &str) -> Result<u64, StoreError>;

    /// Every stream with its length and ends, by name.
    async fn streams(&self) -> Result<Vec<StreamInfo>, StoreError>;

    /// One stream's length and ends, or `None` if it does not exist.
    async fn stream(&self, stream: &str) -> Result<Option<StreamInfo>, StoreError>;

    /// Deletes a stream with its events, indexes, groups and checkpoints. Returns whether it
    /// existed.
    async fn delete_stream(&self, stream: &str) -> Result<bool, StoreError>;

    /// Removes the oldest events as `trim` asks, but never one a consumer group has not
    /// acknowledged. Their `source` + `id` are forgotten, so they could be appended again.
    async fn trim(&self, stream: &str, trim: Trim) -> Result<Trimmed, StoreError>;

    /// Creates a consumer group (and the stream, if needed). Returns false, changing nothing, if
    /// the group exists already.
    async fn create_group(
        &self,
        stream: &str,
        group: &str,
        start: GroupStart,
    ) -> Result<bool, StoreError>;

    /// Delivers up to `limit` entries the group has not delivered yet to `consumer`; they are
    /// pending until acknowledged. With `block`, waits up to that long for the first entry
    /// when there is none.
    async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Acknowledges entries; returns how many were pending (others are ignored).
    async fn ack(
        &self,
        stream: &str,
        group: &str,
        positions: &[Position],
    ) -> Result<u64, StoreError>;

    /// Up to `limit` pending entries of the group, oldest first.
    async fn pending(
        &self,
        stream: &str,
        group: &str,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError>;

    /// Gives `consumer` up to `limit` pending entries that have been idle at least `min_idle`
    /// (whoever held them), counting a new delivery for each, and returns them oldest first.
    async fn claim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Gives `consumer` up to `limit` of the entries pending on `owner`, however long they
    /// have been idle, counting a new delivery for each, and returns them oldest first. A
    /// worker calls it as it starts: with its own name, to take back the batch it held when
    /// its process died (a consumer name that stays the same across restarts), and with
    /// [`ORPHANED_CONSUMER`], for what a stopped consumer left — instead of waiting until
    /// [`EventStore::claim`] finds them idle. Entries whose event is gone (trimmed) are no
    /// longer pending afterwards and not returned.
    async fn claim_from(
        &self,
        stream: &str,
        group: &str,
        owner: &str,
        consumer: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Removes a consumer from the group. Its pending entries pass to [`ORPHANED_CONSUMER`],
    /// keeping their idle time and delivery count, so another consumer can claim them. Returns
    /// how many it held.
    async fn remove_consumer(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
    ) -> Result<u64, StoreError>;

    /// Removes the group's consumers that hold no pending entries and have not read for at
    /// least `idle` — processes that went away — and returns their names. Entries still
    /// pending on a consumer are left to [`EventStore::claim`]; a consumer that reads between
    /// the check and the removal keeps its entries (they pass to [`ORPHANED_CONSUMER`]). The
    /// embedded store keeps no consumer records (a consumer exists only through its pending
    /// entries), so there it removes nothing.
    async fn reap_consumers(
        &self,
        stream: &str,
        group: &str,
        idle: Duration,
    ) -> Result<Vec<String>, StoreError>;

    /// Saves a checkpoint (the last position handled) under `name` for this stream.
    async fn save_checkpoint(
        &self,
        stream: &str,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError>;

    /// The checkpoint saved under `name` for this stream, if any.
    async fn checkpoint(&self, stream: &str, name: &str) -> Result<Option<Position>, StoreError>;

    /// Applies `commit` atomically. Returns, per `appends` entry, the `Appended` of each event.
    /// Fails, writing nothing, with [`StoreError::LeaseLost`] if the commit is fenced by a lease
    /// its owner no longer holds with that token, with [`StoreError::GroupNotFound`] if an ack
    /// names a missing group, or with [`StoreError::InvalidRequest`] if it appends more than
    /// [`MAX_BATCH`] events in all, or a bad event or name.
    async fn commit(&self, commit: Commit) -> Result<Vec<Vec<Appended>>, StoreError>;

    /// The saved state of `subject` in `projection`, if any.
    async fn load_state(
        &self,
        projection: &str,
        subject: &str,
    ) -> Result<Option<SavedState>, StoreError>;

    /// Subjects of `projection` in ascending order, after `after` (exclusive), at most `limit`.
    async fn list_states(
        &self,
        projection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// The latest snapshot of `subject` in `projection` made by the reducer with hash `plugin`
    /// whose position is at or before `at`, or `None`.
    async fn nearest_snapshot(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        at: Position,
    ) -> Result<Option<SavedState>, StoreError>;

    /// Whether no other process can use this store while this one has it open (the embedded
    /// store locks its file). Consumer names then need not tell processes apart, so one that
    /// stays the same across restarts is the default.
    fn single_process(&self) -> bool {
        false
    }

    /// The store's clock as it assigns positions, in ms since the Unix epoch: every event
    /// appended after this returns gets a position of at least `<clock>-0`, in every stream
    /// (unless the clock is set back). So once it has read each stream to its end after
    /// asking, a reader knows every event before `<clock>-0` there will ever be.
    async fn clock_ms(&self) -> Result<u64, StoreError>;

    /// The latest snapshot of `subject` in `projection` made by the reducer with hash `plugin`
    /// whose [`SavedState::latest_time`] is at or before `time` (nanoseconds since the Unix
    /// epoch; a snapshot without a time qualifies), or `None`.
    async fn nearest_snapshot_by_time(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        time: i64,
    ) -> Result<Option<SavedState>, StoreError>;

    /// Deletes every state and snapshot of `projection`; returns how many states there were.
    async fn delete_projection(&self, projection: &str) -> Result<u64, StoreError>;

    /// Takes the lease `name` for `owner` for `ttl` if it is free, expired, or already `owner`'s
    /// (then it is renewed, keeping its token). A newly taken lease gets a token greater than any
    /// token this lease had before (fencing). `None` if another owner holds it.
    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Gives the lease up if `owner` holds it; returns whether it did. The lease's token is
    /// kept, so its next holder still gets a greater one.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<bool, StoreError>;

    /// Leases whose name starts with `prefix` and have not expired, by name.
    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError>;
}

/// The position after `last` for an event appended at `now_ms`: `max(last.ms, now)` keeps
/// positions increasing when the clock goes backwards, as Redis does for its ids.
pub(crate) fn next_position(last: Position, now_ms: u64) -> Position {
    if now_ms > last.ms {
        Position::new(now_ms, 0)
    } else {
        Position::new(last.ms, last.seq + 1)
    }
}

/// Milliseconds since the Unix epoch by the system clock (0 if it is before 1970).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Decodes an event stored as structured-mode JSON.
pub(crate) fn decode_event(position: Position, json: &[u8]) -> Result<StoredEvent, StoreError> {
    let text = std::str::from_utf8(json)
        .map_err(|_| StoreError::Corrupt(format!("event at {position} is not UTF-8")))?;
    let event = CloudEvent::from_json(text)
        .map_err(|e| StoreError::Corrupt(format!("event at {position}: {e}")))?;
    Ok(StoredEvent { position, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_keep_increasing_when_the_clock_goes_backwards() {
        let last = Position::new(1_000, 4);
        assert_eq!(next_position(last, 2_000), Position::new(2_000, 0));
        assert_eq!(next_position(last, 1_000), Position::new(1_000, 5));
        assert_eq!(next_position(last, 10), Position::new(1_000, 5));
    }
}
