//! `eddy bench reduce`: a reducer component over a generated order history, against the
//! order-totals rules compiled natively ([`super::native`]) on the same events.
//!
//! Both sides fold each subject's events in calls of `--batch` events, starting from the
//! encoded initial state and passing the encoded state from call to call, exactly as a
//! subscription does; the WebAssembly side also encodes the events of each call for the plugin
//! (the packed buffer, or the WIT records for plugins of the record worlds: part of the host
//! call path). At the end the final states are compared byte for byte.
//!
//! The history is hundreds of megabytes, each field its own allocation, so by default each
//! call reads its events cold from memory. With `--warm`, both sides first read every byte of
//! a call's events, untimed ([`warm`]), as a subscription's events are in cache when it calls
//! a reducer, having just decoded them: that measures the work of the call alone. The two
//! differ a lot: the native rules read two fields of each event, the host all twelve.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::report::{Latencies, Report, Row, Unit};
use super::{OutputArgs, built_plugin, history, native, require_plugin};
use crate::event::{CloudEvent, Position};
use crate::plugin::{EngineOptions, EventBatch, Limits, PluginEngine, PluginInstance, PluginKind};

/// Arguments of `eddy bench reduce`.
#[derive(Debug, clap::Args)]
pub struct ReduceArgs {
    /// The reducer component (default: the built order-totals example).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// How many events the generated history has.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per call.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,
    /// Also write the generated history to PATH, one structured CloudEvent per line (JSON
    /// Lines, as `eddy publish` reads), so another engine can fold the very same events.
    #[arg(long, value_name = "PATH")]
    dump_history: Option<PathBuf>,
    /// Read each call's events into the cache, untimed, before the call, as a subscription's
    /// freshly decoded events are (default: cold, as the generated history lies in memory).
    #[arg(long)]
    warm: bool,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// Orders in the history: few enough that calls carry full batches.
const ORDERS: u64 = 100;

pub async fn run(args: ReduceArgs) -> anyhow::Result<Report> {
    let path = args.plugin.unwrap_or_else(|| built_plugin("order_totals"));
    require_plugin(&path)?;
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let plugin = engine.load_file(&path)?;
    if plugin.kind() != PluginKind::Reducer {
        anyhow::bail!("{} is a {}, not a reducer", path.display(), plugin.kind());
    }
    let mut instance = PluginInstance::new(&plugin, Default::default(), Limits::default())?;
    let events = history::order_events(args.events, ORDERS, 42);
    if let Some(path) = &args.dump_history {
        let lines: String = events.iter().map(|e| e.to_json() + "\n").collect();
        // Flushed before measuring, so that the kernel's writeback of tens of megabytes does
        // not run during the folds.
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(path)?;
            std::io::Write::write_all(&mut file, lines.as_bytes())?;
            file.sync_all()
        };
        write()
            .map_err(|e| anyhow::anyhow!("cannot write the history to {}: {e}", path.display()))?;
    }
    let calls = calls_of(&events, args.batch as usize);

    // Warm up both sides (caches, the instance's memory) on the first calls.
    let warm: Vec<Call> = calls.iter().take(20).cloned().collect();
    fold_wasm(&mut instance, &warm, args.warm)?;
    fold_native(&warm, args.warm);

    let native = fold_native(&calls, args.warm);
    let wasm = fold_wasm(&mut instance, &calls, args.warm)?;

    let mut report = Report::new("reduce");
    report.setting("plugin", path.display().to_string());
    report.setting("events", args.events);
    report.setting("batch", args.batch);
    report.setting("orders", ORDERS);
    report.setting("warm", args.warm);
    let n = events.len() as u64;
    report.row(
        Row::new(format!("wasm {}", plugin.name()))
            .throughput(n, wasm.elapsed)
            .count("calls", wasm.per_call.len() as u64)
            .latencies(&wasm.per_call, Unit::Micros)
            .with(
                "encode_ns_per_event",
                wasm.encode.as_secs_f64() * 1e9 / n.max(1) as f64,
            ),
    );
    report.row(
        Row::new("baseline: native order-totals rules")
            .throughput(n, native.elapsed)
            .count("calls", native.per_call.len() as u64)
            .latencies(&native.per_call, Unit::Micros),
    );
    let same = wasm.states == native.states;
    report.setting("states_match", same);
    report.ratio_at_least(
        "wasm / native (events per second)",
        native.elapsed.as_secs_f64() / wasm.elapsed.as_secs_f64().max(1e-9),
        Some(0.5),
    );
    report.at_most(
        "wasm ns per event",
        wasm.elapsed.as_secs_f64() * 1e9 / n.max(1) as f64,
        1000.0,
    );
    if !same {
        report.note(
            "the final states differ from the native order-totals rules: the ratio compares \
             different work unless the plugin is order-totals",
        );
    }
    Ok(report)
}

/// One call: a subject and its next events.
#[derive(Clone)]
struct Call {
    subject: String,
    events: Vec<CloudEvent>,
}

/// Each subject's events in order, cut into calls of `batch`, the calls of all subjects
/// interleaved as a stream would bring them.
fn calls_of(events: &[CloudEvent], batch: usize) -> Vec<Call> {
    let mut per_subject: BTreeMap<String, Vec<CloudEvent>> = BTreeMap::new();
    for event in events {
        let subject = event.subject.clone().unwrap_or_default();
        per_subject.entry(subject).or_default().push(event.clone());
    }
    let mut queues: Vec<(String, std::vec::IntoIter<Vec<CloudEvent>>)> = per_subject
        .into_iter()
        .map(|(subject, events)| {
            let chunks: Vec<Vec<CloudEvent>> = events.chunks(batch).map(<[_]>::to_vec).collect();
            (subject, chunks.into_iter())
        })
        .collect();
    let mut calls = Vec::new();
    loop {
        let mut any = false;
        for (subject, chunks) in &mut queues {
            if let Some(events) = chunks.next() {
                any = true;
                calls.push(Call {
                    subject: subject.clone(),
                    events,
                });
            }
        }
        if !any {
            return calls;
        }
    }
}

/// Reads every byte of `events`, as decoding them from a store read has just done in a
/// subscription.
fn warm(events: &[CloudEvent]) {
    let mut sum = 0u64;
    let mut add = |bytes: &[u8]| sum = bytes.iter().fold(sum, |s, &b| s + u64::from(b));
    for event in events {
        add(event.id.as_bytes());
        add(event.source.as_bytes());
        add(event.ty.as_bytes());
        add(event.specversion.as_bytes());
        for text in [&event.subject, &event.datacontenttype, &event.dataschema]
            .into_iter()
            .flatten()
        {
            add(text.as_bytes());
        }
        if let Some(time) = &event.time {
            add(time.as_str().as_bytes());
        }
        if let Some(data) = &event.data {
            add(data.as_bytes());
        }
        for (name, value) in &event.extensions {
            add(name.as_bytes());
            add(value.to_string().as_bytes());
        }
    }
    std::hint::black_box(sum);
}

struct Fold {
    /// The calls' time, the sum of `per_call`.
    elapsed: Duration,
    /// Of which encoding the events of the calls (the host's share before the call).
    encode: Duration,
    per_call: Latencies,
    states: BTreeMap<String, Vec<u8>>,
}

fn fold_native(calls: &[Call], warmed: bool) -> Fold {
    let init = native::init();
    let mut states: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut per_call = Latencies::default();
    let mut elapsed = Duration::ZERO;
    for call in calls {
        if warmed {
            warm(&call.events);
        }
        let at = Instant::now();
        let state = states.remove(&call.subject).unwrap_or_else(|| init.clone());
        let state = native::apply(&state, &call.events);
        states.insert(call.subject.clone(), state);
        let took = at.elapsed();
        elapsed += took;
        per_call.push(took);
    }
    Fold {
        elapsed,
        encode: Duration::ZERO,
        per_call,
        states,
    }
}

fn fold_wasm(instance: &mut PluginInstance, calls: &[Call], warmed: bool) -> anyhow::Result<Fold> {
    let init = instance.init()?;
    let mut states: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut per_call = Latencies::default();
    let mut batch = EventBatch::with_capacity(calls.first().map_or(0, |c| c.events.len()));
    let mut encode = Duration::ZERO;
    let mut elapsed = Duration::ZERO;
    for call in calls {
        if warmed {
            warm(&call.events);
        }
        let at = Instant::now();
        batch.clear();
        for (i, event) in call.events.iter().enumerate() {
            batch.push(event, "bench", Position::new(1, i as u64));
        }
        encode += at.elapsed();
        let state = states.remove(&call.subject).unwrap_or_else(|| init.clone());
        let state = instance
            .apply(state, &batch)
            .map_err(|failure| anyhow::anyhow!("the reducer failed: {}", failure.error))?;
        states.insert(call.subject.clone(), state);
        let took = at.elapsed();
        elapsed += took;
        per_call.push(took);
    }
    Ok(Fold {
        elapsed,
        encode,
        per_call,
        states,
    })
}
