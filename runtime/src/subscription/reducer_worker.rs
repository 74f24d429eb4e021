//! The loop of one partition of a reducer subscription.
//!
//! Subjects are spread over partitions by a hash of the subject. A partition is processed by
//! the process that holds its lease; it reads each stream from the partition's checkpoint,
//! folds the events of its subjects, and commits the new states together with the
//! checkpoints, fenced by the lease: a process that lost its lease cannot write, so two
//! processes never interleave writes to one subject's state, and a restart resumes exactly
//! where the last commit stopped — no event applied twice, none skipped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::dead_letter::{REDRIVE_TYPE, dlq_stream, redrive_stream, resolve_link};
use super::pipeline::{Fate, Input, Pipeline};
use super::spec::MAX_BATCH;
use super::worker::{WorkerContext, commit_with_retry_fenced, resolved_marker};
use crate::event::Position;
use crate::store::{
    Commit, Direction, Fence, Read, SavedState, SnapshotWrite, StateWrite, StoreError, StoredEvent,
};

/// How long a partition lease lasts without renewal.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often a process without the lease asks for it again.
const LEASE_RETRY: Duration = Duration::from_millis(500);
/// Polling bounds when the streams have nothing new.
const MIN_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(200);
/// States kept in memory per partition before the cache is dropped and reloaded on demand.
const MAX_CACHED_STATES: usize = 100_000;
/// While a partition is behind (a read came back full), it reads this many batches at once
/// (at most [`MAX_BATCH`] events) before it folds and commits: a rebuild then writes each
/// subject's state once per read instead of once per batch, and a plugin call carries more
/// of a subject's events (still at most `batch`). Rebuilding 1,000 orders from Redis in
/// batches of 1,000, most calls carried one or two events and most of the time went to
/// per-call and per-commit work.
const CATCH_UP_BATCHES: usize = 8;

/// Events per read: one batch when up to date, several while catching up.
fn read_limit(batch: u32, behind: bool) -> usize {
    let batch = batch as usize;
    if behind {
        (batch * CATCH_UP_BATCHES)
            .min(MAX_BATCH as usize)
            .max(batch)
    } else {
        batch
    }
}

/// The lease name of a partition.
pub(crate) fn lease_name(subscription: &str, partition: u32) -> String {
    format!("{subscription}.p{partition}")
}

/// The partition of a subject: FNV-1a, stable across processes, versions and platforms.
pub(crate) fn partition_of(subject: &str, partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in subject.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

/// Runs until the subscription stops.
pub(crate) async fn run(ctx: WorkerContext, partition: u32, mut pipeline: Pipeline) {
    let lease = lease_name(&ctx.spec.name, partition);
    let mut streams = ctx.spec.streams.clone();
    let redrive = redrive_stream(&ctx.spec.name);
    streams.push(redrive.clone());
    let mut hash = pipeline.plugin_hash();
    // Set when the plugin's code changed and the partition's checkpoints still have to go
    // back to the start (kept across a lost lease, so the reset is never skipped).
    let mut rebuild_pending = false;
    'lease: loop {
        let fence = loop {
            if ctx.stopping() {
                return;
            }
            match ctx
                .store
                .acquire_lease(&lease, &ctx.consumer, LEASE_TTL)
                .await
            {
                Ok(Some(granted)) => {
                    break Fence {
                        lease: lease.clone(),
                        owner: ctx.consumer.clone(),
                        token: granted.token,
                    };
                }
                Ok(None) => {}
                Err(error) => ctx.stats.set_error(&error.to_string()),
            }
            if ctx.pause(LEASE_RETRY).await {
                return;
            }
        };
        tracing::info!(subscription = %ctx.spec.name, partition, token = fence.token, "partition taken");
        let mut checkpoints: HashMap<String, Option<Position>> = HashMap::new();
        for stream in &streams {
            let checkpoint = loop {
                match ctx.store.checkpoint(stream, &lease).await {
                    Ok(cp) => break cp.or_else(|| start_position(&ctx, stream)),
                    Err(error) => {
                        ctx.stats.set_error(&error.to_string());
                        if ctx.pause(Duration::from_secs(1)).await {
                            return;
                        }
                    }
                }
            };
            checkpoints.insert(stream.clone(), checkpoint);
        }
        let mut states: HashMap<String, SavedState> = HashMap::new();
        let mut renewed = Instant::now();
        let mut idle = MIN_POLL;
        let mut behind = false;
        loop {
            if ctx.stopping() {
                let _ = ctx.store.release_lease(&lease, &ctx.consumer).await;
                return;
            }
            if !ctx.should_own(partition) {
                // Another live process is this partition's preferred owner: hand it over.
                tracing::info!(subscription = %ctx.spec.name, partition, "handing the partition over");
                let _ = ctx.store.release_lease(&lease, &ctx.consumer).await;
                continue 'lease;
            }
            if renewed.elapsed() >= LEASE_TTL / 3 {
                match ctx
                    .store
                    .acquire_lease(&lease, &ctx.consumer, LEASE_TTL)
                    .await
                {
                    Ok(Some(granted)) if granted.token == fence.token => renewed = Instant::now(),
                    Ok(_) => {
                        tracing::warn!(subscription = %ctx.spec.name, partition, "lease lost");
                        continue 'lease;
                    }
                    Err(error) => ctx.stats.set_error(&error.to_string()),
                }
            }
            // A new plugin version is taken between batches. Unless the user keeps the state,
            // states made by other code are not reused: the partition goes back to the start
            // and rebuilds them by replay (progress shows as the subscription's lag).
            if pipeline.refresh() {
                hash = pipeline.plugin_hash();
                states.clear();
                rebuild_pending = !ctx.spec.keep_state;
                tracing::info!(subscription = %ctx.spec.name, partition, %hash, rebuild = rebuild_pending, "reducer code changed");
            }
            if rebuild_pending {
                let reset: Vec<(String, String, Position)> = ctx
                    .spec
                    .streams
                    .iter()
                    .map(|stream| (stream.clone(), lease.clone(), rebuild_from(&ctx)))
                    .collect();
                let commit = Commit {
                    fence: Some(fence.clone()),
                    checkpoints: reset.clone(),
                    ..Commit::default()
                };
                match commit_with_retry_fenced(&ctx, commit).await {
                    Ok(true) => {
                        for (stream, _, position) in reset {
                            checkpoints.insert(stream, Some(position));
                        }
                        rebuild_pending = false;
                    }
                    Ok(false) => return,
                    Err(_) => {
                        if ctx.pause(Duration::from_secs(1)).await {
                            return;
                        }
                        continue 'lease;
                    }
                }
            }
            // Read the next batch of every stream.
            let clock = match horizon_clock(&ctx).await {
                Ok(clock) => clock,
                Err(error) => {
                    ctx.stats.set_error(&error.to_string());
                    if ctx.pause(Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'lease;
                }
            };
            let mut read: Vec<(String, Vec<StoredEvent>)> = Vec::new();
            let limit = read_limit(ctx.spec.batch, behind);
            for stream in &streams {
                let request = Read {
                    from: checkpoints[stream],
                    direction: Direction::Forward,
                    limit,
                    subject: None,
                };
                match ctx.store.read(stream, request).await {
                    Ok(entries) if !entries.is_empty() => read.push((stream.clone(), entries)),
                    Ok(_) => {}
                    Err(error) => ctx.stats.set_error(&error.to_string()),
                }
            }
            // Several streams are folded in position order, so only up to where every
            // stream's events are known (see `horizon`); the rest waits for the next batch.
            behind = read.iter().any(|(_, entries)| entries.len() >= limit);
            let horizon = clock.map(|clock| horizon(clock, &read, &redrive, limit));
            let mut held_back = false;
            // Keep the events of this partition.
            let mut inputs = Vec::new();
            let mut advanced: Vec<(String, Position)> = Vec::new();
            for (stream, mut entries) in read {
                if let Some(horizon) = horizon
                    && stream != redrive
                {
                    let known = entries.partition_point(|e| e.position <= horizon);
                    held_back |= known < entries.len();
                    entries.truncate(known);
                }
                let Some(last) = entries.last().map(|e| e.position) else {
                    continue;
                };
                advanced.push((stream.clone(), last));
                for stored in entries {
                    let input = if stored.event.ty == REDRIVE_TYPE && stream == redrive {
                        match resolve_link(ctx.store.as_ref(), &ctx.spec.name, &stored.event).await
                        {
                            Ok(Some((dlq, original_stream, original))) => Input {
                                stream: original_stream,
                                stored: original,
                                redrive_of: Some(dlq),
                            },
                            Ok(None) => continue,
                            Err(error) => {
                                ctx.stats.set_error(&error.to_string());
                                continue 'lease;
                            }
                        }
                    } else {
                        Input {
                            stream: stream.clone(),
                            stored,
                            redrive_of: None,
                        }
                    };
                    let subject = input.stored.event.subject.as_deref().unwrap_or("");
                    if partition_of(subject, ctx.spec.partitions) == partition {
                        inputs.push(input);
                    }
                }
            }
            if clock.is_some() {
                in_position_order(&mut inputs, &ctx.spec.streams);
            }
            if advanced.is_empty() {
                // Events held back wait only for the clock to move on.
                let wait = if held_back { MIN_POLL } else { idle };
                if ctx.pause(wait).await {
                    let _ = ctx.store.release_lease(&lease, &ctx.consumer).await;
                    return;
                }
                if !held_back {
                    idle = (idle * 2).min(MAX_POLL);
                }
                continue;
            }
            idle = MIN_POLL;
            // Load the states of subjects not in memory; a state made by other code is not
            // reused (the subscription then rebuilds it from the events it reads), nor one
            // that reflects events past the checkpoint (left by an earlier run of the same
            // code before a rebuild went back to the start).
            if states.len() > MAX_CACHED_STATES {
                states.clear();
            }
            for input in &inputs {
                let subject = input.stored.event.subject.clone().unwrap_or_default();
                if states.contains_key(&subject) {
                    continue;
                }
                match ctx.store.load_state(&ctx.spec.name, &subject).await {
                    Ok(Some(saved))
                        if (saved.plugin == hash || ctx.spec.keep_state)
                            && reflects_only_read(&saved, &checkpoints) =>
                    {
                        states.insert(subject, saved);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        ctx.stats.set_error(&error.to_string());
                        continue 'lease;
                    }
                }
            }
            let snapshots_wanted = snapshots_apply(&ctx, &inputs);
            ctx.stats.in_progress.begin_batch(
                &lease,
                Some(partition),
                inputs
                    .iter()
                    .map(|i| (i.stream.as_str(), i.stored.position)),
            );
            let task = tokio::task::spawn_blocking(move || {
                let outcome = pipeline.reduce(&inputs, &mut states);
                (pipeline, inputs, states, outcome)
            });
            let (returned, inputs, returned_states, outcome) = match task.await {
                Ok(done) => done,
                Err(panic) => {
                    tracing::error!(subscription = %ctx.spec.name, "worker panicked: {panic}");
                    return;
                }
            };
            pipeline = returned;
            states = returned_states;
            let Ok(reduced) = outcome else {
                let _ = ctx.store.release_lease(&lease, &ctx.consumer).await;
                return;
            };
            let mut commit = Commit {
                fence: Some(fence.clone()),
                checkpoints: advanced
                    .iter()
                    .map(|(stream, position)| (stream.clone(), lease.clone(), *position))
                    .collect(),
                ..Commit::default()
            };
            if snapshots_wanted {
                for (subject, snapshot) in reduced.marks {
                    commit.snapshots.push(SnapshotWrite {
                        projection: ctx.spec.name.clone(),
                        subject,
                        snapshot,
                        keep: ctx.spec.snapshots_kept,
                    });
                }
            }
            for subject in reduced.changed {
                if let Some(saved) = states.get(&subject) {
                    commit.states.push(StateWrite {
                        projection: ctx.spec.name.clone(),
                        subject,
                        state: saved.clone(),
                    });
                }
            }
            let mut letters = Vec::new();
            for (input, fate) in inputs.iter().zip(reduced.fates) {
                match fate {
                    Fate::Done(()) => {
                        if let Some(dlq) = input.redrive_of {
                            commit.states.push(resolved_marker(&ctx.spec.name, dlq));
                        }
                    }
                    Fate::DeadLettered(letter) => letters.push(*letter),
                }
            }
            if !letters.is_empty() {
                commit.appends.push((dlq_stream(&ctx.spec.name), letters));
            }
            let committed = commit_with_retry_fenced(&ctx, commit).await;
            ctx.stats.in_progress.end_batch(&lease);
            match committed {
                Ok(true) => {
                    for (stream, position) in advanced {
                        checkpoints.insert(stream, Some(position));
                    }
                }
                Ok(false) => return,
                Err(StoreError::LeaseLost { .. }) => {
                    tracing::warn!(subscription = %ctx.spec.name, partition, "lease lost before commit");
                    continue 'lease;
                }
                Err(_) => {
                    // Reported in the stats; start over from the last commit after a pause.
                    if ctx.pause(Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'lease;
                }
            }
        }
    }
}

/// Whether this batch may leave snapshots. A snapshot must be the fold of exactly the
/// subject's events up to its position in position order, which is what time travel replays
/// after it: so there are none when snapshots are off, and for batches that redrive a dead
/// letter (it is applied after later events).
fn snapshots_apply(ctx: &WorkerContext, inputs: &[Input]) -> bool {
    ctx.spec.snapshot_every > 0 && inputs.iter().all(|input| input.redrive_of.is_none())
}

/// For a subscription of several streams, the store's clock read before its streams are
/// read (see [`horizon`]); `None` for one stream, whose order is its own.
async fn horizon_clock(ctx: &WorkerContext) -> Result<Option<u64>, StoreError> {
    if ctx.spec.streams.len() < 2 {
        return Ok(None);
    }
    ctx.store.clock_ms().await.map(Some)
}

/// How far a batch of several streams can be folded in position order: up to the last event
/// read of each stream that returned a full read (`limit` events) (it may have more just after), and before
/// the store's clock as read before the reads (an event appended to any stream from then on
/// gets a position at or after `<clock>-0`). Up to there every event of every stream is in
/// hand, so no event can later turn up before one already applied — which would make the
/// live state differ from a fold in position order (offline replay, time travel, snapshots).
fn horizon(
    clock: u64,
    read: &[(String, Vec<StoredEvent>)],
    redrive: &str,
    limit: usize,
) -> Position {
    let before_clock = Position::new(clock.saturating_sub(1), u64::MAX);
    read.iter()
        .filter(|(stream, entries)| stream != redrive && entries.len() >= limit)
        .filter_map(|(_, entries)| entries.last().map(|e| e.position))
        .fold(before_clock, Position::min)
}

/// Sorts a batch of several streams into position order (ties: the order the spec lists the
/// streams in), leaving redriven dead letters, which come last, where they are.
fn in_position_order(inputs: &mut [Input], streams: &[String]) {
    let redriven = inputs.iter().position(|i| i.redrive_of.is_some());
    let ordinary = redriven.unwrap_or(inputs.len());
    let ordinary = &mut inputs[..ordinary];
    let rank = |stream: &str| streams.iter().position(|s| s == stream);
    ordinary.sort_by_key(|i| (i.stored.position, rank(&i.stream)));
}

/// Whether a saved state reflects only events this partition has read: its position is not
/// past the partition's checkpoint on its stream.
fn reflects_only_read(saved: &SavedState, checkpoints: &HashMap<String, Option<Position>>) -> bool {
    match checkpoints.get(&saved.stream) {
        Some(checkpoint) => Some(saved.position) <= *checkpoint,
        None => true,
    }
}

/// Where a rebuild starts: the subscription's start position, or the beginning of the
/// streams (also for `start = "now"`, whose position is not kept: a state rebuilt from part of
/// the history would be wrong without saying so).
fn rebuild_from(ctx: &WorkerContext) -> Position {
    match ctx.spec.start {
        super::Start::After(position) => position,
        super::Start::Beginning | super::Start::Now => Position::ZERO,
    }
}

/// Where a partition starts on a stream it has no checkpoint for.
fn start_position(ctx: &WorkerContext, stream: &str) -> Option<Position> {
    if *stream == redrive_stream(&ctx.spec.name) {
        return None;
    }
    match ctx.spec.start {
        super::Start::Beginning => None,
        super::Start::After(position) => Some(position),
        // "now" is resolved once, when the subscription starts (see worker.rs).
        super::Start::Now => ctx.now_positions.get(stream).copied().flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_behind_reads_several_batches_at_once_within_the_largest_batch() {
        assert_eq!(read_limit(256, false), 256);
        assert_eq!(read_limit(256, true), 256 * CATCH_UP_BATCHES);
        assert_eq!(read_limit(5_000, true), MAX_BATCH as usize);
        assert_eq!(read_limit(MAX_BATCH, true), MAX_BATCH as usize);
        assert_eq!(read_limit(1, true), CATCH_UP_BATCHES);
    }
}
