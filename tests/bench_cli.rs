//! `eddy bench`: every scenario runs at a tiny size and reports its rows, its baseline and a
//! ratio. Only the shape of the report is checked, never a timing (figures come from real
//! runs, see docs/BENCHMARKS.md).

#[path = "../runtime/tests/support/mod.rs"]
mod store_support;
mod support;

use serde_json::Value;
use support::plugins::plugin_path;
use support::{eddy, stdout_of};

/// Runs `eddy bench <args> --json` and parses the report.
fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = eddy(&all);
    let text = stdout_of(&output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Checks what every report has: the scenario, rows with numbers, at least one ratio.
fn assert_report(report: &Value, scenario: &str, rows: usize) {
    assert_eq!(report["scenario"], scenario, "{report:#}");
    let measured = report["rows"].as_array().expect("rows");
    assert!(measured.len() >= rows, "{report:#}");
    for row in measured {
        assert!(row["name"].is_string(), "{row:#}");
        assert!(
            row["values"].as_object().is_some_and(|v| !v.is_empty()),
            "{row:#}"
        );
    }
    let ratios = report["ratios"].as_array().expect("ratios");
    assert!(!ratios.is_empty(), "{report:#}");
    for ratio in ratios {
        assert!(ratio["value"].is_number(), "{ratio:#}");
    }
}

fn row<'a>(report: &'a Value, prefix: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no row `{prefix}` in {report:#}"))
}

fn path_of(plugin: &str) -> String {
    plugin_path(plugin).display().to_string()
}

#[test]
fn reduce_runs_the_component_beside_the_native_rules_and_they_agree() {
    let plugin = path_of("order_totals");
    let report = bench_json(&[
        "reduce", "--plugin", &plugin, "--events", "600", "--batch", "50",
    ]);
    assert_report(&report, "reduce", 2);
    assert_eq!(report["settings"]["states_match"], true, "{report:#}");
    let wasm = &row(&report, "wasm")["values"];
    assert_eq!(wasm["events"], 600);
    for column in ["events_per_s", "ns_per_event", "p50_us", "p99_us"] {
        assert!(wasm[column].is_number(), "{column}: {wasm:#}");
    }
    assert!(row(&report, "baseline: native")["values"]["events_per_s"].is_number());
    let goal = &report["ratios"][0];
    assert_eq!(goal["goal"], ">= 0.5");
    assert!(goal["met"].is_boolean());
}

#[test]
fn reduce_prints_a_table_with_the_ratio_by_default() {
    let plugin = path_of("order_totals");
    let output = eddy(&["bench", "reduce", "--plugin", &plugin, "--events", "200"]);
    let text = stdout_of(&output);
    assert!(text.starts_with("eddy bench reduce ("), "{text}");
    assert!(
        text.contains("baseline: native order-totals rules"),
        "{text}"
    );
    assert!(
        text.contains("wasm / native (events per second): "),
        "{text}"
    );
}

#[test]
fn reduce_dumps_the_history_it_folds_as_json_lines() {
    let plugin = path_of("order_totals");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let path_text = path.display().to_string();
    bench_json(&[
        "reduce",
        "--plugin",
        &plugin,
        "--events",
        "40",
        "--dump-history",
        &path_text,
    ]);
    let text = std::fs::read_to_string(&path).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 40);
    assert_eq!(events[0]["id"], "e-0");
    assert!(events.iter().all(|e| e["subject"].is_string()
        && e["type"].as_str().unwrap().starts_with("order.")
        && e["data"].is_object()));
}

#[test]
fn ingest_through_the_library_and_http_into_the_embedded_store() {
    for via in ["library", "http"] {
        let report = bench_json(&[
            "ingest",
            "--events",
            "300",
            "--batch",
            "100",
            "--payload",
            "64",
            "--via",
            via,
        ]);
        assert_report(&report, "ingest", 2);
        assert_eq!(report["settings"]["via"], via);
        assert_eq!(row(&report, "eddy")["values"]["events"], 300);
        assert!(row(&report, "baseline: raw redb").is_object());
    }
}

#[test]
fn ingest_and_replay_on_redis_compare_with_plain_redis_commands() {
    let redis = store_support::RedisServer::start();
    let url = redis.url();
    let report = bench_json(&[
        "ingest", "--store", &url, "--events", "300", "--batch", "100",
    ]);
    assert_report(&report, "ingest", 2);
    assert!(row(&report, "baseline: pipelined XADD").is_object());
    assert_eq!(report["ratios"][0]["goal"], ">= 0.5");

    let plugin = path_of("order_totals");
    let report = bench_json(&[
        "replay", "--store", &url, "--events", "1500", "--plugin", &plugin,
    ]);
    assert_report(&report, "replay", 4);
    assert!(row(&report, "baseline: raw XRANGE").is_object());
    assert_eq!(
        row(&report, "eddy reducer subscription")["values"]["events"],
        1500
    );
}

#[test]
fn replay_rebuilds_state_beside_raw_range_reads() {
    let plugin = path_of("order_totals");
    let report = bench_json(&["replay", "--events", "1200", "--plugin", &plugin]);
    assert_report(&report, "replay", 3);
    assert!(row(&report, "baseline: store range reads").is_object());
    assert!(row(&report, "eddy reads + reducer fold").is_object());
}

#[test]
fn timetravel_times_queries_against_reading_the_replayed_events() {
    let plugin = path_of("order_totals");
    let report = bench_json(&[
        "timetravel",
        "--events",
        "2500",
        "--queries",
        "4",
        "--plugin",
        &plugin,
    ]);
    assert_report(&report, "timetravel", 2);
    let queries = &row(&report, "eddy state_at")["values"];
    assert_eq!(queries["queries"], 4);
    assert!(queries["p99_ms"].is_number(), "{queries:#}");
    assert_eq!(report["ratios"][0]["goal"], "<= 20");
}

#[test]
fn reload_times_swaps_of_a_replaced_file() {
    let plugin = path_of("fx_tag_a");
    let report = bench_json(&["reload", "--rounds", "2", "--plugin", &plugin]);
    assert_report(&report, "reload", 6);
    for swaps in ["eddy swap, new version", "eddy swap, known version"] {
        assert_eq!(row(&report, swaps)["values"]["swaps"], 2, "{report:#}");
    }
    assert!(row(&report, "baseline: load").is_object());
    assert!(row(&report, "baseline: compile").is_object());
    assert_eq!(report["ratios"].as_array().unwrap().len(), 2);
}

#[test]
fn memory_reads_the_rss_of_a_served_folder_beside_an_empty_one() {
    let examples = support::repo_root().join("plugins/target/wasm32-wasip2/release");
    // Builds them if needed.
    path_of("order_totals");
    let report = bench_json(&[
        "memory",
        "--plugins",
        "3",
        "--idle",
        "0",
        "--examples",
        &examples.display().to_string(),
    ]);
    assert_report(&report, "memory", 3);
    assert_eq!(report["settings"]["plugins"], 3);
    let baseline = &row(&report, "baseline: eddy serve, no plugins")["values"];
    let first = &row(&report, "eddy serve, 3 plugins, first start")["values"];
    let restart = &row(&report, "eddy serve, 3 plugins, restart")["values"];
    for values in [baseline, first, restart] {
        let rss = values["rss_mib"].as_f64().unwrap();
        assert!(rss > 1.0, "{values:#}");
        assert!(values["hwm_mib"].as_f64().unwrap() >= rss, "{values:#}");
    }
    assert_eq!(report["ratios"][0]["goal"], "<= 400");
}

#[test]
fn e2e_measures_publish_to_handler_output_beside_the_bare_store() {
    let plugin = path_of("fx_tag_a");
    let report = bench_json(&[
        "e2e",
        "--rate",
        "200",
        "--duration",
        "0.5",
        "--plugin",
        &plugin,
    ]);
    assert_report(&report, "e2e", 2);
    let eddy_row = &row(&report, "eddy publish -> handler output")["values"];
    assert_eq!(eddy_row["observed"], eddy_row["published"], "{eddy_row:#}");
    assert!(eddy_row["p99.9_ms"].is_number());
    assert!(row(&report, "baseline: publish -> readable").is_object());
    assert!(
        report["settings"]
            .as_object()
            .unwrap()
            .contains_key("highest_rate_p99_under_10ms")
    );
}
