//! `eddy bench reload`: time from a plugin file being replaced in a watched folder to the new
//! version serving (the registry's slot holding its hash, which every worker takes at its
//! next batch).
//!
//! Each round makes two swaps, each file written `cp`-like (truncate, write, close): first to
//! a **new version** — the plugin's bytes with a custom section naming the round appended
//! (another hash, the same code), so it is compiled as a never-seen version is — then back to
//! a **known version**, the plugin as built, whose compiled artifact is cached (the cache is
//! keyed by content hash). The baselines are the floors of the two without watching: for a
//! known version, loading it from the compiled cache and instantiating it; for a new one,
//! compiling it (no cache) and instantiating it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::report::{Latencies, Report, Row, Unit};
use super::{OutputArgs, built_plugin, progress, require_plugin, with_custom_section};
use crate::plugin::{
    Change, DEBOUNCE, EngineOptions, FolderListener, Limits, PluginEngine, PluginInstance,
    PluginRegistry, PluginWatcher,
};

/// Arguments of `eddy bench reload`.
#[derive(Debug, clap::Args)]
pub struct ReloadArgs {
    /// The plugin to swap (default: the built order-totals example).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// How many rounds (a new version, then a known one) to time.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// The name the plugin has in the watched folder.
const NAME: &str = "bench-plugin";

/// Nothing to do on a change: the benchmark watches the registry itself.
struct Ignore;

#[async_trait::async_trait]
impl FolderListener for Ignore {
    async fn changed(&self, _dir: &Path, _name: &str, _change: Change) {}
}

/// The samples of one kind of swap.
#[derive(Default)]
struct Swaps {
    /// From just before the write to the new hash serving.
    observed: Latencies,
    /// The registry's own figure: first file event to the swap.
    internal: Latencies,
    /// The same bytes loaded and instantiated without the watcher.
    floor: Latencies,
}

pub async fn run(args: ReloadArgs) -> anyhow::Result<Report> {
    let path = args.plugin.unwrap_or_else(|| built_plugin("order_totals"));
    require_plugin(&path)?;
    let original = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
    let rounds = args.rounds.max(1);

    let work = tempfile::tempdir()?;
    let folder = work.path().join("plugins");
    std::fs::create_dir_all(&folder)?;
    let engine = PluginEngine::new(&EngineOptions {
        cache_dir: Some(work.path().join("cache")),
    })?;
    // The floor of a new version: compiling without a cache to find it in.
    let uncached = PluginEngine::new(&EngineOptions { cache_dir: None })?;
    let known_hash = engine.load(NAME, &original)?.hash().to_string();
    let target = folder.join(format!("{NAME}.wasm"));
    std::fs::write(&target, &original)?;
    let registry = Arc::new(PluginRegistry::default());
    let watcher =
        PluginWatcher::start(folder, engine.clone(), registry.clone(), Arc::new(Ignore)).await?;
    if registry.slot(NAME).and_then(|s| s.current_hash()) != Some(known_hash.clone()) {
        anyhow::bail!("the plugin did not load from the watched folder");
    }

    let mut new = Swaps::default();
    let mut known = Swaps::default();
    let result = async {
        for round in 0..rounds {
            let fresh = with_custom_section(
                &original,
                "eddy-bench",
                format!("round {round}: the same code, a new hash").as_bytes(),
            );
            let swaps: [(&[u8], &PluginEngine, &mut Swaps); 2] = [
                (&fresh, &uncached, &mut new),
                (&original, &engine, &mut known),
            ];
            let mut took = Vec::new();
            for (bytes, floor_engine, swaps) in swaps {
                let expected = crate::plugin::hash_of(bytes);
                let started = Instant::now();
                std::fs::write(&target, bytes)?;
                wait_for_swap(&registry, &expected, Duration::from_secs(60)).await?;
                swaps.observed.push(started.elapsed());
                took.push(started.elapsed());
                if let Some(ms) = registry.metrics().last_reload_ms {
                    swaps.internal.push(Duration::from_millis(ms));
                }
                let started = Instant::now();
                let plugin = floor_engine.load(NAME, bytes)?;
                PluginInstance::new(&plugin, Default::default(), Limits::default())?;
                swaps.floor.push(started.elapsed());
            }
            progress(&format!(
                "round {} of {rounds}: new version {:?}, known version {:?}",
                round + 1,
                took[0],
                took[1]
            ));
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    watcher.shutdown().await;
    result?;

    let mut report = Report::new("reload");
    report.setting("plugin", path.display().to_string());
    report.setting("rounds", rounds);
    report.setting("debounce_ms", DEBOUNCE.as_millis() as u64);
    report.setting("written", "cp-like: truncate, write, close");
    for (what, swaps, floor) in [
        (
            "new version (compiled)",
            &new,
            "baseline: compile + instantiate",
        ),
        (
            "known version (cached)",
            &known,
            "baseline: load (cached) + instantiate",
        ),
    ] {
        report.row(
            Row::new(format!("eddy swap, {what}"))
                .count("swaps", swaps.observed.len() as u64)
                .latencies(&swaps.observed, Unit::Millis),
        );
        report.row(
            Row::new(format!("registry: file event -> swap, {what}"))
                .count("swaps", swaps.internal.len() as u64)
                .latencies(&swaps.internal, Unit::Millis),
        );
        report.row(
            Row::new(floor)
                .count("loads", swaps.floor.len() as u64)
                .latencies(&swaps.floor, Unit::Millis),
        );
    }
    report.at_most(
        "swap p50 ms (new version)",
        Unit::Millis.of(new.observed.percentile(50.0)),
        250.0,
    );
    report.at_most(
        "swap p50 ms (known version)",
        Unit::Millis.of(known.observed.percentile(50.0)),
        250.0,
    );
    report.note(format!(
        "a file closed by its writer (or renamed into place) is read at once; the {} ms \
         debounce only applies to other changes (deletions, links, platforms without close \
         events), and a file still open for writing is never read",
        DEBOUNCE.as_millis()
    ));
    Ok(report)
}

/// Waits until the slot serves `expected` (empty: any hash but the one serving now).
async fn wait_for_swap(
    registry: &PluginRegistry,
    expected: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let mut changes = registry.subscribe();
    let before = registry.slot(NAME).and_then(|s| s.current_hash());
    let done = |hash: &Option<String>| match hash {
        Some(hash) if expected.is_empty() => Some(hash) != before.as_ref(),
        Some(hash) => hash == expected,
        None => false,
    };
    let wait = async {
        loop {
            let hash = registry.slot(NAME).and_then(|s| s.current_hash());
            if done(&hash) {
                return Ok(hash.expect("checked"));
            }
            if let Some(error) = registry.slot(NAME).and_then(|s| s.last_error()) {
                anyhow::bail!("the new version was rejected: {error}");
            }
            changes.changed().await?;
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| anyhow::anyhow!("the new version did not serve within {timeout:?}"))?
}
