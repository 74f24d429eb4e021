//! Quarantine: a subscription whose plugin keeps faulting is paused, with the reason, instead
//! of dead-lettering event after event for ever; the other subscriptions go on, and a resume
//! processes again whatever the quarantine held back; a plugin burning its fuel on every event
//! does not starve the others. (A new plugin version resuming it, over HTTP, is in
//! `hot_reload.rs`.)

mod support;

use std::time::{Duration, Instant};

use eddy::event::CloudEvent;
use eddy::store::{Append, Read};
use eddy::subscription::{SubscriptionError, SubscriptionInfo, SubscriptionSpec};
use support::orders::{Rig, runtime};
use support::plugins::plugin_path;

const TIMEOUT: Duration = Duration::from_secs(60);

fn spec(name: &str, plugin: &str, extra: serde_json::Value) -> SubscriptionSpec {
    let mut spec = serde_json::json!({
        "name": name,
        "plugin": plugin_path(plugin).display().to_string(),
        "streams": ["inputs"],
        "partitions": 1,
    });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    serde_json::from_value(spec).unwrap()
}

async fn publish(rig: &Rig, types: &[&str]) {
    let events = types
        .iter()
        .enumerate()
        .map(|(i, ty)| CloudEvent::new(format!("e{i}"), "/test", *ty).with_subject("s"))
        .collect();
    rig.store
        .append("inputs", Append::new(events))
        .await
        .unwrap();
}

/// How many dead letters subscription `name` has written.
async fn dead_letters(rig: &Rig, name: &str) -> usize {
    rig.store
        .read(&format!("{name}.dlq"), Read::forward(100))
        .await
        .map(|page| page.len())
        .unwrap_or(0)
}

async fn wait_for(
    rig: &Rig,
    name: &str,
    what: &str,
    check: impl Fn(&SubscriptionInfo) -> bool,
) -> SubscriptionInfo {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let info = rig.host.info(name).await.unwrap();
        if check(&info) {
            return info;
        }
        assert!(Instant::now() < deadline, "{what}: {info:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The events the `counter` subscription (`fx_per_event_reducer`) has counted for subject
/// `s`, once it has caught up.
async fn counted(rig: &Rig) -> u64 {
    rig.caught_up("counter").await;
    let state = rig.host.projection("counter", "s").await.unwrap().unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state.state).unwrap();
    state["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no count: {state}"))
}

#[test]
fn a_plugin_that_keeps_trapping_is_quarantined_and_the_others_go_on() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        let fast = serde_json::json!({"retry": {"max_attempts": 1}, "quarantine_after": 3});
        rig.host
            .start(spec("trapper", "fx_trap", fast))
            .await
            .unwrap();
        rig.host
            .start(spec(
                "counter",
                "fx_per_event_reducer",
                serde_json::json!({}),
            ))
            .await
            .unwrap();
        let mut types = vec!["count"; 5];
        types.extend(["trap"; 10]);
        types.extend(["count"; 5]);
        publish(&rig, &types).await;

        let info = wait_for(&rig, "trapper", "quarantined", |i| {
            i.status == "quarantined"
        })
        .await;
        let reason = info.quarantine_reason.clone().expect("a reason");
        assert!(
            reason.contains("3 events in a row")
                && reason.contains("fx_trap")
                && reason.contains("trapped"),
            "{reason}"
        );
        assert!(
            info.streams[0].lag > 0,
            "the batch that tripped it was not committed, so no event was skipped: {info:?}"
        );
        assert!(
            rig.host.stalled().await.is_empty(),
            "a quarantine is on purpose, not a stall: readiness stays green"
        );

        // The other subscription on the same stream processes every event.
        assert_eq!(counted(&rig).await, 20);

        // Quarantined means stopped: nothing more is tried.
        let failed = info.stats.failed;
        let still = rig.host.info("trapper").await.unwrap();
        assert_eq!(still.stats.failed, failed, "no retries while quarantined");
    });
}

#[test]
fn a_resume_runs_the_subscription_again_from_its_checkpoint() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        let fast = serde_json::json!({"retry": {"max_attempts": 1}, "quarantine_after": 2});
        rig.host
            .start(spec("trapper", "fx_trap", fast))
            .await
            .unwrap();
        publish(&rig, &["count", "trap", "trap", "trap"]).await;
        wait_for(&rig, "trapper", "quarantined", |i| {
            i.status == "quarantined"
        })
        .await;

        rig.host.resume("trapper").await.unwrap();
        // The plugin is unchanged, so the same events trip the quarantine again: the resumed
        // run re-read them from the checkpoint.
        let again = wait_for(&rig, "trapper", "quarantined again", |i| {
            i.status == "quarantined"
        })
        .await;
        assert!(again.stats.failed >= 2, "{again:?}");
        let dead = dead_letters(&rig, "trapper").await;
        assert!(
            dead <= 1,
            "the tripping batches left no dead letters but the first: {dead}"
        );
    });
}

#[test]
fn only_a_quarantined_subscription_can_be_resumed() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        rig.host
            .start(spec(
                "counter",
                "fx_per_event_reducer",
                serde_json::json!({}),
            ))
            .await
            .unwrap();
        assert!(matches!(
            rig.host.resume("counter").await,
            Err(SubscriptionError::NotQuarantined(_))
        ));
        assert!(matches!(
            rig.host.resume("nobody").await,
            Err(SubscriptionError::NotFound(_))
        ));
    });
}

#[test]
fn rejected_events_are_dead_lettered_without_quarantine() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        let spec = spec(
            "rejecter",
            "fx_reject",
            serde_json::json!({"quarantine_after": 2}),
        );
        rig.host.start(spec).await.unwrap();
        publish(&rig, &["bad", "bad", "bad", "bad", "ok"]).await;
        let deadline = Instant::now() + TIMEOUT;
        while dead_letters(&rig, "rejecter").await < 4 {
            assert!(
                Instant::now() < deadline,
                "the rejects were not dead-lettered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rig.caught_up("rejecter").await;
        let info = rig.host.info("rejecter").await.unwrap();
        assert_eq!(info.status, "running", "a reject is a verdict, not a fault");
        assert_eq!(dead_letters(&rig, "rejecter").await, 4);
    });
}

#[test]
fn a_plugin_that_keeps_running_out_of_fuel_is_quarantined() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        let extra = serde_json::json!({
            "retry": {"max_attempts": 1},
            "quarantine_after": 2,
            "limits": {"fuel": 1_000_000},
        });
        rig.host
            .start(spec("looper", "fx_loop", extra))
            .await
            .unwrap();
        publish(&rig, &["count", "loop", "loop", "loop"]).await;
        let info = wait_for(&rig, "looper", "quarantined", |i| i.status == "quarantined").await;
        let reason = info.quarantine_reason.unwrap();
        assert!(reason.contains("ran out of fuel"), "{reason}");
        assert_eq!(
            info.stats.failed, 2,
            "running out of fuel is not retried: it would run out again"
        );
    });
}

#[test]
fn a_handler_whose_output_keeps_breaking_the_bound_is_quarantined() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        let extra = serde_json::json!({
            "retry": {"max_attempts": 1},
            "quarantine_after": 2,
            "config": {"count": "20000"},
        });
        rig.host
            .start(spec("flooder", "fx_flood", extra))
            .await
            .unwrap();
        publish(&rig, &["flood", "flood", "flood"]).await;
        let info = wait_for(&rig, "flooder", "quarantined", |i| {
            i.status == "quarantined"
        })
        .await;
        let reason = info.quarantine_reason.unwrap();
        assert!(reason.contains("more than the limit"), "{reason}");
        let out = rig.store.read("out", Read::forward(10)).await;
        assert!(
            out.map(|page| page.is_empty()).unwrap_or(true),
            "nothing of the flood was appended"
        );
    });
}

/// A plugin that burns its whole fuel on every event (and is never quarantined) does not
/// starve another subscription: plugin calls run on tokio's blocking pool, one batch per
/// worker, so the hog keeps one thread busy while the other subscription gets its events
/// through — long before the hog is done with its own.
#[test]
fn a_plugin_burning_its_fuel_on_every_event_does_not_starve_another_subscription() {
    runtime().block_on(async {
        let rig = Rig::new().await;
        const HOG_EVENTS: usize = 150;
        let hog = serde_json::json!({
            "streams": ["hog"],
            "retry": {"max_attempts": 1},
            "quarantine_after": 0,
            "batch": 8,
        });
        rig.host.start(spec("hog", "fx_loop", hog)).await.unwrap();
        let loops = (0..HOG_EVENTS)
            .map(|i| CloudEvent::new(format!("h{i}"), "/test", "loop").with_subject("h"))
            .collect();
        rig.store.append("hog", Append::new(loops)).await.unwrap();
        wait_for(&rig, "hog", "the hog to be burning fuel", |i| {
            i.stats.failed > 0
        })
        .await;

        rig.host
            .start(spec(
                "counter",
                "fx_per_event_reducer",
                serde_json::json!({}),
            ))
            .await
            .unwrap();
        publish(&rig, &["count"; 500]).await;
        assert_eq!(counted(&rig).await, 500);

        let hog = rig.host.info("hog").await.unwrap();
        assert!(
            (hog.stats.failed as usize) < HOG_EVENTS / 2,
            "the other subscription finished while the hog still had most of its events to \
             burn through, not after it: {hog:?}"
        );
        assert_eq!(
            hog.status, "running",
            "a hog that is never quarantined keeps going"
        );
    });
}
