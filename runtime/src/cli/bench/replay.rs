//! `eddy bench replay`: rebuilding reducer state from a store, against raw range reads of the
//! same entries.
//!
//! The stream is filled with a generated order history first (not timed). Then, side by
//! side: raw range reads (Redis: `XRANGE` pages on a plain connection, entries not decoded;
//! embedded: the store's own range reads), the store's reads decoded into events, those reads
//! folded through the reducer in memory, and a reducer subscription rebuilding every state
//! from the beginning with its commits (states, checkpoints, snapshots) — the production path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::report::{Report, Row};
use super::{
    BenchStore, OutputArgs, built_plugin, fill, fresh_name, history, progress, require_plugin,
    start_reducer, wait_caught_up,
};
use crate::event::Position;
use crate::plugin::{EngineOptions, EventBatch, Limits, PluginEngine, PluginInstance};
use crate::store::{EventStore, Read};
use crate::subscription::SubscriptionHost;

/// Arguments of `eddy bench replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The store: `redis://host:port/db` or `embedded:<dir>` (default: a temporary embedded
    /// store). The benchmark writes a fresh stream and deletes it afterwards.
    #[arg(long)]
    store: Option<String>,
    /// How many events the stream holds.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// The reducer component (default: the built order-totals example).
    #[arg(long)]
    plugin: Option<PathBuf>,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// Entries per range read: the subscriptions' batch.
const PAGE: usize = 1000;
/// Orders in the history.
const ORDERS: u64 = 1000;

pub async fn run(args: ReplayArgs) -> anyhow::Result<Report> {
    let path = args.plugin.unwrap_or_else(|| built_plugin("order_totals"));
    require_plugin(&path)?;
    let bench = BenchStore::open(args.store.as_deref()).await?;
    let store = bench.store.clone();
    let stream = fresh_name("bench-replay");
    progress(&format!("appending {} events to {stream}", args.events));
    let positions = fill(
        store.as_ref(),
        &stream,
        history::order_events(args.events, ORDERS, 7),
        PAGE,
    )
    .await?;
    let last = *positions
        .last()
        .ok_or_else(|| anyhow::anyhow!("--events must be at least 1"))?;
    let n = positions.len() as u64;

    let mut report = Report::new("replay");
    report.setting("store", bench.shown.clone());
    report.setting("events", args.events);
    report.setting("page", PAGE);
    report.setting("plugin", path.display().to_string());

    progress("baseline: raw range reads");
    let (raw_name, raw) = match &bench.redis_url {
        Some(url) => (
            "baseline: raw XRANGE pages",
            raw_xrange(url, &stream).await?,
        ),
        None => (
            "baseline: store range reads",
            store_reads(store.as_ref(), &stream).await?,
        ),
    };
    report.row(Row::new(raw_name).throughput(n, raw));
    if bench.redis_url.is_some() {
        let decoded = store_reads(store.as_ref(), &stream).await?;
        report.row(Row::new("store reads, decoded events").throughput(n, decoded));
    }

    progress("reads folded through the reducer");
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let plugin = engine.load_file(&path)?;
    let mut instance = PluginInstance::new(&plugin, Default::default(), Limits::default())?;
    let fold = read_and_fold(store.as_ref(), &stream, &mut instance).await?;
    report.row(Row::new("eddy reads + reducer fold (in memory)").throughput(n, fold));

    progress("reducer subscription rebuilding every state");
    let host = SubscriptionHost::new(store.clone(), engine, None);
    let name = fresh_name("bench-replay-sub");
    let started = Instant::now();
    start_reducer(&host, &name, &path, &stream, 5).await?;
    let caught_up = wait_caught_up(
        store.as_ref(),
        &name,
        &stream,
        last,
        Duration::from_secs(3600),
    )
    .await;
    let rebuild = started.elapsed();
    host.stop_all().await;
    caught_up?;
    report.row(Row::new("eddy reducer subscription (rebuild)").throughput(n, rebuild));

    store.delete_projection(&name).await?;
    store.delete_stream(&stream).await?;

    report.ratio_at_least(
        "subscription rebuild / raw range reads",
        raw.as_secs_f64() / rebuild.as_secs_f64().max(1e-9),
        Some(0.5),
    );
    report.ratio_at_least(
        "reads + fold / raw range reads",
        raw.as_secs_f64() / fold.as_secs_f64().max(1e-9),
        None,
    );
    report.note(
        "the subscription runs one partition with batch 1000; it commits states, checkpoint \
         and snapshots after every batch",
    );
    Ok(report)
}

/// Every entry by `XRANGE … COUNT 1000` pages on a plain connection, left undecoded.
async fn raw_xrange(url: &str, stream: &str) -> anyhow::Result<Duration> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let key = crate::store::redis::events_key(stream);
    let started = Instant::now();
    let mut from = "-".to_string();
    loop {
        let page: Vec<redis::Value> = redis::cmd("XRANGE")
            .arg(&key)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(&mut conn)
            .await?;
        let Some(last) = page.last() else { break };
        let id = match last {
            redis::Value::Array(entry) => match entry.first() {
                Some(redis::Value::BulkString(id)) => String::from_utf8_lossy(id).into_owned(),
                _ => anyhow::bail!("unexpected XRANGE entry"),
            },
            _ => anyhow::bail!("unexpected XRANGE reply"),
        };
        if page.len() < PAGE {
            break;
        }
        from = format!("({id}");
    }
    Ok(started.elapsed())
}

/// Every event through [`EventStore::read`] pages.
async fn store_reads(store: &dyn EventStore, stream: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut from: Option<Position> = None;
    loop {
        let page = store
            .read(
                stream,
                Read {
                    from,
                    ..Read::forward(PAGE)
                },
            )
            .await?;
        let Some(last) = page.last() else { break };
        from = Some(last.position);
        if page.len() < PAGE {
            break;
        }
    }
    Ok(started.elapsed())
}

/// Store reads, each page folded per subject through the reducer, states kept in memory.
async fn read_and_fold(
    store: &dyn EventStore,
    stream: &str,
    instance: &mut PluginInstance,
) -> anyhow::Result<Duration> {
    let init = instance.init()?;
    let mut states: HashMap<String, Vec<u8>> = HashMap::new();
    let mut batch = EventBatch::with_capacity(PAGE);
    let started = Instant::now();
    let mut from: Option<Position> = None;
    loop {
        let page = store
            .read(
                stream,
                Read {
                    from,
                    ..Read::forward(PAGE)
                },
            )
            .await?;
        let Some(last) = page.last() else { break };
        from = Some(last.position);
        let full = page.len() == PAGE;
        let mut groups: Vec<(String, Vec<&crate::store::StoredEvent>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for stored in &page {
            let subject = stored.event.subject.as_deref().unwrap_or("");
            let at = *index.entry(subject).or_insert_with(|| {
                groups.push((subject.to_string(), Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push(stored);
        }
        for (subject, group) in groups {
            batch.clear();
            for stored in group {
                batch.push(&stored.event, stream, stored.position);
            }
            let state = states.remove(&subject).unwrap_or_else(|| init.clone());
            let state = instance
                .apply(state, &batch)
                .map_err(|failure| anyhow::anyhow!("the reducer failed: {}", failure.error))?;
            states.insert(subject, state);
        }
        if !full {
            break;
        }
    }
    Ok(started.elapsed())
}
