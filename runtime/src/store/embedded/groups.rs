//! Consumer groups and checkpoints in the redb file. Synchronous, like [`super::streams`].

use std::ops::Bound;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::schema::{CHECKPOINTS, EVENTS, GROUPS, PENDING, STREAMS};
use super::streams::in_write;
use crate::event::Position;
use crate::store::{
    GroupStart, ORPHANED_CONSUMER, PendingEntry, StoreError, StoredEvent, decode_event,
};

fn not_found(stream: &str, group: &str) -> StoreError {
    StoreError::GroupNotFound {
        stream: stream.to_string(),
        group: group.to_string(),
    }
}

/// The last position delivered to a group; [`StoreError::GroupNotFound`] if there is none.
pub(super) fn group_last(
    txn: &WriteTransaction,
    stream: &str,
    group: &str,
) -> Result<Position, StoreError> {
    let groups = txn.open_table(GROUPS)?;
    let last = groups
        .get((stream, group))?
        .ok_or_else(|| not_found(stream, group))?;
    let (ms, seq) = last.value();
    Ok(Position::new(ms, seq))
}

/// Creates a group; false if it exists.
pub(super) fn create(
    db: &Database,
    stream: &str,
    group: &str,
    start: GroupStart,
) -> Result<bool, StoreError> {
    in_write(db, |txn| {
        let mut groups = txn.open_table(GROUPS)?;
        if groups.get((stream, group))?.is_some() {
            return Ok(false);
        }
        let mut streams = txn.open_table(STREAMS)?;
        let meta = streams.get(stream)?.map(|v| v.value());
        let meta = match meta {
            Some(meta) => meta,
            None => {
                // A group may be created before the first event: the stream starts existing.
                streams.insert(stream, (0, 0, 0))?;
                (0, 0, 0)
            }
        };
        let last = match start {
            GroupStart::Beginning => Position::ZERO,
            GroupStart::Now => Position::new(meta.0, meta.1),
            GroupStart::After(position) => position,
        };
        groups.insert((stream, group), (last.ms, last.seq))?;
        Ok(true)
    })
}

/// Delivers up to `limit` undelivered entries to `consumer`.
pub(super) fn read_new(
    db: &Database,
    stream: &str,
    group: &str,
    consumer: &str,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    // Most polls find nothing: answer those from a read transaction, without taking the
    // single writer lock.
    {
        let txn = db.begin_read()?;
        let groups = txn.open_table(GROUPS)?;
        let last = groups
            .get((stream, group))?
            .ok_or_else(|| not_found(stream, group))?;
        let (ms, seq) = last.value();
        let events = txn.open_table(EVENTS)?;
        let next = events
            .range::<(&str, u64, u64)>((
                Bound::Excluded((stream, ms, seq)),
                Bound::Included((stream, u64::MAX, u64::MAX)),
            ))?
            .next();
        if next.is_none() {
            return Ok(Vec::new());
        }
    }
    in_write(db, |txn| {
        let last = group_last(txn, stream, group)?;
        let events = txn.open_table(EVENTS)?;
        let mut pending = txn.open_table(PENDING)?;
        let mut delivered = Vec::new();
        for row in events.range::<(&str, u64, u64)>((
            Bound::Excluded((stream, last.ms, last.seq)),
            Bound::Included((stream, u64::MAX, u64::MAX)),
        ))? {
            if delivered.len() >= limit {
                break;
            }
            let (key, value) = row?;
            let (_, ms, seq) = key.value();
            let (_, _, _, json) = value.value();
            delivered.push(decode_event(Position::new(ms, seq), json)?);
        }
        for entry in &delivered {
            let p = entry.position;
            pending.insert((stream, group, p.ms, p.seq), (consumer, now_ms, 1))?;
        }
        if let Some(last) = delivered.last() {
            let p = last.position;
            txn.open_table(GROUPS)?
                .insert((stream, group), (p.ms, p.seq))?;
        }
        Ok(delivered)
    })
}

/// Acknowledges entries; returns how many were pending.
pub(super) fn ack(
    db: &Database,
    stream: &str,
    group: &str,
    positions: &[Position],
) -> Result<u64, StoreError> {
    in_write(db, |txn| {
        group_last(txn, stream, group)?;
        let mut pending = txn.open_table(PENDING)?;
        let mut acked = 0;
        for p in positions {
            if pending.remove((stream, group, p.ms, p.seq))?.is_some() {
                acked += 1;
            }
        }
        Ok(acked)
    })
}

/// Up to `limit` pending entries, oldest first.
pub(super) fn pending(
    db: &Database,
    stream: &str,
    group: &str,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<PendingEntry>, StoreError> {
    let txn = db.begin_read()?;
    if txn.open_table(GROUPS)?.get((stream, group))?.is_none() {
        return Err(not_found(stream, group));
    }
    let pending = txn.open_table(PENDING)?;
    let mut out = Vec::new();
    for row in pending
        .range((stream, group, 0, 0)..=(stream, group, u64::MAX, u64::MAX))?
        .take(limit)
    {
        let (key, value) = row?;
        let (_, _, ms, seq) = key.value();
        let (consumer, delivered_at, deliveries) = value.value();
        out.push(PendingEntry {
            position: Position::new(ms, seq),
            consumer: consumer.to_string(),
            idle: Duration::from_millis(now_ms.saturating_sub(delivered_at)),
            deliveries,
        });
    }
    Ok(out)
}

/// Gives `consumer` pending entries idle at least `min_idle`.
pub(super) fn claim(
    db: &Database,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let min_idle_ms = min_idle.as_millis() as u64;
    claim_where(
        db,
        stream,
        group,
        consumer,
        limit,
        now_ms,
        |_, delivered_at| now_ms.saturating_sub(delivered_at) >= min_idle_ms,
    )
}

/// Gives `consumer` the entries pending on `owner`, however long idle.
pub(super) fn claim_from(
    db: &Database,
    stream: &str,
    group: &str,
    owner: &str,
    consumer: &str,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    claim_where(db, stream, group, consumer, limit, now_ms, |held_by, _| {
        held_by == owner
    })
}

/// Gives `consumer` up to `limit` pending entries, oldest first, that `chosen(owner,
/// delivered_at)` picks, counting a new delivery for each.
fn claim_where(
    db: &Database,
    stream: &str,
    group: &str,
    consumer: &str,
    limit: usize,
    now_ms: u64,
    chosen: impl Fn(&str, u64) -> bool,
) -> Result<Vec<StoredEvent>, StoreError> {
    in_write(db, |txn| {
        group_last(txn, stream, group)?;
        let events = txn.open_table(EVENTS)?;
        let mut pending = txn.open_table(PENDING)?;
        let mut picked = Vec::new();
        for row in pending.range((stream, group, 0, 0)..=(stream, group, u64::MAX, u64::MAX))? {
            if picked.len() >= limit {
                break;
            }
            let (key, value) = row?;
            let (_, _, ms, seq) = key.value();
            let (owner, delivered_at, deliveries) = value.value();
            if chosen(owner, delivered_at) {
                picked.push((Position::new(ms, seq), deliveries));
            }
        }
        let mut claimed = Vec::with_capacity(picked.len());
        for (p, deliveries) in picked {
            match events.get((stream, p.ms, p.seq))? {
                Some(value) => {
                    let (_, _, _, json) = value.value();
                    claimed.push(decode_event(p, json)?);
                    pending.insert(
                        (stream, group, p.ms, p.seq),
                        (consumer, now_ms, deliveries + 1),
                    )?;
                }
                // The entry is gone (its stream was trimmed past it by another tool): nothing
                // to deliver, so it is no longer pending — as Redis's XAUTOCLAIM does.
                None => {
                    pending.remove((stream, group, p.ms, p.seq))?;
                }
            }
        }
        Ok(claimed)
    })
}

/// Passes a consumer's pending entries to [`ORPHANED_CONSUMER`].
pub(super) fn remove_consumer(
    db: &Database,
    stream: &str,
    group: &str,
    consumer: &str,
) -> Result<u64, StoreError> {
    in_write(db, |txn| {
        group_last(txn, stream, group)?;
        let mut pending = txn.open_table(PENDING)?;
        let mut held = Vec::new();
        for row in pending.range((stream, group, 0, 0)..=(stream, group, u64::MAX, u64::MAX))? {
            let (key, value) = row?;
            let (_, _, ms, seq) = key.value();
            let (owner, delivered_at, deliveries) = value.value();
            if owner == consumer {
                held.push((ms, seq, delivered_at, deliveries));
            }
        }
        for (ms, seq, delivered_at, deliveries) in &held {
            pending.insert(
                (stream, group, *ms, *seq),
                (ORPHANED_CONSUMER, *delivered_at, *deliveries),
            )?;
        }
        Ok(held.len() as u64)
    })
}

/// Saves a checkpoint.
pub(super) fn save_checkpoint(
    db: &Database,
    stream: &str,
    name: &str,
    position: Position,
) -> Result<(), StoreError> {
    in_write(db, |txn| {
        txn.open_table(CHECKPOINTS)?
            .insert((stream, name), (position.ms, position.seq))?;
        Ok(())
    })
}

/// Reads a checkpoint.
pub(super) fn checkpoint(
    db: &Database,
    stream: &str,
    name: &str,
) -> Result<Option<Position>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(CHECKPOINTS)?;
    Ok(table.get((stream, name))?.map(|v| {
        let (ms, seq) = v.value();
        Position::new(ms, seq)
    }))
}
