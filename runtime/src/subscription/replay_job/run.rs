//! Running one replay job: read the range page by page, run each page through the job's
//! pipeline on a blocking thread, store (or for a dry run, count) the results, and keep the
//! job's progress and counts up to date.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use super::{EXT_REPLAY, Job, KEEP_FAILURES, PAGE, Plan, ReplayFailure, ReplayStatus};
use crate::event::{CloudEvent, ExtensionValue, Position, TypePattern};
use crate::plugin::PluginKind;
use crate::store::{Commit, Direction, Read, StoredEvent};
use crate::subscription::dead_letter::{EXT_ERROR, dlq_stream};
use crate::subscription::pipeline::{Fate, Input};

/// The id of the `index`-th event a replay job's handler emits for an input: the id the live
/// subscription gives it, made distinct per job.
fn replayed_output_id(job: &str, live_id: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [job, live_id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..16])
}

pub(super) struct Run {
    pub(super) id: String,
    pub(super) store: Arc<dyn crate::store::EventStore>,
    pub(super) stream: String,
    pub(super) pattern: Option<TypePattern>,
    pub(super) from: Option<Position>,
    pub(super) to: Option<Position>,
    pub(super) job: Arc<Job>,
}

impl Run {
    pub(super) async fn run(self, mut plan: Plan) {
        let outcome = self.replay(&mut plan).await;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.job.update(|info| {
            info.finished_at = Some(now);
            match outcome {
                Ok(true) => {
                    info.status = ReplayStatus::Completed;
                    info.progress = 1.0;
                }
                Ok(false) => info.status = ReplayStatus::Cancelled,
                Err(error) => {
                    info.status = ReplayStatus::Failed;
                    info.error = Some(error);
                }
            }
        });
    }

    /// Replays the range; `Ok(false)` when cancelled.
    async fn replay(&self, plan: &mut Plan) -> Result<bool, String> {
        let Some(to) = self.to else {
            return Ok(true); // An empty stream: nothing to do.
        };
        let mut cursor = self.from;
        let mut start = self.from;
        let mut states = HashMap::new();
        loop {
            if self.job.cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let read = Read {
                from: cursor,
                direction: Direction::Forward,
                limit: PAGE,
                subject: None,
            };
            let page = self
                .store
                .read(&self.stream, read)
                .await
                .map_err(|e| e.to_string())?;
            let full = page.len() == PAGE;
            let mut done = !full;
            let mut inputs = Vec::with_capacity(page.len());
            for stored in page {
                if stored.position > to {
                    done = true;
                    break;
                }
                cursor = Some(stored.position);
                start.get_or_insert(stored.position);
                if self
                    .pattern
                    .as_ref()
                    .is_none_or(|p| p.matches(&stored.event.ty))
                {
                    inputs.push(self.marked(stored));
                }
            }
            if !inputs.is_empty() {
                self.step(plan, inputs, &mut states).await?;
            }
            let position = cursor;
            let progress = progress(start, position, to);
            self.job.update(|info| {
                info.position = position;
                info.progress = progress;
            });
            if done || cursor == Some(to) {
                return Ok(true);
            }
        }
    }

    fn marked(&self, mut stored: StoredEvent) -> Input {
        stored.event.extensions.insert(
            EXT_REPLAY.to_string(),
            ExtensionValue::String(self.id.clone()),
        );
        Input {
            stream: self.stream.clone(),
            stored,
            redrive_of: None,
        }
    }

    /// Runs one page of inputs and stores (or, for a dry run, counts) the results.
    async fn step(
        &self,
        plan: &mut Plan,
        inputs: Vec<Input>,
        states: &mut HashMap<String, crate::store::SavedState>,
    ) -> Result<(), String> {
        let kind = plan.kind;
        let mut taken_states = std::mem::take(states);
        let Some(mut pipeline) = plan.pipeline.take() else {
            return Err("the replay's plugin was lost in an earlier step".into());
        };
        let (pipeline, inputs, outcomes, returned_states) =
            tokio::task::spawn_blocking(move || {
                let outcomes = match kind {
                    PluginKind::Reducer => pipeline
                        .reduce(&inputs, &mut taken_states)
                        .map(|reduced| reduced.fates.into_iter().map(Outcome::from_unit).collect()),
                    _ => pipeline
                        .handle(&inputs)
                        .map(|fates| fates.into_iter().map(Outcome::from_emitted).collect()),
                };
                (pipeline, inputs, outcomes, taken_states)
            })
            .await
            .map_err(|panic| format!("the replay's worker panicked: {panic}"))?;
        plan.pipeline = Some(pipeline);
        *states = returned_states;
        let outcomes: Vec<Outcome> =
            outcomes.map_err(|_| "stopped while running a batch".to_string())?;
        let job_id = &self.id;
        let mut appends: BTreeMap<String, Vec<CloudEvent>> = BTreeMap::new();
        let (mut succeeded, mut failed, mut emitted) = (0, 0, 0);
        let mut failures = Vec::new();
        for (input, outcome) in inputs.iter().zip(outcomes) {
            match outcome {
                Outcome::Done(outputs) => {
                    succeeded += 1;
                    emitted += outputs.len() as u64;
                    for mut out in outputs {
                        out.event.id = replayed_output_id(job_id, &out.event.id);
                        out.event.extensions.insert(
                            EXT_REPLAY.to_string(),
                            ExtensionValue::String(job_id.clone()),
                        );
                        appends.entry(out.stream).or_default().push(out.event);
                    }
                }
                Outcome::Failed(letter) => {
                    failed += 1;
                    failures.push(ReplayFailure {
                        position: input.stored.position,
                        id: input.stored.event.id.clone(),
                        error: letter
                            .extensions
                            .get(EXT_ERROR)
                            .map(|v| match v {
                                ExtensionValue::String(s) => s.clone(),
                                other => format!("{other:?}"),
                            })
                            .unwrap_or_default(),
                    });
                    if let Some(subscription) = &plan.store_for {
                        appends
                            .entry(dlq_stream(subscription))
                            .or_default()
                            .push(*letter);
                    }
                }
            }
        }
        if plan.store_for.is_some() && !appends.is_empty() {
            let commit = Commit {
                appends: appends.into_iter().collect(),
                ..Commit::default()
            };
            self.commit(commit).await?;
        }
        let replayed = inputs.len() as u64;
        self.job.update(|info| {
            info.replayed += replayed;
            info.succeeded += succeeded;
            info.failed += failed;
            info.emitted += emitted;
            let room = KEEP_FAILURES.saturating_sub(info.failures.len());
            info.failures.extend(failures.into_iter().take(room));
        });
        Ok(())
    }

    /// Stores a step's results, retrying while the store is unavailable.
    async fn commit(&self, commit: Commit) -> Result<(), String> {
        let mut wait = std::time::Duration::from_millis(50);
        loop {
            match self.store.commit(commit.clone()).await {
                Ok(_) => return Ok(()),
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, "replay: retrying");
                }
                Err(error) => return Err(format!("the store refused the results: {error}")),
            }
            if self.job.cancel.load(Ordering::Relaxed) {
                return Err("cancelled while the store was unavailable; the last page's results were not stored".into());
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(5));
        }
    }
}

/// What became of one replayed event.
enum Outcome {
    Done(Vec<crate::plugin::Emitted>),
    Failed(Box<CloudEvent>),
}

impl Outcome {
    fn from_unit(fate: Fate<()>) -> Self {
        match fate {
            Fate::Done(()) => Outcome::Done(Vec::new()),
            Fate::DeadLettered(letter) => Outcome::Failed(letter),
        }
    }

    fn from_emitted(fate: Fate<Vec<crate::plugin::Emitted>>) -> Self {
        match fate {
            Fate::Done(out) => Outcome::Done(out),
            Fate::DeadLettered(letter) => Outcome::Failed(letter),
        }
    }
}

/// How far `at` is from `from` to `to`, by append time.
fn progress(from: Option<Position>, at: Option<Position>, to: Position) -> f64 {
    let start = from.map_or(0, |p| p.ms) as f64;
    let at = at.map_or(start, |p| p.ms as f64);
    let span = to.ms as f64 - start;
    if span <= 0.0 {
        return 1.0;
    }
    ((at - start) / span).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_runs_from_zero_to_one_over_the_range() {
        let at = |ms| Some(Position { ms, seq: 0 });
        let to = Position { ms: 200, seq: 0 };
        assert_eq!(progress(at(100), at(100), to), 0.0);
        assert_eq!(progress(at(100), at(150), to), 0.5);
        assert_eq!(progress(at(100), at(200), to), 1.0);
        assert_eq!(progress(at(200), at(200), to), 1.0);
    }
}
