//! `eddy-fluvio-bench`: the order-totals rules as a Fluvio `aggregate` SmartModule, folded
//! through Fluvio's own engine over the history `eddy bench reduce --dump-history` wrote, and
//! printed beside the figures of that same Eddy run (issue #9). `scripts/bench-fluvio` runs
//! both in one command.
//!
//! Layout:
//! - [`history`]: reads the dumped history (JSON Lines CloudEvents);
//! - [`aggregate`]: loads the SmartModule in `fluvio-smartengine` and folds the history;
//! - [`native`]: the same rules natively, for the reference final states;
//! - [`eddy_report`]: the figures of Eddy's `bench reduce --json` report;
//! - [`table`]: the side-by-side table and the ratios.

mod aggregate;
mod eddy_report;
mod history;
mod native;
mod table;

use std::path::PathBuf;

use clap::Parser;

/// Fold a dumped Eddy history through a Fluvio aggregate SmartModule and compare.
#[derive(Debug, Parser)]
struct Args {
    /// The history: `eddy bench reduce --dump-history PATH`.
    #[arg(long)]
    history: PathBuf,
    /// Eddy's report of the same run (`eddy bench reduce --json`), shown beside.
    #[arg(long)]
    eddy_report: Option<PathBuf>,
    /// The SmartModule (built by scripts/bench-fluvio).
    #[arg(long, default_value = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/wasm32-wasip1/smartmodule/order_totals_aggregate.wasm"
    ))]
    smartmodule: PathBuf,
    /// Records per engine call (as Eddy's `--batch`: events per call).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Engine calls of warm-up before measuring (Eddy warms up on 20 calls).
    #[arg(long, default_value_t = 20)]
    warmup_calls: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let events = history::read(&args.history)?;
    anyhow::ensure!(!events.is_empty(), "the history is empty");
    let eddy = args
        .eddy_report
        .as_deref()
        .map(eddy_report::read)
        .transpose()?;
    if let Some(eddy) = &eddy
        && (eddy.events != events.len() as u64 || eddy.batch != args.batch as u64)
    {
        eprintln!(
            "warning: Eddy ran {} events in calls of {}, this run {} in calls of {}: \
             not the same work",
            eddy.events,
            eddy.batch,
            events.len(),
            args.batch
        );
    }

    let mut module = aggregate::Aggregate::load(&args.smartmodule)?;
    // Warm up on the same instance (its memory, the engine's code) under other keys, so the
    // measured fold starts every real subject from the initial state as Eddy's does.
    let warm = events.len().min(args.warmup_calls * args.batch);
    module.fold(&events[..warm], args.batch, "warm-up/")?;
    let fluvio = module.fold(&events, args.batch, "")?;

    let reference = native::final_states(&events);
    let checks = table::Checks {
        fluvio_states_match: fluvio.states == reference,
        subjects: reference.len(),
    };
    println!(
        "order-totals on {} events, {} subjects, {} records per call\n",
        events.len(),
        reference.len(),
        args.batch
    );
    print!("{}", table::render(eddy.as_ref(), &fluvio, &checks));
    anyhow::ensure!(
        checks.fluvio_states_match,
        "the SmartModule's final states differ from the rules': the figures compare different work"
    );
    Ok(())
}
