//! The `EventStore` conformance suite on both backends, and the embedded store's crash test.
//!
//! Run with `cargo test -p eddy --test store`. The Redis cases start their own `redis-server`
//! (it must be installed; they fail, not skip, without it).

mod conformance;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use eddy::event::Position;
use eddy::store::embedded::EmbeddedStore;
use eddy::store::{Append, EventStore};

/// Instantiates every conformance case once per backend.
macro_rules! conformance_suite {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let target = crate::support::Target::embedded();
                    crate::conformance::$case(&target).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let target = crate::support::Target::redis();
                    crate::conformance::$case(&target).await;
                }
            )*
        }
    };
}

conformance_suite!(
    appends_are_stored_in_order_with_increasing_positions,
    a_rejected_batch_stores_nothing,
    duplicates_are_not_appended_and_return_the_original_position,
    a_large_batch_is_deduplicated_and_indexed_throughout,
    duplicates_are_recognised_after_a_restart,
    expected_versions_guard_a_subject,
    exactly_one_of_16_racing_writers_wins,
    subject_reads_return_that_subject_forward_and_backward,
    reads_page_forward_and_backward_from_exclusive_positions,
    events_are_found_by_id,
    one_id_from_two_sources_is_two_events_until_trimmed,
    streams_are_listed_with_length_and_ends,
    deleting_a_stream_forgets_it_entirely,
    each_group_entry_goes_to_one_consumer_until_acknowledged,
    groups_start_at_the_beginning_now_or_a_position,
    a_blocked_group_read_wakes_up_on_append,
    idle_entries_can_be_claimed_by_another_consumer,
    a_removed_consumers_entries_stay_claimable,
    a_restarted_consumer_takes_back_its_own_and_orphaned_entries_at_once,
    consumers_that_went_away_are_reaped_without_losing_entries,
    checkpoints_are_kept_per_group_and_stream,
    trimming_never_drops_an_unacknowledged_entry,
    trimming_by_age_keeps_recent_events,
    large_payloads_round_trip,
    unicode_round_trips,
    a_commit_appends_acks_and_saves_state_and_checkpoint_together,
    a_failed_commit_writes_nothing,
    a_retried_commit_appends_nothing_twice,
    states_load_back_byte_identical_and_list_in_order,
    snapshots_are_found_by_plugin_hash_at_or_before_a_position,
    only_the_newest_snapshots_of_a_subject_and_hash_are_kept,
    states_and_snapshots_keep_their_latest_event_time,
    events_appended_after_the_clock_is_read_are_positioned_after_it,
    leases_are_exclusive_and_renewals_keep_the_token,
    an_expired_lease_can_be_taken_with_a_greater_token,
    live_leases_are_listed_by_prefix,
    exactly_one_of_8_racing_owners_gets_a_lease,
);

/// The environment variable that turns [`crash_writer`] on, naming the store directory.
const CRASH_DIR: &str = "EDDY_CRASH_TEST_DIR";
/// How many acknowledged appends the parent waits for before it kills the writer.
const ACKS_BEFORE_KILL: usize = 200;

/// The child half of the crash test (run by it, not on its own): appends events forever and
/// prints `acked <id> <position>` after each acknowledged append.
#[test]
#[ignore = "the writer process of embedded_acknowledged_appends_survive_sigkill"]
fn crash_writer() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = EmbeddedStore::open(dir).await.unwrap();
        let mut stdout = std::io::stdout();
        for i in 0u64.. {
            // Alternate single events and small batches, with and without subjects.
            let events = if i % 3 == 0 {
                vec![support::event_about(&format!("k{i}"), "order-1")]
            } else {
                vec![
                    support::event(&format!("k{i}-a")),
                    support::event(&format!("k{i}-b")),
                ]
            };
            let results = store.append("crash", Append::new(events)).await.unwrap();
            for r in results {
                writeln!(stdout, "acked {} {}", r.id, r.position).unwrap();
            }
            stdout.flush().unwrap();
        }
    });
}

#[test]
fn embedded_acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut acked: Vec<(String, Position)> = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < ACKS_BEFORE_KILL {
        let line = lines
            .next()
            .expect("the writer stopped before it was killed")
            .unwrap();
        if let Some(rest) = line.strip_prefix("acked ") {
            let (id, position) = rest.split_once(' ').unwrap();
            acked.push((id.to_string(), position.parse().unwrap()));
        }
    }
    // SIGKILL, while the writer is in the middle of further appends.
    child.kill().unwrap();
    child.wait().unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = EmbeddedStore::open(dir.path())
            .await
            .expect("reopens after a crash");
        for (id, position) in &acked {
            let found = store
                .get("crash", id, None)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged event {id} lost"));
            assert_eq!(found.position, *position);
        }
        let info = store.stream("crash").await.unwrap().unwrap();
        assert!(info.length as usize >= acked.len());
        let after_crash = store
            .append("crash", Append::one(support::event("after")))
            .await
            .unwrap();
        assert!(after_crash[0].position > acked.last().unwrap().1);
    });
}

/// Data of Redis key layout 1 (a dedupe hash per stream, no `eddy:layout`) is refused with a
/// message naming the layout, not misread; a Redis that only lost its layout record (restarted
/// without persistence) is accepted.
#[tokio::test]
async fn redis_data_in_key_layout_1_is_refused() {
    let server = support::RedisServer::start();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let () = ::redis::cmd("SADD")
        .arg("eddy:streams")
        .arg("orders")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        eddy::store::redis::RedisStore::connect(&server.url())
            .await
            .is_ok(),
        "streams without layout-1 keys are fine"
    );
    let () = ::redis::pipe()
        .cmd("DEL")
        .arg("eddy:layout")
        .ignore()
        .cmd("HSET")
        .arg("eddy:{orders}:dedupe")
        .arg("/shop\0e-1")
        .arg("1-0")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let Err(refused) = eddy::store::redis::RedisStore::connect(&server.url()).await else {
        panic!("layout-1 data was accepted");
    };
    assert!(refused.to_string().contains("layout 1"), "{refused}");
}
