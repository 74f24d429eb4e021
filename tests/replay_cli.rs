//! `eddy replay` as a user runs it: golden cases, determinism across batch sizes and
//! processes, options, and errors that name the file, line and field.

mod support;

use std::path::{Path, PathBuf};

use support::histories::order_history;
use support::plugins::plugin_path;
use support::{eddy, repo_root, stdout_of};

fn wasm(name: &str) -> String {
    plugin_path(name).display().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Every golden case shipped with an example reducer: `events.jsonl` replayed through the
/// plugin prints exactly `expected.json`.
fn check_golden_cases(plugin_dir: &str, plugin: &str) {
    let cases_dir = repo_root().join("plugins").join(plugin_dir).join("cases");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", cases_dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let events = case.join("events.jsonl").display().to_string();
        let expected = std::fs::read_to_string(case.join("expected.json")).unwrap();
        for batch in ["1", "3", "256"] {
            let output = eddy(&[
                "replay",
                "--plugin",
                &wasm(plugin),
                "--events",
                &events,
                "--batch",
                batch,
            ]);
            assert_eq!(
                stdout_of(&output),
                expected,
                "case {} at batch {batch}",
                case.display()
            );
        }
    }
}

#[test]
fn order_totals_follows_every_rule_of_its_golden_cases() {
    check_golden_cases("order-totals", "order_totals");
}

#[test]
fn workflow_state_follows_its_golden_cases() {
    check_golden_cases("workflow-state", "workflow_state");
}

#[test]
fn replay_output_is_byte_identical_at_every_batch_size_and_in_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "orders.jsonl", &order_history(3000, 120, 7));
    let run = |batch: &str| {
        stdout_of(&eddy(&[
            "replay",
            "--plugin",
            &wasm("order_totals"),
            "--events",
            &events,
            "--batch",
            batch,
        ]))
    };
    let reference = run("1");
    let states: serde_json::Value = serde_json::from_str(&reference).unwrap();
    assert!(
        states.as_object().unwrap().len() > 100,
        "many subjects were folded"
    );
    assert!(
        states.get("").is_some(),
        "events without a subject fold into the key \"\""
    );
    for batch in ["7", "1000", "1"] {
        assert_eq!(run(batch), reference, "batch {batch}");
    }
}

#[test]
fn subject_prints_that_subjects_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "orders.jsonl", &order_history(400, 20, 3));
    let all: serde_json::Value = serde_json::from_str(&stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &wasm("order_totals"),
        "--events",
        &events,
    ])))
    .unwrap();
    let one: serde_json::Value = serde_json::from_str(&stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &wasm("order_totals"),
        "--events",
        &events,
        "--subject",
        "o-5",
    ])))
    .unwrap();
    assert_eq!(one, all["o-5"]);
}

#[test]
fn until_stops_after_an_event_id_or_before_a_later_time() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"specversion":"1.0","id":"1","source":"/s","type":"order.created","subject":"o","time":"2026-01-01T00:00:01Z","data":{"customer":"ada"}}"#,
        r#"{"specversion":"1.0","id":"2","source":"/s","type":"order.item_added","subject":"o","time":"2026-01-01T00:00:02Z","data":{"sku":"a","qty":2,"unit_cents":100}}"#,
        r#"{"specversion":"1.0","id":"3","source":"/s","type":"order.paid","subject":"o","time":"2026-01-01T00:00:03Z","data":{"amount_cents":200}}"#,
    ];
    let events = write(dir.path(), "e.jsonl", &(lines.join("\n") + "\n"));
    let state_at = |until: &str| -> serde_json::Value {
        let out = eddy(&[
            "replay",
            "--plugin",
            &wasm("order_totals"),
            "--events",
            &events,
            "--subject",
            "o",
            "--until",
            until,
        ]);
        serde_json::from_str(&stdout_of(&out)).unwrap()
    };
    assert_eq!(state_at("2")["total_cents"], 200);
    assert_eq!(state_at("2")["status"], "open");
    assert_eq!(state_at("3")["status"], "paid");
    assert_eq!(state_at("2026-01-01T00:00:01.5Z")["total_cents"], 0);
    assert_eq!(state_at("2026-01-01T00:00:02Z")["total_cents"], 200);

    let missing = eddy(&[
        "replay",
        "--plugin",
        &wasm("order_totals"),
        "--events",
        &events,
        "--until",
        "nope",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no event with id `nope`"));
}

#[test]
fn a_filter_prints_the_kept_events_and_a_handler_the_emitted_ones() {
    let dir = tempfile::tempdir().unwrap();
    // The handler rightly rejects malformed payments, so leave those out here.
    let history: String = order_history(200, 10, 11)
        .lines()
        .filter(|line| !line.contains(r#""amount_cents":"12""#))
        .map(|line| format!("{line}\n"))
        .collect();
    let events = write(dir.path(), "orders.jsonl", &history);
    let kept = stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &wasm("type_filter"),
        "--events",
        &events,
        "--config",
        "patterns=order.paid",
    ]));
    assert!(!kept.is_empty());
    for line in kept.lines() {
        let event = eddy::event::CloudEvent::from_json(line).expect("a CloudEvent per line");
        assert_eq!(event.ty, "order.paid");
    }

    let emitted = stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &wasm("high_value"),
        "--events",
        &events,
        "--config",
        "threshold=15000",
        "--config",
        "stream=big",
    ]));
    assert!(!emitted.is_empty());
    for line in emitted.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["stream"], "big");
        assert_eq!(value["event"]["type"], "order.high_value");
    }
}

#[test]
fn output_goes_to_a_file_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "orders.jsonl", &order_history(50, 5, 1));
    let out_path = dir.path().join("state.json");
    let printed = stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &wasm("order_totals"),
        "--events",
        &events,
    ]));
    let quiet = eddy(&[
        "replay",
        "--plugin",
        &wasm("order_totals"),
        "--events",
        &events,
        "--output",
        &out_path.display().to_string(),
    ]);
    assert_eq!(stdout_of(&quiet), "");
    assert_eq!(std::fs::read_to_string(out_path).unwrap(), printed);
}

#[test]
fn a_bad_line_is_reported_with_its_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"specversion":"1.0","id":"2","source":"/s"}"#,
            "field `type`: is required",
        ),
        (
            r#"{"specversion":"1.0","id":"2","source":"/s","type":"t","time":"noon"}"#,
            "field `time`",
        ),
        (r#"{"specversion":"1.0","id":"2""#, "not a valid JSON event"),
        (r#"["not","an","object"]"#, "not a valid JSON event"),
    ];
    for (bad, message) in cases {
        let good = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
        let events = write(dir.path(), "bad.jsonl", &format!("{good}\n\n{bad}\n"));
        let output = eddy(&[
            "replay",
            "--plugin",
            &wasm("order_totals"),
            "--events",
            &events,
        ]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("bad.jsonl:3:"), "line number in: {stderr}");
        assert!(stderr.contains(message), "{message} in: {stderr}");
    }
}

#[test]
fn plugin_errors_are_reported_with_the_event_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "e.jsonl",
        "{\"specversion\":\"1.0\",\"id\":\"a\",\"source\":\"/s\",\"type\":\"count\",\"subject\":\"x\"}\n\
         {\"specversion\":\"1.0\",\"id\":\"b\",\"source\":\"/s\",\"type\":\"loop\",\"subject\":\"x\"}\n",
    );
    let output = eddy(&[
        "replay",
        "--plugin",
        &wasm("fx_loop"),
        "--events",
        &events,
        "--fuel",
        "1000000",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("e.jsonl:2 (event `b`)"), "{stderr}");
    assert!(stderr.contains("ran out of fuel"), "{stderr}");
}

#[test]
fn unusable_plugin_files_and_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "e.jsonl", "");
    let not_wasm = write(dir.path(), "readme.wasm", "hello");
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec![
                "--plugin".into(),
                not_wasm,
                "--events".into(),
                events.clone(),
            ],
            "not a WebAssembly file",
        ),
        (
            vec![
                "--plugin".into(),
                wasm("fx_wrong_world"),
                "--events".into(),
                events.clone(),
            ],
            "does not implement any eddy:plugin",
        ),
        (
            vec![
                "--plugin".into(),
                "/nonexistent.wasm".into(),
                "--events".into(),
                events.clone(),
            ],
            "/nonexistent.wasm",
        ),
        (
            vec![
                "--plugin".into(),
                wasm("order_totals"),
                "--events".into(),
                events,
                "--config".into(),
                "novalue".into(),
            ],
            "is not `key=value`",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["replay"];
        all.extend(args.iter().map(String::as_str));
        let output = eddy(&all);
        assert!(!output.status.success(), "{all:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{message} in: {stderr}");
    }
}
