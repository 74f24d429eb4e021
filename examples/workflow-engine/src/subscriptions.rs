//! The plugin subscriptions of the engine: the worker that advances executions, and the
//! reducer that keeps each execution's state.

use std::path::Path;

use eddy::subscription::SubscriptionSpec;

/// The stream every workflow event goes to; the subject is the execution id.
pub const STREAM: &str = "flunq";

/// The reducer subscription whose projection is each execution's state.
pub const EXECUTIONS: &str = "executions";

/// The subscriptions, with their plugins in `plugins` (the built `.wasm` files); the worker
/// schedules its timer `timer_ms` milliseconds ahead.
pub fn specs(plugins: &Path, timer_ms: u64) -> Vec<SubscriptionSpec> {
    let plugin = |file: &str| plugins.join(file).display().to_string();
    let worker = serde_json::json!({
        "name": "worker",
        "plugin": plugin("workflow_worker.wasm"),
        "streams": [STREAM],
        "types": [
            "io.flunq.execution.started",
            "io.flunq.task.completed",
            "io.flunq.timer.fired",
        ],
        "config": { "timer_ms": timer_ms.to_string() },
    });
    let executions = serde_json::json!({
        "name": EXECUTIONS,
        "plugin": plugin("workflow_state.wasm"),
        "streams": [STREAM],
        "types": ["io.flunq.*"],
    });
    [worker, executions]
        .into_iter()
        .map(|json| serde_json::from_value(json).expect("a valid spec"))
        .collect()
}
