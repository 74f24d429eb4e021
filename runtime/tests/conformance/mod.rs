//! The `EventStore` conformance suite: every case runs against every backend (see
//! `tests/store.rs`). Each case takes a fresh [`Target`] and may open it more than once.

use std::sync::Arc;
use std::time::Duration;

use eddy::event::{CloudEvent, Data, Position};
use eddy::store::{
    Append, Commit, EventStore, Fence, GroupAck, GroupStart, ORPHANED_CONSUMER, Read, SavedState,
    SnapshotWrite, StateWrite, StoreError, Trim,
};

use crate::support::{Target, event, event_about};

const S: &str = "orders";

async fn append_one(store: &dyn EventStore, stream: &str, e: CloudEvent) -> Position {
    let results = store.append(stream, Append::one(e)).await.expect("append");
    assert!(!results[0].duplicate);
    results[0].position
}

async fn append_n(store: &dyn EventStore, n: usize) -> Vec<Position> {
    let events = (0..n).map(|i| event(&format!("e{i}"))).collect();
    let results = store.append(S, Append::new(events)).await.expect("append");
    results.iter().map(|r| r.position).collect()
}

async fn all(store: &dyn EventStore, stream: &str) -> Vec<(Position, String)> {
    store
        .read(stream, Read::forward(10_000))
        .await
        .expect("read")
        .into_iter()
        .map(|s| (s.position, s.event.id))
        .collect()
}

pub async fn appends_are_stored_in_order_with_increasing_positions(target: &Target) {
    let store = target.open().await;
    let first = store
        .append(S, Append::new(vec![event("a"), event("b")]))
        .await
        .unwrap();
    let third = append_one(&*store, S, event("c")).await;
    assert!(first[0].position < first[1].position && first[1].position < third);
    assert_eq!(first[0].id, "a");

    let stored = store.read(S, Read::forward(100)).await.unwrap();
    let ids: Vec<_> = stored.iter().map(|s| s.event.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(
        stored[0].event,
        event("a"),
        "events come back exactly as appended"
    );
    let text = stored[2].position.to_string();
    assert_eq!(
        text.parse::<Position>().unwrap(),
        third,
        "positions print as <ms>-<seq>"
    );
    assert!(
        third.ms > 1_600_000_000_000,
        "the ms part is a wall-clock time"
    );
}

pub async fn a_rejected_batch_stores_nothing(target: &Target) {
    let store = target.open().await;
    append_one(&*store, S, event_about("a", "order-1")).await;
    let batch = Append::new(vec![
        event_about("b", "order-1"),
        event_about("c", "order-1"),
    ]);
    let error = store.append(S, batch.expecting(0)).await.unwrap_err();
    assert!(matches!(
        error,
        StoreError::VersionConflict { current: 1, .. }
    ));
    assert_eq!(all(&*store, S).await.len(), 1);

    let empty = store.append(S, Append::new(vec![])).await.unwrap_err();
    assert!(matches!(empty, StoreError::InvalidRequest(_)));
    let bad_name = store
        .append("no spaces", Append::one(event("x")))
        .await
        .unwrap_err();
    assert!(matches!(bad_name, StoreError::InvalidRequest(_)));
}

pub async fn duplicates_are_not_appended_and_return_the_original_position(target: &Target) {
    let store = target.open().await;
    let original = append_one(&*store, S, event("a")).await;

    // Same source + id, different data: still the same event.
    let retry = event("a").with_json_data(&"changed").unwrap();
    let again = store.append(S, Append::one(retry)).await.unwrap();
    assert!(again[0].duplicate);
    assert_eq!(again[0].position, original);

    // A duplicate inside one batch points at its first occurrence.
    let batch = store
        .append(S, Append::new(vec![event("b"), event("a"), event("b")]))
        .await
        .unwrap();
    assert!(!batch[0].duplicate);
    assert!(batch[1].duplicate && batch[1].position == original);
    assert!(batch[2].duplicate && batch[2].position == batch[0].position);

    // The same id from another source is another event.
    let mut other = event("a");
    other.source = "/elsewhere".into();
    append_one(&*store, S, other).await;

    assert_eq!(all(&*store, S).await.len(), 3);
}

/// A batch much larger than any internal chunk of a backend (the Redis script gathers its
/// index writes in chunks of 500): every event is deduplicated, indexed by subject and id,
/// and counted in its subject's version, across the chunk boundaries.
pub async fn a_large_batch_is_deduplicated_and_indexed_throughout(target: &Target) {
    let store = target.open().await;
    let first = append_one(&*store, S, event_about("e0", "s0")).await;
    // 1,300 events over 3 subjects; `e0` (stored already) and a repeat of `e700` inside the
    // batch are duplicates.
    let mut events: Vec<CloudEvent> = (0..1300)
        .map(|i| event_about(&format!("e{i}"), &format!("s{}", i % 3)))
        .collect();
    events.push(event_about("e700", "s1"));
    let results = store.append(S, Append::new(events)).await.unwrap();
    assert!(results[0].duplicate && results[0].position == first);
    assert!(results[1300].duplicate && results[1300].position == results[700].position);
    assert_eq!(results.iter().filter(|r| r.duplicate).count(), 2);
    assert_eq!(all(&*store, S).await.len(), 1300);
    let s1 = store
        .read(S, Read::forward(10_000).subject("s1"))
        .await
        .unwrap();
    assert_eq!(s1.len(), 433);
    assert!(s1.iter().all(|e| e.event.subject.as_deref() == Some("s1")));
    assert_eq!(store.subject_version(S, "s0").await.unwrap(), 434);
    assert_eq!(store.subject_version(S, "s1").await.unwrap(), 433);
    let found = store
        .get(S, "e1299", None)
        .await
        .unwrap()
        .expect("found by id");
    assert_eq!(found.position, results[1299].position);
    // Appending the whole batch again stores nothing.
    let again: Vec<CloudEvent> = (0..1300)
        .map(|i| event_about(&format!("e{i}"), &format!("s{}", i % 3)))
        .collect();
    let results = store.append(S, Append::new(again)).await.unwrap();
    assert!(results.iter().all(|r| r.duplicate));
    assert_eq!(all(&*store, S).await.len(), 1300);
}

pub async fn duplicates_are_recognised_after_a_restart(target: &Target) {
    let store = target.open().await;
    let original = append_one(&*store, S, event("a")).await;
    drop(store);

    let store = target.open().await;
    let again = store.append(S, Append::one(event("a"))).await.unwrap();
    assert!(again[0].duplicate);
    assert_eq!(again[0].position, original);
    let later = append_one(&*store, S, event("b")).await;
    assert!(
        later > original,
        "positions keep increasing after a restart"
    );
}

pub async fn expected_versions_guard_a_subject(target: &Target) {
    let store = target.open().await;
    let first = Append::one(event_about("a", "order-1")).expecting(0);
    store.append(S, first).await.unwrap();

    let stale = Append::one(event_about("b", "order-1")).expecting(0);
    match store.append(S, stale).await.unwrap_err() {
        StoreError::VersionConflict {
            subject,
            expected,
            current,
        } => assert_eq!((subject.as_str(), expected, current), ("order-1", 0, 1)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let batch = Append::new(vec![
        event_about("b", "order-1"),
        event_about("c", "order-1"),
    ]);
    store.append(S, batch.expecting(1)).await.unwrap();
    assert_eq!(store.subject_version(S, "order-1").await.unwrap(), 3);
    assert_eq!(store.subject_version(S, "order-2").await.unwrap(), 0);

    // A retry of an append that happened succeeds, whatever its (now stale) expectation.
    let retry = Append::one(event_about("a", "order-1")).expecting(0);
    assert!(store.append(S, retry).await.unwrap()[0].duplicate);

    let mixed = Append::new(vec![
        event_about("d", "order-1"),
        event_about("e", "order-2"),
    ]);
    let error = store.append(S, mixed.expecting(3)).await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidRequest(_)));
    let no_subject = store
        .append(S, Append::one(event("f")).expecting(0))
        .await
        .unwrap_err();
    assert!(matches!(no_subject, StoreError::InvalidRequest(_)));
}

pub async fn exactly_one_of_16_racing_writers_wins(target: &Target) {
    let store = target.open().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let append = Append::one(event_about(&format!("w{i}"), "order-1")).expecting(0);
                barrier.wait().await;
                store.append(S, append).await
            })
        })
        .collect();
    let mut wins = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::VersionConflict { current: 1, .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.subject_version(S, "order-1").await.unwrap(), 1);
    assert_eq!(all(&*store, S).await.len(), 1);
}

pub async fn subject_reads_return_that_subject_forward_and_backward(target: &Target) {
    let store = target.open().await;
    for i in 0..6 {
        let subject = if i % 2 == 0 { "order-a" } else { "order-b" };
        append_one(&*store, S, event_about(&format!("e{i}"), subject)).await;
    }
    let ids = |events: Vec<eddy::store::StoredEvent>| {
        events.into_iter().map(|s| s.event.id).collect::<Vec<_>>()
    };
    let forward = store
        .read(S, Read::forward(10).subject("order-a"))
        .await
        .unwrap();
    let second = forward[1].position;
    assert_eq!(ids(forward), ["e0", "e2", "e4"]);
    let backward = store
        .read(S, Read::backward(10).subject("order-a"))
        .await
        .unwrap();
    assert_eq!(ids(backward), ["e4", "e2", "e0"]);
    let after = Read::forward(10).subject("order-a").from(second);
    assert_eq!(ids(store.read(S, after).await.unwrap()), ["e4"]);
    let before = Read::backward(1).subject("order-a").from(second);
    assert_eq!(ids(store.read(S, before).await.unwrap()), ["e0"]);
    let none = store
        .read(S, Read::forward(10).subject("nobody"))
        .await
        .unwrap();
    assert!(none.is_empty());
}

pub async fn reads_page_forward_and_backward_from_exclusive_positions(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 7).await;

    let mut seen = Vec::new();
    let mut read = Read::forward(3);
    loop {
        let page = store.read(S, read.clone()).await.unwrap();
        let Some(last) = page.last() else { break };
        read = read.from(last.position);
        seen.extend(page.iter().map(|s| s.position));
    }
    assert_eq!(seen, positions, "pages cover the stream once, in order");

    let newest = store.read(S, Read::backward(2)).await.unwrap();
    assert_eq!(
        newest.iter().map(|s| s.position).collect::<Vec<_>>(),
        [positions[6], positions[5]]
    );
    let older = store
        .read(S, Read::backward(2).from(positions[5]))
        .await
        .unwrap();
    assert_eq!(older[0].position, positions[4]);
    assert!(
        store
            .read(S, Read::forward(5).from(positions[6]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .read("missing", Read::forward(5))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn events_are_found_by_id(target: &Target) {
    let store = target.open().await;
    append_n(&*store, 3).await;
    let found = store
        .get(S, "e1", None)
        .await
        .unwrap()
        .expect("found by id");
    assert_eq!(found.event.id, "e1");
    let exact = store
        .get(S, "e1", Some("/test"))
        .await
        .unwrap()
        .expect("found by source");
    assert_eq!(exact.position, found.position);
    assert!(store.get(S, "e1", Some("/other")).await.unwrap().is_none());
    assert!(store.get(S, "nope", None).await.unwrap().is_none());
    assert!(store.get("missing", "e1", None).await.unwrap().is_none());
}

pub async fn streams_are_listed_with_length_and_ends(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 3).await;
    append_one(&*store, "payments", event("p")).await;

    let streams = store.streams().await.unwrap();
    let names: Vec<_> = streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["orders", "payments"]);
    let orders = store.stream(S).await.unwrap().expect("exists");
    assert_eq!(orders.length, 3);
    assert_eq!(orders.first, Some(positions[0]));
    assert_eq!(orders.last, Some(positions[2]));
    assert!(store.stream("missing").await.unwrap().is_none());
}

pub async fn deleting_a_stream_forgets_it_entirely(target: &Target) {
    let store = target.open().await;
    append_one(&*store, S, event_about("a", "order-1")).await;
    store
        .create_group(S, "billing", GroupStart::Beginning)
        .await
        .unwrap();
    store
        .save_checkpoint(S, "billing", Position::new(1, 0))
        .await
        .unwrap();
    append_one(&*store, "other", event("a")).await;

    assert!(store.delete_stream(S).await.unwrap());
    assert!(
        !store.delete_stream(S).await.unwrap(),
        "deleting twice finds nothing"
    );
    assert!(store.stream(S).await.unwrap().is_none());
    assert!(store.read(S, Read::forward(10)).await.unwrap().is_empty());
    assert_eq!(store.subject_version(S, "order-1").await.unwrap(), 0);
    assert_eq!(store.checkpoint(S, "billing").await.unwrap(), None);
    let gone = store
        .read_group(S, "billing", "c1", 10, None)
        .await
        .unwrap_err();
    assert!(matches!(gone, StoreError::GroupNotFound { .. }));
    let again = store.append(S, Append::one(event("a"))).await.unwrap();
    assert!(
        !again[0].duplicate,
        "a deleted event's id can be used again"
    );
    assert_eq!(
        all(&*store, "other").await.len(),
        1,
        "other streams are untouched"
    );
}

pub async fn each_group_entry_goes_to_one_consumer_until_acknowledged(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 10).await;
    assert!(
        store
            .create_group(S, "billing", GroupStart::Beginning)
            .await
            .unwrap()
    );
    assert!(
        !store
            .create_group(S, "billing", GroupStart::Now)
            .await
            .unwrap()
    );

    let c1 = store.read_group(S, "billing", "c1", 4, None).await.unwrap();
    let c2 = store.read_group(S, "billing", "c2", 4, None).await.unwrap();
    let c1_again = store
        .read_group(S, "billing", "c1", 10, None)
        .await
        .unwrap();
    let delivered: Vec<_> = c1
        .iter()
        .chain(&c2)
        .chain(&c1_again)
        .map(|s| s.position)
        .collect();
    assert_eq!(delivered, positions, "every entry delivered once, in order");
    assert!(
        store
            .read_group(S, "billing", "c2", 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    let pending = store.pending(S, "billing", 100).await.unwrap();
    assert_eq!(pending.len(), 10);
    assert_eq!(pending[0].consumer, "c1");
    assert_eq!(pending[4].consumer, "c2");
    assert!(pending.iter().all(|p| p.deliveries == 1));

    let acked = store.ack(S, "billing", &positions[..5]).await.unwrap();
    assert_eq!(acked, 5);
    assert_eq!(
        store.ack(S, "billing", &positions[..5]).await.unwrap(),
        0,
        "acks are idempotent"
    );
    let pending = store.pending(S, "billing", 100).await.unwrap();
    assert_eq!(pending[0].position, positions[5]);

    // Another group sees everything again.
    store
        .create_group(S, "audit", GroupStart::Beginning)
        .await
        .unwrap();
    assert_eq!(
        store
            .read_group(S, "audit", "x", 100, None)
            .await
            .unwrap()
            .len(),
        10
    );
    let missing = store
        .read_group(S, "nobody", "x", 1, None)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::GroupNotFound { .. }));
    let missing = store.pending(S, "nobody", 1).await.unwrap_err();
    assert!(matches!(missing, StoreError::GroupNotFound { .. }));
}

pub async fn groups_start_at_the_beginning_now_or_a_position(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 3).await;
    store.create_group(S, "now", GroupStart::Now).await.unwrap();
    store
        .create_group(S, "after", GroupStart::After(positions[0]))
        .await
        .unwrap();
    let later = append_one(&*store, S, event("later")).await;

    let now = store.read_group(S, "now", "c", 10, None).await.unwrap();
    assert_eq!(now.iter().map(|s| s.position).collect::<Vec<_>>(), [later]);
    let after = store.read_group(S, "after", "c", 10, None).await.unwrap();
    assert_eq!(
        after.iter().map(|s| s.position).collect::<Vec<_>>(),
        [positions[1], positions[2], later]
    );

    // A group may exist before its stream has events.
    store
        .create_group("future", "g", GroupStart::Beginning)
        .await
        .unwrap();
    assert!(
        store
            .read_group("future", "g", "c", 10, None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_blocked_group_read_wakes_up_on_append(target: &Target) {
    let store = target.open().await;
    store.create_group(S, "g", GroupStart::Now).await.unwrap();
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read_group(S, "g", "c", 10, Some(Duration::from_secs(30)))
                .await
        })
    };
    // Whether the reader blocks before or after this append, it must get the event — well
    // before its 30 s run out.
    append_one(&*store, S, event("wake")).await;
    let delivered = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the blocked read returned")
        .unwrap()
        .unwrap();
    assert_eq!(delivered[0].event.id, "wake");

    let empty = store
        .read_group(S, "g", "c", 10, Some(Duration::from_millis(50)))
        .await
        .unwrap();
    assert!(
        empty.is_empty(),
        "with nothing new, a blocked read times out empty"
    );
}

pub async fn idle_entries_can_be_claimed_by_another_consumer(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 3).await;
    store
        .create_group(S, "g", GroupStart::Beginning)
        .await
        .unwrap();
    store.read_group(S, "g", "c1", 10, None).await.unwrap();

    let hour = Duration::from_secs(3600);
    assert!(
        store
            .claim(S, "g", "c2", hour, 10)
            .await
            .unwrap()
            .is_empty(),
        "not idle long enough"
    );
    let claimed = store.claim(S, "g", "c2", Duration::ZERO, 2).await.unwrap();
    assert_eq!(
        claimed.iter().map(|s| s.position).collect::<Vec<_>>(),
        positions[..2]
    );

    let pending = store.pending(S, "g", 10).await.unwrap();
    assert_eq!(
        (pending[0].consumer.as_str(), pending[0].deliveries),
        ("c2", 2)
    );
    assert_eq!(
        (pending[2].consumer.as_str(), pending[2].deliveries),
        ("c1", 1)
    );
    assert!(pending[0].idle < hour);
}

pub async fn a_removed_consumers_entries_stay_claimable(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 3).await;
    store
        .create_group(S, "g", GroupStart::Beginning)
        .await
        .unwrap();
    store.read_group(S, "g", "c1", 2, None).await.unwrap();
    store.read_group(S, "g", "c2", 1, None).await.unwrap();

    assert_eq!(store.remove_consumer(S, "g", "c1").await.unwrap(), 2);
    let pending = store.pending(S, "g", 10).await.unwrap();
    assert_eq!(pending.len(), 3, "nothing pending was lost");
    assert_eq!(pending[0].consumer, ORPHANED_CONSUMER);
    assert_eq!(pending[0].deliveries, 1);
    assert_eq!(pending[2].consumer, "c2");

    let claimed = store.claim(S, "g", "c3", Duration::ZERO, 2).await.unwrap();
    assert_eq!(
        claimed.iter().map(|s| s.position).collect::<Vec<_>>(),
        positions[..2]
    );
    assert_eq!(store.remove_consumer(S, "g", "nobody").await.unwrap(), 0);
}

pub async fn a_restarted_consumer_takes_back_its_own_and_orphaned_entries_at_once(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 4).await;
    store
        .create_group(S, "g", GroupStart::Beginning)
        .await
        .unwrap();
    // `c1` dies holding two entries; `c2` stops holding one, which passes to the orphan owner.
    store.read_group(S, "g", "c1", 2, None).await.unwrap();
    store.read_group(S, "g", "c2", 1, None).await.unwrap();
    store.remove_consumer(S, "g", "c2").await.unwrap();

    // A new process under c1's name takes back what c1 held, and what was orphaned, without
    // waiting for the entries to be idle; the fourth entry was never delivered.
    let own = store.claim_from(S, "g", "c1", "c1", 10).await.unwrap();
    assert_eq!(
        own.iter().map(|s| s.position).collect::<Vec<_>>(),
        positions[..2]
    );
    let orphaned = store
        .claim_from(S, "g", ORPHANED_CONSUMER, "c1", 10)
        .await
        .unwrap();
    assert_eq!(
        orphaned.iter().map(|s| s.position).collect::<Vec<_>>(),
        positions[2..3]
    );
    let pending = store.pending(S, "g", 10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.consumer.as_str(), p.deliveries))
            .collect::<Vec<_>>(),
        [("c1", 2), ("c1", 2), ("c1", 2)],
        "every held entry is c1's now, counted as delivered again"
    );
    assert!(
        store
            .claim_from(S, "g", "nobody", "c1", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let limited = store.claim_from(S, "g", "c1", "c3", 1).await.unwrap();
    assert_eq!(limited.len(), 1, "at most `limit` entries");
    let missing = store
        .claim_from(S, "no-such-group", "c1", "c1", 10)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::GroupNotFound { .. }));
}

pub async fn consumers_that_went_away_are_reaped_without_losing_entries(target: &Target) {
    let store = target.open().await;
    append_n(&*store, 2).await;
    store
        .create_group(S, "g", GroupStart::Beginning)
        .await
        .unwrap();
    let gone = store.read_group(S, "g", "gone", 1, None).await.unwrap();
    store.ack(S, "g", &[gone[0].position]).await.unwrap();
    store.read_group(S, "g", "busy", 1, None).await.unwrap();

    let reaped = store.reap_consumers(S, "g", Duration::ZERO).await.unwrap();
    match target {
        // Redis keeps a record of every consumer; the one without pending entries goes.
        Target::Redis(_) => assert_eq!(reaped, ["gone"]),
        // The embedded store keeps none: a consumer exists only through pending entries.
        Target::Embedded(_) => assert!(reaped.is_empty()),
    }
    let pending = store.pending(S, "g", 10).await.unwrap();
    assert_eq!(
        pending.len(),
        1,
        "the busy consumer's entry is still pending"
    );
    assert_eq!(pending[0].consumer, "busy");
    let later = store
        .reap_consumers(S, "g", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(later.is_empty(), "recently active consumers stay");
}

pub async fn checkpoints_are_kept_per_group_and_stream(target: &Target) {
    let store = target.open().await;
    assert_eq!(store.checkpoint(S, "billing").await.unwrap(), None);
    store
        .save_checkpoint(S, "billing", Position::new(5, 1))
        .await
        .unwrap();
    store
        .save_checkpoint(S, "billing", Position::new(7, 0))
        .await
        .unwrap();
    store
        .save_checkpoint("other", "billing", Position::new(1, 0))
        .await
        .unwrap();
    drop(store);
    let store = target.open().await;
    assert_eq!(
        store.checkpoint(S, "billing").await.unwrap(),
        Some(Position::new(7, 0))
    );
    assert_eq!(
        store.checkpoint("other", "billing").await.unwrap(),
        Some(Position::new(1, 0))
    );
    assert_eq!(store.checkpoint(S, "audit").await.unwrap(), None);
}

pub async fn trimming_never_drops_an_unacknowledged_entry(target: &Target) {
    let store = target.open().await;
    let positions = append_n(&*store, 10).await;
    store
        .create_group(S, "g", GroupStart::Beginning)
        .await
        .unwrap();
    store.read_group(S, "g", "c", 4, None).await.unwrap();
    store
        .ack(S, "g", &[positions[0], positions[1], positions[3]])
        .await
        .unwrap();

    // positions[2] is still pending: the trim stops there.
    let trimmed = store.trim(S, Trim::MaxLen(1)).await.unwrap();
    assert_eq!(trimmed.removed, 2);
    assert!(trimmed.held_by_groups);
    assert_eq!(all(&*store, S).await[0].0, positions[2]);
    assert_eq!(store.stream(S).await.unwrap().unwrap().length, 8);

    // Acknowledged but never-delivered entries are still needed by the group.
    store.ack(S, "g", &[positions[2]]).await.unwrap();
    let trimmed = store.trim(S, Trim::MaxLen(1)).await.unwrap();
    assert_eq!((trimmed.removed, trimmed.held_by_groups), (2, true));
    assert_eq!(all(&*store, S).await[0].0, positions[4]);

    store.read_group(S, "g", "c", 100, None).await.unwrap();
    store.ack(S, "g", &positions).await.unwrap();
    let trimmed = store.trim(S, Trim::MaxLen(1)).await.unwrap();
    assert_eq!((trimmed.removed, trimmed.held_by_groups), (5, false));
    assert_eq!(all(&*store, S).await, [(positions[9], "e9".to_string())]);

    // A trimmed event is forgotten: its id may be appended again.
    let again = store.append(S, Append::one(event("e0"))).await.unwrap();
    assert!(!again[0].duplicate);
    assert!(store.get(S, "e1", None).await.unwrap().is_none());
}

pub async fn trimming_by_age_keeps_recent_events(target: &Target) {
    let store = target.open().await;
    append_n(&*store, 5).await;
    let trimmed = store
        .trim(S, Trim::MaxAge(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(trimmed.removed, 0);
    let trimmed = store.trim(S, Trim::MaxLen(2)).await.unwrap();
    assert_eq!(trimmed.removed, 3);
    // Subject indexes forget trimmed events, but versions never go down.
    append_one(&*store, S, event_about("s1", "order-1")).await;
    append_one(&*store, S, event_about("s2", "order-1")).await;
    store.trim(S, Trim::MaxLen(1)).await.unwrap();
    let history = store
        .read(S, Read::forward(10).subject("order-1"))
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(store.subject_version(S, "order-1").await.unwrap(), 2);
}

pub async fn large_payloads_round_trip(target: &Target) {
    let store = target.open().await;
    let text = "x".repeat(1 << 20);
    let json = event("json").with_json_data(&text).unwrap();
    let mut binary = event("binary");
    binary.datacontenttype = Some("application/octet-stream".into());
    binary.data = Some(Data::Binary(
        (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect(),
    ));
    store
        .append(S, Append::new(vec![json.clone(), binary.clone()]))
        .await
        .unwrap();
    let stored = store.read(S, Read::forward(10)).await.unwrap();
    assert_eq!(stored[0].event, json);
    assert_eq!(stored[1].event, binary);
}

pub async fn unicode_round_trips(target: &Target) {
    let store = target.open().await;
    let e = CloudEvent::new("ид-ü-🦀", "/quelle/ß", "bestellung.erstellt")
        .with_subject("注文-42 ✓")
        .with_json_data(&serde_json::json!({"name": "Zoë 🦀", "note": "line\nbreak\u{0}nul"}))
        .unwrap();
    let appended = store
        .append(S, Append::one(e.clone()).expecting(0))
        .await
        .unwrap();
    let by_subject = store
        .read(S, Read::forward(1).subject("注文-42 ✓"))
        .await
        .unwrap();
    assert_eq!(by_subject[0].event, e);
    let by_id = store
        .get(S, "ид-ü-🦀", Some("/quelle/ß"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.position, appended[0].position);
    assert!(store.append(S, Append::one(e)).await.unwrap()[0].duplicate);
}

// ---- Commits, reducer states and leases ----

const OUT: &str = "shipments";
const LEASE: &str = "sub.orders.0";

fn saved(state: &[u8], position: Position, events: u64) -> SavedState {
    SavedState {
        state: state.to_vec(),
        stream: S.to_string(),
        position,
        plugin: "sha256:0123abcd".to_string(),
        events,
        latest_time: None,
    }
}

fn state_write(projection: &str, subject: &str, state: SavedState) -> StateWrite {
    StateWrite {
        projection: projection.to_string(),
        subject: subject.to_string(),
        state,
    }
}

/// Three events in [`S`], delivered to consumer `c1` of group `billing`: all pending.
async fn delivered_input(store: &dyn EventStore) -> Vec<Position> {
    let positions = append_n(store, 3).await;
    store
        .create_group(S, "billing", GroupStart::Beginning)
        .await
        .unwrap();
    let delivered = store
        .read_group(S, "billing", "c1", 10, None)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 3);
    positions
}

/// A step's output for input position `p`: two emitted events, the ack of `p`, the state and
/// checkpoint that reflect it.
fn step(p: Position, fence: Option<Fence>) -> Commit {
    Commit {
        appends: vec![(
            OUT.to_string(),
            vec![event("ship-1"), event_about("ship-2", "order-1")],
        )],
        acks: vec![GroupAck {
            stream: S.to_string(),
            group: "billing".to_string(),
            positions: vec![p],
        }],
        states: vec![state_write(
            "totals",
            "order-1",
            saved(br#"{"total":12}"#, p, 1),
        )],
        checkpoints: vec![(S.to_string(), "totals".to_string(), p)],
        fence,
        ..Commit::default()
    }
}

async fn pending_positions(store: &dyn EventStore) -> Vec<Position> {
    let pending = store.pending(S, "billing", 100).await.unwrap();
    pending.into_iter().map(|p| p.position).collect()
}

pub async fn a_commit_appends_acks_and_saves_state_and_checkpoint_together(target: &Target) {
    let store = target.open().await;
    let input = delivered_input(&*store).await;
    let results = store.commit(step(input[0], None)).await.unwrap();

    assert_eq!(results.len(), 1, "one result per appends entry");
    let ids: Vec<_> = results[0].iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["ship-1", "ship-2"]);
    assert!(results[0].iter().all(|a| !a.duplicate));
    let stored = all(&*store, OUT).await;
    assert_eq!(
        stored,
        vec![
            (results[0][0].position, "ship-1".to_string()),
            (results[0][1].position, "ship-2".to_string())
        ]
    );
    assert_eq!(
        store.subject_version(OUT, "order-1").await.unwrap(),
        1,
        "committed events are indexed like appended ones"
    );
    assert_eq!(pending_positions(&*store).await, input[1..]);
    assert_eq!(
        store.load_state("totals", "order-1").await.unwrap(),
        Some(saved(br#"{"total":12}"#, input[0], 1))
    );
    assert_eq!(
        store.checkpoint(S, "totals").await.unwrap(),
        Some(input[0]),
        "commit checkpoints are the ones save_checkpoint keeps"
    );

    // A commit may touch several streams, and the same stream twice, in order.
    let results = store
        .commit(Commit {
            appends: vec![
                (OUT.to_string(), vec![event("ship-3")]),
                ("audit".to_string(), vec![event("a-1")]),
                (OUT.to_string(), vec![event("ship-4"), event("ship-3")]),
                ("audit".to_string(), vec![]),
            ],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        results.iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 1, 2, 0]
    );
    assert!(results[2][0].position > results[0][0].position);
    assert!(results[2][1].duplicate && results[2][1].position == results[0][0].position);
    assert_eq!(all(&*store, OUT).await.len(), 4);
    assert_eq!(all(&*store, "audit").await.len(), 1);
}

pub async fn a_failed_commit_writes_nothing(target: &Target) {
    let store = target.open().await;
    let input = delivered_input(&*store).await;
    let lease = store
        .acquire_lease(LEASE, "host-a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let stale = Fence {
        lease: LEASE.to_string(),
        owner: "host-a".to_string(),
        token: lease.token,
    };
    assert!(store.release_lease(LEASE, "host-a").await.unwrap());
    store
        .acquire_lease(LEASE, "host-b", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();

    let lost = store.commit(step(input[0], Some(stale))).await.unwrap_err();
    assert!(
        matches!(&lost, StoreError::LeaseLost { lease } if lease == LEASE),
        "{lost:?}"
    );

    // A missing group is found after the appends were planned: still nothing is written.
    let mut no_group = step(input[0], None);
    no_group.acks.push(GroupAck {
        stream: S.to_string(),
        group: "nobody".to_string(),
        positions: vec![input[1]],
    });
    let missing = store.commit(no_group).await.unwrap_err();
    assert!(
        matches!(missing, StoreError::GroupNotFound { .. }),
        "{missing:?}"
    );

    let mut bad = step(input[0], None);
    bad.appends[0].1.push(CloudEvent::new("", "/test", "x"));
    let invalid = store.commit(bad).await.unwrap_err();
    assert!(matches!(invalid, StoreError::InvalidRequest(_)));

    assert!(store.stream(OUT).await.unwrap().is_none(), "no appends");
    assert_eq!(pending_positions(&*store).await, input, "no acks");
    assert_eq!(store.load_state("totals", "order-1").await.unwrap(), None);
    assert_eq!(store.checkpoint(S, "totals").await.unwrap(), None);

    let fence = Fence {
        lease: LEASE.to_string(),
        owner: "host-b".to_string(),
        token: lease.token + 1,
    };
    store.commit(step(input[0], Some(fence))).await.unwrap();
    assert_eq!(pending_positions(&*store).await, input[1..]);
}

pub async fn a_retried_commit_appends_nothing_twice(target: &Target) {
    let store = target.open().await;
    let input = delivered_input(&*store).await;
    let first = store.commit(step(input[0], None)).await.unwrap();
    let retry = store.commit(step(input[0], None)).await.unwrap();
    for (original, again) in first[0].iter().zip(&retry[0]) {
        assert!(again.duplicate);
        assert_eq!(again.position, original.position);
        assert_eq!(again.id, original.id);
    }
    assert_eq!(all(&*store, OUT).await.len(), 2);
    assert_eq!(store.subject_version(OUT, "order-1").await.unwrap(), 1);
    assert_eq!(pending_positions(&*store).await, input[1..]);
}

pub async fn states_load_back_byte_identical_and_list_in_order(target: &Target) {
    let store = target.open().await;
    let p = Position::new(1_700_000_000_000, 7);
    let binary: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    let subjects = ["order-10", "order-2", "Order-1", "注文-1", "order-1"];
    let states = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| state_write("totals", s, saved(&binary, p, i as u64)))
        .chain([state_write("other", "order-1", saved(b"{}", p, 1))])
        .collect();
    store
        .commit(Commit {
            states,
            ..Commit::default()
        })
        .await
        .unwrap();
    drop(store);
    let store = target.open().await;

    let loaded = store.load_state("totals", "注文-1").await.unwrap().unwrap();
    assert_eq!(loaded, saved(&binary, p, 3));
    assert_eq!(store.load_state("totals", "order-3").await.unwrap(), None);
    assert_eq!(store.load_state("nothing", "order-1").await.unwrap(), None);

    // Ascending byte order, paged with an exclusive `after`.
    let mut sorted: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    let first = store.list_states("totals", None, 2).await.unwrap();
    assert_eq!(first, sorted[..2]);
    let second = store
        .list_states("totals", Some(&first[1]), 2)
        .await
        .unwrap();
    assert_eq!(second, sorted[2..4]);
    let rest = store
        .list_states("totals", Some(&second[1]), 10)
        .await
        .unwrap();
    assert_eq!(rest, sorted[4..]);
    assert!(
        store
            .list_states("totals", Some("注文-2"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_states("totals", Some("order-10"), 10)
            .await
            .unwrap(),
        ["order-2", "注文-1"],
        "`after` need not be a saved subject's"
    );

    // A later save replaces the state.
    store
        .commit(Commit {
            states: vec![state_write("totals", "order-1", saved(b"new", p, 9))],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.load_state("totals", "order-1").await.unwrap(),
        Some(saved(b"new", p, 9))
    );
    assert_eq!(
        store.list_states("totals", None, 100).await.unwrap().len(),
        5
    );

    assert_eq!(store.delete_projection("totals").await.unwrap(), 5);
    assert_eq!(store.delete_projection("totals").await.unwrap(), 0);
    assert!(
        store
            .list_states("totals", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.load_state("totals", "order-1").await.unwrap(), None);
    assert_eq!(
        store.list_states("other", None, 10).await.unwrap(),
        ["order-1"],
        "other projections are untouched"
    );
}

fn snapshot_write(subject: &str, plugin: &str, at: Position, keep: u32) -> SnapshotWrite {
    let mut snapshot = saved(format!("{plugin}@{at}").as_bytes(), at, at.seq);
    snapshot.plugin = plugin.to_string();
    SnapshotWrite {
        projection: "totals".to_string(),
        subject: subject.to_string(),
        snapshot,
        keep,
    }
}

pub async fn snapshots_are_found_by_plugin_hash_at_or_before_a_position(target: &Target) {
    let store = target.open().await;
    let at = |seq| Position::new(1_700_000_000_000, seq);
    let (old, new) = ("sha256:0001", "sha256:0002");
    store
        .commit(Commit {
            states: vec![state_write("totals", "o-1", saved(b"s", at(30), 30))],
            snapshots: vec![
                snapshot_write("o-1", old, at(10), 5),
                snapshot_write("o-1", old, at(20), 5),
                snapshot_write("o-1", new, at(15), 5),
                snapshot_write("注文 2", old, at(12), 5),
            ],
            ..Commit::default()
        })
        .await
        .unwrap();
    drop(store);
    let store = target.open().await;
    let nearest = |subject: &'static str, plugin: &'static str, p: Position| {
        let store = store.clone();
        async move {
            store
                .nearest_snapshot("totals", subject, plugin, p)
                .await
                .unwrap()
                .map(|s| (s.position, String::from_utf8(s.state).unwrap(), s.plugin))
        }
    };
    assert_eq!(
        nearest("o-1", old, at(9)).await,
        None,
        "none before the first"
    );
    let exact = nearest("o-1", old, at(10)).await.unwrap();
    assert_eq!(exact.0, at(10), "a snapshot at the position itself counts");
    assert_eq!(exact.1, format!("{old}@{}", at(10)));
    assert_eq!(nearest("o-1", old, at(19)).await.unwrap().0, at(10));
    assert_eq!(
        nearest("o-1", old, Position::new(u64::MAX, u64::MAX))
            .await
            .unwrap()
            .0,
        at(20)
    );
    // Another plugin hash's snapshots are invisible, even when nearer.
    assert_eq!(nearest("o-1", new, at(14)).await, None);
    let other = nearest("o-1", new, at(40)).await.unwrap();
    assert_eq!((other.0, other.2.as_str()), (at(15), new));
    assert_eq!(nearest("注文 2", old, at(12)).await.unwrap().0, at(12));
    assert_eq!(nearest("o-2", old, at(40)).await, None);
    let full = store
        .nearest_snapshot("totals", "o-1", old, at(25))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full.events, 20);
    assert_eq!(full.stream, S);

    assert_eq!(store.delete_projection("totals").await.unwrap(), 1);
    assert_eq!(
        nearest("o-1", old, at(40)).await,
        None,
        "deleted with the projection"
    );
}

pub async fn only_the_newest_snapshots_of_a_subject_and_hash_are_kept(target: &Target) {
    let store = target.open().await;
    let at = |seq| Position::new(1_700_000_000_000, seq);
    let (old, new) = ("sha256:0001", "sha256:0002");
    store
        .commit(Commit {
            snapshots: vec![snapshot_write("o-1", new, at(1), 2)],
            ..Commit::default()
        })
        .await
        .unwrap();
    for seq in 1..=6 {
        store
            .commit(Commit {
                states: vec![state_write("totals", "o-1", saved(b"s", at(seq), seq))],
                snapshots: vec![snapshot_write("o-1", old, at(seq * 10), 3)],
                ..Commit::default()
            })
            .await
            .unwrap();
    }
    let found = |plugin: &'static str, seq| {
        let store = store.clone();
        async move {
            store
                .nearest_snapshot("totals", "o-1", plugin, at(seq))
                .await
                .unwrap()
                .map(|s| s.position)
        }
    };
    assert_eq!(found(old, 60).await, Some(at(60)));
    assert_eq!(found(old, 45).await, Some(at(40)));
    assert_eq!(
        found(old, 39).await,
        None,
        "the three newest are kept: 40, 50, 60"
    );
    assert_eq!(
        found(new, 100).await,
        Some(at(1)),
        "pruning counts per plugin hash"
    );
}

pub async fn events_appended_after_the_clock_is_read_are_positioned_after_it(target: &Target) {
    let store = target.open().await;
    for stream in ["clock-a", "clock-b", "clock-a"] {
        let clock = store.clock_ms().await.unwrap();
        let appended = store
            .append(stream, Append::one(event(&format!("c-{clock}-{stream}"))))
            .await
            .unwrap();
        assert!(appended[0].position >= Position::new(clock, 0), "{stream}");
    }
}

pub async fn states_and_snapshots_keep_their_latest_event_time(target: &Target) {
    let store = target.open().await;
    let at = |seq| Position::new(1_700_000_000_000, seq);
    let plugin = "sha256:0001";
    let timed = |seq: u64, time: Option<i64>| {
        let mut write = snapshot_write("o-1", plugin, at(seq), 3);
        write.snapshot.latest_time = time;
        write
    };
    let mut state = saved(b"s", at(40), 4);
    state.latest_time = Some(-7);
    store
        .commit(Commit {
            states: vec![state_write("totals", "o-1", state.clone())],
            snapshots: vec![timed(10, None), timed(20, Some(200)), timed(30, Some(300))],
            ..Commit::default()
        })
        .await
        .unwrap();
    store
        .commit(Commit {
            snapshots: vec![timed(40, Some(400))],
            ..Commit::default()
        })
        .await
        .unwrap();
    drop(store);
    let store = target.open().await;
    assert_eq!(
        store.load_state("totals", "o-1").await.unwrap(),
        Some(state)
    );
    let by_time = |time| {
        let store = store.clone();
        async move {
            store
                .nearest_snapshot_by_time("totals", "o-1", plugin, time)
                .await
                .unwrap()
                .map(|s| (s.position, s.latest_time))
        }
    };
    assert_eq!(by_time(1_000).await, Some((at(40), Some(400))));
    assert_eq!(by_time(399).await, Some((at(30), Some(300))));
    assert_eq!(
        by_time(300).await,
        Some((at(30), Some(300))),
        "at the time counts"
    );
    // 10 was pruned (three kept); 20 is the oldest left.
    assert_eq!(by_time(250).await, Some((at(20), Some(200))));
    assert_eq!(by_time(199).await, None);
    assert_eq!(
        store
            .nearest_snapshot_by_time("totals", "o-1", "sha256:0002", 1_000)
            .await
            .unwrap(),
        None,
        "another plugin hash's snapshots are invisible"
    );
    let untimed = store
        .nearest_snapshot("totals", "o-1", plugin, at(40))
        .await;
    assert_eq!(untimed.unwrap().unwrap().latest_time, Some(400));
    store.delete_projection("totals").await.unwrap();
    assert_eq!(by_time(1_000).await, None, "deleted with the projection");
}

pub async fn leases_are_exclusive_and_renewals_keep_the_token(target: &Target) {
    let store = target.open().await;
    let ttl = Duration::from_secs(60);
    let a = store
        .acquire_lease(LEASE, "host-a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.name.as_str(), a.owner.as_str()), (LEASE, "host-a"));
    assert!(a.expires_in_ms > 0 && a.expires_in_ms <= 60_000);
    assert_eq!(
        store.acquire_lease(LEASE, "host-b", ttl).await.unwrap(),
        None
    );
    assert!(!store.release_lease(LEASE, "host-b").await.unwrap());

    let renewed = store
        .acquire_lease(LEASE, "host-a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.token, a.token, "a renewal keeps the token");
    let fence = Fence {
        lease: LEASE.to_string(),
        owner: "host-a".to_string(),
        token: a.token,
    };
    store
        .commit(Commit {
            fence: Some(fence.clone()),
            ..Commit::default()
        })
        .await
        .expect("a renewed lease still fences with its token");

    assert!(store.release_lease(LEASE, "host-a").await.unwrap());
    assert!(!store.release_lease(LEASE, "host-a").await.unwrap());
    let b = store
        .acquire_lease(LEASE, "host-b", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
    let lost = store
        .commit(Commit {
            fence: Some(fence),
            ..Commit::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::LeaseLost { .. }), "{lost:?}");

    // Tokens survive a restart, and a release, and A's return.
    drop(store);
    let store = target.open().await;
    assert!(store.release_lease(LEASE, "host-b").await.unwrap());
    let again = store
        .acquire_lease(LEASE, "host-a", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(again.token > b.token);
}

pub async fn an_expired_lease_can_be_taken_with_a_greater_token(target: &Target) {
    let store = target.open().await;
    let short = Duration::from_millis(150);
    let a = store
        .acquire_lease(LEASE, "host-a", short)
        .await
        .unwrap()
        .unwrap();
    let fence = Fence {
        lease: LEASE.to_string(),
        owner: "host-a".to_string(),
        token: a.token,
    };
    // Expiry is a matter of time: nothing to wait on but the clock.
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    let lost = store
        .commit(Commit {
            fence: Some(fence),
            checkpoints: vec![(S.to_string(), "x".to_string(), Position::new(1, 0))],
            ..Commit::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(lost, StoreError::LeaseLost { .. }),
        "an expired lease fences nothing: {lost:?}"
    );
    assert_eq!(store.checkpoint(S, "x").await.unwrap(), None);
    assert!(store.leases("").await.unwrap().is_empty());
    assert!(!store.release_lease(LEASE, "host-a").await.unwrap());

    let b = store
        .acquire_lease(LEASE, "host-b", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(b.token > a.token);
}

pub async fn live_leases_are_listed_by_prefix(target: &Target) {
    let store = target.open().await;
    let ttl = Duration::from_secs(60);
    for (name, owner) in [
        ("sub.orders.1", "host-b"),
        ("sub.orders.0", "host-a"),
        ("sub.payments.0", "host-a"),
        ("sub.orders.2", "host-a"),
    ] {
        store
            .acquire_lease(name, owner, ttl)
            .await
            .unwrap()
            .unwrap();
    }
    assert!(store.release_lease("sub.orders.2", "host-a").await.unwrap());

    let listed = store.leases("sub.orders.").await.unwrap();
    let names: Vec<_> = listed
        .iter()
        .map(|l| (l.name.as_str(), l.owner.as_str()))
        .collect();
    assert_eq!(
        names,
        [("sub.orders.0", "host-a"), ("sub.orders.1", "host-b")]
    );
    assert!(
        listed
            .iter()
            .all(|l| l.expires_in_ms > 0 && l.expires_in_ms <= 60_000)
    );
    assert_eq!(store.leases("").await.unwrap().len(), 3);
    assert!(store.leases("sub.x").await.unwrap().is_empty());

    let bad = store
        .acquire_lease("no spaces", "a", ttl)
        .await
        .unwrap_err();
    assert!(matches!(bad, StoreError::InvalidRequest(_)));
    let no_ttl = store
        .acquire_lease(LEASE, "a", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(no_ttl, StoreError::InvalidRequest(_)));
}

pub async fn exactly_one_of_8_racing_owners_gets_a_lease(target: &Target) {
    let store = target.open().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let owners: Vec<_> = (0..8)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let owner = format!("host-{i}");
                store
                    .acquire_lease(LEASE, &owner, Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for owner in owners {
        if let Some(lease) = owner.await.unwrap() {
            winners.push(lease);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let listed = store.leases(LEASE).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].owner, winners[0].owner);
    assert_eq!(listed[0].token, winners[0].token);
}
