//! The figures this comparison takes from Eddy's own run: the JSON report of
//! `eddy bench reduce --json` (see runtime/src/cli/bench/report.rs for its shape).

use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

/// One measured row of Eddy's report.
pub struct Figures {
    pub events_per_s: f64,
    pub ns_per_event: f64,
    /// Percentiles of Eddy's calls (one subject's batch each), in microseconds.
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
}

/// What Eddy measured on the same history.
pub struct EddyRun {
    /// The order-totals rules compiled into the host.
    pub native: Figures,
    /// Eddy's WebAssembly reducer.
    pub wasm: Figures,
    /// Whether Eddy's reducer ended with the native rules' states, byte for byte.
    pub states_match: bool,
    /// The history's size and the events per call Eddy ran with.
    pub events: u64,
    pub batch: u64,
}

/// Reads Eddy's JSON report at `path`.
pub fn read(path: &Path) -> anyhow::Result<EddyRun> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read Eddy's report {}", path.display()))?;
    let report: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON report", path.display()))?;
    anyhow::ensure!(
        report["scenario"] == "reduce",
        "{} is not a `bench reduce` report",
        path.display()
    );
    let settings = &report["settings"];
    Ok(EddyRun {
        native: row(&report, "baseline: native")?,
        wasm: row(&report, "wasm")?,
        states_match: settings["states_match"].as_bool().unwrap_or(false),
        events: settings["events"].as_u64().unwrap_or(0),
        batch: settings["batch"].as_u64().unwrap_or(0),
    })
}

fn row(report: &Value, prefix: &str) -> anyhow::Result<Figures> {
    let row = report["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|row| row["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .with_context(|| format!("no row `{prefix}…` in Eddy's report"))?;
    let number = |column: &str| {
        row["values"][column]
            .as_f64()
            .with_context(|| format!("no `{column}` in Eddy's row `{}`", row["name"]))
    };
    Ok(Figures {
        events_per_s: number("events_per_s")?,
        ns_per_event: number("ns_per_event")?,
        p50_us: row["values"]["p50_us"].as_f64(),
        p99_us: row["values"]["p99_us"].as_f64(),
    })
}
