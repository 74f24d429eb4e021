//! Time travel, shadow subscriptions and recording, end to end: a real `eddy serve` on the
//! embedded store and on a private Redis, events published over HTTP, answers checked against
//! `eddy replay` of the same history. Points, snapshot intervals and batch sizes are drawn by
//! a seeded generator, so every run checks the same cases and a failure names its seed; the
//! same properties over many random histories, in process, are in `replay_properties.rs`.

#[path = "../runtime/tests/support/mod.rs"]
mod store_support;
mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::histories::{Lcg, order_history};
use support::http::{get, post_json, request};
use support::plugins::plugin_path;
use support::server::{Server, wait_until, write_config};
use support::{eddy, stdout_of};

const TIMEOUT: Duration = Duration::from_secs(120);

enum Backend {
    Embedded,
    Redis(store_support::RedisServer),
}

impl Backend {
    fn url(&self) -> Option<String> {
        match self {
            Backend::Embedded => None,
            Backend::Redis(redis) => Some(redis.url()),
        }
    }

    fn start(&self, data: &Path, config: &Path) -> Server {
        Server::start(data, self.url().as_deref(), Some(config), None)
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(#[test] fn $scenario() { super::$scenario(super::Backend::Embedded) })*
        }
        mod redis {
            $(#[test] fn $scenario() {
                super::$scenario(super::Backend::Redis(super::store_support::RedisServer::start()))
            })*
        }
    };
}

on_both_backends!(
    state_at_a_point_equals_replay_until_it_with_or_without_snapshots,
    a_shadow_subscription_reports_the_subjects_whose_states_differ,
);

fn publish(server: &Server, stream: &str, lines: &[String]) {
    for chunk in lines.chunks(200) {
        let answer = request(
            server.addr,
            "POST",
            &format!("/api/v1/streams/{stream}/events"),
            Some("application/cloudevents-batch+json"),
            format!("[{}]", chunk.join(",")).as_bytes(),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

fn caught_up(server: &Server, name: &str) -> bool {
    let info = get(server.addr, &format!("/api/v1/subscriptions/{name}")).json();
    info["streams"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["lag"] == 0 && !s["checkpoint"].is_null())
}

/// Every stored event of `stream`, in order: (position, event).
fn stored_events(server: &Server, stream: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut from = String::new();
    loop {
        let page = get(
            server.addr,
            &format!("/api/v1/streams/{stream}/events?limit=1000&from={from}"),
        )
        .json();
        for item in page["events"].as_array().unwrap() {
            out.push((
                item["position"].as_str().unwrap().to_string(),
                item["event"].clone(),
            ));
        }
        match page["next"].as_str() {
            Some(next) => from = next.to_string(),
            None => return out,
        }
    }
}

fn replay_until(history: &Path, subject: &str, until: &str) -> Value {
    let out = stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &plugin_path("order_totals").display().to_string(),
        "--events",
        &history.display().to_string(),
        "--subject",
        subject,
        "--until",
        until,
    ]));
    serde_json::from_str(&out).unwrap()
}

fn parse(position: &str) -> (u64, u64) {
    let (ms, seq) = position.split_once('-').unwrap();
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn state_at(server: &Server, subscription: &str, subject: &str, at: &str) -> Value {
    let answer = get(
        server.addr,
        &format!("/api/v1/projections/{subscription}/{subject}?at={at}"),
    );
    assert_eq!(
        answer.status, 200,
        "{subscription} {subject} at {at}: {}",
        answer.body
    );
    answer.json()
}

/// Properties: the state at `at=P` equals `eddy replay --until P`; a query that starts from a
/// snapshot equals one that folds the whole history (random snapshot intervals and batch
/// sizes); the state at the last event equals the live state; a query replays at most about
/// `snapshot_every` events; answers are byte-identical after a restart.
fn state_at_a_point_equals_replay_until_it_with_or_without_snapshots(backend: Backend) {
    let seed = 7;
    let mut rng = Lcg::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin_path("order_totals").display().to_string();
    // Three snapshotting subscriptions with random intervals and batches, and one without.
    let mut config = String::new();
    let mut snapshotting = Vec::new();
    for i in 0..3 {
        let every = 2 + rng.below(30);
        let batch = 1 + rng.below(64);
        let name = format!("totals-{i}");
        config += &format!(
            "[[subscription]]\nname = \"{name}\"\nplugin = {plugin:?}\nstreams = [\"orders\"]\n\
             batch = {batch}\npartitions = 2\nsnapshot_every = {every}\nsnapshots_kept = 1000\n\n"
        );
        snapshotting.push((name, every, batch));
    }
    config += &format!(
        "[[subscription]]\nname = \"totals-full\"\nplugin = {plugin:?}\nstreams = [\"orders\"]\n\
         snapshot_every = 0\n\n\
         [[subscription]]\nname = \"totals-pruned\"\nplugin = {plugin:?}\nstreams = [\"orders\"]\n\
         snapshot_every = 10\nsnapshots_kept = 2\n"
    );
    let config = write_config(dir.path(), &config);
    let data = dir.path().join("data");
    let server = backend.start(&data, &config);
    let lines: Vec<String> = order_history(900, 6, seed)
        .lines()
        .map(str::to_string)
        .collect();
    let history = dir.path().join("history.jsonl");
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();
    publish(&server, "orders", &lines);
    let names: Vec<&str> = snapshotting
        .iter()
        .map(|(n, _, _)| n.as_str())
        .chain(["totals-full", "totals-pruned"])
        .collect();
    wait_until(TIMEOUT, "every subscription to catch up", || {
        names.iter().all(|n| caught_up(&server, n))
    });
    let stored = stored_events(&server, "orders");
    assert_eq!(stored.len(), lines.len());

    let mut checked = Vec::new();
    for _ in 0..12 {
        let (position, event) = &stored[rng.below(stored.len() as u64) as usize];
        let Some(subject) = event["subject"].as_str() else {
            continue;
        };
        let expected = replay_until(&history, subject, event["id"].as_str().unwrap());
        let full = state_at(&server, "totals-full", subject, position);
        assert_eq!(
            full["state"], expected,
            "{subject} at {position}: full fold vs replay"
        );
        assert!(full["from_snapshot"].is_null());
        for (name, every, batch) in &snapshotting {
            let answer = state_at(&server, name, subject, position);
            assert_eq!(
                answer["state"], expected,
                "{name} (every {every}, batch {batch}) {subject} at {position}"
            );
            assert_eq!(answer["events"], full["events"]);
            assert_eq!(answer["position"], full["position"]);
        }
        // The same point as a time: the event's own `time`.
        let time = event["time"].as_str().unwrap();
        let by_time = state_at(&server, "totals-0", subject, time);
        assert_eq!(by_time["state"], replay_until(&history, subject, time));
        checked.push((subject.to_string(), position.clone(), full));
    }
    assert!(checked.len() >= 8, "most drawn events have a subject");

    // At a subject's last event: the live state, from a recent snapshot, in bounded work.
    let subjects = get(server.addr, "/api/v1/projections/totals-0?limit=1000").json();
    for subject in subjects["subjects"].as_array().unwrap() {
        let subject = subject.as_str().unwrap();
        if subject.is_empty() {
            continue;
        }
        let live = get(
            server.addr,
            &format!("/api/v1/projections/totals-0/{subject}"),
        )
        .json();
        let position = live["position"].as_str().unwrap();
        for (name, every, batch) in &snapshotting {
            let answer = state_at(&server, name, subject, position);
            assert_eq!(answer["state"], live["state"], "{name} {subject}");
            assert!(
                answer["replayed"].as_u64().unwrap() < every + batch,
                "{name} (every {every}, batch {batch}) replayed {}",
                answer["replayed"]
            );
            assert!(!answer["from_snapshot"].is_null());
        }
        // Only the two newest snapshots are kept: before the older one, a query folds from
        // the first event.
        let own: Vec<&String> = stored
            .iter()
            .filter(|(_, e)| e["subject"] == subject)
            .map(|(p, _)| p)
            .collect();
        let before = |p: &str| {
            own.iter()
                .rev()
                .find(|q| parse(q) < parse(p))
                .map(|q| q.to_string())
        };
        let late = state_at(&server, "totals-pruned", subject, position);
        assert!(late["replayed"].as_u64().unwrap() < 10 + 256);
        let newest = late["from_snapshot"]
            .as_str()
            .expect("a snapshot")
            .to_string();
        let older = state_at(&server, "totals-pruned", subject, &before(&newest).unwrap());
        let older_snapshot = older["from_snapshot"].as_str().expect("a second snapshot");
        assert!(parse(older_snapshot) < parse(&newest));
        if let Some(earliest) = before(older_snapshot) {
            let answer = state_at(&server, "totals-pruned", subject, &earliest);
            assert!(answer["from_snapshot"].is_null(), "{answer}");
            let full = state_at(&server, "totals-full", subject, &earliest);
            assert_eq!(answer["state"], full["state"]);
        }
    }

    // Before a subject's first event there is no state; a bad `at` is refused.
    let (first_position, _) = &stored[0];
    let unknown = get(
        server.addr,
        &format!("/api/v1/projections/totals-0/o-999?at={first_position}"),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let bad = get(server.addr, "/api/v1/projections/totals-0/o-1?at=yesterday");
    assert_eq!(bad.status, 400, "{}", bad.body);

    // The CLI gives the API's answer.
    let (subject, position, full) = &checked[0];
    let url = format!("http://{}", server.addr);
    let cli: Value = serde_json::from_str(&stdout_of(&eddy(&[
        "state",
        "totals-full",
        subject,
        "--at",
        position,
        "--url",
        &url,
    ])))
    .unwrap();
    assert_eq!(&cli, full);

    // Byte-identical after a restart.
    server.kill();
    let server = backend.start(&data, &config);
    for (subject, position, full) in &checked {
        let again = get(
            server.addr,
            &format!("/api/v1/projections/totals-full/{subject}?at={position}"),
        );
        assert_eq!(
            &again.json(),
            full,
            "{subject} at {position} after a restart"
        );
    }
}

fn counter_line(i: usize, subject: &str, ty: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"e{i}","source":"/test","type":"{ty}","subject":"{subject}","data":{{}}}}"#
    )
}

/// A shadow runs a candidate beside the live reducer on the same events and names exactly the
/// subject where a planted event makes the two versions disagree, also after `eddy serve`
/// restarts (it resumes with its subscription) until it is stopped; the CLI's shadow replay
/// of the stream from the running Eddy finds the same subject.
fn a_shadow_subscription_reports_the_subjects_whose_states_differ(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let old = plugin_path("fx_per_event_reducer").display().to_string();
    let new = plugin_path("fx_counter_v2").display().to_string();
    let config = write_config(
        dir.path(),
        &format!(
            "[[subscription]]\nname = \"counts\"\nplugin = {old:?}\nstreams = [\"things\"]\n\
             batch = 32\npartitions = 2\n"
        ),
    );
    let data = dir.path().join("data");
    let server = backend.start(&data, &config);
    let mut rng = Lcg::new(11);
    let planted = 170;
    let lines: Vec<String> = (0..300)
        .map(|i| {
            let subject = format!("s-{}", rng.below(10));
            let ty = if i == planted { "diverge" } else { "tick" };
            counter_line(i, &subject, ty)
        })
        .collect();
    let planted_subject = serde_json::from_str::<Value>(&lines[planted]).unwrap()["subject"]
        .as_str()
        .unwrap()
        .to_string();
    publish(&server, "things", &lines);

    let started = post_json(
        server.addr,
        "/api/v1/subscriptions/counts/shadow",
        &format!(r#"{{"plugin":{new:?}}}"#),
    );
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.json()["name"], "counts.shadow");
    let again = post_json(
        server.addr,
        "/api/v1/subscriptions/counts/shadow",
        &format!(r#"{{"plugin":{new:?}}}"#),
    );
    assert_eq!(again.status, 409, "one shadow at a time: {}", again.body);

    let mut report = Value::Null;
    // The live subscription first: once it has every event, a shadow that has caught up with
    // it has them all too (checked the other way round, the live one could move on between).
    wait_until(TIMEOUT, "the shadow to catch up", || {
        caught_up(&server, "counts") && {
            report = get(server.addr, "/api/v1/subscriptions/counts/shadow").json();
            report["caught_up"] == true
        }
    });
    let report = get(server.addr, "/api/v1/subscriptions/counts/shadow").json();
    assert_eq!(report["compared"], 10, "{report}");
    assert_eq!(report["matching"], 9, "{report}");
    let differing = report["differing"].as_array().unwrap();
    assert_eq!(differing.len(), 1, "{report}");
    assert_eq!(differing[0]["subject"], planted_subject.as_str());
    assert_eq!(differing[0]["diff"][0]["path"], "count");
    assert_eq!(
        differing[0]["live_position"],
        differing[0]["shadow_position"]
    );

    // The shadow belongs to its subscription: after a restart it runs again beside it,
    // resuming from its checkpoints (it processes only the events published since).
    server.kill();
    let server = backend.start(&data, &config);
    let more: Vec<String> = (300..340)
        .map(|i| counter_line(i, &format!("s-{}", i % 10), "tick"))
        .collect();
    publish(&server, "things", &more);
    wait_until(TIMEOUT, "the resumed shadow to catch up", || {
        caught_up(&server, "counts") && {
            let answer = get(server.addr, "/api/v1/subscriptions/counts/shadow");
            answer.status == 200 && answer.json()["caught_up"] == true
        }
    });
    let resumed = get(server.addr, "/api/v1/subscriptions/counts.shadow").json();
    assert_eq!(resumed["stats"]["processed"], 40, "{resumed}");
    let report = get(server.addr, "/api/v1/subscriptions/counts/shadow").json();
    assert_eq!(
        (report["compared"].as_u64(), report["matching"].as_u64()),
        (Some(10), Some(9))
    );
    assert_eq!(report["differing"][0]["subject"], planted_subject.as_str());

    // Paged: two subjects per page, the same verdicts.
    let mut after = String::new();
    let mut seen = 0;
    loop {
        let page = get(
            server.addr,
            &format!("/api/v1/subscriptions/counts/shadow?limit=2&after={after}"),
        )
        .json();
        seen += page["compared"].as_u64().unwrap();
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, 10);

    // The same question offline, reading the stream from the running Eddy.
    let output = eddy(&[
        "replay",
        "--plugin",
        &new,
        "--compare",
        &old,
        "--stream",
        "things",
        "--url",
        &format!("http://{}", server.addr),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "{planted_subject:?}: differs, first after event `e{planted}`"
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("10 subjects: 9 match, 1 differ\n"),
        "{stdout}"
    );

    let stopped = request(
        server.addr,
        "DELETE",
        "/api/v1/subscriptions/counts/shadow",
        None,
        b"",
    );
    assert_eq!(stopped.status, 204, "{}", stopped.body);
    let gone = get(server.addr, "/api/v1/subscriptions/counts/shadow");
    assert_eq!(gone.status, 404, "{}", gone.body);

    // A stopped shadow stays stopped across a restart.
    server.kill();
    let server = backend.start(&data, &config);
    wait_until(TIMEOUT, "the subscription to run", || {
        caught_up(&server, "counts")
    });
    let gone = get(server.addr, "/api/v1/subscriptions/counts.shadow");
    assert_eq!(gone.status, 404, "{}", gone.body);
}

/// `eddy record` turns a running Eddy's history into a case that `eddy test` passes, with the
/// states `eddy replay` gives; without `--plugin` it leaves a placeholder for `--update`.
#[test]
fn recorded_history_becomes_a_passing_golden_case() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let server = Server::start(&dir.path().join("data"), None, Some(&config), None);
    let lines: Vec<String> = order_history(200, 5, 3)
        .lines()
        .map(str::to_string)
        .collect();
    publish(&server, "orders", &lines);
    let stored = stored_events(&server, "orders");
    let url = format!("http://{}", server.addr);
    let plugin = plugin_path("order_totals").display().to_string();

    let case = dir.path().join("cases/o-1");
    let case_arg = case.display().to_string();
    let output = eddy(&[
        "record",
        "--stream",
        "orders",
        "--subject",
        "o-1",
        "--to",
        &stored[150].0,
        "--plugin",
        &plugin,
        "--url",
        &url,
        &case_arg,
    ]);
    stdout_of(&output);
    let recorded = std::fs::read_to_string(case.join("events.jsonl")).unwrap();
    let expected_lines: Vec<&String> = lines[..=150]
        .iter()
        .filter(|l| l.contains(r#""subject":"o-1""#))
        .collect();
    assert_eq!(recorded.lines().count(), expected_lines.len());
    assert!(stdout_of(&eddy(&["test", &case_arg])).contains("1 passed, 0 failed"));

    // Without a plugin: a placeholder to fill in, then `eddy test --update`.
    let all = dir.path().join("cases/all");
    let all_arg = all.display().to_string();
    stdout_of(&eddy(&[
        "record", "--stream", "orders", "--url", &url, &all_arg,
    ]));
    let toml = std::fs::read_to_string(all.join("case.toml")).unwrap();
    assert!(toml.contains("CHANGE-ME.wasm"), "{toml}");
    assert!(!all.join("expected.json").exists());
    std::fs::write(
        all.join("case.toml"),
        toml.replace("CHANGE-ME.wasm", &plugin),
    )
    .unwrap();
    stdout_of(&eddy(&["test", "--update", &all_arg]));
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(all.join("expected.json")).unwrap()).unwrap();
    let file = dir.path().join("orders.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let replayed: Value = serde_json::from_str(&stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &plugin,
        "--events",
        &file.display().to_string(),
    ])))
    .unwrap();
    assert_eq!(expected, replayed);
    assert!(
        !eddy(&["record", "--stream", "orders", "--url", &url, &all_arg])
            .status
            .success(),
        "an existing case is not overwritten"
    );
}
