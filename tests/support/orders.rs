//! Random order histories for property tests (proptest), and the in-process pieces to run
//! them: an embedded store, a subscription host, and the offline replay to compare with.
//!
//! A history is a list of [`Step`]s, so that a failing case shrinks to a short list that
//! reads as what happened (`Step { order: 1, stream: 0, op: Paid { cents: 3 } }`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use eddy::event::{CloudEvent, Position};
use eddy::plugin::{Limits, PluginInstance};
use eddy::replay::{ReplayOptions, ReplayOutput, SourcedEvent, Until, replay};
use eddy::store::embedded::EmbeddedStore;
use eddy::store::{Append, EventStore, Read};
use eddy::subscription::{SubscriptionHost, SubscriptionSpec};
use proptest::prelude::*;

use super::histories::chrono_like;
use super::plugins::{engine, load, plugin_path};

/// What happens to an order (the event types order-totals folds, each with small data).
#[derive(Debug, Clone)]
pub enum Op {
    Created,
    ItemAdded { sku: u8, qty: u8, unit_cents: u16 },
    ItemRemoved { sku: u8, qty: u8 },
    Paid { cents: u16 },
    Shipped,
    Cancelled,
    Noted,
}

/// One event of a history: which order, which stream (0 or 1) it is published to, and what.
#[derive(Debug, Clone)]
pub struct Step {
    pub order: u8,
    pub stream: u8,
    pub op: Op,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Created),
        4 => (0..3u8, 1..4u8, 1..500u16).prop_map(|(sku, qty, unit_cents)| Op::ItemAdded {
            sku,
            qty,
            unit_cents
        }),
        1 => (0..3u8, 1..3u8).prop_map(|(sku, qty)| Op::ItemRemoved { sku, qty }),
        2 => (1..2000u16).prop_map(|cents| Op::Paid { cents }),
        1 => Just(Op::Shipped),
        1 => Just(Op::Cancelled),
        1 => Just(Op::Noted),
    ]
}

/// Histories of 1 to `max` events over a few orders, all on stream 0 (`streams == 1`) or
/// spread over streams 0 and 1.
pub fn history(max: usize, streams: u8) -> impl Strategy<Value = Vec<Step>> {
    let step = (0..4u8, 0..streams.max(1), op()).prop_map(|(order, stream, op)| Step {
        order,
        stream,
        op,
    });
    prop::collection::vec(step, 1..=max)
}

/// The stream names of stream indexes 0 and 1.
pub const STREAMS: [&str; 2] = ["orders", "orders-eu"];

/// The `i`th step as an event: id `e<i>`, subject `o-<order>`, one second after the previous.
pub fn event(i: usize, step: &Step) -> CloudEvent {
    let (ty, data) = match &step.op {
        Op::Created => ("order.created", serde_json::json!({"customer": "c"})),
        Op::ItemAdded {
            sku,
            qty,
            unit_cents,
        } => (
            "order.item_added",
            serde_json::json!({"sku": format!("sku-{sku}"), "qty": qty, "unit_cents": unit_cents}),
        ),
        Op::ItemRemoved { sku, qty } => (
            "order.item_removed",
            serde_json::json!({"sku": format!("sku-{sku}"), "qty": qty}),
        ),
        Op::Paid { cents } => ("order.paid", serde_json::json!({"amount_cents": cents})),
        Op::Shipped => ("order.shipped", serde_json::json!({})),
        Op::Cancelled => ("order.cancelled", serde_json::json!({})),
        Op::Noted => ("order.note_added", serde_json::json!({"text": "hi"})),
    };
    CloudEvent::new(format!("e{i}"), "/prop", ty)
        .with_subject(format!("o-{}", step.order))
        .with_time(&chrono_like(1_767_225_600 + i as u64))
        .expect("a valid time")
        .with_json_data(&data)
        .expect("JSON data")
}

/// One shared runtime for the tests of a process (proptest cases run one after another).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().expect("a tokio runtime"))
}

/// An embedded store in a temporary folder with a subscription host on it (no plugins
/// folder: specs name plugins by path).
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn EventStore>,
    pub host: SubscriptionHost,
}

impl Rig {
    pub async fn new() -> Self {
        // In memory where the machine has a tmpfs: every commit syncs the file, and on a disk
        // those syncs, not the properties, would take most of a case's time.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        Self::open(dir).await
    }

    async fn open(dir: tempfile::TempDir) -> Self {
        let store: Arc<dyn EventStore> =
            Arc::new(EmbeddedStore::open(dir.path().join("data")).await.unwrap());
        let host = SubscriptionHost::new(store.clone(), engine().clone(), None);
        Self { dir, store, host }
    }

    /// Stops every subscription, closes the store and opens it again with a new host, as a
    /// restart of `eddy serve` would.
    pub async fn restart(self) -> Self {
        let Rig { dir, store, host } = self;
        host.stop_all().await;
        drop(host);
        drop(store);
        Self::open(dir).await
    }

    /// Starts an order-totals subscription (`extra` adds or overrides spec fields).
    pub async fn start_totals(&self, name: &str, streams: &[&str], extra: serde_json::Value) {
        let mut spec = serde_json::json!({
            "name": name,
            "plugin": plugin_path("order_totals").display().to_string(),
            "streams": streams,
        });
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        let spec: SubscriptionSpec = serde_json::from_value(spec).unwrap();
        self.host.start(spec).await.unwrap();
    }

    /// Appends the steps (numbered from `first`) to their streams, `chunk` events per append,
    /// switching stream whenever the next step goes elsewhere.
    pub async fn publish(&self, steps: &[Step], first: usize, chunk: usize) {
        let mut i = 0;
        while i < steps.len() {
            let stream = steps[i].stream;
            let mut batch = Vec::new();
            while i < steps.len() && steps[i].stream == stream && batch.len() < chunk.max(1) {
                batch.push(event(first + i, &steps[i]));
                i += 1;
            }
            self.store
                .append(STREAMS[stream as usize], Append::new(batch))
                .await
                .unwrap();
        }
    }

    /// Every stored event of the streams, merged in position order (ties: the streams' order):
    /// the order a subscription of these streams folds them in.
    pub async fn stored(&self, streams: &[&str]) -> Vec<(String, Position, CloudEvent)> {
        let mut all = Vec::new();
        for (index, stream) in streams.iter().enumerate() {
            let mut from = None;
            loop {
                let mut read = Read::forward(1000);
                read.from = from;
                let page = self.store.read(stream, read).await.unwrap();
                let Some(last) = page.last() else { break };
                from = Some(last.position);
                for stored in page {
                    all.push((index, stream.to_string(), stored.position, stored.event));
                }
            }
        }
        all.sort_by_key(|(index, _, position, _)| (*position, *index));
        all.into_iter()
            .map(|(_, stream, position, event)| (stream, position, event))
            .collect()
    }

    /// Waits until subscription `name` has read every stream to its end.
    pub async fn caught_up(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = self.host.info(name).await.unwrap();
            let mut done = true;
            for progress in &info.streams {
                let last = self.store.stream(&progress.stream).await.unwrap();
                done &= progress.checkpoint == last.and_then(|s| s.last);
            }
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{name}` did not catch up: {info:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// What `eddy replay` gives for these events (in this order): each subject's final state.
/// With `until`, stops there, like `eddy replay --until`.
pub fn offline(
    events: &[(String, Position, CloudEvent)],
    batch: usize,
    until: Option<Until>,
) -> BTreeMap<String, Vec<u8>> {
    static PLUGIN: OnceLock<eddy::plugin::Plugin> = OnceLock::new();
    let plugin = PLUGIN.get_or_init(|| load("order_totals"));
    let mut instance = PluginInstance::new(plugin, Default::default(), Limits::default()).unwrap();
    let sourced = events.iter().map(|(stream, position, event)| {
        Ok(SourcedEvent {
            event: event.clone(),
            position: *position,
            origin: format!("{stream}@{position}"),
        })
    });
    let options = ReplayOptions {
        batch,
        until,
        ..ReplayOptions::default()
    };
    match replay(&mut instance, sourced, &options).unwrap() {
        ReplayOutput::States(states) => states,
        other => panic!("order-totals is a reducer, not {other:?}"),
    }
}

/// The proptest settings of these tests: few cases (each runs a subscription host), no
/// regression files written into the source tree.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
