//! The API's operations side end to end: a real `eddy serve` with tokens, driven by the
//! `eddy` client commands (`publish`, `tail`, `streams`, `subscriptions`, `dlq`), and its
//! metrics moving as events flow through a subscription.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::http::request_with;
use support::plugins::plugin_path;
use support::server::{Server, wait_until, write_config};
use support::{cache_dir, eddy};

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";
const TIMEOUT: Duration = Duration::from_secs(120);

fn secured_server(dir: &std::path::Path) -> Server {
    let config = write_config(
        dir,
        &format!(
            "[api]\ntokens = [{{ token = \"{ADMIN}\", role = \"admin\" }}, {{ token = \"{READER}\", role = \"read\" }}]\n"
        ),
    );
    Server::start(&dir.join("data"), None, Some(&config), None)
}

/// Runs an `eddy` client command against `server` with `token`.
fn client(server: &Server, token: &str, args: &[&str]) -> std::process::Output {
    let url = format!("http://{}", server.addr);
    let mut all = args.to_vec();
    all.extend(["--url", &url, "--token", token]);
    eddy(&all)
}

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "eddy failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn metric(server: &Server, series: &str) -> f64 {
    let text = request_with(server.addr, "GET", "/metrics", &[], None, b"").body;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("embedded:{}", dir.path().display());
    let output = eddy(&["serve", "--listen", "0.0.0.0:0", "--store", &store]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("without authentication") && stderr.contains("--api-token"),
        "{stderr}"
    );
}

#[test]
fn the_cli_publishes_tails_and_lists_against_a_secured_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = secured_server(dir.path());

    let one = ok(&client(
        &server,
        ADMIN,
        &[
            "publish",
            "--stream",
            "orders",
            "--type",
            "order.created",
            "--subject",
            "o-1",
            "--id",
            "e-0",
            "--data",
            r#"{"n":0}"#,
            "--json",
        ],
    ));
    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["results"][0]["id"], "e-0");

    let file = dir.path().join("events.jsonl");
    let lines: Vec<String> = (1..=5)
        .map(|i| format!(r#"{{"specversion":"1.0","id":"e-{i}","source":"/shop","type":"order.paid","subject":"o-{i}"}}"#))
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let summary = ok(&client(
        &server,
        ADMIN,
        &[
            "publish",
            "--stream",
            "orders",
            "--file",
            file.to_str().unwrap(),
            "--batch",
            "2",
        ],
    ));
    assert!(summary.contains("published 5 events"), "{summary}");

    let streams = ok(&client(&server, READER, &["streams"]));
    assert!(streams.starts_with("STREAM"), "{streams}");
    assert!(
        streams
            .lines()
            .any(|l| l.starts_with("orders") && l.contains(" 6 ")),
        "{streams}"
    );

    // A read-only token cannot publish; no token at all is told how to pass one.
    let denied = client(
        &server,
        READER,
        &[
            "publish", "--stream", "orders", "--type", "t", "--data", "1",
        ],
    );
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("read-only"));
    let anonymous = eddy(&["streams", "--url", &format!("http://{}", server.addr)]);
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("--token"));

    // Tail from the start, then see a new event arrive live.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "tail", "--stream", "orders", "--from", "0", "--type", "order.*", "--json",
        ])
        .args([
            "--url",
            &format!("http://{}", server.addr),
            "--token",
            READER,
        ])
        .env("EDDY_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut ids = Vec::new();
    for _ in 0..6 {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a tailed event");
        let value: Value = serde_json::from_str(&line).unwrap();
        ids.push(value["event"]["id"].as_str().unwrap().to_string());
    }
    ok(&client(
        &server,
        ADMIN,
        &[
            "publish",
            "--stream",
            "orders",
            "--type",
            "order.shipped",
            "--id",
            "e-live",
            "--data",
            "{}",
        ],
    ));
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the live event");
    assert!(line.contains("e-live"), "{line}");
    let _ = tail.kill();
    let _ = tail.wait();
    assert_eq!(ids, ["e-0", "e-1", "e-2", "e-3", "e-4", "e-5"]);
}

#[test]
fn dead_letters_are_listed_and_redriven_and_metrics_follow_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let server = secured_server(dir.path());
    let bearer = format!("Bearer {ADMIN}");
    let auth = [("authorization", bearer.as_str())];
    let spec = format!(
        r#"{{"name":"fixme","plugin":{:?},"streams":["jobs"],"retry":{{"max_attempts":1}}}}"#,
        plugin_path("fx_reject").display().to_string()
    );
    let created = request_with(
        server.addr,
        "POST",
        "/api/v1/subscriptions",
        &auth,
        Some("application/json"),
        spec.as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let events: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"specversion":"1.0","id":"j{i}","source":"/t","type":"bad","subject":"s"}}"#
            )
        })
        .collect();
    let batch = format!("[{}]", events.join(","));
    let published = request_with(
        server.addr,
        "POST",
        "/api/v1/streams/jobs/events",
        &auth,
        Some("application/cloudevents-batch+json"),
        batch.as_bytes(),
    );
    assert_eq!(published.status, 201, "{}", published.body);

    wait_until(TIMEOUT, "3 dead letters", || {
        let listed = ok(&client(&server, READER, &["dlq", "fixme", "--json"]));
        serde_json::from_str::<Value>(&listed).unwrap()["dead_letters"]
            .as_array()
            .unwrap()
            .len()
            == 3
    });
    let table = ok(&client(&server, READER, &["dlq", "fixme"]));
    assert!(
        table.starts_with("POSITION") && table.contains("j2"),
        "{table}"
    );
    let subscriptions = ok(&client(&server, READER, &["subscriptions"]));
    assert!(
        subscriptions.lines().any(|l| l.starts_with("fixme")),
        "{subscriptions}"
    );

    let labels = format!(
        r#"{{subscription="fixme",plugin={:?}}}"#,
        plugin_path("fx_reject").display().to_string()
    );
    assert_eq!(
        metric(&server, &format!("eddy_events_dead_lettered_total{labels}")),
        3.0
    );
    assert_eq!(
        metric(
            &server,
            r#"eddy_events_published_total{stream="jobs",type="bad"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &server,
            r#"eddy_dead_letter_stream_length{subscription="fixme"}"#
        ),
        3.0
    );
    assert!(
        metric(
            &server,
            &format!("eddy_batch_duration_seconds_count{labels}")
        ) >= 1.0
    );
    assert!(
        metric(&server, &format!("eddy_plugin_fuel_used_total{labels}")) > 0.0,
        "the plugin's fuel is counted"
    );

    let redriven = ok(&client(&server, ADMIN, &["dlq", "fixme", "--redrive"]));
    assert!(redriven.contains("redriven: 3"), "{redriven}");
}
