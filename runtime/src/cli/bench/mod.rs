//! `eddy bench`: the published benchmark. One file per scenario; each runs its own baseline
//! (the physical limit: native code, plain Redis commands, raw reads) side by side in the
//! same process and run, and prints the ratio. See `docs/BENCHMARKS.md`.
//!
//! Shared here: the store a scenario runs on (a temporary embedded store unless `--store`
//! names one), the default plugin paths, and the output options; [`report`] renders the
//! results as a table or JSON.

mod e2e;
mod history;
mod ingest;
mod memory;
mod native;
mod reduce;
mod reload;
mod replay;
mod report;
mod timetravel;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use crate::store::{EventStore, StoreUrl};

/// Arguments of `eddy bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, clap::Subcommand)]
enum Scenario {
    /// A reducer over a generated order history, against the same rules compiled natively.
    Reduce(reduce::ReduceArgs),
    /// Publishing into a store, against plain pipelined XADD (Redis) or raw redb writes.
    Ingest(ingest::IngestArgs),
    /// Rebuilding reducer state from a store, against raw range reads of the same entries.
    Replay(replay::ReplayArgs),
    /// A state-at-position query on a subject with a long history.
    Timetravel(timetravel::TimetravelArgs),
    /// Time from a plugin file being replaced to the new version serving.
    Reload(reload::ReloadArgs),
    /// Latency from publish to a handler's output being readable, at given rates.
    E2e(e2e::E2eArgs),
    /// Resident memory of an idle `eddy serve` with many plugins loaded.
    Memory(memory::MemoryArgs),
}

/// Options every scenario has.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OutputArgs {
    /// Print the results as one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `eddy bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (report, output) = runtime.block_on(async {
        match args.scenario {
            Scenario::Reduce(args) => {
                let output = args.output.clone();
                Ok::<_, anyhow::Error>((reduce::run(args).await?, output))
            }
            Scenario::Ingest(args) => {
                let output = args.output.clone();
                Ok((ingest::run(args).await?, output))
            }
            Scenario::Replay(args) => {
                let output = args.output.clone();
                Ok((replay::run(args).await?, output))
            }
            Scenario::Timetravel(args) => {
                let output = args.output.clone();
                Ok((timetravel::run(args).await?, output))
            }
            Scenario::Reload(args) => {
                let output = args.output.clone();
                Ok((reload::run(args).await?, output))
            }
            Scenario::E2e(args) => {
                let output = args.output.clone();
                Ok((e2e::run(args).await?, output))
            }
            Scenario::Memory(args) => {
                let output = args.output.clone();
                Ok((memory::run(args).await?, output))
            }
        }
    })?;
    let text = if output.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.render()
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The store a scenario runs on: the one `--store` names, or a fresh embedded store in a
/// temporary directory (removed when this is dropped).
pub(crate) struct BenchStore {
    pub store: Arc<dyn EventStore>,
    /// The URL as shown (password hidden).
    pub shown: String,
    /// The Redis URL, for baselines that talk to the same server directly.
    pub redis_url: Option<String>,
    _temporary: Option<tempfile::TempDir>,
}

impl BenchStore {
    pub async fn open(url: Option<&str>) -> anyhow::Result<Self> {
        let (url, temporary) = match url {
            Some(url) => (url.to_string(), None),
            None => {
                let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
                (format!("embedded:{}", dir.path().display()), Some(dir))
            }
        };
        let parsed = StoreUrl::parse(&url)?;
        let shown = match &temporary {
            Some(_) => "embedded (temporary)".to_string(),
            None => parsed.to_string(),
        };
        let redis_url = match parsed {
            StoreUrl::Redis(url) => Some(url),
            StoreUrl::Embedded(_) => None,
        };
        let store = crate::store::open(&url)
            .await
            .with_context(|| format!("cannot open the store {shown}"))?;
        Ok(Self {
            store,
            shown,
            redis_url,
            _temporary: temporary,
        })
    }
}

/// A stream name no earlier run used, so runs against a shared store never meet old events.
pub(crate) fn fresh_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Where `cd plugins && cargo build --release` puts a plugin, from the repository root.
pub(crate) fn built_plugin(crate_name: &str) -> PathBuf {
    Path::new("plugins/target/wasm32-wasip2/release").join(format!("{crate_name}.wasm"))
}

/// Checks that a plugin file exists, with a hint for the default ones.
pub(crate) fn require_plugin(path: &Path) -> anyhow::Result<()> {
    if path.is_file() {
        return Ok(());
    }
    anyhow::bail!(
        "no plugin at {}: build the example plugins first (`cd plugins && cargo build --release`, \
         from the repository root) or pass --plugin",
        path.display()
    )
}

/// Progress on stderr for the long preparations (appending a history, catching up).
pub(crate) fn progress(message: &str) {
    eprintln!("bench: {message}");
}

/// Starts a reducer subscription of `plugin` on `stream` from the beginning, with one
/// partition, batches of 1,000, a snapshot every 1,000 events of a subject, and the newest
/// `snapshots_kept` snapshots kept per subject.
pub(crate) async fn start_reducer(
    host: &crate::subscription::SubscriptionHost,
    name: &str,
    plugin: &Path,
    stream: &str,
    snapshots_kept: u32,
) -> anyhow::Result<()> {
    let spec: crate::subscription::SubscriptionSpec = serde_json::from_value(serde_json::json!({
        "name": name,
        "plugin": plugin.display().to_string(),
        "streams": [stream],
        "batch": 1000,
        "partitions": 1,
        "snapshot_every": 1000,
        "snapshots_kept": snapshots_kept,
    }))?;
    host.start(spec).await?;
    Ok(())
}

/// Waits until reducer subscription `name` (one partition) has its checkpoint on `stream`
/// at `last`, reporting progress on stderr; fails after `timeout`.
pub(crate) async fn wait_caught_up(
    store: &dyn EventStore,
    name: &str,
    stream: &str,
    last: crate::event::Position,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut reported = started;
    loop {
        let lease = crate::subscription::lease_name(name, 0);
        let checkpoint = store.checkpoint(stream, &lease).await?;
        if checkpoint == Some(last) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            anyhow::bail!("subscription `{name}` did not catch up within {timeout:?}");
        }
        if reported.elapsed() >= std::time::Duration::from_secs(5) {
            reported = std::time::Instant::now();
            progress(&format!(
                "catching up: at {}",
                checkpoint.map_or("the start".to_string(), |p| p.to_string())
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Appends `events` to `stream` in batches of up to `batch`, with progress on stderr, and
/// returns every event's position.
pub(crate) async fn fill(
    store: &dyn EventStore,
    stream: &str,
    events: Vec<crate::event::CloudEvent>,
    batch: usize,
) -> anyhow::Result<Vec<crate::event::Position>> {
    let total = events.len();
    let mut positions = Vec::with_capacity(total);
    let mut reported = std::time::Instant::now();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<_> = events.by_ref().take(batch).collect();
        let appended = store
            .append(stream, crate::store::Append::new(chunk))
            .await?;
        positions.extend(appended.into_iter().map(|a| a.position));
        if reported.elapsed() >= std::time::Duration::from_secs(5) {
            reported = std::time::Instant::now();
            progress(&format!("appended {} of {total} events", positions.len()));
        }
    }
    Ok(positions)
}

/// `wasm` with a custom section appended: a valid component or module with another hash.
pub(crate) fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
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
