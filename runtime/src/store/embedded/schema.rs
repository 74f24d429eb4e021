//! The tables of the embedded store's redb file, and how its errors map to [`StoreError`].
//!
//! Every key of the stream tables starts with the stream name, so one stream's rows are one
//! contiguous key range of each table; likewise states with the projection name. Positions are
//! stored as `(ms, seq)` pairs, which redb orders like positions.

use redb::TableDefinition;

use crate::store::{StoreError, WriteBlocked};

/// A `(ms, seq)` position as stored.
pub(super) type Pos = (u64, u64);

/// Stream name → (last position ever assigned: ms, seq; number of events held). The last
/// position outlives trimming, so positions never repeat within a stream.
pub(super) const STREAMS: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("streams");

/// An event row's key: (stream, ms, seq).
pub(super) type EventKey = (&'static str, u64, u64);
/// An event row: (source, id, subject, structured-mode JSON). Source, id and subject are kept
/// beside the JSON so trimming can clean the indexes without parsing events.
pub(super) type EventRow = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [u8],
);

/// (stream, ms, seq) → (source, id, subject, structured-mode JSON).
pub(super) const EVENTS: TableDefinition<EventKey, EventRow> = TableDefinition::new("events");

/// (stream, id, source) → position: deduplication on `source` + `id`, and lookup by `id`.
pub(super) const IDS: TableDefinition<(&str, &str, &str), Pos> = TableDefinition::new("ids");

/// (stream, subject, ms, seq) → (): one subject's positions, in order.
pub(super) const SUBJECTS: TableDefinition<(&str, &str, u64, u64), ()> =
    TableDefinition::new("subjects");

/// (stream, subject) → the number of events the subject has had (its version).
pub(super) const VERSIONS: TableDefinition<(&str, &str), u64> = TableDefinition::new("versions");

/// (stream, group) → the last position delivered to the group.
pub(super) const GROUPS: TableDefinition<(&str, &str), Pos> = TableDefinition::new("groups");

/// A pending entry: (consumer, last delivery in ms since the epoch, deliveries).
pub(super) type PendingRow = (&'static str, u64, u64);

/// (stream, group, ms, seq) → [`PendingRow`].
pub(super) const PENDING: TableDefinition<(&str, &str, u64, u64), PendingRow> =
    TableDefinition::new("pending");

/// (stream, name) → checkpoint position.
pub(super) const CHECKPOINTS: TableDefinition<(&str, &str), Pos> =
    TableDefinition::new("checkpoints");

/// A saved reducer state: (state bytes, stream, ms, seq of the last event applied, plugin hash,
/// events applied).
pub(super) type StateRow = (&'static [u8], &'static str, u64, u64, &'static str, u64);

/// (projection, subject) → [`StateRow`]. Not keyed by stream: a projection's states outlive
/// the deletion of the streams they were computed from.
pub(super) const STATES: TableDefinition<(&str, &str), StateRow> = TableDefinition::new("states");

/// A snapshot row: (state bytes, stream of the last event applied, events applied).
pub(super) type SnapshotRow = (&'static [u8], &'static str, u64);

/// (projection, subject, plugin hash, ms, seq) → [`SnapshotRow`]: one subject's snapshots of
/// one reducer version are one contiguous key range, ordered by position.
pub(super) const SNAPSHOTS: TableDefinition<(&str, &str, &str, u64, u64), SnapshotRow> =
    TableDefinition::new("snapshots");

/// (projection, subject) → the state's latest event time ([`crate::store::SavedState::latest_time`],
/// absent: none). Beside [`STATES`] rather than in its rows, so files written before times
/// were kept still open.
pub(super) const STATE_TIMES: TableDefinition<(&str, &str), i64> =
    TableDefinition::new("state_times");

/// The key of [`SNAPSHOTS`] → the snapshot's latest event time (absent: none), beside it for
/// the same reason as [`STATE_TIMES`].
pub(super) const SNAPSHOT_TIMES: TableDefinition<(&str, &str, &str, u64, u64), i64> =
    TableDefinition::new("snapshot_times");

/// Lease name → (owner, fencing token, expiry in ms since the epoch). A released lease keeps
/// its row with an empty owner and expiry 0, so its next token is still greater than the last.
pub(super) const LEASES: TableDefinition<&str, (&str, u64, u64)> = TableDefinition::new("leases");

/// Creates every table, so read transactions can open them on a fresh file.
pub(super) fn create_tables(db: &redb::Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    txn.open_table(STREAMS)?;
    txn.open_table(EVENTS)?;
    txn.open_table(IDS)?;
    txn.open_table(SUBJECTS)?;
    txn.open_table(VERSIONS)?;
    txn.open_table(GROUPS)?;
    txn.open_table(PENDING)?;
    txn.open_table(CHECKPOINTS)?;
    txn.open_table(STATES)?;
    txn.open_table(SNAPSHOTS)?;
    txn.open_table(STATE_TIMES)?;
    txn.open_table(SNAPSHOT_TIMES)?;
    txn.open_table(LEASES)?;
    txn.commit()?;
    Ok(())
}

impl From<redb::Error> for StoreError {
    fn from(error: redb::Error) -> Self {
        match error {
            redb::Error::Corrupted(_)
            | redb::Error::UpgradeRequired(_)
            | redb::Error::TableTypeMismatch { .. } => StoreError::Corrupt(error.to_string()),
            redb::Error::DatabaseAlreadyOpen => StoreError::Unavailable(
                "the embedded store is open in another process (only one may use it at a time)"
                    .to_string(),
            ),
            redb::Error::Io(io) => match WriteBlocked::of(&io) {
                Some(cause) => StoreError::Unwritable(cause),
                None => StoreError::Unavailable(format!("embedded store: {io}")),
            },
            other => StoreError::Unavailable(format!("embedded store: {other}")),
        }
    }
}

/// redb's error types all convert into `redb::Error`; route each through it.
macro_rules! from_redb {
    ($($ty:ty),*) => {$(
        impl From<$ty> for StoreError {
            fn from(error: $ty) -> Self {
                StoreError::from(redb::Error::from(error))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
