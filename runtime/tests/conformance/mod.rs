//! The `EventStore` conformance suite: every case runs against every backend (see
//! `tests/store.rs`). Each case takes a fresh [`Target`] and may open it more than once.

use std::sync::Arc;
use std::time::Duration;

use eddy::event::{CloudEvent, Data, Position};
use eddy::store::{Append, EventStore, GroupStart, ORPHANED_CONSUMER, Read, StoreError, Trim};

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
