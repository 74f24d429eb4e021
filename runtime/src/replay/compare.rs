//! Shadow (differential) replay: the same history through two reducer versions, and where,
//! per subject, their states part (`eddy replay --compare`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::diff::{Difference, diff};
use super::trace::trace_states;
use super::{ReplayError, ReplayOptions, ReplayOutput, SourcedEvent, replay, state_to_json};
use crate::plugin::PluginInstance;

/// The result of comparing two versions on one history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// How many subjects end in the same state.
    pub matched: usize,
    /// How many subjects end in different states.
    pub differed: usize,
    /// Every subject that differs, with where it parts.
    pub differences: BTreeMap<String, Divergence>,
}

/// Where one subject's states part.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Divergence {
    /// The first event after which the two states differ; `None` when they differ before any
    /// event (different initial states) or the subject exists on one side only.
    pub event: Option<DivergentEvent>,
    /// The old version's state at that point.
    pub old: Option<Value>,
    /// The new version's state at that point.
    pub new: Option<Value>,
    /// What differs there, path by path (left: old, right: new).
    pub diff: Vec<Difference>,
}

/// An event, as a comparison names it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DivergentEvent {
    /// The event's id.
    pub id: String,
    /// Where it came from (`file:line`).
    pub origin: String,
    /// Its position.
    pub position: String,
}

/// Folds `events` through `new` and `old` and compares every subject's final state; for the
/// subjects that differ, finds the first event after which they diverge.
pub fn compare(
    new: &mut PluginInstance,
    old: &mut PluginInstance,
    events: &[SourcedEvent],
    options: &ReplayOptions,
) -> Result<Comparison, ReplayError> {
    let finals = |instance: &mut PluginInstance| -> Result<BTreeMap<String, Value>, ReplayError> {
        match replay(instance, events.iter().cloned().map(Ok), options)? {
            ReplayOutput::States(states) => Ok(states
                .into_iter()
                .map(|(subject, state)| (subject, state_to_json(&state)))
                .collect()),
            _ => Err(ReplayError::Input(anyhow::anyhow!(
                "--compare works with reducers; `{}` is a {}",
                instance.plugin().name(),
                instance.plugin().kind()
            ))),
        }
    };
    let new_states = finals(new)?;
    let old_states = finals(old)?;
    let mut subjects: Vec<&String> = new_states.keys().chain(old_states.keys()).collect();
    subjects.sort();
    subjects.dedup();
    let mut comparison = Comparison {
        matched: 0,
        differed: 0,
        differences: BTreeMap::new(),
    };
    for subject in subjects {
        let (old_final, new_final) = (old_states.get(subject), new_states.get(subject));
        if old_final == new_final {
            comparison.matched += 1;
            continue;
        }
        comparison.differed += 1;
        let divergence = match (old_final, new_final) {
            (Some(_), Some(_)) => locate(new, old, events, options, subject)?,
            (old_final, new_final) => Divergence {
                event: None,
                old: old_final.cloned(),
                new: new_final.cloned(),
                diff: diff(
                    old_final.unwrap_or(&Value::Null),
                    new_final.unwrap_or(&Value::Null),
                ),
            },
        };
        comparison.differences.insert(subject.clone(), divergence);
    }
    Ok(comparison)
}

/// Steps both versions through one subject's events in lockstep.
fn locate(
    new: &mut PluginInstance,
    old: &mut PluginInstance,
    events: &[SourcedEvent],
    options: &ReplayOptions,
    subject: &str,
) -> Result<Divergence, ReplayError> {
    let own: Vec<SourcedEvent> = events
        .iter()
        .filter(|s| s.event.subject.as_deref().unwrap_or("") == subject)
        .cloned()
        .collect();
    let new_states = trace_states(new, &own, &options.stream)?;
    let old_states = trace_states(old, &own, &options.stream)?;
    let first = (0..new_states.len())
        .find(|&i| new_states[i] != old_states[i])
        .unwrap_or(new_states.len() - 1);
    Ok(Divergence {
        event: first.checked_sub(1).map(|i| DivergentEvent {
            id: own[i].event.id.clone(),
            origin: own[i].origin.clone(),
            position: own[i].position.to_string(),
        }),
        diff: diff(&old_states[first], &new_states[first]),
        old: Some(old_states[first].clone()),
        new: Some(new_states[first].clone()),
    })
}
