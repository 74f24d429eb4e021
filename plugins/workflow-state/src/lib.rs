//! `workflow-state`: an Eddy reducer that folds workflow-engine events into the state of one
//! workflow execution (the event's subject is the execution id).
//!
//! # State
//!
//! Before the first event:
//! `{"workflow": null, "status": "pending", "step": null, "tasks": {}, "timers": [], "error": null, "events": 0, "ignored": 0}`
//!
//! - `workflow`: the workflow's name, from `workflow.started`.
//! - `status`: `pending` (not started), `running`, `waiting` (started, with at least one timer
//!   pending), `completed` or `failed` (both final).
//! - `step`: the current step: the `step` of the latest requested task, else its `task_name`.
//! - `tasks`: per task id, `{"name", "status": "requested"|"completed"|"failed", "attempts", "error"}`.
//! - `timers`: the ids of the timers scheduled and not yet fired, sorted.
//! - `error`: why the workflow failed, if it did and said so.
//! - `events`: how many workflow events (the eight types below) the execution has seen,
//!   applied or ignored; other event types are not counted anywhere.
//! - `ignored`: how many of those were ignored.
//!
//! # Rules
//!
//! All types are prefixed `io.flunq.`. An event that is not allowed in the current status, or
//! whose data is not a JSON object of the documented shape (missing or mistyped required
//! field), is *ignored*: the state is unchanged except `events` and `ignored`, which both grow
//! by 1. Optional fields may be absent or `null`; unknown fields are fine.
//!
//! | type                 | data                                        | allowed when | effect |
//! |----------------------|---------------------------------------------|--------------|--------|
//! | `workflow.started`   | `{"workflow": str, "input"?: any}`          | `pending`    | `workflow` set, status `running` |
//! | `task.requested`     | `{"task_id": str, "task_name"?: str, "step"?: str}` | active | a new task: `requested`, attempts 1; a `failed` task: `requested` again, attempts + 1, error cleared; a task already `requested` or `completed`: ignored. `step` updated |
//! | `task.completed`     | `{"task_id": str, "output"?: any}`          | active       | a `requested` task becomes `completed`; otherwise ignored |
//! | `task.failed`        | `{"task_id": str, "error": str}`            | active       | a `requested` task becomes `failed` with `error`; otherwise ignored |
//! | `timer.scheduled`    | `{"timer_id": str}`                         | active       | the timer becomes pending; already pending: ignored |
//! | `timer.fired`        | `{"timer_id": str}`                         | active       | the pending timer is removed; not pending: ignored |
//! | `workflow.completed` | any or none                                 | active       | status `completed`, pending timers dropped |
//! | `workflow.failed`    | any or none; `{"error": str}` is recorded   | active       | status `failed`, `error` set, pending timers dropped |
//!
//! *Active* means `running` or `waiting`. After every applied event in an active workflow the
//! status is `waiting` if a timer is pending and `running` otherwise.

use guest_sdk::{Error, Event, Reducer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The state of one workflow execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The workflow's name; `null` until started.
    pub workflow: Option<String>,
    /// Where the execution is.
    pub status: Status,
    /// The current step.
    pub step: Option<String>,
    /// Every task requested so far, by task id.
    pub tasks: BTreeMap<String, Task>,
    /// The timers scheduled and not yet fired.
    pub timers: BTreeSet<String>,
    /// Why the workflow failed.
    pub error: Option<String>,
    /// Workflow events seen (applied or ignored).
    pub events: i64,
    /// Workflow events ignored.
    pub ignored: i64,
}

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started yet.
    Pending,
    /// Started, no timer pending.
    Running,
    /// Started, waiting for at least one timer.
    Waiting,
    /// Finished successfully; final.
    Completed,
    /// Finished with a failure; final.
    Failed,
}

/// One task of the execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's name, if any request gave one.
    pub name: Option<String>,
    /// Where the latest attempt is.
    pub status: TaskStatus,
    /// How many times the task was requested.
    pub attempts: i64,
    /// The error of the latest attempt, if it failed.
    pub error: Option<String>,
}

/// Where a task's latest attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Requested, no outcome yet.
    Requested,
    /// Completed.
    Completed,
    /// Failed; may be requested again.
    Failed,
}

impl Execution {
    /// The state before the first event.
    pub fn new() -> Self {
        Self {
            workflow: None,
            status: Status::Pending,
            step: None,
            tasks: BTreeMap::new(),
            timers: BTreeSet::new(),
            error: None,
            events: 0,
            ignored: 0,
        }
    }

    fn is_active(&self) -> bool {
        matches!(self.status, Status::Running | Status::Waiting)
    }
}

impl Default for Execution {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an event was not applied.
struct Ignored;

type Rule = Result<(), Ignored>;

/// Applies the event of type `ty` with raw `data` (JSON text), per the crate docs.
pub fn apply(state: &mut Execution, ty: &str, data: Option<&[u8]>) {
    let Some(kind) = ty.strip_prefix("io.flunq.") else {
        return;
    };
    let outcome = match kind {
        "workflow.started" => started(state, data),
        "task.requested" => active(state).and_then(|()| task_requested(state, data)),
        "task.completed" => active(state).and_then(|()| task_completed(state, data)),
        "task.failed" => active(state).and_then(|()| task_failed(state, data)),
        "timer.scheduled" => active(state).and_then(|()| timer_scheduled(state, data)),
        "timer.fired" => active(state).and_then(|()| timer_fired(state, data)),
        "workflow.completed" => active(state).map(|()| finish(state, Status::Completed, None)),
        "workflow.failed" => active(state).map(|()| {
            let error = parse::<WorkflowFailed>(data).ok().and_then(|d| d.error);
            finish(state, Status::Failed, error)
        }),
        _ => return,
    };
    state.events = state.events.saturating_add(1);
    match outcome {
        Ok(()) if state.is_active() => {
            state.status = if state.timers.is_empty() {
                Status::Running
            } else {
                Status::Waiting
            };
        }
        Ok(()) => {}
        Err(Ignored) => state.ignored = state.ignored.saturating_add(1),
    }
}

#[derive(Deserialize)]
struct Started {
    workflow: String,
}

#[derive(Deserialize)]
struct TaskRequested {
    task_id: String,
    task_name: Option<String>,
    step: Option<String>,
}

#[derive(Deserialize)]
struct TaskRef {
    task_id: String,
}

#[derive(Deserialize)]
struct TaskFailed {
    task_id: String,
    error: String,
}

#[derive(Deserialize)]
struct TimerRef {
    timer_id: String,
}

#[derive(Deserialize)]
struct WorkflowFailed {
    error: Option<String>,
}

fn started(state: &mut Execution, data: Option<&[u8]>) -> Rule {
    let Started { workflow } = parse(data)?;
    require(state.status == Status::Pending)?;
    state.workflow = Some(workflow);
    state.status = Status::Running;
    Ok(())
}

fn task_requested(state: &mut Execution, data: Option<&[u8]>) -> Rule {
    let TaskRequested {
        task_id,
        task_name,
        step,
    } = parse(data)?;
    match state.tasks.get_mut(&task_id) {
        None => {
            state.tasks.insert(
                task_id,
                Task {
                    name: task_name.clone(),
                    status: TaskStatus::Requested,
                    attempts: 1,
                    error: None,
                },
            );
        }
        Some(task) if task.status == TaskStatus::Failed => {
            task.status = TaskStatus::Requested;
            task.attempts = task.attempts.saturating_add(1);
            task.error = None;
            if task_name.is_some() {
                task.name.clone_from(&task_name);
            }
        }
        Some(_) => return Err(Ignored),
    }
    if let Some(step) = step.or(task_name) {
        state.step = Some(step);
    }
    Ok(())
}

fn task_completed(state: &mut Execution, data: Option<&[u8]>) -> Rule {
    let TaskRef { task_id } = parse(data)?;
    let task = requested_task(state, &task_id)?;
    task.status = TaskStatus::Completed;
    Ok(())
}

fn task_failed(state: &mut Execution, data: Option<&[u8]>) -> Rule {
    let TaskFailed { task_id, error } = parse(data)?;
    let task = requested_task(state, &task_id)?;
    task.status = TaskStatus::Failed;
    task.error = Some(error);
    Ok(())
}

fn timer_scheduled(state: &mut Execution, data: Option<&[u8]>) -> Rule {
    let TimerRef { timer_id } = parse(data)?;
    require(state.timers.insert(timer_id))
}

fn timer_fired(state: &mut Execution, data: Option<&[u8]>) -> Rule {
    let TimerRef { timer_id } = parse(data)?;
    require(state.timers.remove(&timer_id))
}

fn finish(state: &mut Execution, status: Status, error: Option<String>) {
    state.status = status;
    state.error = error;
    state.timers.clear();
}

fn active(state: &Execution) -> Rule {
    require(state.is_active())
}

fn requested_task<'a>(state: &'a mut Execution, task_id: &str) -> Result<&'a mut Task, Ignored> {
    state
        .tasks
        .get_mut(task_id)
        .filter(|task| task.status == TaskStatus::Requested)
        .ok_or(Ignored)
}

fn require(condition: bool) -> Rule {
    if condition { Ok(()) } else { Err(Ignored) }
}

/// `data` as `T`, if it is a JSON object of that shape (serde alone would accept an array).
fn parse<T: DeserializeOwned>(data: Option<&[u8]>) -> Result<T, Ignored> {
    let data = data.ok_or(Ignored)?;
    let first = data
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    require(first == Some(&b'{'))?;
    serde_json::from_slice(data).map_err(|_| Ignored)
}

/// The workflow-execution reducer; the rules are in the crate docs.
pub struct WorkflowState;

impl Reducer for WorkflowState {
    type State = Execution;

    fn init() -> Execution {
        Execution::new()
    }

    fn apply_event(state: &mut Execution, event: &Event) -> Result<(), Error> {
        apply(state, &event.ty, event.data.as_deref());
        Ok(())
    }
}

guest_sdk::export!(WorkflowState: Reducer);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(events: &[(&str, Option<&str>)]) -> Execution {
        let mut state = Execution::new();
        for (ty, data) in events {
            apply(
                &mut state,
                &format!("io.flunq.{ty}"),
                data.map(str::as_bytes),
            );
        }
        state
    }

    #[test]
    fn initial_state_serialises_with_fields_in_order() {
        assert_eq!(
            serde_json::to_string(&Execution::new()).unwrap(),
            r#"{"workflow":null,"status":"pending","step":null,"tasks":{},"timers":[],"error":null,"events":0,"ignored":0}"#
        );
    }

    #[test]
    fn a_failed_task_requested_again_counts_another_attempt() {
        let state = run(&[
            ("workflow.started", Some(r#"{"workflow":"w"}"#)),
            (
                "task.requested",
                Some(r#"{"task_id":"t","task_name":"charge"}"#),
            ),
            ("task.failed", Some(r#"{"task_id":"t","error":"timeout"}"#)),
            ("task.requested", Some(r#"{"task_id":"t"}"#)),
        ]);
        let task = &state.tasks["t"];
        assert_eq!((task.status, task.attempts), (TaskStatus::Requested, 2));
        assert_eq!(task.name.as_deref(), Some("charge"));
        assert_eq!(state.step.as_deref(), Some("charge"));
        assert_eq!(state.ignored, 0);
    }

    #[test]
    fn pending_timers_mean_waiting() {
        let state = run(&[
            ("workflow.started", Some(r#"{"workflow":"w"}"#)),
            ("timer.scheduled", Some(r#"{"timer_id":"a"}"#)),
            ("timer.scheduled", Some(r#"{"timer_id":"b"}"#)),
            ("timer.fired", Some(r#"{"timer_id":"a"}"#)),
        ]);
        assert_eq!(state.status, Status::Waiting);
        let state = run(&[
            ("workflow.started", Some(r#"{"workflow":"w"}"#)),
            ("timer.scheduled", Some(r#"{"timer_id":"a"}"#)),
            ("timer.fired", Some(r#"{"timer_id":"a"}"#)),
        ]);
        assert_eq!(state.status, Status::Running);
    }

    #[test]
    fn events_before_start_or_after_the_end_are_ignored() {
        let state = run(&[
            ("task.requested", Some(r#"{"task_id":"t"}"#)),
            ("workflow.started", Some(r#"{"workflow":"w"}"#)),
            ("workflow.completed", None),
            ("timer.scheduled", Some(r#"{"timer_id":"a"}"#)),
            ("workflow.started", Some(r#"{"workflow":"w"}"#)),
        ]);
        assert_eq!(state.status, Status::Completed);
        assert_eq!((state.events, state.ignored), (5, 3));
    }

    #[test]
    fn other_types_are_not_counted() {
        let mut state = Execution::new();
        apply(&mut state, "order.created", Some(b"{}"));
        apply(&mut state, "io.flunq.unknown", Some(b"{}"));
        assert_eq!(state, Execution::new());
    }

    #[test]
    fn every_golden_case_matches_its_expected_state() {
        let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
        let mut checked = 0;
        for case in std::fs::read_dir(&cases).unwrap() {
            let dir = case.unwrap().path();
            let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
            let mut states: BTreeMap<String, Execution> = BTreeMap::new();
            for line in events.lines().filter(|l| !l.trim().is_empty()) {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                let subject = event["subject"].as_str().unwrap_or("").to_owned();
                let data = event.get("data").map(|d| serde_json::to_vec(d).unwrap());
                let state = states.entry(subject).or_default();
                apply(state, event["type"].as_str().unwrap(), data.as_deref());
            }
            let values: BTreeMap<String, serde_json::Value> = states
                .into_iter()
                .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
                .collect();
            let actual = serde_json::to_string_pretty(&values).unwrap() + "\n";
            let expected = std::fs::read_to_string(dir.join("expected.json")).unwrap();
            assert_eq!(actual, expected, "case {}", dir.display());
            checked += 1;
        }
        assert!(checked >= 2);
    }
}
