//! `eddy bench e2e`: latency from publishing an event to a handler's output being readable.
//!
//! A publisher appends events at a steady rate (every millisecond, the events due by then,
//! in one append), each stamped with the wall-clock time of its publish in `time`. A handler
//! subscription (the `fx-tag-a` fixture by default: one output per input) runs on them; an
//! observer reads the handler's output stream through a consumer group of its own with
//! blocking reads, and takes `now − time` of every output (the host gives an emitted event
//! its input's time). The baseline is the same publisher and observer with nothing in
//! between: the observer reads the input stream itself (store round trip, no plugin).
//!
//! Without `--rate`, rates step up (1,000, 2,000, 5,000, 10,000, 20,000, 50,000 events/s) until
//! p99 reaches 10 ms or the rate cannot be kept; the highest rate with p99 under 10 ms is
//! reported.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::report::{Latencies, Report, Row, Unit};
use super::{BenchStore, OutputArgs, built_plugin, fresh_name, progress, require_plugin};
use crate::event::{CloudEvent, Data};
use crate::plugin::{EngineOptions, PluginEngine};
use crate::store::{Append, EventStore, GroupStart};
use crate::subscription::{SubscriptionHost, SubscriptionSpec};

/// Arguments of `eddy bench e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// The store: `redis://host:port/db` or `embedded:<dir>` (default: a temporary embedded
    /// store).
    #[arg(long)]
    store: Option<String>,
    /// Events per second; without it, rates step up until p99 reaches 10 ms.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rate: Option<u32>,
    /// Seconds per rate.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// The handler component (default: the built `fx-tag-a` fixture).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// The stream the handler emits to (`fx-tag-a`: `tagged`).
    #[arg(long, default_value = "tagged")]
    output_stream: String,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// The rates tried without `--rate`.
const LADDER: [u32; 6] = [1_000, 2_000, 5_000, 10_000, 20_000, 50_000];
/// The p99 a rate must keep to count as sustained.
const P99_GOAL: Duration = Duration::from_millis(10);
/// Events of one append, at most (a publisher that fell behind catches up in these).
const MAX_APPEND: usize = 1000;

/// What one run at one rate measured.
struct Step {
    rate: u32,
    published: u64,
    achieved_rate: f64,
    latencies: Latencies,
}

impl Step {
    fn sustained(&self) -> bool {
        self.latencies.len() as u64 >= self.published
            && self.achieved_rate >= 0.9 * f64::from(self.rate)
            && self.latencies.percentile(99.0) < P99_GOAL
    }
}

pub async fn run(args: E2eArgs) -> anyhow::Result<Report> {
    let path = args.plugin.unwrap_or_else(|| built_plugin("fx_tag_a"));
    require_plugin(&path)?;
    let bench = BenchStore::open(args.store.as_deref()).await?;
    let store = bench.store.clone();
    let engine = PluginEngine::new(&EngineOptions::with_default_cache())?;
    let host = SubscriptionHost::new(store.clone(), engine, None);
    let duration = Duration::from_secs_f64(args.duration.max(0.1));
    let rates: Vec<u32> = match args.rate {
        Some(rate) => vec![rate],
        None => LADDER.to_vec(),
    };

    let output_existed = store.stream(&args.output_stream).await?.is_some();
    let mut report = Report::new("e2e");
    report.setting("store", bench.shown.clone());
    report.setting("plugin", path.display().to_string());
    report.setting("duration_s", args.duration);
    let mut best: Option<u32> = None;
    let mut at_5000: Option<(Duration, Duration)> = None;
    let mut last_ratio = None;
    for rate in rates {
        progress(&format!("{rate} events/s for {duration:?}: baseline"));
        let input = fresh_name("bench-e2e");
        let baseline = step(store.clone(), &input, &input, rate, duration, || async {
            Ok(())
        })
        .await?;
        store.delete_stream(&input).await?;

        progress(&format!(
            "{rate} events/s for {duration:?}: through the handler"
        ));
        let input = fresh_name("bench-e2e");
        let name = fresh_name("bench-e2e-sub");
        let spec: SubscriptionSpec = serde_json::from_value(serde_json::json!({
            "name": name,
            "plugin": path.display().to_string(),
            "streams": [input],
        }))?;
        let eddy = step(
            store.clone(),
            &input,
            &args.output_stream,
            rate,
            duration,
            || async { Ok(host.start(spec).await?) },
        )
        .await;
        host.stop_all().await;
        store.delete_stream(&input).await?;
        let eddy = eddy?;

        let sustained = eddy.sustained();
        for (label, step) in [
            ("eddy publish -> handler output", &eddy),
            ("baseline: publish -> readable", &baseline),
        ] {
            report.row(
                Row::new(format!("{label} @ {rate}/s"))
                    .count("published", step.published)
                    .count("observed", step.latencies.len() as u64)
                    .with("achieved_per_s", step.achieved_rate)
                    .latencies(&step.latencies, Unit::Millis),
            );
        }
        last_ratio = Some((
            rate,
            baseline.latencies.percentile(99.0).as_secs_f64()
                / eddy.latencies.percentile(99.0).as_secs_f64().max(1e-9),
        ));
        if rate == 5_000 {
            at_5000 = Some((
                eddy.latencies.percentile(50.0),
                eddy.latencies.percentile(99.0),
            ));
        }
        if sustained {
            best = best.max(Some(rate));
        } else if args.rate.is_none() {
            break;
        }
    }
    if !output_existed {
        store.delete_stream(&args.output_stream).await?;
    }
    match best {
        Some(rate) => report.setting("highest_rate_p99_under_10ms", rate),
        None => report.setting("highest_rate_p99_under_10ms", serde_json::Value::Null),
    }
    if let Some((rate, ratio)) = last_ratio {
        report.ratio_at_least(&format!("baseline p99 / eddy p99 @ {rate}/s"), ratio, None);
    }
    if let Some((p50, p99)) = at_5000 {
        report.at_most("p50 ms @ 5000/s", Unit::Millis.of(p50), 2.0);
        report.at_most("p99 ms @ 5000/s", Unit::Millis.of(p99), 10.0);
    }
    report.note(
        "a rate counts as sustained when every output arrived, the publisher kept 90% of the \
         rate, and p99 < 10 ms",
    );
    Ok(report)
}

/// Publishes to `input` at `rate` for `duration` after `start` (which sets up what
/// produces `observed`), observing `observed`, and returns the latencies.
async fn step<F, Fut>(
    store: Arc<dyn EventStore>,
    input: &str,
    observed: &str,
    rate: u32,
    duration: Duration,
    start: F,
) -> anyhow::Result<Step>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    // The observer's group starts at the end of the stream: earlier outputs are not ours.
    let group = fresh_name("bench-observer");
    store
        .create_group(observed, &group, GroupStart::Now)
        .await?;
    start().await?;
    let published = Arc::new(AtomicU64::new(0));
    let publishing_done = Arc::new(AtomicBool::new(false));
    let observer = tokio::spawn(observe(
        store.clone(),
        observed.to_string(),
        group.clone(),
        published.clone(),
        publishing_done.clone(),
    ));
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent: u64 = 0;
    let publish_result: anyhow::Result<()> = async {
        while started.elapsed() < duration {
            ticks.tick().await;
            let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
            let count = due.saturating_sub(sent).min(MAX_APPEND as u64);
            if count == 0 {
                continue;
            }
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let events: Vec<CloudEvent> = (sent..sent + count)
                .map(|i| {
                    let mut event = CloudEvent::new(format!("{input}-{i}"), "/bench", "bench.e2e")
                        .with_time(&now)
                        .expect("an RFC 3339 time");
                    event.data = Some(Data::json(&i).expect("a number serialises"));
                    event.datacontenttype = Some("application/json".to_string());
                    event
                })
                .collect();
            store.append(input, Append::new(events)).await?;
            sent += count;
            published.store(sent, Ordering::Release);
        }
        Ok(())
    }
    .await;
    let elapsed = started.elapsed();
    publishing_done.store(true, Ordering::Release);
    let latencies = observer.await??;
    let _ = store.remove_consumer(observed, &group, "observer").await;
    publish_result?;
    Ok(Step {
        rate,
        published: sent,
        achieved_rate: sent as f64 / elapsed.as_secs_f64(),
        latencies,
    })
}

/// Reads `stream` through `group` until every published event has been seen after
/// publishing ended (or nothing new came for 5 s), and returns `now − time` of each.
async fn observe(
    store: Arc<dyn EventStore>,
    stream: String,
    group: String,
    published: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::default();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let entries = store
            .read_group(
                &stream,
                &group,
                "observer",
                1000,
                Some(Duration::from_millis(100)),
            )
            .await?;
        let now = now_nanos();
        for entry in &entries {
            if let Some(time) = &entry.event.time {
                let nanos = now.saturating_sub(time.unix_nanos()).max(0);
                latencies.push(Duration::from_nanos(nanos as u64));
            }
        }
        if !entries.is_empty() {
            let positions: Vec<_> = entries.iter().map(|e| e.position).collect();
            store.ack(&stream, &group, &positions).await?;
            quiet_since = None;
        }
        if done.load(Ordering::Acquire) {
            if latencies.len() as u64 >= published.load(Ordering::Acquire) {
                return Ok(latencies);
            }
            let quiet = quiet_since.get_or_insert_with(Instant::now);
            if quiet.elapsed() > Duration::from_secs(5) {
                return Ok(latencies);
            }
        }
    }
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
