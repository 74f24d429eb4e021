//! The consume loop of a handler subscription on one stream: read a batch from the consumer
//! group, run it, then commit the emitted events, the dead letters and the acknowledgements
//! in one atomic step — no output without the ack, no ack without the output.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::dead_letter::{
    REDRIVE_TYPE, dead_letter_event, dlq_stream, redrive_stream, resolve_link,
};
use super::pipeline::{Fate, Input, Pipeline};
use super::worker::{
    WorkerContext, commit_with_retry, commit_with_retry_fenced, group_start, resolved_marker,
};
use crate::event::{CloudEvent, Position};
use crate::plugin::CallError;
use crate::store::{Commit, GroupAck, ORPHANED_CONSUMER, StoreError, StoredEvent, check_name};

/// How long a blocking group read waits before looking at the stop signal again.
const BLOCK: Duration = Duration::from_millis(500);
/// Entries pending this long on some consumer are taken over (that consumer is presumed gone).
const CLAIM_IDLE: Duration = Duration::from_secs(30);
/// How often to look for such entries.
const CLAIM_EVERY: Duration = Duration::from_secs(5);
/// Consumers without pending entries that have not read for this long are gone: a live
/// worker reads every half second.
const REAP_IDLE: Duration = Duration::from_secs(600);
/// How often to remove them.
const REAP_EVERY: Duration = Duration::from_secs(60);

/// Runs until the subscription stops, then leaves the group: this process's consumer is
/// removed, and entries of an unfinished batch pass to the group's orphaned consumer, from
/// which the next start (or another process) claims them.
pub(crate) async fn run(ctx: WorkerContext, stream: String, pipeline: Pipeline) {
    consume(&ctx, &stream, pipeline).await;
    if let Err(error) = ctx
        .store
        .remove_consumer(&stream, ctx.spec.group(), &ctx.consumer)
        .await
    {
        tracing::warn!(subscription = %ctx.spec.name, %stream, "could not leave the group: {error}");
    }
}

async fn consume(ctx: &WorkerContext, stream: &str, mut pipeline: Pipeline) {
    let ctx = ctx.clone();
    let stream = stream.to_string();
    let group = ctx.spec.group().to_string();
    let is_redrive = stream == redrive_stream(&ctx.spec.name);
    let start = if is_redrive {
        crate::subscription::Start::Beginning
    } else {
        ctx.spec.start
    };
    while let Err(error) = ctx
        .store
        .create_group(&stream, &group, group_start(start))
        .await
    {
        ctx.stats
            .set_error(&format!("creating group `{group}` on `{stream}`: {error}"));
        if ctx.pause(Duration::from_secs(1)).await {
            return;
        }
    }
    // The group's checkpoint only moves forward: a batch taken over from a killed consumer is
    // older than what was committed since, and moving the checkpoint back to it would show a
    // lag that no later batch clears while no new events come.
    let mut checkpoint = ctx.store.checkpoint(&stream, &group).await.ok().flatten();
    let mut last_claim: Option<Instant> = None;
    let mut last_reap: Option<Instant> = None;
    // First, at once, the entries this consumer held when its process died (when the consumer
    // name is kept across restarts) and those stopped consumers left: popped own name first.
    let mut take_back = vec![ORPHANED_CONSUMER, ctx.consumer.as_str()];
    loop {
        if ctx.stopping() {
            return;
        }
        if last_reap.is_none_or(|t| t.elapsed() >= REAP_EVERY) {
            last_reap = Some(Instant::now());
            match ctx.store.reap_consumers(&stream, &group, REAP_IDLE).await {
                Ok(reaped) if !reaped.is_empty() => {
                    tracing::info!(subscription = %ctx.spec.name, %stream, ?reaped, "removed consumers that went away");
                }
                Ok(_) => {}
                Err(error) => ctx.stats.set_error(&error.to_string()),
            }
        }
        let mut entries = Vec::new();
        if let Some(&owner) = take_back.last() {
            let batch = ctx.spec.batch as usize;
            match ctx
                .store
                .claim_from(&stream, &group, owner, &ctx.consumer, batch)
                .await
            {
                Ok(taken) if taken.is_empty() => {
                    take_back.pop();
                    continue;
                }
                Ok(taken) => {
                    tracing::info!(subscription = %ctx.spec.name, %stream, from = owner, count = taken.len(), "took back unacknowledged entries");
                    entries = taken;
                }
                Err(error) => {
                    ctx.stats.set_error(&error.to_string());
                    if ctx.pause(Duration::from_secs(1)).await {
                        return;
                    }
                    continue;
                }
            }
        } else if last_claim.is_none_or(|t| t.elapsed() >= CLAIM_EVERY) {
            last_claim = Some(Instant::now());
            match ctx
                .store
                .claim(
                    &stream,
                    &group,
                    &ctx.consumer,
                    CLAIM_IDLE,
                    ctx.spec.batch as usize,
                )
                .await
            {
                Ok(claimed) => {
                    // A full batch may mean more are idle (several processes were killed):
                    // take them over at once rather than one batch per CLAIM_EVERY.
                    if claimed.len() >= ctx.spec.batch as usize {
                        last_claim = None;
                    }
                    entries = claimed;
                }
                Err(error) => ctx.stats.set_error(&error.to_string()),
            }
        }
        if entries.is_empty() {
            let read = ctx.store.read_group(
                &stream,
                &group,
                &ctx.consumer,
                ctx.spec.batch as usize,
                Some(BLOCK),
            );
            entries = match ctx.until_stopped(read).await {
                None => return,
                Some(Ok(entries)) => entries,
                Some(Err(StoreError::GroupNotFound { .. })) => {
                    // The stream was deleted and recreated: make the group again.
                    let _ = ctx
                        .store
                        .create_group(&stream, &group, group_start(start))
                        .await;
                    continue;
                }
                Some(Err(error)) => {
                    ctx.stats.set_error(&error.to_string());
                    if ctx.pause(Duration::from_secs(1)).await {
                        return;
                    }
                    continue;
                }
            };
        }
        if entries.is_empty() {
            continue;
        }
        let acks: Vec<Position> = entries.iter().map(|e| e.position).collect();
        let last = *acks.last().expect("not empty");
        let inputs = match to_inputs(&ctx, &stream, is_redrive, entries).await {
            Some(inputs) => inputs,
            None => return,
        };
        let progress = &ctx.stats.in_progress;
        progress.begin_batch(
            &stream,
            None,
            inputs
                .iter()
                .map(|i| (i.stream.as_str(), i.stored.position)),
        );
        let task = tokio::task::spawn_blocking(move || {
            // A new plugin version is taken here, between batches: this batch runs on one
            // version, and its outputs and acks are committed together, so no event is
            // handled by both versions.
            pipeline.refresh();
            let fates = pipeline.handle(&inputs);
            (pipeline, inputs, fates)
        });
        let (returned, inputs, fates) = match task.await {
            Ok(done) => done,
            Err(panic) => {
                tracing::error!(subscription = %ctx.spec.name, "worker panicked: {panic}");
                return;
            }
        };
        pipeline = returned;
        let Ok(fates) = fates else { return };
        let mut commit = Commit {
            acks: vec![GroupAck {
                stream: stream.clone(),
                group: group.clone(),
                positions: acks,
            }],
            checkpoints: if checkpoint.is_none_or(|at| last > at) {
                vec![(stream.clone(), group.clone(), last)]
            } else {
                Vec::new()
            },
            ..Commit::default()
        };
        let mut appends: BTreeMap<String, Vec<CloudEvent>> = BTreeMap::new();
        for (input, fate) in inputs.iter().zip(fates) {
            match fate {
                Fate::Done(emitted) => {
                    for out in emitted {
                        if let Err(error) = check_name("stream", &out.stream) {
                            ctx.stats
                                .set_error(&format!("dropping an emitted event: {error}"));
                            continue;
                        }
                        appends.entry(out.stream).or_default().push(out.event);
                    }
                    if let Some(dlq) = input.redrive_of {
                        commit.states.push(resolved_marker(&ctx.spec.name, dlq));
                    }
                }
                Fate::DeadLettered(letter) => appends
                    .entry(dlq_stream(&ctx.spec.name))
                    .or_default()
                    .push(*letter),
            }
        }
        commit.appends = appends.into_iter().collect();
        let fallback = Commit {
            acks: commit.acks.clone(),
            checkpoints: commit.checkpoints.clone(),
            ..Commit::default()
        };
        let committed = commit_with_retry_fenced(&ctx, commit).await;
        ctx.stats.in_progress.end_batch(&stream);
        if let Ok(true) = committed {
            checkpoint = checkpoint.max(Some(last));
        }
        match committed {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                // The store refuses this batch's results for good (e.g. an emitted event it
                // will not store): keep every input as a dead letter with the reason, so
                // nothing is lost and the subscription goes on.
                let reason = CallError::BadOutput {
                    plugin: pipeline.plugin.plugin().name().to_string(),
                    message: format!("the store refused the results: {error}"),
                };
                let letters = inputs
                    .iter()
                    .map(|input| {
                        dead_letter_event(
                            &input.stored.event,
                            &input.stream,
                            input.stored.position,
                            &reason,
                            1,
                            pipeline.plugin.plugin().hash(),
                        )
                    })
                    .collect();
                let mut fallback = fallback;
                fallback.appends = vec![(dlq_stream(&ctx.spec.name), letters)];
                if !commit_with_retry(&ctx, fallback).await {
                    return;
                }
                checkpoint = checkpoint.max(Some(last));
            }
        }
    }
}

/// Turns group entries into plugin inputs; redrive links become the events they name.
async fn to_inputs(
    ctx: &WorkerContext,
    stream: &str,
    is_redrive: bool,
    entries: Vec<StoredEvent>,
) -> Option<Vec<Input>> {
    let mut inputs = Vec::with_capacity(entries.len());
    for stored in entries {
        if is_redrive && stored.event.ty == REDRIVE_TYPE {
            loop {
                match resolve_link(ctx.store.as_ref(), &ctx.spec.name, &stored.event).await {
                    Ok(Some((dlq, original_stream, original))) => {
                        inputs.push(Input {
                            stream: original_stream,
                            stored: original,
                            redrive_of: Some(dlq),
                        });
                        break;
                    }
                    Ok(None) => break,
                    Err(error) => {
                        ctx.stats.set_error(&error.to_string());
                        if ctx.pause(Duration::from_secs(1)).await {
                            return None;
                        }
                    }
                }
            }
        } else {
            inputs.push(Input {
                stream: stream.to_string(),
                stored,
                redrive_of: None,
            });
        }
    }
    Some(inputs)
}
