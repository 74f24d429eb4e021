//! One batch through a subscription: type patterns, the filter plugin, then the handler or
//! reducer, with retries and dead letters per event.
//!
//! Runs on a blocking thread (plugin calls are CPU work). Per event: a `retry` error or a
//! trap is tried again with backoff up to the policy's attempts; a `reject`, or running out
//! of attempts, dead-letters the event and processing goes on. Stopping abandons the batch
//! (nothing of it is committed, so it is processed again after a restart).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::dead_letter::dead_letter_event;
use super::stats::Stats;
use super::{RetryPolicy, SubscriptionSpec};
use crate::event::{CloudEvent, Position};
use crate::metrics;
use crate::plugin::{BatchFailure, CallError, Emitted, EventBatch, PluginInstance, PluginSlot};
use crate::store::{SavedState, StoredEvent};

/// One event to process, with where it was read.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    /// The stream the plugin is told the event comes from.
    pub stream: String,
    /// The event and its position in that stream.
    pub stored: StoredEvent,
    /// For a redriven dead letter: its position in the dead-letter stream.
    pub redrive_of: Option<Position>,
}

/// The batch was abandoned because the subscription is stopping.
#[derive(Debug)]
pub(crate) struct Aborted;

/// What became of one event.
#[derive(Debug)]
pub(crate) enum Fate<T> {
    /// Processed (or skipped by type or filter), with its results.
    Done(T),
    /// Given up on: this is its dead letter.
    DeadLettered(Box<CloudEvent>),
}

/// The plugins of one subscription worker and what they need to run a batch.
pub(crate) struct Pipeline {
    pub plugin: PluginInstance,
    pub filter: Option<PluginInstance>,
    /// Where the plugin's and the filter's current versions live, for plugins of the watched
    /// folder (`None`: a plugin given by path, which never changes).
    pub follow: Follow,
    pub spec: Arc<SubscriptionSpec>,
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<Stats>,
    /// Set for a subscription's workers (replays and time travel never quarantine): how a
    /// worker that quarantines the subscription stops the others' waits too.
    pub stopper: Option<Arc<watch::Sender<bool>>>,
    jitter: u64,
}

impl Pipeline {
    pub(crate) fn new(
        plugin: PluginInstance,
        filter: Option<PluginInstance>,
        spec: Arc<SubscriptionSpec>,
        stop: Arc<AtomicBool>,
        stats: Arc<Stats>,
    ) -> Self {
        let jitter = crate::store::now_ms() | 1;
        Self {
            plugin,
            filter,
            follow: Follow::default(),
            spec,
            stop,
            stats,
            stopper: None,
            jitter,
        }
    }

    pub(crate) fn plugin_hash(&self) -> String {
        self.plugin.plugin().hash().to_string()
    }

    /// Moves to the registry's current versions. Called between batches only, so a batch
    /// runs on one version from its first event to its commit. Returns whether the main
    /// plugin changed. A version that cannot be instantiated here is not taken (the error is
    /// in the stats) and the worker goes on with the version it has.
    pub(crate) fn refresh(&mut self) -> bool {
        let changed = match &self.follow.plugin {
            Some(slot) => swap_in(slot, &mut self.plugin, &self.spec, &self.stats),
            None => false,
        };
        if let (Some(slot), Some(filter)) = (&self.follow.filter, &mut self.filter) {
            swap_in(slot, filter, &self.spec, &self.stats);
        }
        changed
    }

    /// Handler subscriptions: for each input, the events it emits (or its dead letter).
    pub(crate) fn handle(&mut self, inputs: &[Input]) -> Result<Vec<Fate<Vec<Emitted>>>, Aborted> {
        self.check_stopped()?;
        let started = std::time::Instant::now();
        let mut fates: Vec<Fate<Vec<Emitted>>> =
            inputs.iter().map(|_| Fate::Done(Vec::new())).collect();
        let selected = self.select(inputs, &mut fates)?;
        let mut todo: &[usize] = &selected;
        while !todo.is_empty() {
            let batch = batch_of(inputs, todo);
            match self.plugin.handle(&batch) {
                Ok(outputs) => {
                    self.stats.plugin_answered();
                    for (&i, out) in todo.iter().zip(outputs) {
                        fates[i] = Fate::Done(out);
                    }
                    break;
                }
                Err(failure) => {
                    let BatchFailure {
                        index,
                        error,
                        before,
                    } = failure;
                    if index > 0 {
                        self.stats.plugin_answered();
                    }
                    for (&i, out) in todo.iter().zip(before) {
                        fates[i] = Fate::Done(out);
                    }
                    let failed = todo[index];
                    fates[failed] = self.retry(&inputs[failed], error, |plugin, batch| {
                        plugin
                            .handle(batch)
                            .map(|mut o| o.remove(0))
                            .map_err(|f| f.error)
                    })?;
                    todo = &todo[index + 1..];
                }
            }
        }
        self.count(&fates, started);
        Ok(fates)
    }

    /// Reducer subscriptions: folds the inputs into `states` (loaded by the caller for every
    /// subject present) and returns each input's fate, the subjects whose state changed, and
    /// the state of a subject each time its event count reaches a multiple of
    /// `snapshot_every` (the plugin is called in pieces that end there, so that every such
    /// state exists, whatever the batch size).
    pub(crate) fn reduce(
        &mut self,
        inputs: &[Input],
        states: &mut HashMap<String, SavedState>,
    ) -> Result<Reduced, Aborted> {
        self.check_stopped()?;
        let started = std::time::Instant::now();
        let mut fates: Vec<Fate<()>> = inputs.iter().map(|_| Fate::Done(())).collect();
        let selected = self.select(inputs, &mut fates)?;
        // Group per subject, keeping each subject's order.
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for &i in &selected {
            let subject = inputs[i].stored.event.subject.clone().unwrap_or_default();
            groups
                .entry(subject.clone())
                .or_insert_with(|| {
                    order.push(subject);
                    Vec::new()
                })
                .push(i);
        }
        let times = EventTimes::of(inputs);
        let hash = self.plugin_hash();
        let every = u64::from(self.spec.snapshot_every);
        let mut changed = Vec::new();
        let mut marks = Vec::new();
        for subject in order {
            let indices = groups.remove(&subject).unwrap_or_default();
            let previous_time = states.get(&subject).and_then(|s| s.latest_time);
            let (mut state, mut count) = match states.get(&subject) {
                Some(saved) => (saved.state.clone(), saved.events),
                None => match self.plugin.init() {
                    Ok(init) => (init, 0),
                    Err(error) => {
                        // Without an initial state nothing of this subject can be applied.
                        for &i in &indices {
                            fates[i] = self.give_up(&inputs[i], &error, 1);
                            self.quarantine_if_failing(&error)?;
                        }
                        continue;
                    }
                },
            };
            // The index of the last input applied.
            let mut last: Option<usize> = None;
            let mut todo: &[usize] = &indices;
            while !todo.is_empty() {
                let counted = count;
                // Up to the next snapshot mark, or all of it; at most a batch per call (a
                // partition catching up reads several batches at once).
                let room = match every {
                    0 => todo.len(),
                    every => (every - count % every) as usize,
                };
                let piece = &todo[..room.min(todo.len()).min(self.spec.batch as usize)];
                let batch = batch_of(inputs, piece);
                // Moved, not copied: success and failure both hand the state back.
                match self.plugin.apply(std::mem::take(&mut state), &batch) {
                    Ok(next) => {
                        self.stats.plugin_answered();
                        state = next;
                        count += piece.len() as u64;
                        last = piece.last().copied();
                        todo = &todo[piece.len()..];
                    }
                    Err(failure) => {
                        let BatchFailure {
                            index,
                            error,
                            before,
                        } = failure;
                        state = before;
                        count += index as u64;
                        if index > 0 {
                            self.stats.plugin_answered();
                            last = Some(piece[index - 1]);
                        }
                        let failed = piece[index];
                        let current = state.clone();
                        match self.retry(&inputs[failed], error, |plugin, batch| {
                            plugin.apply(current.clone(), batch).map_err(|f| f.error)
                        })? {
                            Fate::Done(next) => {
                                state = next;
                                count += 1;
                                last = Some(failed);
                            }
                            dead => fates[failed] = dead.map_unit(),
                        }
                        todo = &todo[index + 1..];
                    }
                }
                if let Some(last) = last
                    && every > 0
                    && count > counted
                    && count.is_multiple_of(every)
                {
                    let latest_time = times.up_to(&subject, last, previous_time);
                    let last = &inputs[last];
                    marks.push((
                        subject.clone(),
                        SavedState {
                            state: state.clone(),
                            stream: last.stream.clone(),
                            position: last.stored.position,
                            plugin: hash.clone(),
                            events: count,
                            latest_time,
                        },
                    ));
                }
            }
            if let Some(last) = last.map(|i| &inputs[i]) {
                states.insert(
                    subject.clone(),
                    SavedState {
                        state,
                        stream: last.stream.clone(),
                        position: last.stored.position,
                        plugin: hash.clone(),
                        events: count,
                        latest_time: times.all(&subject, previous_time),
                    },
                );
                changed.push(subject);
            }
        }
        // Subjects with a state whose events in this batch were all skipped (by type, filter
        // or dead letter) still saw those events' times.
        for (subject, latest) in times.latest {
            if let Some(saved) = states.get_mut(subject)
                && latest > saved.latest_time
                && !changed.iter().any(|c| c == subject)
            {
                saved.latest_time = latest;
                changed.push(subject.to_string());
            }
        }
        self.count(&fates, started);
        Ok(Reduced {
            fates,
            changed,
            marks,
        })
    }

    /// The inputs to run the plugin on: those whose type the subscription wants and that the
    /// filter plugin keeps. Filter failures are retried and dead-lettered like any other.
    fn select<T>(
        &mut self,
        inputs: &[Input],
        fates: &mut [Fate<T>],
    ) -> Result<Vec<usize>, Aborted> {
        let wanted: Vec<usize> = (0..inputs.len())
            .filter(|&i| self.spec.wants_type(&inputs[i].stored.event.ty))
            .collect();
        let Some(mut filter) = self.filter.take() else {
            return Ok(wanted);
        };
        let mut kept = Vec::with_capacity(wanted.len());
        let mut todo: &[usize] = &wanted;
        let mut outcome = Ok(());
        while !todo.is_empty() {
            let batch = batch_of(inputs, todo);
            match filter.filter(&batch) {
                Ok(verdicts) => {
                    kept.extend(
                        todo.iter()
                            .zip(verdicts)
                            .filter(|(_, k)| *k)
                            .map(|(&i, _)| i),
                    );
                    break;
                }
                Err(BatchFailure {
                    index,
                    error,
                    before,
                }) => {
                    kept.extend(todo.iter().zip(before).filter(|(_, k)| *k).map(|(&i, _)| i));
                    let failed = todo[index];
                    // Retry against the filter: swap it in as the plugin for the call.
                    std::mem::swap(&mut self.plugin, &mut filter);
                    let result = self.retry(&inputs[failed], error, |plugin, batch| {
                        plugin.filter(batch).map(|v| v[0]).map_err(|f| f.error)
                    });
                    std::mem::swap(&mut self.plugin, &mut filter);
                    match result {
                        Ok(Fate::Done(true)) => kept.push(failed),
                        Ok(Fate::Done(false)) => {}
                        Ok(Fate::DeadLettered(letter)) => {
                            fates[failed] = Fate::DeadLettered(letter)
                        }
                        Err(aborted) => {
                            outcome = Err(aborted);
                            break;
                        }
                    }
                    todo = &todo[index + 1..];
                }
            }
        }
        self.filter = Some(filter);
        outcome.map(|()| kept)
    }

    /// Tries one event again until it succeeds, is rejected, or runs out of attempts.
    fn retry<T>(
        &mut self,
        input: &Input,
        first_error: CallError,
        mut call: impl FnMut(&mut PluginInstance, &EventBatch) -> Result<T, CallError>,
    ) -> Result<Fate<T>, Aborted> {
        let policy: RetryPolicy = self.spec.retry;
        let batch = batch_of(std::slice::from_ref(input), &[0]);
        let mut error = first_error;
        let mut attempts = 1;
        let (stream, position) = (input.stream.as_str(), input.stored.position);
        // Only failures get here: an Arc clone keeps `self` free for the calls below.
        let stats = Arc::clone(&self.stats);
        let progress = &stats.in_progress;
        loop {
            self.stats.failed(&error.to_string());
            self.record_failure(&error);
            if !error.is_retryable() || !policy.may_retry(attempts) {
                progress.settled(stream, position);
                let fate = self.give_up(input, &error, attempts);
                self.quarantine_if_failing(&error)?;
                return Ok(fate);
            }
            progress.failed(stream, position, attempts, error.to_string());
            let jitter = self.next_jitter();
            if let Err(aborted) = self.sleep(policy.backoff(attempts, jitter)) {
                progress.settled(stream, position);
                return Err(aborted);
            }
            attempts += 1;
            match call(&mut self.plugin, &batch) {
                Ok(result) => {
                    self.stats.plugin_answered();
                    progress.settled(stream, position);
                    return Ok(Fate::Done(result));
                }
                Err(next) => error = next,
            }
        }
    }

    /// After an event was given up on: counts plugin faults in a row, and once there are
    /// `quarantine_after` of them quarantines the subscription — records why, stops every
    /// worker, and abandons this batch (nothing of it is committed, so after a resume it is
    /// processed again and no event is skipped).
    fn quarantine_if_failing(&self, error: &CallError) -> Result<(), Aborted> {
        let Some(stopper) = &self.stopper else {
            return Ok(());
        };
        if !error.is_fault() {
            self.stats.plugin_answered();
            return Ok(());
        }
        let streak = self.stats.plugin_faulted();
        let after = self.spec.quarantine_after;
        if after == 0 || streak < after {
            return Ok(());
        }
        let reason = format!(
            "{streak} events in a row failed because the plugin faulted; the last: {error}"
        );
        if self.stats.quarantine(reason.clone()) {
            tracing::error!(subscription = %self.spec.name, "subscription quarantined: {reason}");
            metrics::subscription_quarantined(&self.spec.name, &self.spec.plugin);
        }
        self.stop.store(true, Ordering::Relaxed);
        let _ = stopper.send(true);
        Err(Aborted)
    }

    /// A batch handed over after the subscription stopped (or was quarantined) is not run.
    fn check_stopped(&self) -> Result<(), Aborted> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Aborted);
        }
        Ok(())
    }

    fn give_up<T>(&self, input: &Input, error: &CallError, attempts: u32) -> Fate<T> {
        tracing::warn!(
            subscription = %self.spec.name,
            event = %input.stored.event.id,
            position = %input.stored.position,
            attempts,
            "dead-lettering the event: {error}"
        );
        self.stats.dead_lettered();
        metrics::event_dead_lettered(&self.spec.name, &self.spec.plugin);
        Fate::DeadLettered(Box::new(dead_letter_event(
            &input.stored.event,
            &input.stream,
            input.stored.position,
            error,
            attempts,
            self.plugin.plugin().hash(),
        )))
    }

    /// Sleeps in short slices so that stopping is noticed within 50 ms.
    fn sleep(&self, duration: Duration) -> Result<(), Aborted> {
        let deadline = std::time::Instant::now() + duration;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(Aborted);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }

    fn next_jitter(&mut self) -> f64 {
        // xorshift64: good enough to spread retries; nothing depends on its values.
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        (self.jitter % 1000) as f64 / 1000.0
    }

    fn count<T>(&mut self, fates: &[Fate<T>], started: std::time::Instant) {
        let done = fates.iter().filter(|f| matches!(f, Fate::Done(_))).count();
        self.stats.processed(done as u64);
        metrics::events_processed(&self.spec.name, &self.spec.plugin, done as u64);
        metrics::batch_processed(&self.spec.name, &self.spec.plugin, started.elapsed());
        let fuel = self.plugin.take_fuel_used()
            + self
                .filter
                .as_mut()
                .map_or(0, PluginInstance::take_fuel_used);
        metrics::plugin_fuel_used(&self.spec.name, &self.spec.plugin, fuel);
    }

    fn record_failure(&self, error: &CallError) {
        let (reason, plugin) = match error {
            CallError::Retry { plugin, .. } => ("retry", plugin),
            CallError::Reject { plugin, .. } => ("reject", plugin),
            CallError::OutOfFuel { plugin, .. } => ("fuel", plugin),
            CallError::OutOfMemory { plugin, .. } => ("memory", plugin),
            CallError::Trap { plugin, .. } => ("trap", plugin),
            CallError::BadOutput { plugin, .. } => ("bad-output", plugin),
        };
        metrics::event_failed(&self.spec.name, &self.spec.plugin, reason);
        if matches!(reason, "fuel" | "memory" | "trap") {
            metrics::plugin_trapped(plugin, reason);
        }
    }
}

/// What folding a batch produced.
pub(crate) struct Reduced {
    /// What became of each input.
    pub fates: Vec<Fate<()>>,
    /// The subjects whose saved state changed.
    pub changed: Vec<String>,
    /// (subject, state) each time a subject's event count reached a multiple of
    /// `snapshot_every`, in order: the snapshots this batch leaves.
    pub marks: Vec<(String, SavedState)>,
}

/// The `time`s of one batch's events, per subject, in batch order (which is position order,
/// but for redriven dead letters, whose batches leave no snapshots): what a state's
/// `latest_time` is made of. Every event of the subject counts, applied or skipped, since a
/// query by time cuts a history before its first event later than the time, whatever it was.
struct EventTimes<'a> {
    /// Per subject: (index in the batch, time) of its events that have a time.
    events: HashMap<&'a str, Vec<(usize, i64)>>,
    /// Per subject: the latest time among all of them.
    latest: HashMap<&'a str, Option<i64>>,
}

impl<'a> EventTimes<'a> {
    /// Keyed by the inputs' own subjects: no allocation per event on the reducer's path.
    fn of(inputs: &'a [Input]) -> Self {
        let mut events: HashMap<&str, Vec<(usize, i64)>> = HashMap::new();
        let mut latest: HashMap<&str, Option<i64>> = HashMap::new();
        for (index, input) in inputs.iter().enumerate() {
            let subject = input.stored.event.subject.as_deref().unwrap_or("");
            let time = input.stored.event.time.as_ref().map(|t| t.unix_nanos());
            let entry = latest.entry(subject).or_default();
            *entry = (*entry).max(time);
            if let Some(time) = time {
                events.entry(subject).or_default().push((index, time));
            }
        }
        Self { events, latest }
    }

    /// The latest time of `subject`'s events up to the batch's `index`th, or `before`.
    fn up_to(&self, subject: &str, index: usize, before: Option<i64>) -> Option<i64> {
        let own = self.events.get(subject).into_iter().flatten();
        let here = own.take_while(|(i, _)| *i <= index).map(|(_, t)| *t).max();
        before.max(here)
    }

    /// The latest time of all of `subject`'s events in the batch, or `before`.
    fn all(&self, subject: &str, before: Option<i64>) -> Option<i64> {
        before.max(self.latest.get(subject).copied().flatten())
    }
}

/// The registry slots a pipeline follows.
#[derive(Clone, Default)]
pub(crate) struct Follow {
    pub plugin: Option<Arc<PluginSlot>>,
    pub filter: Option<Arc<PluginSlot>>,
}

/// Replaces `instance` with the slot's current version if it is another one of the same kind.
fn swap_in(
    slot: &PluginSlot,
    instance: &mut PluginInstance,
    spec: &SubscriptionSpec,
    stats: &Stats,
) -> bool {
    let Some(current) = slot.current() else {
        return false;
    };
    let running = instance.plugin();
    if current.plugin.hash() == running.hash() || current.plugin.kind() != running.kind() {
        return false;
    }
    match PluginInstance::new(&current.plugin, spec.config.clone(), spec.limits) {
        Ok(next) => {
            tracing::info!(
                subscription = %spec.name,
                from = %running.hash(),
                to = %current.plugin.hash(),
                "worker moved to the new plugin version"
            );
            *instance = next;
            true
        }
        Err(error) => {
            stats.set_error(&format!(
                "the new version {} cannot start here, staying on {}: {error}",
                current.plugin.hash(),
                running.hash()
            ));
            false
        }
    }
}

impl<T> Fate<T> {
    fn map_unit(self) -> Fate<()> {
        match self {
            Fate::Done(_) => Fate::Done(()),
            Fate::DeadLettered(letter) => Fate::DeadLettered(letter),
        }
    }
}

fn batch_of(inputs: &[Input], indices: &[usize]) -> EventBatch {
    let mut batch = EventBatch::with_capacity(indices.len());
    for &i in indices {
        let input = &inputs[i];
        batch.push(&input.stored.event, &input.stream, input.stored.position);
    }
    batch
}
