//! `eddy test` (golden-state cases) and `eddy replay --compare` (shadow replay).

mod support;

use std::path::Path;
use std::sync::OnceLock;

use eddy::event::{CloudEvent, Position};
use eddy::plugin::{Limits, Plugin, PluginInstance};
use eddy::replay::{ReplayOptions, SourcedEvent, compare};
use proptest::prelude::*;
use support::histories::Lcg;
use support::plugins::{load, plugin_path};
use support::{eddy, repo_root, stdout_of};

fn line(id: &str, ty: &str, subject: &str, data: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/s","type":"{ty}","subject":"{subject}","time":"2026-01-01T00:00:00Z","data":{data}}}"#
    )
}

/// A case folder whose plugin is order-totals.
fn write_case(dir: &Path, events: &[String], expected: &str, extra_toml: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("events.jsonl"), events.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("expected.json"), expected).unwrap();
    let plugin = plugin_path("order_totals").display().to_string();
    std::fs::write(
        dir.join("case.toml"),
        format!("plugin = {plugin:?}\n{extra_toml}"),
    )
    .unwrap();
}

fn order_events() -> Vec<String> {
    vec![
        line("e1", "order.created", "o-1", r#"{"customer":"ada"}"#),
        line(
            "e2",
            "order.item_added",
            "o-1",
            r#"{"sku":"tea","qty":2,"unit_cents":100}"#,
        ),
        line("e3", "order.paid", "o-1", r#"{"amount_cents":200}"#),
        line("e4", "order.shipped", "o-1", "{}"),
    ]
}

const SHIPPED: &str = r#"{"o-1": {"customer": "ada", "ignored": 0, "items": {"tea": {"qty": 2, "unit_cents": 100}}, "paid_cents": 200, "status": "shipped", "total_cents": 200}}"#;

#[test]
fn the_golden_cases_shipped_with_the_plugins_pass() {
    let output = eddy(&["test", &repo_root().join("plugins").display().to_string()]);
    let stdout = stdout_of(&output);
    let passed = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    assert!(passed >= 10, "{stdout}");
    assert!(
        stdout.ends_with(&format!("{passed} passed, 0 failed\n")),
        "{stdout}"
    );
}

#[test]
fn a_mismatch_names_the_subject_the_first_differing_event_and_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("paid-not-shipped");
    // The expected state says `paid`: true after e3, no longer after e4.
    write_case(
        &case,
        &order_events(),
        &SHIPPED.replace("shipped", "paid"),
        "",
    );
    let output = eddy(&["test", &dir.path().display().to_string()]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL "), "{stdout}");
    assert!(
        stdout.contains(r#"subject "o-1": state differs"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("first differs after event `e4` ("),
        "{stdout}"
    );
    assert!(stdout.contains("events.jsonl:4)"), "{stdout}");
    assert!(
        stdout.contains(r#"status: expected "paid", actual "shipped""#),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn update_rewrites_expected_json_and_the_case_then_passes() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");
    write_case(&case, &order_events(), "{}", "");
    let path = dir.path().display().to_string();
    assert!(!eddy(&["test", &path]).status.success());
    let updated = stdout_of(&eddy(&["test", "--update", &path]));
    assert!(updated.starts_with("UPDATED "), "{updated}");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(
        expected,
        serde_json::from_str::<serde_json::Value>(SHIPPED).unwrap()
    );
    assert!(stdout_of(&eddy(&["test", &path])).ends_with("1 passed, 0 failed\n"));
}

#[test]
fn subject_and_until_in_case_toml_select_what_is_compared() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");
    let expected = r#"{"customer": "ada", "ignored": 0, "items": {"tea": {"qty": 2, "unit_cents": 100}}, "paid_cents": 0, "status": "open", "total_cents": 200}"#;
    write_case(
        &case,
        &order_events(),
        expected,
        "subject = \"o-1\"\nuntil = \"e2\"\n",
    );
    let stdout = stdout_of(&eddy(&["test", &case.display().to_string()]));
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn a_broken_case_fails_with_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");
    write_case(&case, &order_events(), SHIPPED, "colour = \"blue\"\n");
    let output = eddy(&["test", &dir.path().display().to_string()]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("case.toml") && stdout.contains("colour"),
        "{stdout}"
    );
    assert!(stdout.contains("line 2"), "the line is named: {stdout}");

    let empty = tempfile::tempdir().unwrap();
    let output = eddy(&["test", &empty.path().display().to_string()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no test cases"));
}

fn counter_history(
    events: usize,
    subjects: u64,
    diverge_at: Option<usize>,
    seed: u64,
) -> Vec<String> {
    let mut rng = Lcg::new(seed);
    (0..events)
        .map(|i| {
            let subject = format!("s-{}", rng.below(subjects));
            let ty = if Some(i) == diverge_at {
                "diverge".to_string()
            } else {
                format!("t{}", rng.below(3))
            };
            line(&format!("e{i}"), &ty, &subject, "{}")
        })
        .collect()
}

#[test]
fn shadow_replay_reports_matching_versions_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("h.jsonl");
    std::fs::write(&events, counter_history(300, 12, None, 5).join("\n")).unwrap();
    let output = eddy(&[
        "replay",
        "--plugin",
        &plugin_path("fx_counter_v2").display().to_string(),
        "--compare",
        &plugin_path("fx_per_event_reducer").display().to_string(),
        "--events",
        &events.display().to_string(),
    ]);
    assert_eq!(stdout_of(&output), "12 subjects: 12 match, 0 differ\n");
}

#[test]
fn shadow_replay_names_where_a_subject_diverges_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let history = counter_history(300, 12, Some(150), 5);
    let planted_subject = history[150]
        .split(r#""subject":""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let events = dir.path().join("h.jsonl");
    std::fs::write(&events, history.join("\n")).unwrap();
    let args = |json: bool| {
        let mut args = vec![
            "replay".to_string(),
            "--plugin".into(),
            plugin_path("fx_counter_v2").display().to_string(),
            "--compare".into(),
            plugin_path("fx_per_event_reducer").display().to_string(),
            "--events".into(),
            events.display().to_string(),
        ];
        if json {
            args.push("--json".into());
        }
        args
    };
    let output = eddy(&args(false).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "{planted_subject:?}: differs, first after event `e150` ("
        )),
        "{stdout}"
    );
    assert!(stdout.contains("h.jsonl:151)"), "{stdout}");
    assert!(
        stdout.ends_with("12 subjects: 11 match, 1 differ\n"),
        "{stdout}"
    );

    let output = eddy(&args(true).iter().map(String::as_str).collect::<Vec<_>>());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["differed"], 1);
    assert_eq!(
        report["differences"][&planted_subject]["event"]["id"],
        "e150"
    );
    assert_eq!(
        report["differences"][&planted_subject]["diff"][0]["path"],
        "count"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Property: wherever a divergence is planted, at any batch size, it is reported at
    /// exactly that event. A history is (subject, type) per event; one event becomes the
    /// `diverge` type that the two counter versions count differently.
    #[test]
    fn a_planted_divergence_is_reported_at_exactly_that_event(
        history in prop::collection::vec((0..8u8, 0..3u8), 1..200),
        planted in any::<prop::sample::Index>(),
        batch in 1..64usize,
    ) {
        let planted = planted.index(history.len());
        let sourced: Vec<SourcedEvent> = history
            .iter()
            .enumerate()
            .map(|(i, (subject, ty))| {
                let ty = if i == planted { "diverge".to_string() } else { format!("t{ty}") };
                let text = line(&format!("e{i}"), &ty, &format!("s-{subject}"), "{}");
                SourcedEvent {
                    event: CloudEvent::from_json(&text).unwrap(),
                    position: Position::new(0, i as u64 + 1),
                    origin: format!("h:{}", i + 1),
                }
            })
            .collect();
        let options = ReplayOptions { batch, ..ReplayOptions::default() };
        let instance = |name| {
            static PLUGINS: OnceLock<(Plugin, Plugin)> = OnceLock::new();
            let (new, old) =
                PLUGINS.get_or_init(|| (load("fx_counter_v2"), load("fx_per_event_reducer")));
            let plugin = if name == "new" { new } else { old };
            PluginInstance::new(plugin, Default::default(), Limits::default()).unwrap()
        };
        let comparison =
            compare(&mut instance("new"), &mut instance("old"), &sourced, &options).unwrap();
        prop_assert_eq!(comparison.differed, 1);
        let divergence = comparison.differences.values().next().unwrap();
        prop_assert_eq!(&divergence.event.as_ref().unwrap().id, &format!("e{planted}"));
    }
}
