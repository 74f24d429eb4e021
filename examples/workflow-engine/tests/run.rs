//! The workflow-engine example's one command (`run.sh`), run on this build's engine binary on
//! both stores. On Redis the executor runs as a process of its own, crashes mid-run after
//! publishing a task's completion but before acknowledging it, and is restarted. The script
//! checks that every execution completes with each step exactly once — also after the engine
//! running the worker is SIGKILLed mid-run and restarted — and exits non-zero
//! naming what went wrong.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("run.sh");
    let output = Command::new(script)
        .args(args)
        .env("WORKFLOW_ENGINE", env!("CARGO_BIN_EXE_workflow-engine"))
        .output()
        .expect("run.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains("workflow-engine example: OK"),
        "run.sh {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn completed_executions(out: &str) -> usize {
    out.lines()
        .filter(|line| {
            line.contains(r#""status":"completed""#)
                && line.contains(r#""tasks":{"reserve":"completed×1","ship":"completed×1"}"#)
        })
        .count()
}

#[test]
fn every_execution_completes_its_three_steps_on_the_embedded_store() {
    let out = run(&[]);
    assert!(
        out.contains("killed while"),
        "the engine was killed mid-run: {out}"
    );
    assert_eq!(completed_executions(&out), 3, "{out}");
}

/// `--redis` starts a private redis-server on a free loopback port (and fails without one).
#[test]
fn a_crashed_executor_resumes_without_losing_or_repeating_a_step_on_redis() {
    let out = run(&["--redis"]);
    assert!(out.contains("crashing on purpose"), "{out}");
    assert!(out.contains("duplicate=true"), "{out}");
    assert!(
        out.contains("killed while"),
        "the engine was killed mid-run: {out}"
    );
    assert_eq!(completed_executions(&out), 3, "{out}");
}
