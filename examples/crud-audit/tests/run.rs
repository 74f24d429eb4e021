//! The crud-audit example's one command (`run.sh`), run on this build's service binary on both
//! stores. The script checks every answer and exits non-zero naming what went wrong.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("run.sh");
    let output = Command::new(script)
        .args(args)
        .env("CRUD_AUDIT", env!("CARGO_BIN_EXE_crud-audit-service"))
        .output()
        .expect("run.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("crud-audit example: OK"),
        "run.sh {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn crud_audit_runs_end_to_end_on_the_embedded_store() {
    run(&[]);
}

/// `--redis` starts a private redis-server on a free loopback port (and fails without one).
#[test]
fn crud_audit_runs_end_to_end_on_redis() {
    run(&["--redis"]);
}
