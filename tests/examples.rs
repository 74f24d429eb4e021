//! The runnable examples under `examples/`, each run by its one command exactly as its README
//! says, on the `eddy` binary of this build. Each script checks its own results and exits
//! non-zero (naming what went wrong) when one is off.

#[path = "../runtime/tests/support/mod.rs"]
mod store_support;
mod support;

use std::process::Command;

use support::plugins::plugin_path;
use support::repo_root;

/// Runs `examples/<name>/run.sh` with `args` and returns its standard output; fails the test
/// with both outputs if it fails.
fn run_example(name: &str, args: &[&str]) -> String {
    // Makes sure the plugins are built (once per test run) so the script need not.
    plugin_path("order_totals");
    let output = Command::new(repo_root().join("examples").join(name).join("run.sh"))
        .args(args)
        .env("EDDY", env!("CARGO_BIN_EXE_eddy"))
        .env("EDDY_SKIP_PLUGIN_BUILD", "1")
        .env("EDDY_CACHE_DIR", support::cache_dir())
        .output()
        .expect("the example's script runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "examples/{name}/run.sh {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn orders_runs_end_to_end_on_the_embedded_store() {
    let out = run_example("orders", &[]);
    assert!(out.contains("orders example: OK"), "{out}");
}

#[test]
fn orders_runs_end_to_end_on_redis() {
    let redis = store_support::RedisServer::start();
    let out = run_example("orders", &["--store", &redis.url()]);
    assert!(out.contains("orders example: OK"), "{out}");
}

/// The executions' states now and as of earlier points, each time-travel answer recomputed
/// from a snapshot and equal to `eddy replay --until` (the script checks the values; here the
/// printed states are checked too).
fn check_event_sourced_workflow(out: &str) {
    assert!(out.contains("event-sourced-workflow example: OK"), "{out}");
    let printed = |prefix: &str| {
        out.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix} in:\n{out}"))
            .to_string()
    };
    assert!(
        printed(r#"{"status":"completed","step":"ship""#).contains(r#""charge":"completed×2""#)
    );
    let declined = printed(r#"{"status":"running","step":"charge""#);
    assert!(declined.contains(r#""charge":"failed×1""#), "{declined}");
    assert!(declined.contains(r#""from_snapshot":"1"#), "{declined}");
    assert!(declined.contains(r#""replayed":1"#), "{declined}");
    let waiting = printed(r#"{"status":"waiting","step":"reserve""#);
    assert!(
        waiting.contains(r#""timers":["payment-window"]"#),
        "{waiting}"
    );
    assert!(waiting.contains(r#""from_snapshot":"1"#), "{waiting}");
}

#[test]
fn event_sourced_workflow_time_travels_from_snapshots_on_the_embedded_store() {
    check_event_sourced_workflow(&run_example("event-sourced-workflow", &[]));
}

#[test]
fn event_sourced_workflow_time_travels_from_snapshots_on_redis() {
    let redis = store_support::RedisServer::start();
    check_event_sourced_workflow(&run_example(
        "event-sourced-workflow",
        &["--store", &redis.url()],
    ));
}
