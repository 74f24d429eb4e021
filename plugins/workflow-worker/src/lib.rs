//! `workflow-worker`: the worker of the workflow-engine example, an Eddy handler that advances
//! each workflow execution (the event's subject) by one step per event it receives.
//!
//! The workflow has three steps: the task `reserve`, the timer `payment-window`, the task
//! `ship`. The worker keeps no state: which step comes next follows from the event alone,
//! and the host publishes what it emits together with the acknowledgement of the input, with
//! ids derived from it — so a worker that crashes and handles an event again emits nothing
//! new, and every step is requested exactly once.
//!
//! | on                                          | emits (same stream and subject) |
//! |---------------------------------------------|---------------------------------|
//! | `io.flunq.execution.started`                | `io.flunq.task.requested` `{"task_id": "reserve", "task_name": "reserve", "step": "reserve"}` |
//! | `io.flunq.task.completed` of `reserve`      | `io.flunq.timer.scheduled` `{"timer_id": "payment-window", "delay_ms": n}` |
//! | `io.flunq.timer.fired` of `payment-window`  | `io.flunq.task.requested` `{"task_id": "ship", "task_name": "ship", "step": "ship"}` |
//! | `io.flunq.task.completed` of `ship`         | `io.flunq.workflow.completed` `{}` |
//!
//! Anything else emits nothing. `delay_ms` is the config `timer_ms` (default 200): whoever
//! fires timers fires this one that long after it was scheduled.

use guest_sdk::{Error, Event, Handler, Outgoing, config};
use serde::Deserialize;
use serde_json::json;

/// The first task.
pub const RESERVE: &str = "reserve";
/// The timer between the two tasks.
pub const PAYMENT_WINDOW: &str = "payment-window";
/// The last task.
pub const SHIP: &str = "ship";
/// The timer's delay when `timer_ms` is not configured.
pub const DEFAULT_TIMER_MS: u64 = 200;

#[derive(Deserialize)]
struct TaskRef {
    task_id: String,
}

#[derive(Deserialize)]
struct TimerRef {
    timer_id: String,
}

/// The events that advance the execution `event` belongs to, with the timer delay `timer_ms`.
pub fn next_step(event: &Event, timer_ms: u64) -> Result<Vec<Outgoing>, Error> {
    let emit = |ty: &str, data: serde_json::Value| -> Result<Vec<Outgoing>, Error> {
        let mut out = Outgoing::new(event.stream.as_str(), ty);
        if let Some(subject) = &event.subject {
            out = out.subject(subject.as_str());
        }
        Ok(vec![out.json(&data)?])
    };
    let request = |task: &str| {
        emit(
            "io.flunq.task.requested",
            json!({ "task_id": task, "task_name": task, "step": task }),
        )
    };
    match event.ty.as_str() {
        "io.flunq.execution.started" => request(RESERVE),
        "io.flunq.task.completed" => match event.data_json::<TaskRef>().ok() {
            Some(done) if done.task_id == RESERVE => emit(
                "io.flunq.timer.scheduled",
                json!({ "timer_id": PAYMENT_WINDOW, "delay_ms": timer_ms }),
            ),
            Some(done) if done.task_id == SHIP => emit("io.flunq.workflow.completed", json!({})),
            _ => Ok(Vec::new()),
        },
        "io.flunq.timer.fired" => match event.data_json::<TimerRef>().ok() {
            Some(fired) if fired.timer_id == PAYMENT_WINDOW => request(SHIP),
            _ => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

/// The worker; the steps are in the crate docs.
pub struct WorkflowWorker;

impl Handler for WorkflowWorker {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        let timer_ms = match config::get("timer_ms") {
            None => DEFAULT_TIMER_MS,
            Some(raw) => raw.trim().parse().map_err(|err| {
                Error::reject(format!(
                    "workflow-worker: config `timer_ms` must be a number of milliseconds, got {raw:?} ({err})"
                ))
            })?,
        };
        next_step(event, timer_ms)
    }
}

guest_sdk::export!(WorkflowWorker: Handler);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ty: &str, data: &str) -> Event {
        Event {
            id: "e-1".into(),
            ty: ty.into(),
            subject: Some("ex-1".into()),
            stream: "flunq".into(),
            data: Some(data.as_bytes().to_vec()),
            ..Event::default()
        }
    }

    fn emitted(ty: &str, data: &str) -> Vec<(String, serde_json::Value)> {
        next_step(&event(ty, data), 50)
            .unwrap()
            .into_iter()
            .map(|out| {
                assert_eq!(
                    (out.stream.as_str(), out.subject.as_deref()),
                    ("flunq", Some("ex-1"))
                );
                (out.ty, serde_json::from_slice(&out.data.unwrap()).unwrap())
            })
            .collect()
    }

    #[test]
    fn the_three_steps_follow_one_another_to_completion() {
        assert_eq!(
            emitted("io.flunq.execution.started", r#"{"workflow":"w"}"#),
            [(
                "io.flunq.task.requested".into(),
                json!({"task_id": "reserve", "task_name": "reserve", "step": "reserve"})
            )]
        );
        assert_eq!(
            emitted("io.flunq.task.completed", r#"{"task_id":"reserve"}"#),
            [(
                "io.flunq.timer.scheduled".into(),
                json!({"timer_id": "payment-window", "delay_ms": 50})
            )]
        );
        assert_eq!(
            emitted("io.flunq.timer.fired", r#"{"timer_id":"payment-window"}"#)[0].1["task_id"],
            "ship"
        );
        assert_eq!(
            emitted("io.flunq.task.completed", r#"{"task_id":"ship"}"#),
            [("io.flunq.workflow.completed".into(), json!({}))]
        );
    }

    #[test]
    fn other_events_advance_nothing() {
        assert!(emitted("io.flunq.workflow.started", r#"{"workflow":"w"}"#).is_empty());
        assert!(emitted("io.flunq.task.completed", r#"{"task_id":"other"}"#).is_empty());
        assert!(emitted("io.flunq.timer.fired", "not json").is_empty());
    }
}
