//! The `EventStore` conformance suite: every case runs against every backend (see
//! `tests/store.rs`). Each case takes a fresh [`Target`] and may open it more than once.

mod commits;
mod groups;
mod leases;
mod streams;

pub use commits::*;
pub use groups::*;
pub use leases::*;
pub use streams::*;

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

// ---- Shared by the commit and lease cases ----

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
