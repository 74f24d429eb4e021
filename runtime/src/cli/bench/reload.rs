//! `eddy bench reload`: time from a plugin file being replaced in a watched folder to the new
//! version serving (the registry's slot holding its hash, which every worker takes at its
//! next batch).
//!
//! Two versions of one plugin alternate: the file as built, and the same bytes with a custom
//! section appended (a different hash, the same code). The first swap to the second version
//! compiles it; later swaps find both compiled (the cache is keyed by content hash). The
//! baseline is the floor of a swap without watching: loading the same file from the compiled
//! cache and instantiating it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::report::{Latencies, Report, Row, Unit};
use super::{OutputArgs, built_plugin, progress, require_plugin};
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
    /// How many swaps to time.
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

pub async fn run(args: ReloadArgs) -> anyhow::Result<Report> {
    let path = args.plugin.unwrap_or_else(|| built_plugin("order_totals"));
    require_plugin(&path)?;
    let original = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
    let variant = with_custom_section(&original, "eddy-bench", b"the same code, another hash");

    let work = tempfile::tempdir()?;
    let folder = work.path().join("plugins");
    std::fs::create_dir_all(&folder)?;
    let engine = PluginEngine::new(&EngineOptions {
        cache_dir: Some(work.path().join("cache")),
    })?;
    let hash_a = engine.load(NAME, &original)?.hash().to_string();
    let target = folder.join(format!("{NAME}.wasm"));
    std::fs::write(&target, &original)?;
    let registry = Arc::new(PluginRegistry::default());
    let watcher =
        PluginWatcher::start(folder, engine.clone(), registry.clone(), Arc::new(Ignore)).await?;
    if registry.slot(NAME).and_then(|s| s.current_hash()) != Some(hash_a.clone()) {
        anyhow::bail!("the plugin did not load from the watched folder");
    }

    let mut first_load = None;
    let mut known = Latencies::default();
    let mut internal = Latencies::default();
    let mut floor = Latencies::default();
    let mut hash_b: Option<String> = None;
    let result = async {
        for round in 0..args.rounds.max(2) {
            let bytes = if round % 2 == 0 { &variant } else { &original };
            let started = Instant::now();
            std::fs::write(&target, bytes)?;
            let expected = match (round % 2, &hash_b) {
                (1, _) => hash_a.clone(),
                (_, Some(hash)) => hash.clone(),
                (_, None) => String::new(),
            };
            let hash = wait_for_swap(&registry, &expected, Duration::from_secs(30)).await?;
            let took = started.elapsed();
            if round == 0 {
                hash_b = Some(hash);
                first_load = Some(took);
            } else {
                known.push(took);
                if let Some(ms) = registry.metrics().last_reload_ms {
                    internal.push(Duration::from_millis(ms));
                }
            }
            // The floor: the same file loaded (cached) and instantiated, without the watcher.
            let started = Instant::now();
            let plugin = engine.load(NAME, bytes)?;
            PluginInstance::new(&plugin, Default::default(), Limits::default())?;
            floor.push(started.elapsed());
            progress(&format!(
                "round {} of {}: {took:?}",
                round + 1,
                args.rounds.max(2)
            ));
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    watcher.shutdown().await;
    result?;

    let mut report = Report::new("reload");
    report.setting("plugin", path.display().to_string());
    report.setting("rounds", args.rounds.max(2));
    report.setting("debounce_ms", DEBOUNCE.as_millis() as u64);
    let first = first_load.unwrap_or_default();
    report.row(
        Row::new("eddy swap, first load (compiles)")
            .count("swaps", 1)
            .with("p50_ms", Unit::Millis.of(first))
            .with("max_ms", Unit::Millis.of(first)),
    );
    report.row(
        Row::new("eddy swap, known version")
            .count("swaps", known.len() as u64)
            .latencies(&known, Unit::Millis),
    );
    report.row(
        Row::new("registry: file event -> swap")
            .count("swaps", internal.len() as u64)
            .latencies(&internal, Unit::Millis),
    );
    report.row(
        Row::new("baseline: load (cached) + instantiate")
            .count("swaps", floor.len() as u64)
            .latencies(&floor, Unit::Millis),
    );
    report.at_most(
        "swap p50 ms (known version)",
        Unit::Millis.of(known.percentile(50.0)),
        250.0,
    );
    report.at_most("swap ms (first load)", Unit::Millis.of(first), 250.0);
    report.note(format!(
        "the watcher waits {} ms after the last file event (so that `cp` and editors finish \
         writing) before it reads the file: that debounce is the floor of every swap",
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

/// `wasm` with a custom section appended: a valid component or module with another hash.
fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = leb128(name.len());
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    out.extend(leb128(content.len()));
    out.extend(content);
    out
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
