//! Conformance: leases and their fencing tokens.

use super::*;

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
