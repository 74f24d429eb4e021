//! Replay properties, checked with random histories (proptest) on subscriptions running in
//! this process over an embedded store:
//!
//! - the state at a point, recomputed from a snapshot, equals the full fold and `eddy replay
//!   --until` that point, for random snapshot intervals, batch sizes and points;
//! - the live state of a running subscription equals the offline replay, whatever the batch
//!   size, and stays byte-identical across runs and restarts.
//!
//! Each case starts subscriptions, so there are few of them; a failure shrinks to a short
//! history of [`Step`]s. The same questions through a real `eddy serve` and the CLI are asked
//! once in `time_travel.rs`.

mod support;

use std::collections::BTreeMap;

use eddy::replay::Until;
use eddy::subscription::At;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use support::orders::{Rig, STREAMS, Step, config, history, offline, runtime};

proptest! {
    #![proptest_config(config(24))]

    /// Snapshot + remaining events = full replay = `eddy replay --until P`, by position and by
    /// time, on one stream or two, and a query replays fewer than `snapshot_every` events.
    #[test]
    fn state_at_a_point_from_snapshots_equals_replay_until_it(
        steps in history(60, 2),
        two_streams in any::<bool>(),
        every in 1..12u32,
        batch in 1..40u32,
        partitions in 1..3u32,
        chunk in 1..30usize,
        points in prop::collection::vec(any::<Index>(), 1..6),
    ) {
        let (steps, streams) = on_streams(steps, two_streams);
        runtime().block_on(async {
            let rig = Rig::new().await;
            let snapshots = json!({
                "snapshot_every": every, "snapshots_kept": 1000,
                "batch": batch, "partitions": partitions,
            });
            rig.start_totals("snap", &streams, snapshots).await;
            rig.start_totals("full", &streams, json!({"snapshot_every": 0})).await;
            rig.publish(&steps, 0, chunk).await;
            rig.caught_up("snap").await;
            rig.caught_up("full").await;
            let stored = rig.stored(&streams).await;
            for point in points {
                let (_, position, event) = point.get(&stored);
                let subject = event.subject.clone().unwrap();
                // At a position: every event at or before it, in every stream.
                let upto: Vec<_> = stored.iter().filter(|(_, p, _)| p <= position).cloned().collect();
                let expected = offline(&upto, 1, None).remove(&subject);
                for name in ["snap", "full"] {
                    let at = At::Position(*position);
                    let answer = rig.host.state_at(name, &subject, &at).await.unwrap();
                    prop_assert_eq!(
                        answer.as_ref().map(|a| text(&a.saved.state)),
                        expected.as_deref().map(text),
                        "{} {} at {}: {:?}", name, subject, position, answer
                    );
                    let answer = answer.unwrap();
                    prop_assert!(
                        name == "full" || answer.replayed < u64::from(every),
                        "replayed {} (every {})", answer.replayed, every
                    );
                }
                // By time: before the subject's first event later than the time (events of
                // two streams need not be in time order).
                let time = event.time.as_ref().unwrap().unix_nanos();
                let own: Vec<_> = stored
                    .iter()
                    .filter(|(_, _, e)| e.subject == event.subject)
                    .cloned()
                    .collect();
                let expected = offline(&own, 1, Some(Until::Time(time))).remove(&subject);
                let answer = rig.host.state_at("snap", &subject, &At::Time(time)).await.unwrap();
                prop_assert_eq!(
                    answer.as_ref().map(|a| text(&a.saved.state)),
                    expected.as_deref().map(text),
                    "{} at {}: {:?}", subject, event.time.as_ref().unwrap().as_str(), answer
                );
                // (Two streams can have events at one position; a snapshot is kept per
                // position, so the second replaces the first.)
                let replayed = answer.map_or(0, |a| a.replayed);
                let bound = u64::from(every) + u64::from(two_streams);
                prop_assert!(replayed < bound, "replayed {}", replayed);
            }
            rig.host.stop_all().await;
            Ok(())
        })?;
    }

    /// The live states equal the offline replay at two batch sizes (and offline replay itself
    /// does not depend on its batch size), before and after a restart that resumes mid-history;
    /// a time-travel answer is byte-identical after the restart.
    #[test]
    fn live_states_equal_offline_replay_across_batch_sizes_and_restarts(
        steps in history(60, 2),
        two_streams in any::<bool>(),
        split in any::<Index>(),
        batch_a in 1..40u32,
        batch_b in 1..40u32,
        chunk in 1..30usize,
        point in any::<Index>(),
    ) {
        let (steps, streams) = on_streams(steps, two_streams);
        let split = split.index(steps.len() + 1);
        let (before, after) = steps.split_at(split);
        runtime().block_on(async {
            let rig = Rig::new().await;
            start_a_and_b(&rig, &streams, batch_a, batch_b).await;
            rig.publish(before, 0, chunk).await;
            let expected = live_equals_offline(&rig, &streams, &[batch_a, batch_b]).await?;

            let stored = rig.stored(&streams).await;
            let asked = (!stored.is_empty()).then(|| {
                let (_, position, event) = point.get(&stored);
                (event.subject.clone().unwrap(), *position)
            });
            let answer = match &asked {
                Some((subject, position)) => {
                    rig.host.state_at("a", subject, &At::Position(*position)).await.unwrap()
                }
                None => None,
            };

            let rig = rig.restart().await;
            start_a_and_b(&rig, &streams, batch_a, batch_b).await;
            let again = live_equals_offline(&rig, &streams, &[batch_a, batch_b]).await?;
            prop_assert_eq!(&again, &expected, "the restart changed nothing by itself");
            rig.publish(after, split, chunk).await;
            live_equals_offline(&rig, &streams, &[batch_a, batch_b]).await?;
            if let Some((subject, position)) = &asked {
                let at = At::Position(*position);
                let again = rig.host.state_at("a", subject, &at).await.unwrap();
                prop_assert_eq!(
                    again.map(|a| a.saved),
                    answer.map(|a| a.saved),
                    "{} at {}", subject, position
                );
            }
            rig.host.stop_all().await;
            Ok(())
        })?;
    }
}

/// A state as text, for readable failures.
fn text(state: &[u8]) -> String {
    String::from_utf8_lossy(state).into_owned()
}

/// The history on two streams, or all of it on the first, and the streams to subscribe to.
fn on_streams(mut steps: Vec<Step>, two: bool) -> (Vec<Step>, Vec<&'static str>) {
    if two {
        return (steps, STREAMS.to_vec());
    }
    for step in &mut steps {
        step.stream = 0;
    }
    (steps, vec![STREAMS[0]])
}

/// Starts subscriptions `a` (two partitions) and `b` (one) at these batch sizes.
async fn start_a_and_b(rig: &Rig, streams: &[&str], batch_a: u32, batch_b: u32) {
    let a = json!({"batch": batch_a, "partitions": 2});
    rig.start_totals("a", streams, a).await;
    let b = json!({"batch": batch_b, "partitions": 1});
    rig.start_totals("b", streams, b).await;
}

/// Waits for subscriptions `a` and `b`, then checks that each subject's live state is the
/// offline replay's, byte for byte, and that the offline replay gives the same bytes at every
/// batch size. Returns the states.
async fn live_equals_offline(
    rig: &Rig,
    streams: &[&str],
    batches: &[u32],
) -> Result<BTreeMap<String, Vec<u8>>, TestCaseError> {
    rig.caught_up("a").await;
    rig.caught_up("b").await;
    let stored = rig.stored(streams).await;
    let expected = offline(&stored, 1, None);
    for batch in batches {
        prop_assert_eq!(&offline(&stored, *batch as usize, None), &expected);
    }
    for name in ["a", "b"] {
        let subjects = rig
            .host
            .projection_subjects(name, None, 1000)
            .await
            .unwrap();
        prop_assert_eq!(
            subjects.iter().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (subject, state) in &expected {
            let live = rig.host.projection(name, subject).await.unwrap().unwrap();
            prop_assert_eq!(&live.state, state, "{} {}: live vs offline", name, subject);
            let last = stored
                .iter()
                .rev()
                .find(|(_, _, e)| e.subject.as_deref() == Some(subject))
                .map(|(_, p, _)| *p);
            prop_assert_eq!(Some(live.position), last);
        }
    }
    Ok(expected)
}

/// The cost of a query is bounded by `snapshot_every`, whatever the history's length: on a
/// long history of two streams, a query at any position or time reads about that many events
/// from the store (counted, not timed).
#[test]
fn a_query_on_a_long_history_reads_about_snapshot_every_events() {
    let every = 10u64;
    // Two orders, alternating streams in runs of three, 3000 events.
    let steps: Vec<Step> = (0..3000)
        .map(|i| Step {
            order: (i % 2) as u8,
            stream: ((i / 3) % 2) as u8,
            op: support::orders::Op::ItemAdded {
                sku: (i % 3) as u8,
                qty: 1,
                unit_cents: 1,
            },
        })
        .collect();
    runtime().block_on(async {
        let rig = Rig::new().await;
        let streams = STREAMS.to_vec();
        let spec = json!({"snapshot_every": every, "snapshots_kept": 1000});
        rig.start_totals("totals", &streams, spec).await;
        rig.publish(&steps, 0, 500).await;
        rig.caught_up("totals").await;
        let stored = rig.stored(&streams).await;
        for index in (0..stored.len()).step_by(97) {
            let (_, position, event) = &stored[index];
            let subject = event.subject.clone().unwrap();
            let time = event.time.as_ref().unwrap().unix_nanos();
            for at in [At::Position(*position), At::Time(time)] {
                let answer = rig.host.state_at("totals", &subject, &at).await;
                let answer = answer.unwrap().expect("a state");
                // A first page of `every + 1` per stream covers the gap to the point.
                assert!(
                    answer.read <= 2 * (every + 1),
                    "{subject} at {at:?} (event {index}): read {}, replayed {}",
                    answer.read,
                    answer.replayed
                );
                assert!(answer.replayed < every + 1, "{answer:?}");
                if let At::Position(position) = at {
                    let own = stored.iter().filter(|(_, p, e)| {
                        *p <= position && e.subject.as_deref() == Some(subject.as_str())
                    });
                    assert_eq!(answer.saved.events, own.count() as u64, "the whole history");
                }
            }
        }
        rig.host.stop_all().await;
    });
}
