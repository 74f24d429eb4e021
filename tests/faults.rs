//! The storage promises of docs/GUARANTEES.md §1–4 under faults: `eddy serve` SIGKILLed at
//! random points under load, Redis restarted or gone for a while under load, and an embedded
//! store whose disk fills up or whose folder is read-only. Client threads publish over HTTP
//! and log exactly what was acknowledged (`support::load`); each test then checks the store
//! against that log, and the subscriptions' results against an offline replay.
//!
//! Loopback only; every fault is bounded in count and time. Redis tests start their own
//! `redis-server`, and the disk test mounts its own tmpfs (it needs root): both fail, never
//! skip, when they cannot.

#[path = "../runtime/tests/support/mod.rs"]
mod store_support;
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use eddy::event::Position;
use serde_json::Value;
use store_support::RedisServer;
use support::histories::{Lcg, order_history};
use support::http::{get, request};
use support::load::{Address, ClientLog, Load};
use support::plugins::plugin_path;
use support::server::{Server, assert_states_equal_replay, wait_until, write_config};
use support::{eddy, stdout_of};

/// The longest wait for one condition (a restart, catching up, readiness).
const TIMEOUT: Duration = Duration::from_secs(60);
/// The stream the clients publish to; `order-totals` folds it and `echo` copies each event
/// to `out`.
const STREAM: &str = "orders";
/// Redis settings under which an acknowledged append survives a crash of Redis.
const AOF_ALWAYS: [&str; 6] = [
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
];

/// `order-totals` (a reducer over 3 partitions) and `echo` (a handler emitting one event to
/// `out` per input), both on [`STREAM`].
fn write_subscriptions(dir: &Path) -> PathBuf {
    write_config(
        dir,
        &format!(
            "[[subscription]]\nname = \"order-totals\"\nplugin = {:?}\nstreams = [\"{STREAM}\"]\nbatch = 64\npartitions = 3\n\n\
             [[subscription]]\nname = \"echo\"\nplugin = {:?}\nstreams = [\"{STREAM}\"]\nbatch = 16\n",
            plugin_path("order_totals").display().to_string(),
            plugin_path("fx_reject").display().to_string(),
        ),
    )
}

fn history(events: usize, seed: u64) -> Vec<String> {
    order_history(events, 60, seed)
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. SIGKILL of `eddy serve` at random points under load.

#[test]
fn embedded_acknowledged_events_survive_sigkills_at_random_points_under_load() {
    sigkills_at_random_points_under_load(None, 11);
}

#[test]
fn redis_acknowledged_events_survive_sigkills_at_random_points_under_load() {
    let redis = RedisServer::start();
    sigkills_at_random_points_under_load(Some(&redis.url()), 12);
}

/// Kills the server eight times at moments drawn from `seed` while three clients publish,
/// restarting it each time; then checks promises 1–4 against the clients' logs.
fn sigkills_at_random_points_under_load(store: Option<&str>, seed: u64) {
    const EVENTS: usize = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_subscriptions(dir.path());
    let mut server = Server::start(&data, store, Some(&config), None);
    let address = Address::new(server.addr);
    let load = Load::start(&address, STREAM, &history(EVENTS, seed), 3, seed);
    // The kills fall after these many acknowledged events, spread over the load, plus a
    // random few milliseconds, so they land in every phase of a publish and of a commit.
    let mut rng = Lcg::new(seed);
    let mut kill_after: Vec<usize> = (0..8)
        .map(|_| EVENTS / 20 + rng.below(EVENTS as u64 * 8 / 10) as usize)
        .collect();
    kill_after.sort();
    for acked in kill_after {
        wait_until(TIMEOUT, "publishes to be acknowledged", || {
            load.acked() >= acked
        });
        std::thread::sleep(Duration::from_millis(rng.below(30)));
        server.kill();
        server = Server::start(&data, store, Some(&config), None);
        address.set(server.addr);
    }
    let logs = load.finish(TIMEOUT);
    assert!(
        logs.iter().map(|l| l.retried_without_answer).sum::<usize>() > 0,
        "some publishes lost their answer in a kill and were retried"
    );

    let stored = assert_acknowledged_events_are_stored(server.addr, &logs);
    wait_processed(&server, &stored);
    assert_reducer_equals_replay(&server, dir.path(), &stored);
    assert_one_output_per_input(&server, &stored);
}

// ---------------------------------------------------------------------------------------
// 2. and 3. Redis restarted, or gone for a while, under load.

/// `eddy serve` on `redis` with the subscriptions, and three clients publishing 3,000 events
/// to it (seeded by `seed`).
fn serve_under_load(redis: &RedisServer, dir: &Path, seed: u64) -> (Server, Load) {
    let config = write_subscriptions(dir);
    let server = Server::start(&dir.join("data"), Some(&redis.url()), Some(&config), None);
    let load = Load::start(
        &Address::new(server.addr),
        STREAM,
        &history(3_000, seed),
        3,
        seed,
    );
    (server, load)
}

#[test]
fn redis_with_appendfsync_always_restarted_under_load_keeps_every_acknowledged_event() {
    let mut redis = RedisServer::start_with(&AOF_ALWAYS);
    let dir = tempfile::tempdir().unwrap();
    let (server, load) = serve_under_load(&redis, dir.path(), 21);
    for acked in [500, 1_400, 2_300] {
        wait_until(TIMEOUT, "publishes to be acknowledged", || {
            load.acked() >= acked
        });
        redis.stop();
        redis.start_again();
    }
    // Eddy was never restarted: it reconnected by itself.
    let logs = load.finish(TIMEOUT);
    let stored = assert_acknowledged_events_are_stored(server.addr, &logs);
    wait_processed(&server, &stored);
    assert_reducer_equals_replay(&server, dir.path(), &stored);
    assert_one_output_per_input(&server, &stored);
}

#[test]
fn while_redis_is_unreachable_publishes_get_503_and_everything_resumes_when_it_is_back() {
    let mut redis = RedisServer::start_with(&AOF_ALWAYS);
    let dir = tempfile::tempdir().unwrap();
    let (server, load) = serve_under_load(&redis, dir.path(), 31);
    wait_until(TIMEOUT, "publishes to be acknowledged", || {
        load.acked() >= 200
    });

    redis.stop();
    let down = Instant::now();
    wait_until(TIMEOUT, "readyz to report the store", || {
        let answer = get(server.addr, "/readyz");
        answer.status == 503 && answer.json()["check"] == "store"
    });
    assert!(load.acked() < 3_000, "the clients were still publishing");
    // Stay down longer than a reducer's lease (10 s), so that the partitions' leases expire
    // while their owner cannot renew them.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(down.elapsed()));
    assert_eq!(
        get(server.addr, "/healthz").status,
        200,
        "the process lives"
    );
    let up = Instant::now();
    redis.start_again();
    wait_until(TIMEOUT, "readyz to recover", || {
        get(server.addr, "/readyz").status == 200
    });
    let logs = load.finish(TIMEOUT);
    assert!(
        logs.iter()
            .flat_map(|l| &l.acked_at)
            .any(|(sent, _)| *sent > up),
        "publishing resumed once Redis was back"
    );

    // Nothing was acknowledged while Redis was down; every refusal said why, promptly.
    let within = |sent: Instant, answered: Instant| sent >= down && answered <= up;
    for log in &logs {
        for (sent, answered) in &log.acked_at {
            assert!(!within(*sent, *answered), "a 201 while Redis was down");
        }
    }
    let refused: Vec<_> = logs
        .iter()
        .flat_map(|l| &l.failures)
        .filter(|f| within(f.sent, f.answered))
        .collect();
    assert!(
        !refused.is_empty(),
        "publishes were tried while Redis was down"
    );
    for failure in refused {
        assert_eq!(failure.status, Some(503), "{failure:?}");
        let problem: Value = serde_json::from_str(&failure.body).expect("a problem body");
        assert_eq!(problem["type"], "urn:eddy:problem:store-unavailable");
        assert!(
            failure.answered - failure.sent < Duration::from_secs(10),
            "answered without hanging: {failure:?}"
        );
    }

    let stored = assert_acknowledged_events_are_stored(server.addr, &logs);
    wait_processed(&server, &stored);
    assert_reducer_equals_replay(&server, dir.path(), &stored);
    assert_one_output_per_input(&server, &stored);
}

// ---------------------------------------------------------------------------------------
// 4. The embedded store's disk fills up; its folder is read-only.

/// A tmpfs of its own mounted on a folder, unmounted when dropped.
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (such as `4m`) on `at`. Panics (failing the test, never
    /// skipping it) if it cannot: the test needs root and `mount`.
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"], at);
        Self {
            at: at.to_path_buf(),
        }
    }

    /// Changes the mount's options (`size=64m`, `ro`, `rw`).
    fn remount(&self, options: &str) {
        mount(&["-o", &format!("remount,{options}")], &self.at);
    }
}

fn mount(args: &[&str], at: &Path) {
    let output = Command::new("mount")
        .args(args)
        .arg(at)
        .output()
        .expect("`mount` runs");
    assert!(
        output.status.success(),
        "this test needs root to mount a tmpfs (`mount {} {}`): {}",
        args.join(" "),
        at.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Publishes one event with `bytes` of data; the answer.
fn publish_padded(addr: SocketAddr, id: &str, bytes: usize) -> support::http::Answer {
    let body = format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/disk","type":"padded","data":{{"pad":"{}"}}}}"#,
        "x".repeat(bytes)
    );
    request(
        addr,
        "POST",
        &format!("/api/v1/streams/{STREAM}/events"),
        Some("application/cloudevents+json"),
        body.as_bytes(),
    )
}

/// Checks that an answer is the 507 problem naming `cause`.
fn assert_unwritable(answer: &support::http::Answer, cause: &str) {
    assert_eq!(answer.status, 507, "{}", answer.body);
    let problem = answer.json();
    assert_eq!(
        problem["type"], "urn:eddy:problem:store-unwritable",
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(cause),
        "{problem}"
    );
}

#[test]
fn a_full_disk_and_a_read_only_folder_refuse_writes_with_507_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let disk = Tmpfs::mount(&data, "4m");
    let config = write_subscriptions(dir.path());
    let mut server = Server::start(&data, None, Some(&config), None);
    let mut acked: Vec<(String, Position)> = Vec::new();

    // Fill the disk: 32 KiB events until one is refused (4 MiB hold at most 128).
    let mut refused = None;
    for i in 0..256 {
        let id = format!("d{i}");
        let answer = publish_padded(server.addr, &id, 32 * 1024);
        if answer.status != 201 {
            refused = Some((id, answer));
            break;
        }
        acked.push((id, published_position(&answer)));
    }
    let (refused_id, answer) = refused.expect("a 4 MiB disk fills up");
    assert_unwritable(&answer, "no space left");
    assert!(!acked.is_empty());
    // The server stays up and keeps refusing, with the cause. A refusal, like any 5xx, is not
    // a promise that nothing was stored: when the disk filled during the commit's last step
    // the event can be on disk, and then the retry is a duplicate of it.
    let retry = publish_padded(server.addr, &refused_id, 32 * 1024);
    if retry.status == 201 {
        assert_eq!(
            retry.json()["results"][0]["duplicate"],
            true,
            "{}",
            retry.body
        );
    } else {
        assert_unwritable(&retry, "no space left");
    }
    assert_eq!(get(server.addr, "/healthz").status, 200);

    // More space: the same event is stored without a restart.
    disk.remount("size=64m");
    wait_until(TIMEOUT, "publishing to resume", || {
        publish_padded(server.addr, &refused_id, 32 * 1024).status == 201
    });
    let answer = publish_padded(server.addr, &refused_id, 32 * 1024);
    acked.push((refused_id, published_position(&answer)));
    assert_all_readable(server.addr, &acked);

    // A restart on a read-only folder (Linux refuses to remount it while the store's file is
    // open for writing): the server starts, refuses writes naming the cause, is not ready,
    // and resumes without a restart once the folder is writable again.
    assert!(server.terminate(), "a clean shutdown");
    disk.remount("ro");
    server = Server::start(&data, None, Some(&config), None);
    assert_unwritable(&publish_padded(server.addr, "ro", 16), "read-only");
    let ready = get(server.addr, "/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(get(server.addr, "/healthz").status, 200);
    disk.remount("rw");
    wait_until(TIMEOUT, "publishing to resume", || {
        publish_padded(server.addr, "ro", 16).status == 201
    });
    assert_eq!(get(server.addr, "/readyz").status, 200);
    let answer = publish_padded(server.addr, "ro", 16);
    assert_eq!(answer.json()["results"][0]["duplicate"], true);
    acked.push(("ro".to_string(), published_position(&answer)));
    assert_all_readable(server.addr, &acked);

    // A restart on a full disk, after a SIGKILL (so the file is recovered on open): the
    // server starts, refuses writes naming the cause, and resumes once space is freed.
    server.kill();
    let filler = fill_up(&data);
    server = Server::start(&data, None, Some(&config), None);
    assert_unwritable(
        &publish_padded(server.addr, "full", 64 * 1024),
        "no space left",
    );
    std::fs::remove_file(filler).unwrap();
    wait_until(TIMEOUT, "publishing to resume", || {
        publish_padded(server.addr, "full", 64 * 1024).status == 201
    });
    let answer = publish_padded(server.addr, "full", 64 * 1024);
    acked.push(("full".to_string(), published_position(&answer)));
    assert_all_readable(server.addr, &acked);
    // The subscriptions went through it all too, each event exactly once.
    let stored = read_all(server.addr, STREAM);
    wait_processed(&server, &stored);
    assert_reducer_equals_replay(&server, dir.path(), &stored);
    assert_one_output_per_input(&server, &stored);
    assert!(server.terminate(), "a clean shutdown");
    drop(disk);
}

/// Fills the file system of `dir` with a file of zeros until it is full; the file.
fn fill_up(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    // At most 64 MiB: the tmpfs is smaller.
    for _ in 0..1024 {
        if let Err(error) = file.write_all(&chunk) {
            assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
            return path;
        }
    }
    panic!("{} did not fill up", dir.display());
}

fn published_position(answer: &support::http::Answer) -> Position {
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.json()["results"][0]["position"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Every acknowledged `(id, position)` reads back, and nothing else is stored.
fn assert_all_readable(addr: SocketAddr, acked: &[(String, Position)]) {
    let stored: Vec<(Position, String)> = read_all(addr, STREAM)
        .into_iter()
        .map(|(p, e)| (p, e["id"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(Position, String)> = acked.iter().map(|(i, p)| (*p, i.clone())).collect();
    assert_eq!(stored, expected);
}

// ---------------------------------------------------------------------------------------
// The checks.

/// Every event of `stream` in position order, read page by page.
fn read_all(addr: SocketAddr, stream: &str) -> Vec<(Position, Value)> {
    let mut all = Vec::new();
    let mut from = String::new();
    loop {
        let answer = get(
            addr,
            &format!("/api/v1/streams/{stream}/events?limit=1000&from={from}"),
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        let page = answer.json();
        for e in page["events"].as_array().unwrap() {
            let position = e["position"].as_str().unwrap().parse().unwrap();
            all.push((position, e["event"].clone()));
        }
        match page["next"].as_str() {
            Some(next) => from = next.to_string(),
            None => return all,
        }
    }
}

/// Promises 1–3 against the clients' logs: every acknowledged event is stored at its
/// acknowledged position, positions strictly increase, nothing is stored twice (retries of
/// publishes whose answer was lost included) and nothing is stored that was not
/// acknowledged. Returns the stored events.
fn assert_acknowledged_events_are_stored(
    addr: SocketAddr,
    logs: &[ClientLog],
) -> Vec<(Position, Value)> {
    let stored = read_all(addr, STREAM);
    eprintln!(
        "stored {}, acks {}, duplicates {}, failures {:?}, retried without answer {}",
        stored.len(),
        logs.iter().map(|l| l.acks.len()).sum::<usize>(),
        logs.iter()
            .flat_map(|l| &l.acks)
            .filter(|a| a.duplicate)
            .count(),
        logs.iter()
            .flat_map(|l| &l.failures)
            .fold(BTreeMap::new(), |mut m, f| {
                *m.entry(f.status).or_insert(0) += 1;
                m
            }),
        logs.iter().map(|l| l.retried_without_answer).sum::<usize>(),
    );
    for pair in stored.windows(2) {
        assert!(pair[0].0 < pair[1].0, "positions increase: {pair:?}");
    }
    let mut at: HashMap<(String, String), Position> = HashMap::new();
    for (position, event) in &stored {
        let key = (
            event["source"].as_str().unwrap().to_string(),
            event["id"].as_str().unwrap().to_string(),
        );
        assert!(at.insert(key.clone(), *position).is_none(), "{key:?} twice");
    }
    let mut acked = HashSet::new();
    for log in logs {
        for ack in &log.acks {
            let key = ("/gen".to_string(), ack.id.clone());
            assert_eq!(at.get(&key), Some(&ack.position), "acknowledged {ack:?}");
            acked.insert(key);
        }
        // One client's publishes are acknowledged one after the other, so a later one must
        // be stored after an earlier one (a duplicate's original included).
        for pair in log.acks.windows(2) {
            assert!(pair[0].position < pair[1].position, "{pair:?}");
        }
    }
    assert_eq!(
        acked.len(),
        stored.len(),
        "only acknowledged events are stored"
    );
    stored
}

fn info(server: &Server, name: &str) -> Value {
    let answer = get(server.addr, &format!("/api/v1/subscriptions/{name}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Waits until both subscriptions have worked through every stored event: every output is
/// there (a handler's entries pending on a killed process are taken over once idle for 30 s),
/// and then each subscription reports no lag.
fn wait_processed(server: &Server, stored: &[(Position, Value)]) {
    wait_until(TIMEOUT, "an output for every input", || {
        read_all(server.addr, "out").len() >= stored.len()
    });
    for name in ["order-totals", "echo"] {
        wait_until(TIMEOUT, &format!("{name} to catch up"), || {
            info(server, name)["streams"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["lag"] == 0 && !s["checkpoint"].is_null())
        });
    }
}

/// Promise 4 for reducers: the live states equal `eddy replay` of the stored events, in
/// their stored order.
fn assert_reducer_equals_replay(server: &Server, dir: &Path, stored: &[(Position, Value)]) {
    let file = dir.join("stored.jsonl");
    let lines: Vec<String> = stored.iter().map(|(_, e)| e.to_string()).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let replayed: BTreeMap<String, Value> = serde_json::from_str(&stdout_of(&eddy(&[
        "replay",
        "--plugin",
        &plugin_path("order_totals").display().to_string(),
        "--events",
        &file.display().to_string(),
    ])))
    .unwrap();
    assert_states_equal_replay(server, "order-totals", &replayed);
}

/// Promise 4 for handlers: exactly one output per stored input (each input's output keeps
/// its subject, so the counts per subject must match).
fn assert_one_output_per_input(server: &Server, stored: &[(Position, Value)]) {
    let per_subject = |events: &mut dyn Iterator<Item = &Value>| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for event in events {
            let subject = event["subject"].as_str().unwrap_or("").to_string();
            *counts.entry(subject).or_default() += 1;
        }
        counts
    };
    let out = read_all(server.addr, "out");
    assert_eq!(out.len(), stored.len(), "one output per input");
    assert_eq!(
        per_subject(&mut out.iter().map(|(_, e)| e)),
        per_subject(&mut stored.iter().map(|(_, e)| e))
    );
}
