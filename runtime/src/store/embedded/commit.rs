//! Commits and reducer states in the redb file. Synchronous, like [`super::streams`].

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::groups::group_last;
use super::leases;
use super::schema::{CHECKPOINTS, PENDING, SNAPSHOT_TIMES, SNAPSHOTS, STATE_TIMES, STATES};
use super::streams::{after_stream, append_in, in_write};
use crate::event::Position;
use crate::store::{Append, Appended, Commit, SavedState, StoreError};

/// Applies a checked commit in one write transaction: the fence is checked first, and any
/// failure aborts the transaction, so either all of it is stored or none of it.
pub(super) fn commit(
    db: &Database,
    commit: Commit,
    clock: fn() -> u64,
) -> Result<Vec<Vec<Appended>>, StoreError> {
    in_write(db, |txn| {
        // Read with the write lock held, like an append's (see `streams::clock`).
        let now_ms = clock();
        if let Some(fence) = &commit.fence {
            leases::check_fence(txn, fence, now_ms)?;
        }
        let mut appended = Vec::with_capacity(commit.appends.len());
        for (stream, events) in commit.appends {
            if events.is_empty() {
                appended.push(Vec::new());
                continue;
            }
            appended.push(append_in(txn, &stream, &Append::new(events), None, now_ms)?);
        }
        for ack in &commit.acks {
            group_last(txn, &ack.stream, &ack.group)?;
            let mut pending = txn.open_table(PENDING)?;
            for p in &ack.positions {
                pending.remove((ack.stream.as_str(), ack.group.as_str(), p.ms, p.seq))?;
            }
        }
        if !commit.states.is_empty() {
            let mut states = txn.open_table(STATES)?;
            let mut times = txn.open_table(STATE_TIMES)?;
            for write in &commit.states {
                let s = &write.state;
                let key = (write.projection.as_str(), write.subject.as_str());
                match s.latest_time {
                    Some(time) => times.insert(key, time)?,
                    None => times.remove(key)?,
                };
                states.insert(
                    (write.projection.as_str(), write.subject.as_str()),
                    (
                        s.state.as_slice(),
                        s.stream.as_str(),
                        s.position.ms,
                        s.position.seq,
                        s.plugin.as_str(),
                        s.events,
                    ),
                )?;
            }
        }
        if !commit.snapshots.is_empty() {
            let mut snapshots = txn.open_table(SNAPSHOTS)?;
            let mut times = txn.open_table(SNAPSHOT_TIMES)?;
            for write in &commit.snapshots {
                let s = &write.snapshot;
                let (projection, subject, plugin) = (
                    write.projection.as_str(),
                    write.subject.as_str(),
                    s.plugin.as_str(),
                );
                let key = (projection, subject, plugin, s.position.ms, s.position.seq);
                snapshots.insert(key, (s.state.as_slice(), s.stream.as_str(), s.events))?;
                match s.latest_time {
                    Some(time) => times.insert(key, time)?,
                    None => times.remove(key)?,
                };
                // Prune: keep the newest `keep` of this subject and plugin hash.
                let range = (projection, subject, plugin, 0, 0)
                    ..=(projection, subject, plugin, u64::MAX, u64::MAX);
                let held = snapshots.range(range.clone())?.count();
                let excess = held.saturating_sub(write.keep.max(1) as usize);
                let mut oldest = Vec::with_capacity(excess);
                for row in snapshots.range(range)?.take(excess) {
                    let (_, _, _, ms, seq) = row?.0.value();
                    oldest.push((ms, seq));
                }
                for (ms, seq) in oldest {
                    snapshots.remove((projection, subject, plugin, ms, seq))?;
                    times.remove((projection, subject, plugin, ms, seq))?;
                }
            }
        }
        if !commit.checkpoints.is_empty() {
            let mut checkpoints = txn.open_table(CHECKPOINTS)?;
            for (stream, name, position) in &commit.checkpoints {
                checkpoints.insert(
                    (stream.as_str(), name.as_str()),
                    (position.ms, position.seq),
                )?;
            }
        }
        Ok(appended)
    })
}

/// One subject's saved state.
pub(super) fn load_state(
    db: &Database,
    projection: &str,
    subject: &str,
) -> Result<Option<SavedState>, StoreError> {
    let txn = db.begin_read()?;
    let states = txn.open_table(STATES)?;
    let times = txn.open_table(STATE_TIMES)?;
    let latest_time = times.get((projection, subject))?.map(|t| t.value());
    Ok(states.get((projection, subject))?.map(|row| {
        let (state, stream, ms, seq, plugin, events) = row.value();
        SavedState {
            state: state.to_vec(),
            stream: stream.to_string(),
            position: Position::new(ms, seq),
            plugin: plugin.to_string(),
            events,
            latest_time,
        }
    }))
}

/// The latest snapshot of a subject by one plugin hash at or before `at`.
pub(super) fn nearest_snapshot(
    db: &Database,
    projection: &str,
    subject: &str,
    plugin: &str,
    at: Position,
) -> Result<Option<SavedState>, StoreError> {
    let txn = db.begin_read()?;
    let snapshots = txn.open_table(SNAPSHOTS)?;
    let times = txn.open_table(SNAPSHOT_TIMES)?;
    let range = (projection, subject, plugin, 0, 0)..=(projection, subject, plugin, at.ms, at.seq);
    let Some(row) = snapshots.range(range)?.next_back() else {
        return Ok(None);
    };
    let (key, value) = row?;
    let (_, _, _, ms, seq) = key.value();
    let (state, stream, events) = value.value();
    Ok(Some(SavedState {
        state: state.to_vec(),
        stream: stream.to_string(),
        position: Position::new(ms, seq),
        plugin: plugin.to_string(),
        events,
        latest_time: times.get(key.value())?.map(|t| t.value()),
    }))
}

/// The latest snapshot of a subject by one plugin hash whose latest event time is at or
/// before `time` (one with no time qualifies). Walks back over at most `snapshots_kept` rows.
pub(super) fn nearest_snapshot_by_time(
    db: &Database,
    projection: &str,
    subject: &str,
    plugin: &str,
    time: i64,
) -> Result<Option<SavedState>, StoreError> {
    let txn = db.begin_read()?;
    let snapshots = txn.open_table(SNAPSHOTS)?;
    let times = txn.open_table(SNAPSHOT_TIMES)?;
    let range =
        (projection, subject, plugin, 0, 0)..=(projection, subject, plugin, u64::MAX, u64::MAX);
    for row in snapshots.range(range)?.rev() {
        let (key, value) = row?;
        let latest_time = times.get(key.value())?.map(|t| t.value());
        if latest_time.is_some_and(|t| t > time) {
            continue;
        }
        let (_, _, _, ms, seq) = key.value();
        let (state, stream, events) = value.value();
        return Ok(Some(SavedState {
            state: state.to_vec(),
            stream: stream.to_string(),
            position: Position::new(ms, seq),
            plugin: plugin.to_string(),
            events,
            latest_time,
        }));
    }
    Ok(None)
}

/// Up to `limit` subjects of a projection after `after`, ascending (byte order, as Redis's).
pub(super) fn list_states(
    db: &Database,
    projection: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let txn = db.begin_read()?;
    let states = txn.open_table(STATES)?;
    let end = after_stream(projection);
    let mut out = Vec::new();
    let range =
        states.range::<(&str, &str)>((projection, after.unwrap_or(""))..(end.as_str(), ""))?;
    for row in range {
        if out.len() >= limit {
            break;
        }
        let (key, _) = row?;
        let (_, subject) = key.value();
        // The range starts at `after` inclusive; the contract says exclusive.
        if Some(subject) == after {
            continue;
        }
        out.push(subject.to_string());
    }
    Ok(out)
}

/// Deletes a projection's states; returns how many there were.
pub(super) fn delete_projection(db: &Database, projection: &str) -> Result<u64, StoreError> {
    in_write(db, |txn: &WriteTransaction| {
        let end = after_stream(projection);
        let mut states = txn.open_table(STATES)?;
        let mut snapshots = txn.open_table(SNAPSHOTS)?;
        snapshots.retain_in::<(&str, &str, &str, u64, u64), _>(
            (projection, "", "", 0, 0)..(end.as_str(), "", "", 0, 0),
            |_, _| false,
        )?;
        txn.open_table(SNAPSHOT_TIMES)?
            .retain_in::<(&str, &str, &str, u64, u64), _>(
                (projection, "", "", 0, 0)..(end.as_str(), "", "", 0, 0),
                |_, _| false,
            )?;
        txn.open_table(STATE_TIMES)?
            .retain_in::<(&str, &str), _>((projection, "")..(end.as_str(), ""), |_, _| false)?;
        let mut removed = 0;
        states.retain_in::<(&str, &str), _>((projection, "")..(end.as_str(), ""), |_, _| {
            removed += 1;
            false
        })?;
        Ok(removed)
    })
}
