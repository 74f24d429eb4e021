//! What a scenario reports: measured rows (Eddy and its baseline side by side), the ratios
//! between them with their goals, and notes; rendered as a table or as JSON.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// The result of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario (`reduce`, `ingest`, …).
    pub scenario: &'static str,
    /// What it ran with: sizes, store, plugin.
    pub settings: Ordered,
    /// One row per thing measured; column names carry their unit (`events_per_s`, `p99_ms`).
    pub rows: Vec<Row>,
    /// Eddy against its baseline (or its goal).
    pub ratios: Vec<Ratio>,
    /// Anything a reader needs to interpret the figures.
    pub notes: Vec<String>,
}

/// One measured thing.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured (`wasm order_totals`, `baseline: pipelined XADD`).
    pub name: String,
    /// Column → value, in insertion order.
    pub values: Ordered,
}

/// Keys and values kept in the order they were added (a JSON object when serialised).
#[derive(Debug, Clone, Default)]
pub struct Ordered(Vec<(String, Value)>);

impl Ordered {
    fn insert(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
}

impl Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A ratio and the goal it is held to.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared (`wasm / native events per second`).
    pub name: String,
    /// The ratio (or the figure, for absolute goals).
    pub value: f64,
    /// The goal as text (`>= 0.5`), if there is one.
    pub goal: Option<String>,
    /// Whether the goal is met.
    pub met: Option<bool>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Self {
            scenario,
            settings: Ordered::default(),
            rows: Vec::new(),
            ratios: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn setting(&mut self, key: &str, value: impl Into<Value>) {
        self.settings.insert(key, value.into());
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// A ratio that should be at least `goal` (`None`: no goal).
    pub fn ratio_at_least(&mut self, name: &str, value: f64, goal: Option<f64>) {
        self.ratios.push(Ratio {
            name: name.to_string(),
            value: round(value, 3),
            goal: goal.map(|g| format!(">= {g}")),
            met: goal.map(|g| value >= g),
        });
    }

    /// A figure that should be at most `goal`.
    pub fn at_most(&mut self, name: &str, value: f64, goal: f64) {
        self.ratios.push(Ratio {
            name: name.to_string(),
            value: round(value, 3),
            goal: Some(format!("<= {goal}")),
            met: Some(value <= goal),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The human form: settings, a table of the rows, then ratios and notes.
    pub fn render(&self) -> String {
        let mut out = format!("eddy bench {}", self.scenario);
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect();
        if !settings.is_empty() {
            out += &format!(" ({})", settings.join(", "));
        }
        out.push_str("\n\n");
        let mut columns: Vec<&str> = Vec::new();
        for row in &self.rows {
            for key in row.values.keys() {
                if !columns.contains(&key.as_str()) {
                    columns.push(key);
                }
            }
        }
        let mut table: Vec<Vec<String>> = vec![
            std::iter::once("".to_string())
                .chain(columns.iter().map(|c| c.to_string()))
                .collect(),
        ];
        for row in &self.rows {
            table.push(
                std::iter::once(row.name.clone())
                    .chain(
                        columns
                            .iter()
                            .map(|c| row.values.get(c).map(plain).unwrap_or_default()),
                    )
                    .collect(),
            );
        }
        let widths: Vec<usize> = (0..=columns.len())
            .map(|i| {
                table
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &table {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i == 0 {
                        format!("{cell:<w$}", w = widths[i])
                    } else {
                        format!("{cell:>w$}", w = widths[i])
                    }
                })
                .collect();
            out += cells.join("  ").trim_end();
            out.push('\n');
        }
        if !self.ratios.is_empty() {
            out.push('\n');
            for ratio in &self.ratios {
                out += &format!("{}: {}", ratio.name, ratio.value);
                if let (Some(goal), Some(met)) = (&ratio.goal, ratio.met) {
                    out += &format!("  (goal {goal}: {})", if met { "met" } else { "NOT met" });
                }
                out.push('\n');
            }
        }
        for note in &self.notes {
            out += &format!("note: {note}\n");
        }
        out
    }
}

impl Row {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            values: Ordered::default(),
        }
    }

    /// Adds a column, rounded to a readable precision.
    pub fn with(mut self, column: &str, value: f64) -> Self {
        let value = if value.abs() >= 100.0 {
            Value::from(value.round() as i64)
        } else {
            Value::from(round(value, 3))
        };
        self.values.insert(column, value);
        self
    }

    /// Adds a count column.
    pub fn count(mut self, column: &str, value: u64) -> Self {
        self.values.insert(column, Value::from(value));
        self
    }

    /// Adds throughput columns for `events` in `elapsed`: events/s and ns per event.
    pub fn throughput(self, events: u64, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        self.count("events", events)
            .with("seconds", seconds)
            .with("events_per_s", events as f64 / seconds)
            .with("ns_per_event", seconds * 1e9 / events.max(1) as f64)
    }

    /// Adds latency percentile columns, in `unit` (`us` or `ms`).
    pub fn latencies(self, samples: &Latencies, unit: Unit) -> Self {
        let suffix = unit.suffix();
        self.with(&format!("p50_{suffix}"), unit.of(samples.percentile(50.0)))
            .with(&format!("p99_{suffix}"), unit.of(samples.percentile(99.0)))
            .with(
                &format!("p99.9_{suffix}"),
                unit.of(samples.percentile(99.9)),
            )
            .with(&format!("max_{suffix}"), unit.of(samples.max()))
    }
}

/// The unit latencies are shown in.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Micros,
    Millis,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Micros => "us",
            Unit::Millis => "ms",
        }
    }

    pub fn of(self, duration: Duration) -> f64 {
        match self {
            Unit::Micros => duration.as_secs_f64() * 1e6,
            Unit::Millis => duration.as_secs_f64() * 1e3,
        }
    }
}

/// Latency samples.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn push(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The nearest-rank percentile (0 with no samples).
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn max(&self) -> Duration {
        self.samples.iter().copied().max().unwrap_or_default()
    }
}

impl FromIterator<Duration> for Latencies {
    fn from_iter<I: IntoIterator<Item = Duration>>(iter: I) -> Self {
        Self {
            samples: iter.into_iter().collect(),
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// A JSON value as a table cell: strings without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Latencies = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(samples.percentile(50.0), Duration::from_millis(50));
        assert_eq!(samples.percentile(99.0), Duration::from_millis(99));
        assert_eq!(samples.percentile(99.9), Duration::from_millis(100));
        assert_eq!(samples.max(), Duration::from_millis(100));
        assert_eq!(Latencies::default().percentile(50.0), Duration::ZERO);
    }

    #[test]
    fn the_table_lines_up_rows_and_prints_ratios_with_their_goals() {
        let mut report = Report::new("demo");
        report.setting("events", 10);
        report.row(Row::new("eddy").with("events_per_s", 500.0));
        report.row(Row::new("baseline").with("events_per_s", 1000.0));
        report.ratio_at_least("eddy / baseline", 0.5, Some(0.5));
        let text = report.render();
        assert!(text.starts_with("eddy bench demo (events=10)"), "{text}");
        assert!(
            text.contains("eddy / baseline: 0.5  (goal >= 0.5: met)"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("baseline") && l.ends_with(" 1000")),
            "{text}"
        );
    }
}
