//! Time travel: a reducer subscription's state of one subject as of a position or a time.
//!
//! The state is recomputed, not looked up: the subject's events up to the point are folded
//! by the subscription's current plugin through the same [`Pipeline`] as live processing
//! (type patterns, filter plugin, retries and dead letters), starting from the nearest
//! earlier snapshot that this very plugin version made (see `snapshot_every`). Events of
//! several streams are folded in position order, as the live subscription folds them.
//!
//! The cost is bounded by `snapshot_every`, whatever the history's length: snapshots are
//! kept at every `snapshot_every`th event of a subject, so the nearest one before a position
//! is less than that many applied events away; for a time, the snapshot is the newest whose
//! events all have times at or before it (each snapshot keeps the latest time it reflects),
//! and the fold reads forward only until an event is later than the time. The read is paged,
//! from a first page of `snapshot_every` events. (Events a subscription skips — other types,
//! filtered out — are read but not counted by `snapshot_every`, so where most of a subject's
//! events are skipped the read is longer; and the times of skipped events before a subject's
//! first applied one are not known to its snapshots.)

use super::SubscriptionError;
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::SubscriptionSpec;
use super::pipeline::{Input, Pipeline};
use super::stats::Stats;
use crate::event::{EventTime, Position};
use crate::plugin::{Plugin, PluginInstance};
use crate::store::{Direction, EventStore, MAX_READ, Read, SavedState, StoredEvent};

/// The point in a subject's history a time-travel query asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// After the events at or before this stream position.
    Position(Position),
    /// Before the subject's first event whose `time` is later than this (nanoseconds since
    /// the Unix epoch), like `eddy replay --until <time>`.
    Time(i64),
}

impl FromStr for At {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(position) = text.parse::<Position>() {
            return Ok(At::Position(position));
        }
        EventTime::parse(text)
            .map(|time| At::Time(time.unix_nanos()))
            .map_err(|_| {
                format!(
                    "`{text}` is neither a position (`1767225600000-0`) nor an RFC 3339 time \
                     (`2026-01-01T00:00:00Z`)"
                )
            })
    }
}

/// A subject's state as of a point, and what it reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateAt {
    /// The state (with the stream and position of the last event applied, the plugin hash,
    /// and the number of events applied over the subject's whole history).
    pub saved: SavedState,
    /// The position of the snapshot the fold started from, if one was used.
    pub from_snapshot: Option<Position>,
    /// How many events this query read and folded after the snapshot.
    pub replayed: u64,
    /// How many events this query read from the store (pages overshoot the point a little).
    pub read: u64,
}

/// Why a time-travel query failed.
#[derive(Debug, thiserror::Error)]
pub enum TimeTravelError {
    /// The store failed; retry later.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The plugin could not be instantiated or failed in a way that stopped the fold.
    #[error("{0}")]
    Plugin(String),
}

/// What a query needs of a running subscription.
pub(crate) struct Subscription<'a> {
    pub store: &'a Arc<dyn EventStore>,
    pub spec: &'a Arc<SubscriptionSpec>,
    pub plugin: &'a Plugin,
    pub filter: Option<&'a Plugin>,
}

/// The state of `subject` as of `at`, or `None` if no event of it had been applied by then.
pub(crate) async fn state_at(
    sub: Subscription<'_>,
    subject: &str,
    at: &At,
) -> Result<Option<StateAt>, TimeTravelError> {
    let hash = sub.plugin.hash().to_string();
    let (name, store) = (&sub.spec.name, sub.store);
    // The nearest snapshot that holds only events before the point: by position, or by the
    // latest event time it reflects.
    let snapshot = match at {
        At::Position(cut) => store.nearest_snapshot(name, subject, &hash, *cut).await?,
        At::Time(limit) => {
            store
                .nearest_snapshot_by_time(name, subject, &hash, *limit)
                .await?
        }
    };
    let from_snapshot = snapshot.as_ref().map(|s| s.position);
    let after = snapshot.as_ref().map(|s| (s.stream.as_str(), s.position));
    // Read forward from there until the point is passed. Snapshots are `snapshot_every`
    // events apart, so a first page of that size (per stream) usually is all it takes.
    let first_page = match sub.spec.snapshot_every {
        0 => PAGE,
        every => (every as usize + 1).min(PAGE),
    };
    let mut events =
        SubjectEvents::new(store.clone(), &sub.spec.streams, subject, after, first_page);
    let mut inputs = Vec::new();
    while let Some(input) = events.next().await? {
        let passed = match at {
            At::Position(cut) => input.stored.position > *cut,
            At::Time(limit) => {
                let time = input.stored.event.time.as_ref();
                time.is_some_and(|t| t.unix_nanos() > *limit)
            }
        };
        if passed {
            break;
        }
        inputs.push(input);
    }
    let replayed = inputs.len() as u64;
    let read = events.read();
    let instance = |plugin: &Plugin| {
        PluginInstance::new(plugin, sub.spec.config.clone(), sub.spec.limits)
            .map_err(|e| TimeTravelError::Plugin(e.to_string()))
    };
    let mut pipeline = Pipeline::new(
        instance(sub.plugin)?,
        sub.filter.map(instance).transpose()?,
        sub.spec.clone(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Stats::default()),
    );
    let mut states: HashMap<String, SavedState> = HashMap::new();
    if let Some(snapshot) = snapshot {
        states.insert(subject.to_string(), snapshot);
    }
    let batch = sub.spec.batch.max(1) as usize;
    let subject_key = subject.to_string();
    let states = tokio::task::spawn_blocking(move || {
        for chunk in inputs.chunks(batch) {
            pipeline
                .reduce(chunk, &mut states)
                .map_err(|_| TimeTravelError::Plugin("the query was abandoned".to_string()))?;
        }
        Ok::<_, TimeTravelError>(states)
    })
    .await
    .map_err(|e| TimeTravelError::Plugin(format!("the fold panicked: {e}")))??;
    Ok(states.get(&subject_key).cloned().map(|saved| StateAt {
        saved,
        from_snapshot,
        replayed,
        read,
    }))
}

/// One subject's events of several streams after a position, merged in position order (ties:
/// the order of the streams), read page by page.
pub(crate) struct SubjectEvents {
    store: Arc<dyn EventStore>,
    subject: String,
    streams: Vec<StreamCursor>,
    /// Events per read: starts small, doubles up to [`PAGE`].
    page: usize,
    /// Events read so far.
    read: u64,
}

struct StreamCursor {
    stream: String,
    after: Option<Position>,
    buffer: VecDeque<StoredEvent>,
    done: bool,
}

/// The most events per read of a subject.
const PAGE: usize = 1000;

impl SubjectEvents {
    /// Events after `after`: the stream and position of the last event already folded. An
    /// event of a later stream (in `streams`' order) at that same position comes after it.
    pub(crate) fn new(
        store: Arc<dyn EventStore>,
        streams: &[String],
        subject: &str,
        after: Option<(&str, Position)>,
        first_page: usize,
    ) -> Self {
        let rank = |stream: &str| streams.iter().position(|s| s == stream);
        Self {
            store,
            page: first_page.clamp(1, PAGE.min(MAX_READ)),
            read: 0,
            subject: subject.to_string(),
            streams: streams
                .iter()
                .map(|stream| StreamCursor {
                    stream: stream.clone(),
                    after: after.and_then(|(last_stream, position)| {
                        if rank(stream) > rank(last_stream) {
                            position.prev()
                        } else {
                            Some(position)
                        }
                    }),
                    buffer: VecDeque::new(),
                    done: false,
                })
                .collect(),
        }
    }

    /// How many events have been read from the store.
    pub(crate) fn read(&self) -> u64 {
        self.read
    }

    /// The next event in position order, as a pipeline input.
    pub(crate) async fn next(&mut self) -> Result<Option<Input>, crate::store::StoreError> {
        let mut grow = false;
        for cursor in &mut self.streams {
            if cursor.buffer.is_empty() && !cursor.done {
                let limit = self.page;
                let page = self
                    .store
                    .read(
                        &cursor.stream,
                        Read {
                            from: cursor.after,
                            direction: Direction::Forward,
                            limit,
                            subject: Some(self.subject.clone()),
                        },
                    )
                    .await?;
                self.read += page.len() as u64;
                cursor.done = page.len() < limit;
                cursor.after = page.last().map(|e| e.position).or(cursor.after);
                cursor.buffer.extend(page);
                grow = true;
            }
        }
        if grow {
            self.page = (self.page * 2).min(PAGE.min(MAX_READ));
        }
        let next = self
            .streams
            .iter_mut()
            .filter(|c| !c.buffer.is_empty())
            .min_by_key(|c| c.buffer[0].position);
        Ok(next.and_then(|cursor| {
            let stream = cursor.stream.clone();
            cursor.buffer.pop_front().map(|stored| Input {
                stream,
                stored,
                redrive_of: None,
            })
        }))
    }
}

impl super::SubscriptionHost {
    /// A reducer subscription's state of `subject` as of `at`, recomputed by its current
    /// plugin from the nearest earlier snapshot (see `snapshot_every`); `None` if no
    /// event of the subject had been applied by then.
    pub async fn state_at(
        &self,
        name: &str,
        subject: &str,
        at: &At,
    ) -> Result<Option<StateAt>, SubscriptionError> {
        let (spec, plugin, filter) = {
            let running = self.running.lock().await;
            let r = running
                .get(name)
                .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
            (r.spec.clone(), r.plugin.clone(), r.filter.clone())
        };
        let subscription = Subscription {
            store: &self.store,
            spec: &spec,
            plugin: &plugin,
            filter: filter.as_ref(),
        };
        state_at(subscription, subject, at)
            .await
            .map_err(|e| match e {
                TimeTravelError::Store(e) => SubscriptionError::Store(e),
                TimeTravelError::Plugin(message) => SubscriptionError::Plugin(message),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_is_a_position_or_a_time() {
        assert_eq!(
            "1767225600000-3".parse::<At>(),
            Ok(At::Position(Position::new(1_767_225_600_000, 3)))
        );
        assert_eq!(
            "2026-01-01T00:00:01Z".parse::<At>(),
            Ok(At::Time(1_767_225_601_000_000_000))
        );
        let error = "yesterday".parse::<At>().unwrap_err();
        assert!(error.contains("neither a position"), "{error}");
    }
}
