//! Conformance: appends, deduplication, expected versions, reads, stream listing and deletion,
//! trimming by age, payloads.

use super::*;

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

pub async fn one_id_from_two_sources_is_two_events_until_trimmed(target: &Target) {
    let store = target.open().await;
    let from = |source: &str| {
        let mut e = event_about("x", "order-1");
        e.source = source.to_string();
        e
    };
    let first = store
        .append(S, Append::new(vec![from("/a"), from("/b"), from("/a")]))
        .await
        .unwrap();
    let duplicates: Vec<_> = first.iter().map(|r| r.duplicate).collect();
    assert_eq!(duplicates, [false, false, true]);
    assert_eq!(first[2].position, first[0].position);
    let again = store.append(S, Append::one(from("/b"))).await.unwrap();
    assert!(again[0].duplicate);
    assert_eq!(again[0].position, first[1].position);
    assert_eq!(store.subject_version(S, "order-1").await.unwrap(), 2);

    let by_id = store.get(S, "x", None).await.unwrap().expect("found by id");
    assert_eq!(by_id.position, first[0].position, "the first retained one");
    let by_b = store.get(S, "x", Some("/b")).await.unwrap().expect("found");
    assert_eq!(by_b.position, first[1].position);

    // Trimmed: the lookup moves on to the next one, and the source may publish the id again.
    store.trim(S, Trim::MaxLen(1)).await.unwrap();
    let by_id = store.get(S, "x", None).await.unwrap().expect("still found");
    assert_eq!(by_id.position, first[1].position);
    assert!(store.get(S, "x", Some("/a")).await.unwrap().is_none());
    let republished = store.append(S, Append::one(from("/a"))).await.unwrap();
    assert!(!republished[0].duplicate);
    assert_eq!(store.subject_version(S, "order-1").await.unwrap(), 3);
    let history = store
        .read(S, Read::forward(10).subject("order-1"))
        .await
        .unwrap();
    let positions: Vec<_> = history.iter().map(|e| e.position).collect();
    assert_eq!(positions, [first[1].position, republished[0].position]);
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
