//! `eddy bench timetravel`: state-at-position queries on one subject with a long history
//! (1,000,000 events by default).
//!
//! A reducer subscription folds the whole history first (not timed; it leaves a snapshot
//! every 1,000 events of the subject). Then queries at positions spread over the history
//! are timed, each against its physical floor: reading the same events the query replays
//! after its snapshot, with one subject read.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::report::{Latencies, Report, Row, Unit};
use super::{
    BenchStore, OutputArgs, built_plugin, fill, fresh_name, history, progress, require_plugin,
    start_reducer, wait_caught_up,
};
use crate::plugin::{EngineOptions, PluginEngine};
use crate::store::Read;
use crate::subscription::{At, SubscriptionHost};

/// Arguments of `eddy bench timetravel`.
#[derive(Debug, clap::Args)]
pub struct TimetravelArgs {
    /// The store: `redis://host:port/db` or `embedded:<dir>` (default: a temporary embedded
    /// store). The benchmark writes a fresh stream and deletes it afterwards.
    #[arg(long)]
    store: Option<String>,
    /// How many events the subject has.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// How many queries to time.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    /// The reducer component (default: the built order-totals example).
    #[arg(long)]
    plugin: Option<PathBuf>,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

const SUBJECT: &str = "o-0";

pub async fn run(args: TimetravelArgs) -> anyhow::Result<Report> {
    let path = args.plugin.unwrap_or_else(|| built_plugin("order_totals"));
    require_plugin(&path)?;
    let bench = BenchStore::open(args.store.as_deref()).await?;
    let store = bench.store.clone();
    let stream = fresh_name("bench-timetravel");
    progress(&format!(
        "appending {} events of one subject to {stream}",
        args.events
    ));
    // One order: every event is about subject `o-0`.
    let positions = fill(
        store.as_ref(),
        &stream,
        history::order_events(args.events, 1, 11),
        5000,
    )
    .await?;
    let last = *positions
        .last()
        .ok_or_else(|| anyhow::anyhow!("--events must be at least 1"))?;

    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let host = SubscriptionHost::new(store.clone(), engine, None);
    let name = fresh_name("bench-tt");
    progress("a reducer subscription folds the history (not timed)");
    let fold_started = Instant::now();
    // Snapshots over the whole history (up to the 1,000 a spec may keep), so that a query
    // anywhere replays at most 1,000 events: the default keeps only the newest 5 per subject.
    let kept = (args.events / 1000).clamp(1, 1000) as u32;
    start_reducer(&host, &name, &path, &stream, kept).await?;
    wait_caught_up(
        store.as_ref(),
        &name,
        &stream,
        last,
        Duration::from_secs(3600),
    )
    .await?;
    let fold = fold_started.elapsed();

    progress(&format!("{} queries", args.queries));
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut queries = Latencies::default();
    let mut floors = Latencies::default();
    let mut replayed_total = 0u64;
    for i in 0..args.queries.max(1) {
        // Spread over the history, the last position included.
        let index = if i == 0 {
            positions.len() - 1
        } else {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) as usize % positions.len()
        };
        let at = positions[index];
        let started = Instant::now();
        let state = host
            .state_at(&name, SUBJECT, &At::Position(at))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no state at {at}"))?;
        queries.push(started.elapsed());
        replayed_total += state.replayed;
        let started = Instant::now();
        let read = Read {
            from: state.from_snapshot,
            ..Read::forward(state.replayed as usize)
        }
        .subject(SUBJECT);
        if state.replayed > 0 {
            store.read(&stream, read).await?;
        }
        floors.push(started.elapsed());
    }
    host.stop_all().await;
    store.delete_projection(&name).await?;
    store.delete_stream(&stream).await?;

    let mut report = Report::new("timetravel");
    report.setting("store", bench.shown.clone());
    report.setting("events", args.events);
    report.setting("queries", args.queries.max(1));
    report.setting("snapshot_every", 1000);
    report.setting("snapshots_kept", kept);
    report.setting("plugin", path.display().to_string());
    report.row(
        Row::new("eddy state_at(position)")
            .count("queries", queries.len() as u64)
            .with(
                "replayed_per_query",
                replayed_total as f64 / queries.len().max(1) as f64,
            )
            .latencies(&queries, Unit::Millis),
    );
    report.row(
        Row::new("baseline: subject read of the replayed events")
            .count("queries", floors.len() as u64)
            .latencies(&floors, Unit::Millis),
    );
    report.row(
        Row::new("(setup) subscription fold of the history").throughput(args.events as u64, fold),
    );
    let p99 = Unit::Millis.of(queries.percentile(99.0));
    report.at_most("query p99 ms", p99, 20.0);
    report.ratio_at_least(
        "subject read / query (p50)",
        floors.percentile(50.0).as_secs_f64() / queries.percentile(50.0).as_secs_f64().max(1e-9),
        None,
    );
    Ok(report)
}
