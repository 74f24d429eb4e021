//! The side-by-side table: Eddy's native baseline, Eddy's reducer and the Fluvio aggregate,
//! then the ratios the goal is stated in.

use crate::aggregate::Fold;
use crate::eddy_report::EddyRun;

/// The goal of issue #9: Eddy's reducer at least this many times the Fluvio aggregate.
pub const GOAL_EDDY_OVER_FLUVIO: f64 = 4.0;

/// What the table shows besides the figures.
pub struct Checks {
    /// The Fluvio final states equal the native rules' (computed in this runner).
    pub fluvio_states_match: bool,
    /// Subjects in the history.
    pub subjects: usize,
}

/// The table as text. Without Eddy's report only the Fluvio row is shown.
pub fn render(eddy: Option<&EddyRun>, fluvio: &Fold, checks: &Checks) -> String {
    let mut rows: Vec<[String; 4]> = vec![[
        String::new(),
        "events/s".into(),
        "ns/event".into(),
        "calls p50 / p99 (us)".into(),
    ]];
    if let Some(eddy) = eddy {
        for (label, figures) in [
            ("native rules (eddy's baseline)", &eddy.native),
            ("eddy wasm reducer", &eddy.wasm),
        ] {
            let calls = match (figures.p50_us, figures.p99_us) {
                (Some(p50), Some(p99)) => format!("{p50:.0} / {p99:.0}"),
                _ => "-".into(),
            };
            rows.push([
                label.into(),
                format!("{:.0}", figures.events_per_s),
                format!("{:.0}", figures.ns_per_event),
                calls,
            ]);
        }
    }
    rows.push([
        "fluvio aggregate SmartModule".into(),
        format!("{:.0}", fluvio.events_per_s()),
        format!("{:.0}", fluvio.ns_per_event()),
        format!(
            "{:.0} / {:.0}",
            fluvio.call_percentile_us(50.0),
            fluvio.call_percentile_us(99.0)
        ),
    ]);
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, width) in row.iter().zip(&widths).skip(1) {
            line += &format!("  {cell:>width$}");
        }
        out += line.trim_end();
        out.push('\n');
    }
    out += &format!(
        "\nnot in fluvio's figures: building and encoding its input records, {:.0} ns/event \
         (an SPU passes stored batches as they are; eddy's figures include encoding its \
         events for the plugin)\n",
        fluvio.encode_ns_per_event()
    );
    out += &format!(
        "fluvio outputs: {:.0} bytes per event, {:.1} MB in this run; the guest glue never \
         frees an output buffer\n",
        fluvio.output_bytes as f64 / fluvio.events.max(1) as f64,
        fluvio.output_bytes as f64 / 1e6
    );
    out.push('\n');
    let fluvio_eps = fluvio.events_per_s();
    if let Some(eddy) = eddy {
        let native = eddy.native.events_per_s;
        out += &format!("eddy / native:   {:.3}\n", eddy.wasm.events_per_s / native);
        out += &format!("fluvio / native: {:.3}\n", fluvio_eps / native);
        let ratio = eddy.wasm.events_per_s / fluvio_eps;
        let met = if ratio >= GOAL_EDDY_OVER_FLUVIO {
            "met"
        } else {
            "NOT met"
        };
        out += &format!("eddy / fluvio:   {ratio:.2}  (goal >= {GOAL_EDDY_OVER_FLUVIO}: {met})\n");
    }
    out += &format!(
        "\nfinal states of {} subjects, byte for byte: fluvio == native: {}",
        checks.subjects,
        yes_no(checks.fluvio_states_match)
    );
    if let Some(eddy) = eddy {
        out += &format!(
            "; eddy == native: {} (eddy's report)",
            yes_no(eddy.states_match)
        );
    }
    out.push('\n');
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}
