//! Conformance: consumer groups — delivery, acknowledgement, claims and takeovers, consumers,
//! checkpoints, and trimming that keeps what is pending.

use super::*;

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
