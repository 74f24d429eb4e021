//! Micro-benchmarks of the host call path, guarding against regressions:
//!
//! - `apply_events/<n>`: one batched reducer call of the order-totals component over `n`
//!   events of one order (the events encoded beforehand);
//! - `event_batch/1000`: encoding 1,000 stored events for a call (the packed buffer);
//! - `order_state/decode_encode`: the JSON round trip of an order's state that the guest SDK
//!   does once per call (measured natively, with the plugin's own state type).
//!
//! Needs the plugins built: `cd plugins && cargo build --release`. Run with
//! `cargo bench -p eddy --bench host_call`.

#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "../../plugins/order-totals/src/rules.rs"]
mod rules;

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eddy::event::{CloudEvent, Data, Position};
use eddy::plugin::{EngineOptions, EventBatch, Limits, PluginEngine, PluginInstance};

/// `n` events of one order: created, then items added and removed, payments.
fn order_events(n: usize) -> Vec<CloudEvent> {
    (0..n)
        .map(|i| {
            let (ty, data) = match i {
                0 => ("order.created", r#"{"customer":"c-1"}"#.to_string()),
                _ if i % 5 == 4 => (
                    "order.item_removed",
                    format!(r#"{{"sku":"sku-{}","qty":1}}"#, i % 7),
                ),
                _ if i % 11 == 10 => ("order.paid", r#"{"amount_cents":100}"#.to_string()),
                _ => (
                    "order.item_added",
                    format!(
                        r#"{{"sku":"sku-{}","qty":2,"unit_cents":{}}}"#,
                        i % 7,
                        100 + i % 50
                    ),
                ),
            };
            let mut event = CloudEvent::new(format!("e-{i}"), "/bench", ty)
                .with_subject("o-1")
                .with_time("2026-01-01T00:00:00Z")
                .expect("a valid time");
            event.datacontenttype = Some("application/json".to_string());
            event.data =
                Some(Data::from_bytes(data.into_bytes(), Some("application/json")).expect("JSON"));
            event
        })
        .collect()
}

fn batch_of(events: &[CloudEvent]) -> EventBatch {
    let mut batch = EventBatch::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        batch.push(event, "bench", Position::new(1, i as u64));
    }
    batch
}

fn instance() -> PluginInstance {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/target/wasm32-wasip2/release/order_totals.wasm");
    assert!(
        path.exists(),
        "{} is missing: build the plugins first (`cd plugins && cargo build --release`)",
        path.display()
    );
    let engine = PluginEngine::new(&EngineOptions::default()).expect("the engine starts");
    let plugin = engine.load_file(&path).expect("order-totals loads");
    PluginInstance::new(&plugin, Default::default(), Limits::default()).expect("it instantiates")
}

fn apply_events(c: &mut Criterion) {
    let mut instance = instance();
    let init = instance.init().expect("init");
    let mut group = c.benchmark_group("apply_events");
    for n in [1usize, 100, 1000] {
        let batch = batch_of(&order_events(n));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &batch, |b, batch| {
            b.iter(|| {
                instance
                    .apply(init.clone(), black_box(batch))
                    .map_err(|f| f.error)
                    .expect("the reducer applies")
            })
        });
    }
    group.finish();
}

fn event_batch(c: &mut Criterion) {
    let events = order_events(1000);
    let mut group = c.benchmark_group("event_batch");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000", |b| b.iter(|| batch_of(black_box(&events))));
    group.finish();
}

fn order_state(c: &mut Criterion) {
    let mut order = rules::Order::new();
    for event in order_events(200) {
        rules::apply(
            &mut order,
            &event.ty,
            event.data.as_ref().map(|d| d.as_bytes()),
        );
    }
    let bytes = serde_json::to_vec(&order).expect("encodes");
    c.bench_function("order_state/decode_encode", |b| {
        b.iter(|| {
            let order: rules::Order = serde_json::from_slice(black_box(&bytes)).expect("decodes");
            serde_json::to_vec(&order).expect("encodes")
        })
    });
}

criterion_group!(benches, apply_events, event_batch, order_state);
criterion_main!(benches);
