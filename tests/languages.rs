//! order-totals in three languages — Rust (`plugins/order-totals`), JavaScript
//! (`plugins/order-totals-js`) and Python (`plugins/order-totals-py`) — give byte-identical
//! `eddy replay` output on the same events.
//!
//! This test builds nothing: `scripts/test` runs the JS and Python build scripts before the
//! tests (each takes a few seconds when its sources changed, none otherwise). Run alone, build
//! them first: `plugins/order-totals-js/build.sh && plugins/order-totals-py/build.sh`.

mod support;

use std::path::{Path, PathBuf};

use support::histories::{order_data_edge_cases, order_history};
use support::plugins::plugin_path;
use support::{eddy, repo_root, stdout_of};

/// The three components, Rust first (the reference).
fn components() -> [(&'static str, PathBuf); 3] {
    [
        ("rust", plugin_path("order_totals")),
        ("js", built("order-totals-js", "order_totals_js.wasm")),
        ("python", built("order-totals-py", "order_totals_py.wasm")),
    ]
}

/// A component built by its folder's `build.sh`; fails naming that command when it is missing.
fn built(folder: &str, file: &str) -> PathBuf {
    let path = repo_root()
        .join("plugins")
        .join(folder)
        .join("target")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: build it with `plugins/{folder}/build.sh` (scripts/test does)",
        path.display()
    );
    path
}

fn replay(plugin: &Path, events: &Path, batch: &str) -> String {
    stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &plugin.display().to_string(),
        "--events",
        &events.display().to_string(),
        "--batch",
        batch,
    ]))
}

/// Replays `events` through every version and asserts that the outputs are byte-identical to
/// the Rust version's, naming the first subject that differs.
fn assert_identical(events: &Path) -> String {
    let [(_, rust), others @ ..] = components();
    let reference = replay(&rust, events, "256");
    for (language, plugin) in others {
        let output = replay(&plugin, events, "256");
        if output != reference {
            let expected: serde_json::Value = serde_json::from_str(&reference).unwrap();
            let actual: serde_json::Value = serde_json::from_str(&output).unwrap();
            let first = expected
                .as_object()
                .unwrap()
                .iter()
                .find(|(subject, state)| actual.get(subject.as_str()) != Some(state));
            panic!(
                "the {language} version differs from the Rust version on {}; first differing \
                 subject (Rust's state): {first:?}, {language}'s: {:?}",
                events.display(),
                first.and_then(|(subject, _)| actual.get(subject.as_str()))
            );
        }
    }
    reference
}

#[test]
fn js_python_and_rust_give_byte_identical_replays_of_a_generated_history() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("orders.jsonl");
    std::fs::write(&events, order_history(3000, 120, 11)).unwrap();
    let output = assert_identical(&events);
    // The history exercises the rules: orders in every status, and ignored events.
    for status in ["open", "paid", "shipped", "cancelled"] {
        assert!(
            output.contains(&format!(r#""status": "{status}""#)),
            "{status}"
        );
    }
    assert!(output.contains(r#""ignored": 1"#));
}

#[test]
fn js_python_and_rust_read_event_data_exactly_alike_at_the_edges_of_json() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("edges.jsonl");
    std::fs::write(&events, order_data_edge_cases()).unwrap();
    let output = assert_identical(&events);
    // Both outcomes occur: edge payloads accepted (a second line) and ignored.
    let states: serde_json::Value = serde_json::from_str(&output).unwrap();
    let states = states.as_object().unwrap();
    let ignored = states.values().filter(|s| s["ignored"] == 1).count();
    assert!(
        ignored > 40 && states.len() - ignored > 15,
        "{ignored} of {}",
        states.len()
    );
}

#[test]
fn js_and_python_versions_pass_every_order_totals_golden_case() {
    let cases_dir = repo_root().join("plugins/order-totals/cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 7);
    let [_, others @ ..] = components();
    for case in cases {
        let expected = std::fs::read_to_string(case.join("expected.json")).unwrap();
        for (language, plugin) in &others {
            let output = replay(plugin, &case.join("events.jsonl"), "256");
            assert_eq!(output, expected, "{language}, case {}", case.display());
        }
    }
}

#[test]
fn js_and_python_versions_are_deterministic_safe_per_event_reducers() {
    let [_, others @ ..] = components();
    for (language, plugin) in others {
        let output = eddy(&["plugin", "check", "--json", &plugin.display().to_string()]);
        let report: serde_json::Value = serde_json::from_str(&stdout_of(&output)).unwrap();
        assert_eq!(report["world"], "reducer", "{language}");
        assert_eq!(report["deterministic_safe"], true, "{language}");
        // componentize-py also exports an instance of its own, named `exports`.
        let exports = report["exports"].as_array().unwrap();
        for export in ["init", "apply-event"] {
            assert!(
                exports.iter().any(|e| e == export),
                "{language}: {exports:?}"
            );
        }
    }
}
