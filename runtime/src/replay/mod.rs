//! Replay: folding a sequence of events through a plugin, offline.
//!
//! This is what `eddy replay` runs; golden-state tests (`eddy test`, [`golden`]) and shadow
//! replay ([`compare`]) build on it.
//! The result never depends on the batch size: events are grouped per subject inside each
//! batch (subjects are independent), and the plugin sees the same clock and randomness for an
//! event whatever batch it arrives in.

mod compare;
mod diff;
pub mod golden;
mod trace;

pub use compare::{Comparison, Divergence, DivergentEvent, compare};
pub use diff::{Difference, diff};

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::event::{CloudEvent, Position};
use crate::plugin::{BatchFailure, CallError, Emitted, EventBatch, PluginInstance, PluginKind};

/// Where a replay stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// After the event with this id (inclusive).
    EventId(String),
    /// Before the first event later than this time (nanoseconds since the Unix epoch).
    Time(i64),
}

impl Until {
    /// Parses `--until`: an RFC 3339 time, or else an event id.
    pub fn parse(text: &str) -> Self {
        match crate::event::EventTime::parse(text) {
            Ok(time) => Until::Time(time.unix_nanos()),
            Err(_) => Until::EventId(text.to_string()),
        }
    }
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Events per plugin call (at least 1).
    pub batch: usize,
    /// Only this subject's events (reducers: only its state).
    pub subject: Option<String>,
    /// Where to stop.
    pub until: Option<Until>,
    /// The stream name plugins see (`event.stream`).
    pub stream: String,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            batch: 256,
            subject: None,
            until: None,
            stream: "replay".to_string(),
        }
    }
}

/// One event to replay, with where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct SourcedEvent {
    /// The event.
    pub event: CloudEvent,
    /// Its position in the stream; for a file, `0-<line>`.
    pub position: Position,
    /// Where it came from, for messages: `events.jsonl:12`.
    pub origin: String,
}

/// What a replay produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayOutput {
    /// A reducer's final state per subject (events without a subject under `""`).
    States(BTreeMap<String, Vec<u8>>),
    /// The events a filter kept.
    Kept(Vec<CloudEvent>),
    /// The events a handler emitted, in input order.
    Emitted(Vec<Emitted>),
}

/// A replay that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The plugin failed on an event. Replays are strict: fix the plugin or the event.
    #[error("{origin} (event `{id}`): {error}")]
    Plugin {
        /// Where the event came from.
        origin: String,
        /// The event's id.
        id: String,
        /// What went wrong.
        error: CallError,
    },
    /// `--until` named an event id that never came.
    #[error("--until: no event with id `{0}` was found")]
    UntilNotFound(String),
    /// Reading the events failed.
    #[error(transparent)]
    Input(#[from] anyhow::Error),
}

/// Replays `events` through `instance`. `on_event` is called after each event read (for
/// progress reporting).
pub fn replay<I>(
    instance: &mut PluginInstance,
    events: I,
    options: &ReplayOptions,
) -> Result<ReplayOutput, ReplayError>
where
    I: IntoIterator<Item = anyhow::Result<SourcedEvent>>,
{
    let mut replay = Replay {
        instance,
        options,
        states: BTreeMap::new(),
        kept: Vec::new(),
        emitted: Vec::new(),
    };
    let batch_size = options.batch.max(1);
    let mut pending: Vec<SourcedEvent> = Vec::with_capacity(batch_size);
    let mut until_found = false;
    for item in events {
        let sourced = item?;
        if let Some(Until::Time(limit)) = &options.until
            && sourced
                .event
                .time
                .as_ref()
                .is_some_and(|t| t.unix_nanos() > *limit)
        {
            break;
        }
        let is_last = matches!(&options.until, Some(Until::EventId(id)) if *id == sourced.event.id);
        let wanted = options
            .subject
            .as_ref()
            .is_none_or(|s| sourced.event.subject.as_deref() == Some(s.as_str()));
        if wanted {
            pending.push(sourced);
        }
        if pending.len() >= batch_size {
            replay.flush(&mut pending)?;
        }
        if is_last {
            until_found = true;
            break;
        }
    }
    replay.flush(&mut pending)?;
    if let Some(Until::EventId(id)) = &options.until
        && !until_found
    {
        return Err(ReplayError::UntilNotFound(id.clone()));
    }
    let Replay {
        states,
        kept,
        emitted,
        ..
    } = replay;
    Ok(match instance.plugin().kind() {
        PluginKind::Reducer => {
            let mut states = states;
            if let Some(subject) = &options.subject
                && !states.contains_key(subject)
            {
                let init = instance.init().map_err(|error| ReplayError::Plugin {
                    origin: "init".to_string(),
                    id: String::new(),
                    error,
                })?;
                states.insert(subject.clone(), init);
            }
            ReplayOutput::States(states)
        }
        PluginKind::Filter => ReplayOutput::Kept(kept),
        PluginKind::Handler => ReplayOutput::Emitted(emitted),
    })
}

struct Replay<'a> {
    instance: &'a mut PluginInstance,
    options: &'a ReplayOptions,
    states: BTreeMap<String, Vec<u8>>,
    kept: Vec<CloudEvent>,
    emitted: Vec<Emitted>,
}

impl Replay<'_> {
    fn flush(&mut self, pending: &mut Vec<SourcedEvent>) -> Result<(), ReplayError> {
        if pending.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(pending);
        match self.instance.plugin().kind() {
            PluginKind::Reducer => self.reduce(events),
            PluginKind::Filter => {
                let batch = self.batch_of(&events);
                let verdicts = self
                    .instance
                    .filter(&batch)
                    .map_err(|f| self.failure(&events, f))?;
                for (sourced, keep) in events.into_iter().zip(verdicts) {
                    if keep {
                        self.kept.push(sourced.event);
                    }
                }
                Ok(())
            }
            PluginKind::Handler => {
                let batch = self.batch_of(&events);
                let outputs = self
                    .instance
                    .handle(&batch)
                    .map_err(|f| self.failure(&events, f))?;
                self.emitted.extend(outputs.into_iter().flatten());
                Ok(())
            }
        }
    }

    /// Groups the events per subject (keeping each subject's order) and folds each group.
    fn reduce(&mut self, events: Vec<SourcedEvent>) -> Result<(), ReplayError> {
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, Vec<SourcedEvent>> = HashMap::new();
        for sourced in events {
            let subject = sourced.event.subject.clone().unwrap_or_default();
            groups
                .entry(subject.clone())
                .or_insert_with(|| {
                    order.push(subject);
                    Vec::new()
                })
                .push(sourced);
        }
        for subject in order {
            let group = groups.remove(&subject).unwrap_or_default();
            let state = match self.states.remove(&subject) {
                Some(state) => state,
                None => self.instance.init().map_err(|error| ReplayError::Plugin {
                    origin: group[0].origin.clone(),
                    id: group[0].event.id.clone(),
                    error,
                })?,
            };
            let batch = self.batch_of(&group);
            let state = self
                .instance
                .apply(state, &batch)
                .map_err(|f| self.failure(&group, f))?;
            self.states.insert(subject, state);
        }
        Ok(())
    }

    fn batch_of(&self, events: &[SourcedEvent]) -> EventBatch {
        let mut batch = EventBatch::with_capacity(events.len());
        for sourced in events {
            batch.push(&sourced.event, &self.options.stream, sourced.position);
        }
        batch
    }

    fn failure<T>(&self, events: &[SourcedEvent], failure: BatchFailure<T>) -> ReplayError {
        let sourced = &events[failure.index.min(events.len() - 1)];
        ReplayError::Plugin {
            origin: sourced.origin.clone(),
            id: sourced.event.id.clone(),
            error: failure.error,
        }
    }
}

/// A state as JSON for printing: the state itself when it is JSON, else `{"$base64": …}`.
pub fn state_to_json(state: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(state) {
        Ok(value) => value,
        Err(_) => {
            use base64::Engine as _;
            serde_json::json!({ "$base64": base64::engine::general_purpose::STANDARD.encode(state) })
        }
    }
}

/// The canonical text of a replay's output, exactly as `eddy replay` prints it.
///
/// Reducers: one JSON object mapping subject → state, keys sorted at every level, two-space
/// indentation, a final newline (with `subject`, that subject's state alone). Filters: the kept
/// events as JSON Lines. Handlers: one line per emitted event, `{"stream": …, "event": …}`.
pub fn render(output: &ReplayOutput, subject: Option<&str>) -> String {
    match output {
        ReplayOutput::States(states) => {
            let mut text = match subject {
                Some(subject) => {
                    let state = states.get(subject).map(|s| state_to_json(s));
                    serde_json::to_string_pretty(&state.unwrap_or(Value::Null))
                }
                None => {
                    let all: BTreeMap<&str, Value> = states
                        .iter()
                        .map(|(k, v)| (k.as_str(), state_to_json(v)))
                        .collect();
                    serde_json::to_string_pretty(&all)
                }
            }
            .expect("JSON values always serialise");
            text.push('\n');
            text
        }
        ReplayOutput::Kept(events) => events.iter().map(|e| e.to_json() + "\n").collect(),
        ReplayOutput::Emitted(emitted) => emitted
            .iter()
            .map(|e| {
                let line = serde_json::json!({ "stream": e.stream, "event": e.event });
                line.to_string() + "\n"
            })
            .collect(),
    }
}
