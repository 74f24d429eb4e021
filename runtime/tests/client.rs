//! `eddy::client` — Eddy as a library — on both backends: publishing, subscribing through
//! consumer groups with acknowledgements, type patterns, start positions, history and
//! closing.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use eddy::client::{ClientError, Delivery, Eddy, Subscribe, Subscription};
use eddy::event::CloudEvent;
use eddy::store::{GroupStart, Read};
use futures_util::{StreamExt, TryStreamExt};
use support::{Target, event};

/// A guard against a hang, not a timing assertion: every wait below ends in milliseconds
/// when the code works.
const HANG: Duration = Duration::from_secs(60);

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let target = crate::Target::embedded();
                    crate::$case(&target).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let target = crate::Target::redis();
                    crate::$case(&target).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_group_shares_events_between_consumers_and_acknowledged_ones_stay_done,
    an_unacknowledged_delivery_is_delivered_again,
    type_patterns_deliver_only_matching_events,
    without_a_group_a_subscription_follows_from_its_start,
    history_reads_everything_after_a_position_page_by_page,
    closing_ends_subscriptions_and_refuses_further_calls,
);

async fn open(target: &Target) -> Eddy {
    Eddy::open(&target.url()).await.expect("the store opens")
}

async fn next(subscription: &mut Subscription) -> Delivery {
    tokio::time::timeout(HANG, subscription.next())
        .await
        .expect("a delivery comes")
        .expect("the subscription is running")
}

fn typed(id: &str, ty: &str) -> CloudEvent {
    CloudEvent::new(id, "/test", ty)
}

async fn a_group_shares_events_between_consumers_and_acknowledged_ones_stay_done(target: &Target) {
    let eddy = open(target).await;
    let batch: Vec<CloudEvent> = (0..20).map(|i| event(&format!("e-{i}"))).collect();
    eddy.publish_batch("orders", batch).await.unwrap();
    let options = |name: &str| {
        Subscribe::to("orders")
            .group("billing")
            .consumer(name)
            .batch(3)
            .block(Duration::from_millis(50))
    };
    let mut a = eddy.subscribe(options("a"));
    let mut b = eddy.subscribe(options("b"));
    let mut seen = BTreeSet::new();
    let mut deliveries = 0;
    while seen.len() < 20 {
        let delivery = tokio::select! {
            d = next(&mut a) => d,
            d = next(&mut b) => d,
        };
        delivery.ack().await.unwrap();
        seen.insert(delivery.event.event.id.clone());
        deliveries += 1;
    }
    assert_eq!(deliveries, 20, "each event went to exactly one consumer");
    a.close().await;
    b.close().await;
    assert!(
        eddy.store()
            .pending("orders", "billing", 100)
            .await
            .unwrap()
            .is_empty(),
        "nothing acknowledged is pending"
    );
    // A later consumer of the same group gets only what is new.
    eddy.publish("orders", event("e-20")).await.unwrap();
    let mut c = eddy.subscribe(options("c"));
    assert_eq!(next(&mut c).await.event.event.id, "e-20");
}

async fn an_unacknowledged_delivery_is_delivered_again(target: &Target) {
    let eddy = open(target).await;
    eddy.publish("jobs", event("j-1")).await.unwrap();
    let mut jobs = eddy.subscribe(
        Subscribe::to("jobs")
            .group("runners")
            .claim_idle(Duration::from_millis(100))
            .block(Duration::from_millis(50)),
    );
    let first = next(&mut jobs).await;
    assert_eq!(first.event.event.id, "j-1");
    // Not acknowledged: it comes back once it has been idle long enough.
    let again = next(&mut jobs).await;
    assert_eq!(again.event.event.id, "j-1");
    assert_eq!(again.position(), first.position());
    again.ack().await.unwrap();
}

async fn type_patterns_deliver_only_matching_events(target: &Target) {
    let eddy = open(target).await;
    let batch = vec![
        typed("1", "public.users.create"),
        typed("2", "public.orders.create"),
        typed("3", "public.users.delete"),
        typed("4", "public.orders.delete"),
    ];
    eddy.publish_batch("crud", batch).await.unwrap();
    let mut users = eddy.subscribe(
        Subscribe::to("crud")
            .group("mails")
            .types(["public.users.*"]),
    );
    let mut deletes = eddy.subscribe(Subscribe::to("crud").group("audit").types(["*.*.delete"]));
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = next(&mut users).await;
        d.ack().await.unwrap();
        got.push(d.event.event.id.clone());
    }
    assert_eq!(got, ["1", "3"]);
    let mut got = Vec::new();
    for _ in 0..2 {
        let d = next(&mut deletes).await;
        d.ack().await.unwrap();
        got.push(d.event.event.id.clone());
    }
    assert_eq!(got, ["3", "4"]);
    users.close().await;
    // Events of other types were acknowledged for the group without being delivered.
    let pending = eddy.store().pending("crud", "mails", 100).await.unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}

async fn without_a_group_a_subscription_follows_from_its_start(target: &Target) {
    let eddy = open(target).await;
    let first = eddy.publish("log", event("l-1")).await.unwrap();
    eddy.publish("log", event("l-2")).await.unwrap();
    let mut everything = eddy.subscribe(Subscribe::to("log"));
    let mut after_first =
        eddy.subscribe(Subscribe::to("log").start(GroupStart::After(first.position)));
    let mut only_new = eddy.subscribe(Subscribe::to("log").start(GroupStart::Now));
    assert_eq!(next(&mut everything).await.event.event.id, "l-1");
    assert_eq!(next(&mut after_first).await.event.event.id, "l-2");
    // `Now` is resolved when the reader starts: publish until the follower sees something
    // new, which must not be one of the two earlier events.
    let mut n = 3;
    let seen = loop {
        eddy.publish("log", event(&format!("l-{n}"))).await.unwrap();
        n += 1;
        let wait = tokio::time::timeout(Duration::from_millis(200), only_new.next()).await;
        if let Ok(Some(d)) = wait {
            break d.event.event.id.clone();
        }
        assert!(n < 300, "the follower never saw a new event");
    };
    assert!(seen != "l-1" && seen != "l-2", "{seen}");
    // Acknowledging without a group does nothing and does not fail.
    next(&mut everything).await.ack().await.unwrap();
}

async fn history_reads_everything_after_a_position_page_by_page(target: &Target) {
    let eddy = open(target).await;
    let batch: Vec<CloudEvent> = (0..2_500)
        .map(|i| event(&format!("h-{i}")).with_subject(format!("s-{}", i % 2)))
        .collect();
    let appended = eddy.publish_batch("history", batch).await.unwrap();
    let all: Vec<_> = eddy.history("history", None).try_collect().await.unwrap();
    assert_eq!(all.len(), 2_500);
    let from = appended[999].position;
    let rest: Vec<_> = eddy
        .history("history", Some(from))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rest.len(), 1_500);
    assert_eq!(rest[0].event.id, "h-1000");
    assert!(rest.windows(2).all(|w| w[0].position < w[1].position));
    let odd: Vec<_> = eddy
        .subject_history("history", "s-1", None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(odd.len(), 1_250);
    let page = eddy
        .read("history", Read::forward(10).from(from))
        .await
        .unwrap();
    assert_eq!(page[0].event.id, "h-1000");
}

async fn closing_ends_subscriptions_and_refuses_further_calls(target: &Target) {
    let eddy = open(target).await;
    let mut live = eddy.subscribe(Subscribe::to("quiet").group("g"));
    let clone = eddy.clone();
    eddy.close().await;
    let end = tokio::time::timeout(HANG, live.next())
        .await
        .expect("it ends");
    assert!(end.is_none(), "a closed handle's subscription ends");
    assert!(matches!(
        clone.publish("quiet", event("q-1")).await,
        Err(ClientError::Closed)
    ));
    assert!(matches!(
        clone.checkpoint("quiet", "x").await,
        Err(ClientError::Closed)
    ));
}
