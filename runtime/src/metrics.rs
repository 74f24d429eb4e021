//! Process metrics in the Prometheus text format (`GET /metrics`).
//!
//! A deliberately tiny registry — counters, gauges and histograms with labels, rendered as
//! text exposition format 0.0.4 — rather than a metrics crate: Eddy needs a dozen series and
//! no push, no exemplars, no protobuf. One registry per process ([`global`]), as a process is
//! one scrape target; the instruments below are the only names the code records under.
//!
//! Recording costs a mutex and a map lookup, so it happens per request or per batch, never
//! per event inside a loop.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds (seconds) of the duration histograms' buckets: 0.5 ms to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What a metric family measures, as Prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone)]
enum Series {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<AtomicI64>),
    Histogram(Arc<Mutex<HistogramState>>),
}

#[derive(Debug, Default)]
struct HistogramState {
    /// Per bucket of [`DURATION_BUCKETS`] (not cumulative); the last slot is `+Inf`.
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
struct Family {
    help: &'static str,
    kind: Kind,
    series: BTreeMap<Labels, Series>,
}

/// A set of metric families.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// A monotonically increasing count.
#[derive(Debug, Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// Adds `delta` (which may be negative).
    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }
}

/// A distribution of durations over [`DURATION_BUCKETS`].
#[derive(Debug, Clone)]
pub struct Histogram(Arc<Mutex<HistogramState>>);

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = DURATION_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(DURATION_BUCKETS.len());
        state.buckets[slot] += 1;
        state.sum += seconds;
        state.count += 1;
    }
}

impl Registry {
    fn series(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &[(&'static str, &str)],
    ) -> Series {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        debug_assert_eq!(family.kind, kind, "metric `{name}` used as two kinds");
        let key: Labels = labels.iter().map(|&(k, v)| (k, v.to_string())).collect();
        family
            .series
            .entry(key)
            .or_insert_with(|| match kind {
                Kind::Counter => Series::Counter(Arc::default()),
                Kind::Gauge => Series::Gauge(Arc::default()),
                Kind::Histogram => Series::Histogram(Arc::new(Mutex::new(HistogramState {
                    buckets: vec![0; DURATION_BUCKETS.len() + 1],
                    ..HistogramState::default()
                }))),
            })
            .clone()
    }

    /// The counter `name` with these label values (created at zero on first use).
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Counter {
        match self.series(name, help, Kind::Counter, labels) {
            Series::Counter(c) => Counter(c),
            _ => unreachable!("series() returns the family's kind"),
        }
    }

    /// The gauge `name` with these label values.
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Gauge {
        match self.series(name, help, Kind::Gauge, labels) {
            Series::Gauge(g) => Gauge(g),
            _ => unreachable!("series() returns the family's kind"),
        }
    }

    /// The histogram `name` with these label values.
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Histogram {
        match self.series(name, help, Kind::Histogram, labels) {
            Series::Histogram(h) => Histogram(h),
            _ => unreachable!("series() returns the family's kind"),
        }
    }

    /// Every family in the text exposition format, families sorted by name.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, family) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.name());
            for (labels, series) in &family.series {
                match series {
                    Series::Counter(c) => {
                        sample(&mut out, name, labels, None, c.load(Ordering::Relaxed))
                    }
                    Series::Gauge(g) => {
                        sample(&mut out, name, labels, None, g.load(Ordering::Relaxed))
                    }
                    Series::Histogram(h) => {
                        let state = h.lock().unwrap_or_else(|e| e.into_inner());
                        let bucket = format!("{name}_bucket");
                        let mut cumulative = 0;
                        for (i, count) in state.buckets.iter().enumerate() {
                            cumulative += count;
                            let le = DURATION_BUCKETS
                                .get(i)
                                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                            sample(&mut out, &bucket, labels, Some(&le), cumulative);
                        }
                        sample(&mut out, &format!("{name}_sum"), labels, None, state.sum);
                        sample(
                            &mut out,
                            &format!("{name}_count"),
                            labels,
                            None,
                            state.count,
                        );
                    }
                }
            }
        }
        out
    }
}

fn sample(
    out: &mut String,
    name: &str,
    labels: &Labels,
    le: Option<&str>,
    value: impl std::fmt::Display,
) {
    out.push_str(name);
    let all = labels
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(le.map(|le| ("le", le)));
    let mut first = true;
    for (key, value) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{key}=\"{}\"", escape(value));
    }
    if !first {
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The process's registry.
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::default)
}

// The instruments. Each records into the global registry under one name.

/// `n` events of type `ty` were appended to `stream` (duplicates not counted).
pub fn events_published(stream: &str, ty: &str, n: u64) {
    global()
        .counter(
            "eddy_events_published_total",
            "Events appended to a stream by a publish (duplicates excluded).",
            &[("stream", stream), ("type", ty)],
        )
        .inc_by(n);
}

/// A subscription processed `n` events (or skipped them by type or filter) successfully.
pub fn events_processed(subscription: &str, plugin: &str, n: u64) {
    global()
        .counter(
            "eddy_events_processed_total",
            "Events a subscription processed successfully (including those its types or filter skip).",
            &[("subscription", subscription), ("plugin", plugin)],
        )
        .inc_by(n);
}

/// One attempt at an event failed; `reason` is `retry`, `reject`, `trap`, `fuel` or `memory`.
pub fn event_failed(subscription: &str, plugin: &str, reason: &str) {
    global()
        .counter(
            "eddy_events_failed_total",
            "Failed attempts at an event (each failed retry counts), by reason.",
            &[
                ("subscription", subscription),
                ("plugin", plugin),
                ("reason", reason),
            ],
        )
        .inc_by(1);
}

/// A subscription gave up on an event and dead-lettered it.
pub fn event_dead_lettered(subscription: &str, plugin: &str) {
    global()
        .counter(
            "eddy_events_dead_lettered_total",
            "Events given up on and sent to the subscription's dead-letter stream.",
            &[("subscription", subscription), ("plugin", plugin)],
        )
        .inc_by(1);
}

/// A subscription was quarantined because its plugin kept faulting.
pub fn subscription_quarantined(subscription: &str, plugin: &str) {
    global()
        .counter(
            "eddy_subscriptions_quarantined_total",
            "Subscriptions paused because their plugin kept faulting (see quarantine_after).",
            &[("subscription", subscription), ("plugin", plugin)],
        )
        .inc_by(1);
}

/// One batch took `duration` through a subscription's plugins (filter and handler/reducer).
pub fn batch_processed(subscription: &str, plugin: &str, duration: Duration) {
    global()
        .histogram(
            "eddy_batch_duration_seconds",
            "Time to run one batch through a subscription's plugins, retries included.",
            &[("subscription", subscription), ("plugin", plugin)],
        )
        .observe(duration);
}

/// A subscription's plugins (filter included) used `fuel` on one batch, retries included.
pub fn plugin_fuel_used(subscription: &str, plugin: &str, fuel: u64) {
    global()
        .counter(
            "eddy_plugin_fuel_used_total",
            "Fuel (roughly, WebAssembly instructions) a subscription's plugins used.",
            &[("subscription", subscription), ("plugin", plugin)],
        )
        .inc_by(fuel);
}

/// A plugin call trapped: a panic, running out of fuel or memory, or another wasm trap.
pub fn plugin_trapped(plugin: &str, reason: &str) {
    global()
        .counter(
            "eddy_plugin_traps_total",
            "Plugin calls that trapped, by reason (trap, fuel, memory).",
            &[("plugin", plugin), ("reason", reason)],
        )
        .inc_by(1);
}

/// A plugin was (re)loaded from new bytes; `outcome` is `ok` or `rejected`.
pub fn plugin_reloaded(plugin: &str, outcome: &str) {
    global()
        .counter(
            "eddy_plugin_reloads_total",
            "Plugin hot reloads, by outcome (ok, rejected).",
            &[("plugin", plugin), ("outcome", outcome)],
        )
        .inc_by(1);
}

/// The gauge of clients following `stream` live, over `transport` (`sse` or `ws`).
pub fn live_clients(stream: &str, transport: &str) -> Gauge {
    global().gauge(
        "eddy_live_clients",
        "Clients following a stream live (server-sent events or WebSocket).",
        &[("stream", stream), ("transport", transport)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_in_the_text_format_with_escaped_labels() {
        let registry = Registry::default();
        registry
            .counter("a_total", "A count.", &[("k", "x\"y\\z\n")])
            .inc_by(3);
        registry.gauge("b", "A gauge.", &[]).set(-2);
        let h = registry.histogram("c_seconds", "A histogram.", &[("s", "1")]);
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let text = registry.render();
        assert!(
            text.contains("# TYPE a_total counter\na_total{k=\"x\\\"y\\\\z\\n\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("\nb -2\n"), "{text}");
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{s=\"1\",le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("c_seconds_count{s=\"1\"} 2\n"), "{text}");
    }
}
