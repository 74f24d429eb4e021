//! Following one subject's state event by event, to find where two histories part.

use serde_json::Value;

use super::{ReplayError, SourcedEvent, state_to_json};
use crate::plugin::{EventBatch, PluginInstance};

/// The states of one subject: `states[0]` is the initial state and `states[i + 1]` the state
/// after `events[i]`. `events` must all belong to that subject, in order.
pub(crate) fn trace_states(
    instance: &mut PluginInstance,
    events: &[SourcedEvent],
    stream: &str,
) -> Result<Vec<Value>, ReplayError> {
    let plugin_error = |sourced: Option<&SourcedEvent>, error| ReplayError::Plugin {
        origin: sourced.map_or_else(|| "init".to_string(), |s| s.origin.clone()),
        id: sourced.map_or_else(String::new, |s| s.event.id.clone()),
        error,
    };
    let mut state = instance.init().map_err(|e| plugin_error(None, e))?;
    let mut states = Vec::with_capacity(events.len() + 1);
    states.push(state_to_json(&state));
    let mut batch = EventBatch::with_capacity(1);
    for sourced in events {
        batch.clear();
        batch.push(&sourced.event, stream, sourced.position);
        state = instance
            .apply(state, &batch)
            .map_err(|f| plugin_error(Some(sourced), f.error))?;
        states.push(state_to_json(&state));
    }
    Ok(states)
}
