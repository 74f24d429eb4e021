//! The arguments of one batch of events as `batch.lua` reads them (shared by the append and
//! commit scripts).

use std::collections::HashMap;

use redis::ScriptInvocation;

use crate::event::CloudEvent;

/// The distinct subjects of `events` in order of first appearance, and each one's number in
/// that list counting from 1, as the scripts number them (a map, not a search: a batch of
/// 10,000 events may have as many subjects).
pub(super) fn distinct_subjects(events: &[CloudEvent]) -> (Vec<&str>, HashMap<&str, usize>) {
    let mut subjects = Vec::new();
    let mut numbers = HashMap::new();
    for subject in events.iter().filter_map(|e| e.subject.as_deref()) {
        numbers.entry(subject).or_insert_with(|| {
            subjects.push(subject);
            subjects.len()
        });
    }
    (subjects, numbers)
}

/// Adds one event's four arguments: id, source, subject number (0 = none), structured JSON.
pub(super) fn push_event(
    invocation: &mut ScriptInvocation<'_>,
    event: &CloudEvent,
    subject_numbers: &HashMap<&str, usize>,
) {
    let subject = event
        .subject
        .as_deref()
        .and_then(|s| subject_numbers.get(s))
        .copied()
        .unwrap_or(0);
    invocation
        .arg(&event.id)
        .arg(&event.source)
        .arg(subject)
        .arg(event.to_json());
}
