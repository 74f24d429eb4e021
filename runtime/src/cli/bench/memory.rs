//! `eddy bench memory`: the resident memory of an idle `eddy serve` with many plugins loaded.
//!
//! A temporary plugins folder gets `--plugins` distinct plugins: copies of the built example
//! plugins of every kind (reducers, filters, handlers), each with its own custom section so
//! that each is its own version (its own hash, its own compiled artifact). Every handler and
//! reducer is bound to a stream of its own by a sidecar, every other one behind a filter of
//! the folder, as a deployment by files would do; a few events are published to each stream
//! and processed, so every subscription holds live instances. `eddy serve` runs as a child
//! process (this executable, or `--server`) on a temporary embedded store, loopback and a free port, with
//! a temporary compile cache, three times in one run:
//!
//! 1. no plugins — the baseline;
//! 2. the folder, with an empty cache: the first start compiles every plugin;
//! 3. the folder again, on a fresh store, with the cache of (2): a restart.
//!
//! Each time, once everything serves and is processed, it idles for `--idle` seconds and the
//! child's `VmRSS` (resident now) and `VmHWM` (peak) are read from `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use super::report::{Report, Row};
use super::{OutputArgs, progress, require_plugin, with_custom_section};
use crate::cli::client::{Client, UrlArgs};

/// Arguments of `eddy bench memory`.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// How many distinct plugins to load.
    #[arg(long, default_value_t = 50)]
    plugins: usize,
    /// Seconds to stay idle once everything is loaded and processed, before memory is read.
    #[arg(long, default_value_t = 10.0)]
    idle: f64,
    /// Where the built example plugins are.
    #[arg(long, default_value = "plugins/target/wasm32-wasip2/release")]
    examples: PathBuf,
    /// The `eddy` whose `serve` is measured (default: this executable), e.g. a release build
    /// measured by a dev one.
    #[arg(long)]
    server: Option<PathBuf>,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// The goal of issue #9: RSS of `eddy serve` with 50 plugins loaded, idle.
const GOAL_MIB: f64 = 400.0;
/// Events published to each bound stream, so that every subscription has run its plugin.
const EVENTS_PER_STREAM: usize = 10;
/// How long a start (compiles included) or the processing may take.
const TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reducer,
    Filter,
    Handler,
}

/// The example plugins copied, in an order that has every kind among the first three.
const EXAMPLES: [(&str, Kind); 7] = [
    ("order_totals", Kind::Reducer),
    ("type_filter", Kind::Filter),
    ("high_value", Kind::Handler),
    ("workflow_state", Kind::Reducer),
    ("welcome_mail", Kind::Handler),
    ("audit_trail", Kind::Reducer),
    ("workflow_worker", Kind::Handler),
];

/// One plugin of the folder.
struct Deployed {
    name: String,
    kind: Kind,
    /// The stream its sidecar binds it to (handlers and reducers).
    stream: Option<String>,
}

/// What one run of `eddy serve` measured.
struct Phase {
    /// From spawning the process to every plugin serving and every subscription running.
    start: Duration,
    rss_mib: f64,
    hwm_mib: f64,
}

pub async fn run(args: MemoryArgs) -> anyhow::Result<Report> {
    tokio::task::spawn_blocking(move || measure(args))
        .await
        .context("the memory benchmark panicked")?
}

fn measure(args: MemoryArgs) -> anyhow::Result<Report> {
    if !Path::new("/proc/self/status").is_file() {
        anyhow::bail!("`eddy bench memory` reads /proc/<pid>/status: Linux only");
    }
    let exe = match args.server {
        Some(path) => path,
        None => std::env::current_exe().context("cannot find this executable")?,
    };
    let idle = Duration::from_secs_f64(args.idle.max(0.0));
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let empty = work.path().join("empty");
    let folder = work.path().join("plugins");
    let cache = work.path().join("cache");
    std::fs::create_dir_all(&empty)?;
    std::fs::create_dir_all(&folder)?;
    let copies = fill_folder(&folder, &args.examples, args.plugins)?;
    let bound: Vec<&Deployed> = copies.iter().filter(|c| c.stream.is_some()).collect();

    progress("baseline: eddy serve with no plugins");
    let baseline = phase(&exe, work.path(), "baseline", &empty, &cache, &[], idle)?;
    progress(&format!(
        "first start: {} plugins, compiled (empty cache)",
        copies.len()
    ));
    let first = phase(&exe, work.path(), "first", &folder, &cache, &copies, idle)?;
    progress("restart: the same plugins, from the compiled cache");
    let restart = phase(&exe, work.path(), "restart", &folder, &cache, &copies, idle)?;

    let count = |kind| copies.iter().filter(|c| c.kind == kind).count();
    let filtered = bound
        .iter()
        .filter(|c| filter_of(c, &copies).is_some())
        .count();
    let mut report = Report::new("memory");
    report.setting("plugins", copies.len());
    report.setting(
        "loaded",
        format!(
            "{} reducers, {} handlers, {} filters: copies of the example plugins, each with \
             its own custom section (its own hash and compiled artifact)",
            count(Kind::Reducer),
            count(Kind::Handler),
            count(Kind::Filter)
        ),
    );
    report.setting(
        "subscriptions",
        format!(
            "{} (every handler and reducer, bound by its sidecar to a stream of its own; {} \
             of them behind a filter; reducers with the default 4 partitions); {} events \
             processed per stream",
            bound.len(),
            filtered,
            EVENTS_PER_STREAM
        ),
    );
    report.setting("idle_s", args.idle.max(0.0));
    report.setting("eddy", exe.display().to_string());
    report.setting(
        "server",
        "eddy serve as a child process, embedded store, loopback",
    );
    let n = copies.len().max(1) as f64;
    report.row(phase_row(
        "baseline: eddy serve, no plugins",
        &baseline,
        None,
    ));
    report.row(phase_row(
        &format!(
            "eddy serve, {} plugins, first start (compiles)",
            copies.len()
        ),
        &first,
        Some((baseline.rss_mib, n)),
    ));
    report.row(phase_row(
        &format!("eddy serve, {} plugins, restart (cached)", copies.len()),
        &restart,
        Some((baseline.rss_mib, n)),
    ));
    report.at_most(
        &format!("RSS MiB, {} plugins loaded, idle", copies.len()),
        round(first.rss_mib.max(restart.rss_mib)),
        GOAL_MIB,
    );
    report.note(
        "RSS is VmRSS after the idle time, HWM (VmHWM) the process's peak; the first start's \
         peak includes compiling every plugin (one after another, on the watcher's start)",
    );
    report.note(format!(
        "start = spawn → every plugin serving and every subscription started (GET \
         /api/v1/plugins, /readyz); the first start compiles {} components with an empty, \
         temporary cache",
        copies.len()
    ));
    Ok(report)
}

fn phase_row(name: &str, phase: &Phase, per_plugin: Option<(f64, f64)>) -> Row {
    let mut row = Row::new(name)
        .with("start_ms", phase.start.as_secs_f64() * 1e3)
        .with("rss_mib", round(phase.rss_mib))
        .with("hwm_mib", round(phase.hwm_mib));
    if let Some((baseline, n)) = per_plugin {
        row = row.with("rss_per_plugin_mib", round((phase.rss_mib - baseline) / n));
    }
    row
}

fn round(mib: f64) -> f64 {
    (mib * 10.0).round() / 10.0
}

/// Writes `count` distinct plugins into `folder`, with the sidecars of the bound ones.
fn fill_folder(folder: &Path, examples: &Path, count: usize) -> anyhow::Result<Vec<Deployed>> {
    let mut originals = Vec::new();
    for (crate_name, kind) in EXAMPLES {
        let path = examples.join(format!("{crate_name}.wasm"));
        require_plugin(&path)?;
        let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        originals.push((crate_name.replace('_', "-"), kind, bytes));
    }
    let mut copies = Vec::with_capacity(count);
    for i in 0..count {
        let (example, kind, bytes) = &originals[i % originals.len()];
        // Filters sort first, so that they serve before the sidecars naming them start.
        let prefix = if *kind == Kind::Filter {
            "filter"
        } else {
            "plugin"
        };
        let name = format!("{prefix}-{i:03}-{example}");
        let copy = with_custom_section(bytes, "eddy-bench", format!("copy {i}").as_bytes());
        std::fs::write(folder.join(format!("{name}.wasm")), copy)?;
        let stream = (*kind != Kind::Filter).then(|| format!("bench-{i:03}"));
        copies.push(Deployed {
            name,
            kind: *kind,
            stream,
        });
    }
    for copy in &copies {
        let Some(stream) = &copy.stream else { continue };
        let mut sidecar = format!("streams = [\"{stream}\"]\n");
        if let Some(filter) = filter_of(copy, &copies) {
            sidecar += &format!("filter = \"{filter}\"\n");
        }
        std::fs::write(folder.join(format!("{}.toml", copy.name)), sidecar)?;
    }
    Ok(copies)
}

/// Every other bound plugin runs behind a filter of the folder (the filters taken in turn).
fn filter_of<'a>(copy: &Deployed, copies: &'a [Deployed]) -> Option<&'a str> {
    let filters: Vec<&Deployed> = copies.iter().filter(|c| c.kind == Kind::Filter).collect();
    let bound: Vec<&Deployed> = copies.iter().filter(|c| c.stream.is_some()).collect();
    let index = bound.iter().position(|c| c.name == copy.name)?;
    if filters.is_empty() || index % 2 == 1 {
        return None;
    }
    Some(filters[(index / 2) % filters.len()].name.as_str())
}

/// `eddy serve` on `folder` (a fresh store each time), until everything serves and has
/// processed its events, then idle; its memory then.
fn phase(
    exe: &Path,
    work: &Path,
    label: &str,
    folder: &Path,
    cache: &Path,
    copies: &[Deployed],
    idle: Duration,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let mut server = Server::spawn(exe, work, label, folder, cache)?;
    let client = Client::for_url(&UrlArgs {
        url: server.url.clone(),
        token: None,
    });
    server.wait_until("every plugin to serve", || {
        let list = client.get("/api/v1/plugins").ok()?;
        let serving = list["plugins"]
            .as_array()?
            .iter()
            .filter(|p| p["status"] == "serving")
            .count();
        (serving == copies.len()).then_some(())
    })?;
    server.wait_until("the subscriptions to start", || {
        client.get("/readyz").ok().map(|_| ())
    })?;
    let start = started.elapsed();

    for copy in copies {
        let Some(stream) = &copy.stream else { continue };
        let events: Vec<Value> = (0..EVENTS_PER_STREAM)
            .map(|n| {
                json!({"specversion": "1.0", "id": format!("e-{n}"), "source": "/bench",
                       "type": "bench.noop.read", "subject": format!("s-{}", n % 5),
                       "data": {"n": n}})
            })
            .collect();
        client.post(
            &format!("/api/v1/streams/{stream}/events"),
            "application/cloudevents-batch+json",
            serde_json::to_string(&events)?.as_bytes(),
        )?;
    }
    let bound = copies.iter().filter(|c| c.stream.is_some()).count();
    server.wait_until("every subscription to process its events", || {
        let list = client.get("/api/v1/subscriptions").ok()?;
        let subscriptions = list["subscriptions"].as_array()?;
        let done = subscriptions.iter().all(|s| {
            s["streams"].as_array().is_some_and(|streams| {
                streams
                    .iter()
                    .all(|p| p["lag"] == 0 && !p["checkpoint"].is_null())
            })
        });
        (subscriptions.len() == bound && done).then_some(())
    })?;
    std::thread::sleep(idle);
    let (rss_mib, hwm_mib) = server.memory()?;
    Ok(Phase {
        start,
        rss_mib,
        hwm_mib,
    })
}

/// `eddy serve` as a child process, killed when dropped (whatever the exit path).
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn spawn(
        exe: &Path,
        work: &Path,
        label: &str,
        folder: &Path,
        cache: &Path,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = work.join(format!("{label}.log"));
        let store = work.join(format!("{label}-store"));
        let child = Command::new(exe)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--store")
            .arg(format!("embedded:{}", store.display()))
            .arg("--plugins")
            .arg(folder)
            // Only what is set here: no configured subscriptions, no token.
            .env_remove("EDDY_CONFIG")
            .env_remove("EDDY_API_TOKEN")
            .env("EDDY_CACHE_DIR", cache)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    /// Polls `check` until it gives `Some`; fails if the server exits or after [`TIMEOUT`].
    fn wait_until(&mut self, what: &str, check: impl Fn() -> Option<()>) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if check().is_some() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "eddy serve exited ({status}) waiting for {what}:\n{}",
                    self.log_text()
                );
            }
            if started.elapsed() > TIMEOUT {
                anyhow::bail!("timed out waiting for {what}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `VmRSS` and `VmHWM` of the process, in MiB.
    fn memory(&self) -> anyhow::Result<(f64, f64)> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        let field = |key: &str| -> anyhow::Result<f64> {
            let kib: f64 = status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {key} in {path}"))?;
            Ok(kib / 1024.0)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now (the server binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
