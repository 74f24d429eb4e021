//! Appending, reading, trimming and deleting streams in the redb file. Synchronous: the async
//! [`super::EmbeddedStore`] runs these on the blocking pool.

use std::collections::HashMap;
use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::schema::{
    CHECKPOINTS, EVENTS, EventKey, EventRow, GROUPS, IDS, PENDING, Pos, STREAMS, SUBJECTS, VERSIONS,
};
use crate::event::Position;
use crate::store::{
    Append, Appended, Direction, Read, StoreError, StoredEvent, StreamInfo, Trim, Trimmed,
    decode_event, next_position,
};

/// Runs `body` in one write transaction: committed (durably, before returning) if it succeeds,
/// aborted if it fails, so a failed call leaves no trace.
pub(super) fn in_write<T>(
    db: &Database,
    body: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let txn = db.begin_write()?;
    match body(&txn) {
        Ok(value) => {
            txn.commit()?;
            Ok(value)
        }
        Err(error) => {
            txn.abort()?;
            Err(error)
        }
    }
}

/// The exclusive upper bound of every key of `stream` in tables keyed by `(stream, text, …)`:
/// names cannot contain NUL, so no other stream sorts between `stream` and `stream\0`.
pub(super) fn after_stream(stream: &str) -> String {
    format!("{stream}\0")
}

fn position((ms, seq): Pos) -> Position {
    Position::new(ms, seq)
}

/// Appends a batch in one write transaction (see the contract on [`crate::store::EventStore`]).
pub(super) fn append(
    db: &Database,
    stream: &str,
    append: &Append,
    clock: fn() -> u64,
) -> Result<Vec<Appended>, StoreError> {
    let expectation = append.check()?;
    // The clock is read inside the transaction, once it holds the write lock, so positions
    // follow the order of commits (see `clock`).
    in_write(db, |txn| {
        append_in(txn, stream, append, expectation, clock())
    })
}

/// The store's clock as positions are assigned, read inside a write transaction: every
/// append that began before has committed, and every later one reads the clock later.
pub(super) fn clock(db: &Database, clock: fn() -> u64) -> Result<u64, StoreError> {
    let txn = db.begin_write()?;
    let now = clock();
    txn.abort()?;
    Ok(now)
}

/// Appends a checked batch inside `txn` (an append's own, or a commit's).
pub(super) fn append_in(
    txn: &WriteTransaction,
    stream: &str,
    append: &Append,
    expectation: Option<(&str, u64)>,
    now_ms: u64,
) -> Result<Vec<Appended>, StoreError> {
    let mut streams = txn.open_table(STREAMS)?;
    let mut events = txn.open_table(EVENTS)?;
    let mut ids = txn.open_table(IDS)?;
    let mut subjects = txn.open_table(SUBJECTS)?;
    let mut versions = txn.open_table(VERSIONS)?;

    // First decide, for each event, whether it is a duplicate (of a stored event or of an
    // earlier one in this batch); only then check the version, so a pure retry succeeds.
    let mut original: Vec<Option<Position>> = Vec::with_capacity(append.events.len());
    let mut first_in_batch: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, event) in append.events.iter().enumerate() {
        let key = (stream, event.id.as_str(), event.source.as_str());
        if let Some(stored) = ids.get(key)? {
            original.push(Some(position(stored.value())));
        } else {
            first_in_batch
                .entry((event.source.as_str(), event.id.as_str()))
                .or_insert(index);
            original.push(None);
        }
    }
    let fresh = first_in_batch.len();
    if let Some((subject, expected)) = expectation
        && fresh > 0
    {
        let current = versions
            .get((stream, subject))?
            .map(|v| v.value())
            .unwrap_or(0);
        if current != expected {
            return Err(StoreError::VersionConflict {
                subject: subject.to_string(),
                expected,
                current,
            });
        }
    }

    let (last_ms, last_seq, mut length) =
        streams.get(stream)?.map(|v| v.value()).unwrap_or((0, 0, 0));
    let mut last = Position::new(last_ms, last_seq);
    let mut assigned: Vec<Option<Position>> = vec![None; append.events.len()];
    for (index, event) in append.events.iter().enumerate() {
        let key = (event.source.as_str(), event.id.as_str());
        if original[index].is_some() || first_in_batch.get(&key) != Some(&index) {
            continue;
        }
        last = next_position(last, now_ms);
        assigned[index] = Some(last);
        let json = event.to_json();
        let subject = event.subject.as_deref();
        events.insert(
            (stream, last.ms, last.seq),
            (
                event.source.as_str(),
                event.id.as_str(),
                subject,
                json.as_bytes(),
            ),
        )?;
        ids.insert(
            (stream, event.id.as_str(), event.source.as_str()),
            (last.ms, last.seq),
        )?;
        if let Some(subject) = subject {
            subjects.insert((stream, subject, last.ms, last.seq), ())?;
            let version = versions
                .get((stream, subject))?
                .map(|v| v.value())
                .unwrap_or(0);
            versions.insert((stream, subject), version + 1)?;
        }
        length += 1;
    }
    streams.insert(stream, (last.ms, last.seq, length))?;

    let mut results = Vec::with_capacity(append.events.len());
    for (index, event) in append.events.iter().enumerate() {
        let (position, duplicate) = match (original[index], assigned[index]) {
            (Some(stored), _) => (stored, true),
            (None, Some(new)) => (new, false),
            (None, None) => {
                let first = first_in_batch[&(event.source.as_str(), event.id.as_str())];
                let position = assigned[first].ok_or_else(|| {
                    StoreError::Corrupt("a batch duplicate lost its original".to_string())
                })?;
                (position, true)
            }
        };
        results.push(Appended {
            id: event.id.clone(),
            position,
            duplicate,
        });
    }
    Ok(results)
}

/// Reads events as [`Read`] describes, in one read transaction.
pub(super) fn read(
    db: &Database,
    stream: &str,
    read: &Read,
) -> Result<Vec<StoredEvent>, StoreError> {
    let txn = db.begin_read()?;
    let events = txn.open_table(EVENTS)?;
    let limit = read.capped_limit();
    let mut out = Vec::with_capacity(limit.min(1024));
    let forward = read.direction == Direction::Forward;
    let (lower, upper) = match (forward, read.from) {
        (true, Some(from)) => (Bound::Excluded(from), Bound::Included(Position::MAX)),
        (false, Some(from)) => (Bound::Included(Position::ZERO), Bound::Excluded(from)),
        (_, None) => (
            Bound::Included(Position::ZERO),
            Bound::Included(Position::MAX),
        ),
    };
    match &read.subject {
        None => {
            let bound = |b: Bound<Position>| b.map(|p| (stream, p.ms, p.seq));
            let range = events.range::<(&str, u64, u64)>((bound(lower), bound(upper)))?;
            let iter: Box<dyn Iterator<Item = _>> = if forward {
                Box::new(range)
            } else {
                Box::new(range.rev())
            };
            for row in iter.take(limit) {
                let (key, value) = row?;
                let (_, ms, seq) = key.value();
                let (_, _, _, json) = value.value();
                out.push(decode_event(Position::new(ms, seq), json)?);
            }
        }
        Some(subject) => {
            let subjects = txn.open_table(SUBJECTS)?;
            let subject = subject.as_str();
            let bound = |b: Bound<Position>| b.map(|p| (stream, subject, p.ms, p.seq));
            let range = subjects.range::<(&str, &str, u64, u64)>((bound(lower), bound(upper)))?;
            let iter: Box<dyn Iterator<Item = _>> = if forward {
                Box::new(range)
            } else {
                Box::new(range.rev())
            };
            for row in iter.take(limit) {
                let (key, _) = row?;
                let (_, _, ms, seq) = key.value();
                let position = Position::new(ms, seq);
                let value = events.get((stream, ms, seq))?.ok_or_else(|| {
                    StoreError::Corrupt(format!("subject index points at missing event {position}"))
                })?;
                let (_, _, _, json) = value.value();
                out.push(decode_event(position, json)?);
            }
        }
    }
    Ok(out)
}

/// The event with this id (and source), or the earliest with this id across sources.
pub(super) fn get(
    db: &Database,
    stream: &str,
    id: &str,
    source: Option<&str>,
) -> Result<Option<StoredEvent>, StoreError> {
    let txn = db.begin_read()?;
    let ids = txn.open_table(IDS)?;
    let found = match source {
        Some(source) => ids.get((stream, id, source))?.map(|v| position(v.value())),
        None => {
            let mut earliest: Option<Position> = None;
            for row in ids.range::<(&str, &str, &str)>((stream, id, "")..)? {
                let (key, value) = row?;
                let (row_stream, row_id, _) = key.value();
                if row_stream != stream || row_id != id {
                    break;
                }
                let candidate = position(value.value());
                earliest = Some(earliest.map_or(candidate, |e| e.min(candidate)));
            }
            earliest
        }
    };
    let Some(position) = found else {
        return Ok(None);
    };
    let events = txn.open_table(EVENTS)?;
    let value = events
        .get((stream, position.ms, position.seq))?
        .ok_or_else(|| {
            StoreError::Corrupt(format!("id index points at missing event {position}"))
        })?;
    let (_, _, _, json) = value.value();
    decode_event(position, json).map(Some)
}

/// A subject's version.
pub(super) fn subject_version(
    db: &Database,
    stream: &str,
    subject: &str,
) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    let versions = txn.open_table(VERSIONS)?;
    Ok(versions
        .get((stream, subject))?
        .map(|v| v.value())
        .unwrap_or(0))
}

/// Every stream's info, by name.
pub(super) fn streams(db: &Database) -> Result<Vec<StreamInfo>, StoreError> {
    let txn = db.begin_read()?;
    let streams = txn.open_table(STREAMS)?;
    let events = txn.open_table(EVENTS)?;
    let mut out = Vec::new();
    for row in streams.iter()? {
        let (name, meta) = row?;
        out.push(info_of(&events, name.value(), meta.value().2)?);
    }
    Ok(out)
}

/// One stream's info.
pub(super) fn stream(db: &Database, stream: &str) -> Result<Option<StreamInfo>, StoreError> {
    let txn = db.begin_read()?;
    let streams = txn.open_table(STREAMS)?;
    let events = txn.open_table(EVENTS)?;
    let Some(meta) = streams.get(stream)? else {
        return Ok(None);
    };
    info_of(&events, stream, meta.value().2).map(Some)
}

fn info_of(
    events: &impl ReadableTable<EventKey, EventRow>,
    stream: &str,
    length: u64,
) -> Result<StreamInfo, StoreError> {
    let mut range = events.range((stream, 0, 0)..=(stream, u64::MAX, u64::MAX))?;
    let first = range.next().transpose()?.map(|(k, _)| {
        let (_, ms, seq) = k.value();
        Position::new(ms, seq)
    });
    let last = range.next_back().transpose()?.map(|(k, _)| {
        let (_, ms, seq) = k.value();
        Position::new(ms, seq)
    });
    Ok(StreamInfo {
        name: stream.to_string(),
        length,
        first,
        last: last.or(first),
    })
}

/// Deletes every row of a stream in every table.
pub(super) fn delete(db: &Database, stream: &str) -> Result<bool, StoreError> {
    in_write(db, |txn| {
        let mut streams = txn.open_table(STREAMS)?;
        let existed = streams.remove(stream)?.is_some();
        let end = after_stream(stream);
        let end = end.as_str();
        txn.open_table(EVENTS)?
            .retain_in((stream, 0, 0)..=(stream, u64::MAX, u64::MAX), |_, _| false)?;
        txn.open_table(IDS)?
            .retain_in((stream, "", "")..(end, "", ""), |_, _| false)?;
        txn.open_table(SUBJECTS)?
            .retain_in((stream, "", 0, 0)..(end, "", 0, 0), |_, _| false)?;
        txn.open_table(VERSIONS)?
            .retain_in((stream, "")..(end, ""), |_, _| false)?;
        txn.open_table(GROUPS)?
            .retain_in((stream, "")..(end, ""), |_, _| false)?;
        txn.open_table(PENDING)?
            .retain_in((stream, "", 0, 0)..(end, "", 0, 0), |_, _| false)?;
        txn.open_table(CHECKPOINTS)?
            .retain_in((stream, "")..(end, ""), |_, _| false)?;
        Ok(existed)
    })
}

/// Trims the oldest events, stopping before the first one a group still needs.
pub(super) fn trim(
    db: &Database,
    stream: &str,
    trim: Trim,
    now_ms: u64,
) -> Result<Trimmed, StoreError> {
    in_write(db, |txn| {
        let mut streams = txn.open_table(STREAMS)?;
        let Some(meta) = streams.get(stream)?.map(|v| v.value()) else {
            return Ok(Trimmed::default());
        };
        let (last_ms, last_seq, length) = meta;
        let mut events = txn.open_table(EVENTS)?;
        let safe = oldest_unacknowledged(txn, &events, stream)?;

        let mut doomed = Vec::new();
        let mut held_by_groups = false;
        {
            let wanted = match trim {
                Trim::MaxLen(keep) => length.saturating_sub(keep),
                Trim::MaxAge(_) => u64::MAX,
            };
            let cutoff_ms = match trim {
                Trim::MaxAge(age) => now_ms.saturating_sub(age.as_millis() as u64),
                Trim::MaxLen(_) => u64::MAX,
            };
            for row in events.range((stream, 0, 0)..=(stream, u64::MAX, u64::MAX))? {
                if doomed.len() as u64 >= wanted {
                    break;
                }
                let (key, value) = row?;
                let (_, ms, seq) = key.value();
                if ms >= cutoff_ms {
                    break;
                }
                if safe.is_some_and(|safe| Position::new(ms, seq) >= safe) {
                    held_by_groups = true;
                    break;
                }
                let (source, id, subject, _) = value.value();
                doomed.push((
                    ms,
                    seq,
                    source.to_string(),
                    id.to_string(),
                    subject.map(str::to_string),
                ));
            }
        }
        let mut ids = txn.open_table(IDS)?;
        let mut subjects = txn.open_table(SUBJECTS)?;
        for (ms, seq, source, id, subject) in &doomed {
            events.remove((stream, *ms, *seq))?;
            ids.remove((stream, id.as_str(), source.as_str()))?;
            if let Some(subject) = subject {
                subjects.remove((stream, subject.as_str(), *ms, *seq))?;
            }
        }
        let removed = doomed.len() as u64;
        streams.insert(stream, (last_ms, last_seq, length - removed))?;
        Ok(Trimmed {
            removed,
            held_by_groups,
        })
    })
}

/// The oldest position some consumer group of the stream has not acknowledged: its oldest
/// pending entry, or the first entry after its last delivery. `None` if every group is done.
fn oldest_unacknowledged(
    txn: &WriteTransaction,
    events: &impl ReadableTable<EventKey, EventRow>,
    stream: &str,
) -> Result<Option<Position>, StoreError> {
    let groups = txn.open_table(GROUPS)?;
    let pending = txn.open_table(PENDING)?;
    let end = after_stream(stream);
    let mut oldest: Option<Position> = None;
    let mut consider = |p: Position| oldest = Some(oldest.map_or(p, |o| o.min(p)));
    for row in groups.range::<(&str, &str)>((stream, "")..(end.as_str(), ""))? {
        let (key, last) = row?;
        let (_, group) = key.value();
        let (ms, seq) = last.value();
        let undelivered = events
            .range::<(&str, u64, u64)>((
                Bound::Excluded((stream, ms, seq)),
                Bound::Included((stream, u64::MAX, u64::MAX)),
            ))?
            .next()
            .transpose()?;
        if let Some((key, _)) = undelivered {
            let (_, ms, seq) = key.value();
            consider(Position::new(ms, seq));
        }
        let first_pending = pending
            .range((stream, group, 0, 0)..=(stream, group, u64::MAX, u64::MAX))?
            .next()
            .transpose()?;
        if let Some((key, _)) = first_pending {
            let (_, _, ms, seq) = key.value();
            consider(Position::new(ms, seq));
        }
    }
    Ok(oldest)
}
