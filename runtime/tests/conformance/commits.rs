//! Conformance: atomic commits, reducer states, snapshots and the store's clock.

use super::*;

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
