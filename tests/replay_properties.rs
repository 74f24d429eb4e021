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
use support::orders::{Rig, STREAMS, config, history, offline, runtime};

proptest! {
    #![proptest_config(config(24))]

    /// Snapshot + remaining events = full replay = `eddy replay --until P`, by position and by
    /// time, and a query from a snapshot replays less than `snapshot_every` + a batch.
    #[test]
    fn state_at_a_point_from_snapshots_equals_replay_until_it(
        steps in history(60, 1),
        every in 1..12u32,
        batch in 1..40u32,
        partitions in 1..3u32,
        chunk in 1..30usize,
        points in prop::collection::vec(any::<Index>(), 1..6),
    ) {
        runtime().block_on(async {
            let rig = Rig::new().await;
            let streams = [STREAMS[0]];
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
                let until = Until::EventId(event.id.clone());
                let expected = offline(&stored, 1, Some(until)).remove(&subject);
                for name in ["snap", "full"] {
                    let at = At::Position(*position);
                    let answer = rig.host.state_at(name, &subject, &at).await.unwrap();
                    prop_assert_eq!(
                        answer.as_ref().map(|a| &a.saved.state),
                        expected.as_ref(),
                        "{} {} at {}", name, subject, position
                    );
                    let answer = answer.unwrap();
                    prop_assert!(
                        name == "full" || answer.replayed < u64::from(every + batch),
                        "replayed {} (every {}, batch {})", answer.replayed, every, batch
                    );
                }
                let time = event.time.as_ref().unwrap().unix_nanos();
                let expected = offline(&stored, 1, Some(Until::Time(time))).remove(&subject);
                let answer = rig.host.state_at("snap", &subject, &At::Time(time)).await.unwrap();
                prop_assert_eq!(
                    answer.map(|a| a.saved.state),
                    expected,
                    "{} at {}", subject, event.time.as_ref().unwrap().as_str()
                );
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
        steps in history(60, 1),
        split in any::<Index>(),
        batch_a in 1..40u32,
        batch_b in 1..40u32,
        chunk in 1..30usize,
        point in any::<Index>(),
    ) {
        let split = split.index(steps.len() + 1);
        let (before, after) = steps.split_at(split);
        runtime().block_on(async {
            let streams = [STREAMS[0]];
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
                prop_assert_eq!(again, answer, "{} at {}", subject, position);
            }
            rig.host.stop_all().await;
            Ok(())
        })?;
    }
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
