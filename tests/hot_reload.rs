//! Hot reload end to end: a real `eddy serve --plugins <dir>`, plugins dropped, replaced,
//! broken, deleted and uploaded while events flow.

#[path = "../runtime/tests/support/mod.rs"]
mod store_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::http::{get, request};
use support::plugins::plugin_path;
use support::server::{Server, wait_until};

const TIMEOUT: Duration = Duration::from_secs(120);

/// A server watching its own plugins folder, on an embedded store.
struct Deployment {
    _dir: tempfile::TempDir,
    plugins: PathBuf,
    server: Server,
}

impl Deployment {
    /// Starts `eddy serve --plugins <dir>` after `setup` has put files in the folder.
    fn start(setup: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        setup(&plugins);
        let server = Server::start(&dir.path().join("data"), None, None, Some(&plugins));
        Self {
            _dir: dir,
            plugins,
            server,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.plugins.join(name)
    }

    fn plugin(&self, name: &str) -> Option<Value> {
        let answer = get(self.server.addr, &format!("/api/v1/plugins/{name}"));
        (answer.status == 200).then(|| answer.json())
    }

    fn wait_for_plugin(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) {
        wait_until(TIMEOUT, what, || {
            self.plugin(name).is_some_and(|p| check(&p))
        });
    }

    fn wait_serving(&self, name: &str, hash: &str) {
        self.wait_for_plugin(name, &format!("{name} to serve {hash}"), |p| {
            p["hash"] == hash && p["status"] == "serving"
        });
    }

    fn subscription(&self, name: &str) -> Option<Value> {
        let answer = get(self.server.addr, &format!("/api/v1/subscriptions/{name}"));
        (answer.status == 200).then(|| answer.json())
    }

    /// Waits until subscription `name` runs `hash` and has caught up with its streams.
    fn wait_caught_up(&self, name: &str, hash: &str) {
        wait_until(TIMEOUT, &format!("{name} to catch up on {hash}"), || {
            self.subscription(name).is_some_and(|info| {
                info["plugin"] == hash
                    && info["streams"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|s| s["lag"] == 0 && !s["checkpoint"].is_null())
            })
        });
    }

    /// Publishes events `first..first + count` (ids `in-<n>`) to `stream`, 100 per request.
    fn publish(&self, stream: &str, first: usize, count: usize, ty: impl Fn(usize) -> String) {
        publish(self.server.addr, stream, first, count, ty);
    }

    fn state(&self, subscription: &str, subject: &str) -> Option<Value> {
        let answer = get(
            self.server.addr,
            &format!("/api/v1/projections/{subscription}/{subject}"),
        );
        (answer.status == 200).then(|| answer.json())
    }
}

fn publish(
    addr: std::net::SocketAddr,
    stream: &str,
    first: usize,
    count: usize,
    ty: impl Fn(usize) -> String,
) {
    let ids: Vec<usize> = (first..first + count).collect();
    for chunk in ids.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|&n| {
                json!({"specversion": "1.0", "id": format!("in-{n}"), "source": "/test",
                       "type": ty(n), "subject": "s-1", "data": {"n": n}})
            })
            .collect();
        let answer = request(
            addr,
            "POST",
            &format!("/api/v1/streams/{stream}/events"),
            Some("application/cloudevents-batch+json"),
            serde_json::to_string(&events).unwrap().as_bytes(),
        );
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

/// Every event of a stream, in order.
fn read_all(addr: std::net::SocketAddr, stream: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut from = String::new();
    loop {
        let page = get(
            addr,
            &format!("/api/v1/streams/{stream}/events?limit=1000{from}"),
        )
        .json();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => from = format!("&from={next}"),
            None => return events,
        }
    }
}

fn hash_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Replaces `target` the way an editor or a deploy script would: `cp` (several writes onto the
/// watched path) or a whole file renamed into place.
fn replace(target: &Path, source: &Path, by_rename: bool) {
    if by_rename {
        let temporary = target.with_file_name(".incoming.tmp");
        std::fs::copy(source, &temporary).unwrap();
        std::fs::rename(&temporary, target).unwrap();
    } else {
        std::fs::copy(source, target).unwrap();
    }
}

#[test]
fn swapping_a_handler_under_load_hands_every_event_to_exactly_one_version() {
    const EVENTS: usize = 20_000;
    const SWAPS: usize = 20;
    let a = plugin_path("fx_tag_a");
    let b = plugin_path("fx_tag_b");
    let (hash_a, hash_b) = (hash_of(&a), hash_of(&b));
    let deployment = Deployment::start(|dir| {
        std::fs::copy(&a, dir.join("tagger.wasm")).unwrap();
        std::fs::write(
            dir.join("tagger.toml"),
            "streams = [\"inputs\"]\nbatch = 50\n",
        )
        .unwrap();
    });
    deployment.wait_serving("tagger", &hash_a);
    wait_until(TIMEOUT, "the sidecar subscription", || {
        deployment.subscription("tagger").is_some()
    });

    let addr = deployment.server.addr;
    let publisher = std::thread::spawn(move || {
        for start in (0..EVENTS).step_by(500) {
            publish(addr, "inputs", start, 500, |_| "in".to_string());
            // Spread the load over the swaps rather than front-loading it.
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // The first swap waits for the first outputs: a closed file swaps in within milliseconds,
    // which could otherwise beat the handler's first batch and leave version `a` no events.
    wait_until(TIMEOUT, "the first outputs of version a", || {
        !read_all(addr, "tagged").is_empty()
    });
    let target = deployment.file("tagger.wasm");
    for swap in 0..SWAPS {
        let (source, hash) = if swap.is_multiple_of(2) {
            (&b, &hash_b)
        } else {
            (&a, &hash_a)
        };
        replace(&target, source, swap % 3 == 2);
        deployment.wait_serving("tagger", hash);
    }
    publisher.join().unwrap();
    let last = if SWAPS.is_multiple_of(2) {
        &hash_a
    } else {
        &hash_b
    };
    deployment.wait_caught_up("tagger", last);

    let outputs = read_all(addr, "tagged");
    let mut version_of: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for out in &outputs {
        let data = &out["event"]["data"];
        let input: usize = data["input"].as_str().unwrap()["in-".len()..]
            .parse()
            .unwrap();
        version_of
            .entry(input)
            .or_default()
            .push(data["version"].as_str().unwrap().to_string());
    }
    assert_eq!(outputs.len(), EVENTS, "one output per input, no more");
    assert_eq!(version_of.len(), EVENTS, "every input produced an output");
    assert!(version_of.values().all(|v| v.len() == 1));
    // Inputs were published in id order, so id order is position order: the versions may
    // change only at the swaps, alternating a, b, a, … — never back and forth in between.
    let sequence: Vec<&str> = version_of.values().map(|v| v[0].as_str()).collect();
    let switches = sequence.windows(2).filter(|w| w[0] != w[1]).count();
    eprintln!("{switches} version changes in position order for {SWAPS} swaps");
    assert_eq!(
        sequence[0], "a",
        "the first events ran on the first version"
    );
    assert!(
        (1..=SWAPS).contains(&switches),
        "{switches} version changes for {SWAPS} swaps"
    );
    let plugins = get(addr, "/api/v1/plugins").json();
    assert!(plugins["metrics"]["reloads"].as_u64().unwrap() > SWAPS as u64);
    assert!(plugins["metrics"]["last_reload_ms"].as_u64().is_some());
}

#[test]
fn a_broken_file_is_rejected_and_the_previous_version_keeps_serving() {
    let a = plugin_path("fx_tag_a");
    let hash_a = hash_of(&a);
    let deployment = Deployment::start(|dir| {
        std::fs::copy(&a, dir.join("tagger.wasm")).unwrap();
        std::fs::write(dir.join("tagger.toml"), "streams = [\"inputs\"]\n").unwrap();
    });
    deployment.wait_serving("tagger", &hash_a);
    deployment.publish("inputs", 0, 50, |_| "in".into());
    deployment.wait_caught_up("tagger", &hash_a);

    // Not WebAssembly at all, then a component of another world.
    let broken: [(&[u8], &str); 2] = [
        (b"this is not wasm", "not a WebAssembly file"),
        (
            &std::fs::read(plugin_path("fx_wrong_world")).unwrap(),
            "does not implement any eddy:plugin",
        ),
    ];
    for (bytes, error) in broken {
        std::fs::write(deployment.file("tagger.wasm"), bytes).unwrap();
        deployment.wait_for_plugin("tagger", error, |p| {
            p["last_error"].as_str().is_some_and(|e| e.contains(error))
        });
        let plugin = deployment.plugin("tagger").unwrap();
        assert_eq!(plugin["status"], "serving-previous");
        assert_eq!(plugin["hash"], hash_a.as_str());
        assert!(deployment.server.log_text().contains(error));
    }
    deployment.publish("inputs", 50, 50, |_| "in".into());
    deployment.wait_caught_up("tagger", &hash_a);
    let outputs = read_all(deployment.server.addr, "tagged");
    assert_eq!(outputs.len(), 100);
    assert!(outputs.iter().all(|o| o["event"]["data"]["version"] == "a"));

    // An upload of a broken file is refused before it reaches the folder.
    let answer = request(
        deployment.server.addr,
        "PUT",
        "/api/v1/plugins/tagger",
        Some("application/wasm"),
        b"\0asm garbage",
    );
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert!(answer.json()["detail"].as_str().unwrap().contains("tagger"));

    // A bad sidecar is reported with its line and key; the subscription runs on.
    std::fs::write(
        deployment.file("tagger.toml"),
        "streams = [\"inputs\"]\nbtach = 5\n",
    )
    .unwrap();
    deployment.wait_for_plugin("tagger", "the sidecar error", |p| {
        p["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("tagger.toml:2") && e.contains("btach"))
    });
    assert!(deployment.subscription("tagger").is_some());
    let plugins = get(deployment.server.addr, "/api/v1/plugins").json();
    let metrics = plugins["metrics"].clone();
    assert!(metrics["failures"].as_u64().unwrap() >= 3, "{metrics}");
    // The answers, errors included, fit the OpenAPI document.
    let openapi = store_support::openapi::OpenApi::of_this_build();
    openapi.check("GET", "/api/v1/plugins", 200, &plugins);
    let tagger = get(deployment.server.addr, "/api/v1/plugins/tagger").json();
    openapi.check("GET", "/api/v1/plugins/{name}", 200, &tagger);
    openapi.check("PUT", "/api/v1/plugins/{name}", 422, &answer.json());

    // A good file clears the error.
    let b = plugin_path("fx_tag_b");
    std::fs::write(deployment.file("tagger.toml"), "streams = [\"inputs\"]\n").unwrap();
    std::fs::copy(&b, deployment.file("tagger.wasm")).unwrap();
    deployment.wait_serving("tagger", &hash_of(&b));
    assert!(deployment.plugin("tagger").unwrap()["last_error"].is_null());

    // Reloads and their failures are in the Prometheus metrics too.
    let text = get(deployment.server.addr, "/metrics").body;
    for outcome in ["ok", "rejected"] {
        let line = format!("eddy_plugin_reloads_total{{plugin=\"tagger\",outcome=\"{outcome}\"}}");
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
}

#[test]
fn a_deleted_plugin_stops_its_subscription_and_resumes_from_its_checkpoint_when_restored() {
    let counter = plugin_path("fx_per_event_reducer");
    let hash = hash_of(&counter);
    let deployment = Deployment::start(|dir| {
        std::fs::copy(&counter, dir.join("counter.wasm")).unwrap();
        std::fs::write(
            dir.join("counter.toml"),
            "streams = [\"inputs\"]\npartitions = 2\n",
        )
        .unwrap();
    });
    deployment.wait_serving("counter", &hash);
    deployment.publish("inputs", 0, 100, |_| "in".into());
    deployment.wait_caught_up("counter", &hash);
    let before = deployment.subscription("counter").unwrap();

    std::fs::remove_file(deployment.file("counter.wasm")).unwrap();
    wait_until(TIMEOUT, "the subscription to stop", || {
        deployment.subscription("counter").is_none() && deployment.plugin("counter").is_none()
    });
    deployment.publish("inputs", 100, 100, |_| "in".into());

    std::fs::copy(&counter, deployment.file("counter.wasm")).unwrap();
    deployment.wait_caught_up("counter", &hash);
    let after = deployment.subscription("counter").unwrap();
    // Only the events published while it was away were processed again…
    assert_eq!(after["stats"]["processed"], 100, "{after}");
    assert_eq!(before["stats"]["processed"], 100, "{before}");
    // …and the state counts every event exactly once.
    let state = deployment.state("counter", "s-1").unwrap();
    assert_eq!(state["state"]["count"], 200, "{state}");
}

/// Publishes `count` events from `first`, every other one of type `diverge` (which
/// `fx-counter-v2` leaves out of `count` and `fx-per-event-reducer` counts).
fn publish_mixed(deployment: &Deployment, first: usize, count: usize) {
    deployment.publish("inputs", first, count, |n| {
        if n.is_multiple_of(2) {
            "diverge"
        } else {
            "other"
        }
        .to_string()
    });
}

/// Runs counter v1 on 40 events, swaps in v2, publishes 20 more; returns v2's final state.
fn reducer_code_change(sidecar: &str) -> Value {
    let v1 = plugin_path("fx_per_event_reducer");
    let v2 = plugin_path("fx_counter_v2");
    let hash_v2 = hash_of(&v2);
    let deployment = Deployment::start(|dir| {
        std::fs::copy(&v1, dir.join("counter.wasm")).unwrap();
        std::fs::write(dir.join("counter.toml"), sidecar).unwrap();
    });
    deployment.wait_serving("counter", &hash_of(&v1));
    publish_mixed(&deployment, 0, 40);
    deployment.wait_caught_up("counter", &hash_of(&v1));
    assert_eq!(
        deployment.state("counter", "s-1").unwrap()["state"]["count"],
        40
    );

    replace(&deployment.file("counter.wasm"), &v2, true);
    deployment.wait_serving("counter", &hash_v2);
    publish_mixed(&deployment, 40, 20);
    deployment.wait_caught_up("counter", &hash_v2);
    let mut state = Value::Null;
    wait_until(TIMEOUT, "the state of v2 over every event", || {
        state = deployment.state("counter", "s-1").unwrap();
        let types = &state["state"]["types"];
        state["plugin"] == hash_v2.as_str() && types["diverge"] == 30 && types["other"] == 30
    });
    state
}

#[test]
fn a_reducer_code_change_rebuilds_its_state_by_replay() {
    let state = reducer_code_change("streams = [\"inputs\"]\npartitions = 2\n");
    // v2's count from the start: the 30 `other` events only.
    assert_eq!(state["state"]["count"], 30, "{state}");
    assert_eq!(state["events"], 60, "{state}");
}

#[test]
fn a_reducer_code_change_keeps_its_state_with_keep_state() {
    let state = reducer_code_change("streams = [\"inputs\"]\npartitions = 2\nkeep_state = true\n");
    // v1's 40, then v2's count of the 10 new `other` events.
    assert_eq!(state["state"]["count"], 50, "{state}");
}

#[test]
fn plugins_uploaded_and_deleted_over_http_go_through_the_folder() {
    let deployment = Deployment::start(|_| {});
    let addr = deployment.server.addr;
    let a = std::fs::read(plugin_path("fx_tag_a")).unwrap();
    let put = |bytes: &[u8]| {
        request(
            addr,
            "PUT",
            "/api/v1/plugins/tagger",
            Some("application/wasm"),
            bytes,
        )
    };
    let created = put(&a);
    assert_eq!(created.status, 201, "{}", created.body);
    let info = created.json();
    assert_eq!(info["kind"], "handler");
    assert_eq!(info["world"], "handler-batch");
    assert_eq!(info["size"], a.len());
    assert_eq!(info["status"], "serving");
    assert_eq!(std::fs::read(deployment.file("tagger.wasm")).unwrap(), a);

    let b = std::fs::read(plugin_path("fx_tag_b")).unwrap();
    let replaced = put(&b);
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.json()["hash"], hex::encode(Sha256::digest(&b)));
    let listed = get(addr, "/api/v1/plugins").json();
    assert_eq!(listed["plugins"].as_array().unwrap().len(), 1);

    // A reducer cannot replace a handler in place.
    let reducer = std::fs::read(plugin_path("fx_per_event_reducer")).unwrap();
    assert_eq!(put(&reducer).status, 409);

    let deleted = request(addr, "DELETE", "/api/v1/plugins/tagger", None, b"");
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(!deployment.file("tagger.wasm").exists());
    assert_eq!(get(addr, "/api/v1/plugins/tagger").status, 404);
    assert_eq!(
        request(addr, "DELETE", "/api/v1/plugins/tagger", None, b"").status,
        404
    );
}

#[test]
fn a_quarantined_subscription_shows_why_and_resumes_with_a_new_plugin_version() {
    let trapping = plugin_path("fx_trap");
    let fixed = plugin_path("fx_per_event_reducer");
    let deployment = Deployment::start(|dir| {
        std::fs::copy(&trapping, dir.join("counter.wasm")).unwrap();
        std::fs::write(
            dir.join("counter.toml"),
            "streams = [\"inputs\"]\npartitions = 1\nquarantine_after = 3\n\n[retry]\nmax_attempts = 1\n",
        )
        .unwrap();
    });
    deployment.wait_serving("counter", &hash_of(&trapping));
    deployment.publish("inputs", 0, 10, |_| "trap".into());
    let addr = deployment.server.addr;
    wait_until(TIMEOUT, "the subscription to be quarantined", || {
        deployment
            .subscription("counter")
            .is_some_and(|info| info["status"] == "quarantined")
    });
    let info = deployment.subscription("counter").unwrap();
    let reason = info["quarantine_reason"].as_str().unwrap();
    assert!(reason.contains("trapped"), "{info}");
    assert_eq!(
        get(addr, "/readyz").status,
        200,
        "a quarantine is not a stall"
    );

    // An explicit resume starts it again; the plugin still traps, so it trips again.
    let resumed = request(
        addr,
        "POST",
        "/api/v1/subscriptions/counter/resume",
        None,
        b"",
    );
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    wait_until(TIMEOUT, "the subscription to be quarantined again", || {
        deployment
            .subscription("counter")
            .is_some_and(|info| info["status"] == "quarantined")
    });

    // A fixed version resumes it, and every held-back event is processed.
    replace(&deployment.file("counter.wasm"), &fixed, true);
    deployment.wait_caught_up("counter", &hash_of(&fixed));
    let info = deployment.subscription("counter").unwrap();
    assert_eq!(info["status"], "running", "{info}");
    let state = deployment.state("counter", "s-1").unwrap();
    assert_eq!(state["state"]["count"], 10, "{state}");

    let refused = request(
        addr,
        "POST",
        "/api/v1/subscriptions/counter/resume",
        None,
        b"",
    );
    assert_eq!(
        refused.status, 409,
        "only a quarantined subscription resumes"
    );
}

#[test]
fn uploads_under_hostile_names_are_refused_and_write_nothing() {
    let deployment = Deployment::start(|_| {});
    let addr = deployment.server.addr;
    let plugin = std::fs::read(plugin_path("fx_per_event_reducer")).unwrap();
    let long = "x".repeat(300);
    // As they appear in the request line (percent-encoded where a client would encode them).
    let names = [
        "..",
        ".",
        ".hidden",
        "%2e%2e",
        "..%2Fescape",
        "%2E%2E%2F%2E%2E%2Fescape",
        "a%2Fb",
        "%2Fetc%2Fpasswd",
        "a%00b",
        "a%5Cb",
        "a%20b",
        "%C3%A9",
        "%FF%FE",
        long.as_str(),
    ];
    for name in names {
        let answer = request(
            addr,
            "PUT",
            &format!("/api/v1/plugins/{name}"),
            Some("application/wasm"),
            &plugin,
        );
        assert!(
            (400..500).contains(&answer.status),
            "PUT {name}: {} {}",
            answer.status,
            answer.body
        );
    }
    let mut written: Vec<String> = std::fs::read_dir(&deployment.plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.retain(|f| f.ends_with(".wasm") || f.contains("upload"));
    assert!(
        written.is_empty(),
        "nothing written in the folder: {written:?}"
    );
    let mut around: Vec<String> = std::fs::read_dir(deployment._dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    around.sort();
    assert_eq!(
        around,
        ["data", "plugins"],
        "nothing written beside the folder"
    );
    assert_eq!(get(addr, "/api/v1/plugins").json()["plugins"], json!([]));
}
