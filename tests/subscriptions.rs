//! Subscriptions end to end: a real `eddy serve` with a config file, events published over
//! HTTP, states and dead letters read back through the API.

#[path = "../runtime/tests/support/mod.rs"]
mod store_support;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::histories::order_history;
use support::http::{get, post_json, request};
use support::plugins::plugin_path;
use support::server::{Server, assert_states_equal_replay, wait_until, write_config};
use support::{eddy, stdout_of};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Where the server under test keeps its events.
enum Backend {
    Embedded,
    /// A private redis-server, stopped when the test ends.
    Redis(store_support::RedisServer),
}

impl Backend {
    fn redis() -> Self {
        Backend::Redis(store_support::RedisServer::start())
    }

    /// The `--store` URL (`None`: an embedded store in the test's folder).
    fn url(&self) -> Option<String> {
        match self {
            Backend::Embedded => None,
            Backend::Redis(redis) => Some(redis.url()),
        }
    }

    fn start(&self, data: &Path, config: Option<&Path>) -> Server {
        Server::start(data, self.url().as_deref(), config, None)
    }
}

/// Runs a scenario once per backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(#[test] fn $scenario() { super::$scenario(super::Backend::Embedded) })*
        }
        mod redis {
            $(#[test] fn $scenario() { super::$scenario(super::Backend::redis()) })*
        }
    };
}

on_both_backends!(
    reducer_states_from_the_api_equal_eddy_replay,
    a_killed_server_resumes_without_losing_or_repeating_an_event,
    a_handler_killed_mid_batch_takes_it_back_at_once_when_restarted_under_its_name,
    handler_output_appears_exactly_once_despite_retries_and_failures,
    rejected_events_go_to_the_dead_letter_stream_and_a_redrive_after_a_fix_processes_them,
    a_replay_job_runs_a_range_through_a_handler_again_marked_as_a_replay,
);

fn publish_lines(server: &Server, stream: &str, lines: &[String]) {
    for chunk in lines.chunks(200) {
        let body = format!("[{}]", chunk.join(","));
        let answer = request(
            server.addr,
            "POST",
            &format!("/api/v1/streams/{stream}/events"),
            Some("application/cloudevents-batch+json"),
            body.as_bytes(),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

fn info(server: &Server, name: &str) -> Value {
    let answer = get(server.addr, &format!("/api/v1/subscriptions/{name}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Waits until the subscription has caught up with every stream it reads.
fn wait_caught_up(server: &Server, name: &str) {
    wait_until(TIMEOUT, &format!("{name} to catch up"), || {
        let info = info(server, name);
        info["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["lag"] == 0 && !s["checkpoint"].is_null())
    });
}

fn reducer_config(name: &str, plugin: &str, stream: &str) -> String {
    format!(
        "[[subscription]]\nname = \"{name}\"\nplugin = {:?}\nstreams = [\"{stream}\"]\nbatch = 64\npartitions = 3\n",
        plugin_path(plugin).display().to_string()
    )
}

/// `eddy replay` of the same events: the reference every live state must equal.
fn replay_states(dir: &Path, lines: &[String]) -> BTreeMap<String, Value> {
    let file = dir.join("history.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &plugin_path("order_totals").display().to_string(),
        "--events",
        &file.display().to_string(),
    ]));
    serde_json::from_str(&out).unwrap()
}

fn lines(events: usize, orders: u64, seed: u64) -> Vec<String> {
    order_history(events, orders, seed)
        .lines()
        .map(str::to_string)
        .collect()
}

fn reducer_states_from_the_api_equal_eddy_replay(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &reducer_config("order-totals", "order_totals", "orders"),
    );
    let server = backend.start(&dir.path().join("data"), Some(&config));
    let history = lines(1500, 60, 21);
    publish_lines(&server, "orders", &history);
    wait_caught_up(&server, "order-totals");
    assert_states_equal_replay(
        &server,
        "order-totals",
        &replay_states(dir.path(), &history),
    );
    let info = info(&server, "order-totals");
    assert_eq!(info["kind"], "reducer");
    assert_eq!(info["stats"]["dead_lettered"], 0);
    assert_eq!(
        info["leases"].as_array().unwrap().len(),
        3,
        "every partition is held"
    );
    assert!(server.terminate(), "a clean shutdown");
}

fn a_killed_server_resumes_without_losing_or_repeating_an_event(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &reducer_config("order-totals", "order_totals", "orders"),
    );
    let history = lines(3000, 80, 5);
    let server = backend.start(&data, Some(&config));
    publish_lines(&server, "orders", &history[..1500]);
    // Kill it while it is working through the backlog.
    wait_until(TIMEOUT, "some progress", || {
        info(&server, "order-totals")["stats"]["processed"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    server.kill();
    let server = backend.start(&data, Some(&config));
    publish_lines(&server, "orders", &history[1500..]);
    wait_caught_up(&server, "order-totals");
    assert_states_equal_replay(
        &server,
        "order-totals",
        &replay_states(dir.path(), &history),
    );
}

/// A handler whose batch is in flight when its server is SIGKILLed: restarted under the same
/// consumer name (Redis: `--consumer`; the embedded store's default name is fixed), it takes
/// the batch back at once — not after the 30 s other processes wait before claiming idle
/// entries — and every input gets its output exactly once.
fn a_handler_killed_mid_batch_takes_it_back_at_once_when_restarted_under_its_name(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One batch of 16; the 6th keeps asking for a retry (1.5 s apart, 3 attempts), which
    // holds the whole batch uncommitted for about 3 s.
    let config = write_config(
        dir.path(),
        &format!(
            "[[subscription]]\nname = \"echo\"\nplugin = {:?}\nstreams = [\"in\"]\nbatch = 16\n\n[subscription.retry]\nmax_attempts = 3\nbackoff_ms = 1500\nmax_backoff_ms = 1500\n",
            plugin_path("fx_reject").display().to_string()
        ),
    );
    let name: &[&str] = match backend {
        Backend::Embedded => &[],
        Backend::Redis(_) => &["--consumer", "worker-1"],
    };
    let start = || Server::start_with(&data, backend.url().as_deref(), Some(&config), None, name);
    let server = start();
    let events: Vec<String> = (0..16)
        .map(|i| {
            let ty = if i == 5 { "flaky" } else { "ok" };
            format!(r#"{{"specversion":"1.0","id":"e{i}","source":"/t","type":"{ty}","subject":"s{i}"}}"#)
        })
        .collect();
    publish_lines(&server, "in", &events);
    wait_until(TIMEOUT, "the batch to be retrying its flaky event", || {
        let status = get(server.addr, "/api/v1/streams/in/events/e5/status").json();
        status["subscriptions"]["echo"]["status"] == "failed"
    });
    server.kill();

    let restarted = std::time::Instant::now();
    let server = start();
    wait_until(TIMEOUT, "the held batch to be handled", || {
        let dlq = get(server.addr, "/api/v1/subscriptions/echo/dlq").json();
        dlq["dead_letters"].as_array().is_some_and(|l| l.len() == 1)
    });
    let took = restarted.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "the batch was taken back after {took:?}, as if claimed once idle for 30 s\n{}",
        server.log_text()
    );
    assert!(
        server
            .log_text()
            .contains("took back unacknowledged entries"),
        "{}",
        server.log_text()
    );
    let out = get(server.addr, "/api/v1/streams/out/events?limit=100").json();
    let mut ids: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((count, ids.len()), (15, 15), "each ok input once: {out}");
    wait_caught_up(&server, "echo");
}

fn handler_output_appears_exactly_once_despite_retries_and_failures(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[subscription]]\nname = \"echo\"\nplugin = {:?}\nstreams = [\"in\"]\nbatch = 16\n\n[subscription.retry]\nmax_attempts = 3\nbackoff_ms = 1\nmax_backoff_ms = 5\n",
            plugin_path("fx_reject").display().to_string()
        ),
    );
    let server = backend.start(&dir.path().join("data"), Some(&config));
    // Every 7th event fails for good ("bad"), every 11th keeps asking for a retry ("flaky"):
    // the events before them in a batch are handled again when the failure is resolved.
    let events: Vec<String> = (0..300)
        .map(|i| {
            let ty = if i % 7 == 3 { "bad" } else if i % 11 == 5 { "flaky" } else { "ok" };
            format!(r#"{{"specversion":"1.0","id":"e{i}","source":"/t","type":"{ty}","subject":"s{}"}}"#, i % 13)
        })
        .collect();
    publish_lines(&server, "in", &events);
    wait_caught_up(&server, "echo");
    let ok = events
        .iter()
        .filter(|e| e.contains(r#""type":"ok""#))
        .count();
    let out = get(server.addr, "/api/v1/streams/out/events?limit=1000").json();
    let ids: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), ok, "one output per successful input");
    assert_eq!(unique.len(), ids.len(), "no output twice");

    let dlq = get(server.addr, "/api/v1/subscriptions/echo/dlq?limit=1000").json();
    let letters = dlq["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), events.len() - ok);
    let flaky = letters
        .iter()
        .find(|l| l["event"]["type"] == "flaky")
        .unwrap();
    assert_eq!(flaky["attempts"], 3, "retried up to max_attempts");
    assert!(
        flaky["error"].as_str().unwrap().contains("asked to retry"),
        "{flaky}"
    );
    let bad = letters
        .iter()
        .find(|l| l["event"]["type"] == "bad")
        .unwrap();
    assert_eq!(bad["attempts"], 1, "a reject is not retried");
    assert_eq!(bad["stream"], "in");
    assert!(bad["original_position"].is_string());
    assert_eq!(bad["plugin"].as_str().unwrap().len(), 64);
}

fn rejected_events_go_to_the_dead_letter_stream_and_a_redrive_after_a_fix_processes_them(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let server = backend.start(&dir.path().join("data"), None);
    let create = |plugin: &str| {
        post_json(
            server.addr,
            "/api/v1/subscriptions",
            &format!(
                r#"{{"name":"fixme","plugin":{:?},"streams":["jobs"]}}"#,
                plugin_path(plugin).display().to_string()
            ),
        )
    };
    let created = create("fx_reject");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(create("fx_reject").status, 409, "the name is taken");
    let events: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"specversion":"1.0","id":"j{i}","source":"/t","type":"bad","subject":"s"}}"#
            )
        })
        .collect();
    publish_lines(&server, "jobs", &events);
    wait_until(TIMEOUT, "20 dead letters", || {
        get(server.addr, "/api/v1/subscriptions/fixme/dlq").json()["dead_letters"]
            .as_array()
            .unwrap()
            .len()
            == 20
    });
    let letter = &get(server.addr, "/api/v1/subscriptions/fixme/dlq").json()["dead_letters"][0];
    assert!(
        letter["error"].as_str().unwrap().contains("rejected"),
        "{letter}"
    );

    // The fix: the same subscription with a plugin that handles these events.
    assert_eq!(
        request(
            server.addr,
            "DELETE",
            "/api/v1/subscriptions/fixme",
            None,
            b""
        )
        .status,
        204
    );
    assert_eq!(create("fx_per_event_handler").status, 201);
    let one = post_json(
        server.addr,
        "/api/v1/subscriptions/fixme/dlq/redrive",
        r#"{"ids":["j0"]}"#,
    );
    assert_eq!(
        (one.status, one.json()["redriven"].clone()),
        (202, Value::from(1))
    );
    wait_until(TIMEOUT, "j0 to be redriven", || {
        get(server.addr, "/api/v1/subscriptions/fixme/dlq").json()["dead_letters"]
            .as_array()
            .unwrap()
            .len()
            == 19
    });
    let all = request(
        server.addr,
        "POST",
        "/api/v1/subscriptions/fixme/dlq/redrive",
        None,
        b"",
    );
    assert_eq!(all.json()["redriven"], 19);
    wait_until(TIMEOUT, "the dead-letter list to empty", || {
        get(server.addr, "/api/v1/subscriptions/fixme/dlq").json()["dead_letters"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    let echoed = get(server.addr, "/api/v1/streams/echo/events?limit=100").json();
    assert_eq!(
        echoed["events"].as_array().unwrap().len(),
        20,
        "every redriven event was handled once"
    );
}

#[test]
fn the_subscription_api_refuses_bad_requests_with_problem_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), None, None, None);
    let cases = [
        (r#"{"name":"x","plugin":"p"}"#, 400, "streams"),
        (
            r#"{"name":"x","plugin":"p","streams":["s"],"bogus":1}"#,
            400,
            "bogus",
        ),
        (
            r#"{"name":"x","plugin":"p","streams":["s"],"batch":0}"#,
            400,
            "batch",
        ),
        (
            r#"{"name":"x","plugin":"/nope.wasm","streams":["s"]}"#,
            422,
            "/nope.wasm",
        ),
    ];
    for (body, status, mentions) in cases {
        let answer = post_json(server.addr, "/api/v1/subscriptions", body);
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.body.contains(mentions), "{body}: {}", answer.body);
    }
    let filter_as_plugin = format!(
        r#"{{"name":"x","plugin":{:?},"streams":["s"]}}"#,
        plugin_path("type_filter").display().to_string()
    );
    assert_eq!(
        post_json(server.addr, "/api/v1/subscriptions", &filter_as_plugin).status,
        422
    );
    assert_eq!(get(server.addr, "/api/v1/subscriptions/none").status, 404);
    assert_eq!(get(server.addr, "/api/v1/projections/none/x").status, 404);
    assert_eq!(
        get(server.addr, "/api/v1/subscriptions").json()["subscriptions"],
        Value::Array(vec![])
    );
}

#[test]
fn a_config_file_error_names_the_file_line_and_key_and_serve_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[subscription]]\nname = \"a\"\nplugin = \"p\"\nstreams = [\"s\"]\nbtach = 5\n",
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("embedded:{}", dir.path().join("data").display()))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("eddy.toml") && stderr.contains("btach") && stderr.contains("line 5"),
        "{stderr}"
    );
}

#[test]
fn two_servers_share_a_reducer_on_redis_and_one_being_killed_loses_nothing() {
    let redis = store_support::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut text = reducer_config("order-totals", "order_totals", "orders");
    text = text.replace("partitions = 3", "partitions = 4");
    let config = write_config(dir.path(), &text);
    let url = redis.url();
    let a = Server::start(&dir.path().join("a"), Some(&url), Some(&config), None);
    let b = Server::start(&dir.path().join("b"), Some(&url), Some(&config), None);
    let owners = |server: &Server| -> Vec<String> {
        let info = info(server, "order-totals");
        let mut owners: Vec<String> = info["leases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["owner"].as_str().unwrap().to_string())
            .collect();
        owners.sort();
        owners.dedup();
        owners
    };
    wait_until(TIMEOUT, "the two processes to share the partitions", || {
        owners(&a).len() == 2 && info(&a, "order-totals")["leases"].as_array().unwrap().len() == 4
    });

    let history = lines(10_000, 300, 77);
    publish_lines(&a, "orders", &history[..5000]);
    wait_until(TIMEOUT, "both processes to process events", || {
        info(&a, "order-totals")["stats"]["processed"]
            .as_u64()
            .unwrap()
            > 0
            && info(&b, "order-totals")["stats"]["processed"]
                .as_u64()
                .unwrap()
                > 0
    });
    b.kill();
    publish_lines(&a, "orders", &history[5000..]);
    wait_caught_up(&a, "order-totals");
    assert_eq!(owners(&a).len(), 1, "the survivor took the partitions over");

    let expected = replay_states(dir.path(), &history);
    assert_states_equal_replay(&a, "order-totals", &expected);
    // Every subject reflects exactly its own events: none applied twice, none skipped.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for line in &history {
        let event = eddy::event::CloudEvent::from_json(line).unwrap();
        *counts.entry(event.subject.unwrap_or_default()).or_default() += 1;
    }
    for (subject, count) in counts.iter().filter(|(s, _)| !s.is_empty()) {
        let projection = get(
            a.addr,
            &format!("/api/v1/projections/order-totals/{subject}"),
        )
        .json();
        assert_eq!(projection["events"], *count, "subject {subject}");
    }
}

#[test]
fn readyz_reports_an_unreachable_store_while_healthz_stays_up() {
    let redis = store_support::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), Some(&redis.url()), None, None);
    assert_eq!(get(server.addr, "/readyz").status, 200);
    drop(redis); // kills the redis-server
    wait_until(TIMEOUT, "readyz to report the store", || {
        let answer = get(server.addr, "/readyz");
        answer.status == 503 && answer.body.contains("store")
    });
    assert_eq!(
        get(server.addr, "/healthz").status,
        200,
        "the process itself is alive"
    );
}

/// Waits for replay job `id` to end; returns it.
fn finished_replay(server: &Server, id: &str) -> Value {
    let mut job = Value::Null;
    wait_until(TIMEOUT, &format!("replay {id} to end"), || {
        job = get(server.addr, &format!("/api/v1/replays/{id}")).json();
        job["status"] != "running"
    });
    job
}

fn a_replay_job_runs_a_range_through_a_handler_again_marked_as_a_replay(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let fx_reject = plugin_path("fx_reject").display().to_string();
    let config = write_config(
        dir.path(),
        &format!(
            "[[subscription]]\nname = \"echo\"\nplugin = {fx_reject:?}\nstreams = [\"in\"]\nbatch = 16\n\n[[subscription]]\nname = \"totals\"\nplugin = {:?}\nstreams = [\"in\"]\n",
            plugin_path("order_totals").display().to_string()
        ),
    );
    let server = backend.start(&dir.path().join("data"), Some(&config));
    // Every 5th event is rejected for good; the rest each emit one `fx.ok` to `out`.
    let events: Vec<String> = (0..60)
        .map(|i| {
            let ty = if i % 5 == 2 { "bad" } else { "ok" };
            format!(r#"{{"specversion":"1.0","id":"e{i}","source":"/t","type":"{ty}","subject":"s{}"}}"#, i % 4)
        })
        .collect();
    publish_lines(&server, "in", &events);
    wait_caught_up(&server, "echo");
    let stored = get(server.addr, "/api/v1/streams/in/events?limit=1000").json();
    let positions: Vec<String> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_str().unwrap().to_string())
        .collect();
    let outputs = |server: &Server| -> Vec<Value> {
        get(server.addr, "/api/v1/streams/out/events?limit=1000").json()["events"]
            .as_array()
            .unwrap()
            .clone()
    };
    let live_outputs = outputs(&server);
    assert_eq!(live_outputs.len(), 48);

    // Events 20..=39 (`from` is exclusive, `to` inclusive): 16 ok, 4 bad.
    let body = format!(
        r#"{{"stream":"in","subscription":"echo","from":"{}","to":"{}"}}"#,
        positions[19], positions[39]
    );
    let started = post_json(server.addr, "/api/v1/replays", &body);
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.json()["id"].as_str().unwrap().to_string();
    let job = finished_replay(&server, &id);
    assert_eq!(job["status"], "completed", "{job}");
    // Answers fit the OpenAPI document's schemas, also with a subscription and jobs in them.
    let openapi = store_support::openapi::OpenApi::of_this_build();
    openapi.check("GET", "/api/v1/replays/{id}", 200, &job);
    openapi.check("POST", "/api/v1/replays", 202, &started.json());
    openapi.check(
        "GET",
        "/api/v1/subscriptions/{name}",
        200,
        &info(&server, "echo"),
    );
    let dlq = get(server.addr, "/api/v1/subscriptions/echo/dlq").json();
    openapi.check("GET", "/api/v1/subscriptions/{name}/dlq", 200, &dlq);
    assert_eq!(
        (
            &job["replayed"],
            &job["succeeded"],
            &job["failed"],
            &job["emitted"]
        ),
        (
            &Value::from(20),
            &Value::from(16),
            &Value::from(4),
            &Value::from(16)
        ),
        "{job}"
    );
    assert_eq!(job["progress"], 1.0);
    assert_eq!(job["dry_run"], false);
    assert_eq!(job["failures"][0]["id"], "e22", "{job}");
    let after = outputs(&server);
    assert_eq!(after.len(), 48 + 16, "the replay emitted anew");
    for replayed in &after[48..] {
        assert_eq!(replayed["event"]["eddyreplay"], id.as_str(), "{replayed}");
        // The handler saw the marker on its input.
        assert_eq!(
            replayed["event"]["data"]["replay"],
            id.as_str(),
            "{replayed}"
        );
    }
    assert!(
        live_outputs
            .iter()
            .all(|e| e["event"]["data"]["replay"].is_null())
    );
    assert_eq!(
        info(&server, "echo")["streams"][0]["lag"],
        0,
        "checkpoints untouched"
    );

    // A dry run of a plugin over the whole stream stores nothing.
    let body = format!(r#"{{"stream":"in","plugin":{fx_reject:?},"type":"ok"}}"#);
    let started = post_json(server.addr, "/api/v1/replays", &body);
    assert_eq!(started.status, 202, "{}", started.body);
    let job = finished_replay(&server, started.json()["id"].as_str().unwrap());
    assert_eq!(
        (
            &job["status"],
            &job["dry_run"],
            &job["replayed"],
            &job["emitted"]
        ),
        (
            &Value::from("completed"),
            &Value::from(true),
            &Value::from(48),
            &Value::from(48)
        ),
        "{job}"
    );
    assert_eq!(outputs(&server).len(), 48 + 16);
    let listed = get(server.addr, "/api/v1/replays").json();
    assert_eq!(listed["replays"].as_array().unwrap().len(), 2);
    openapi.check("GET", "/api/v1/replays", 200, &listed);
    let state = get(server.addr, "/api/v1/projections/totals/s1");
    openapi.check(
        "GET",
        "/api/v1/projections/{subscription}/{subject}",
        state.status,
        &state.json(),
    );

    // Requests that cannot be run are refused with a reason.
    for (body, status, says) in [
        (r#"{"stream":"in"}"#.to_string(), 400, "exactly one target"),
        (
            r#"{"stream":"in","subscription":"echo","plugin":"x"}"#.to_string(),
            400,
            "exactly one target",
        ),
        (
            r#"{"stream":"in","subscription":"nope"}"#.to_string(),
            404,
            "nope",
        ),
        (
            r#"{"stream":"in","subscription":"totals"}"#.to_string(),
            409,
            "exactly-once",
        ),
        (
            r#"{"stream":"other","subscription":"echo"}"#.to_string(),
            400,
            "reads",
        ),
        (
            r#"{"stream":"in","subscription":"echo","from":"yesterday"}"#.to_string(),
            400,
            "RFC 3339",
        ),
        (
            r#"{"stream":"in","subscription":"echo","speed":2}"#.to_string(),
            400,
            "speed",
        ),
    ] {
        let answer = post_json(server.addr, "/api/v1/replays", &body);
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.body.contains(says), "{body}: {}", answer.body);
    }
    assert_eq!(get(server.addr, "/api/v1/replays/replay-0-0").status, 404);
}
