//! The running subscriptions of one `eddy` process: start, stop, inspect.
//!
//! The operations on what a subscription holds live with their concepts, as further
//! `impl SubscriptionHost` blocks: dead letters and redrive in `dead_letter.rs`, time travel in
//! `time_travel.rs`, shadows in `shadow.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::dead_letter::redrive_stream;
use super::pipeline::Follow;
use super::pipeline::Pipeline;
use super::reducer_worker::lease_name;
use super::stats::{Stats, StatsSnapshot};
use super::worker::WorkerContext;
use super::{SubscriptionSpec, handler_worker, reducer_worker};
use crate::event::Position;
use crate::plugin::{
    LoadError, Plugin, PluginEngine, PluginInstance, PluginKind, PluginRegistry, PluginSlot,
};
use crate::store::{Direction, EventStore, Lease, MAX_READ, Read, SavedState, StoreError};

/// Why a subscription request failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// No subscription by that name runs here.
    #[error("no subscription `{0}`")]
    NotFound(String),
    /// A subscription by that name runs already: stop it first.
    #[error("subscription `{0}` exists already")]
    AlreadyExists(String),
    /// Only a quarantined subscription can be resumed; this one is running.
    #[error("subscription `{0}` is not quarantined")]
    NotQuarantined(String),
    /// The spec is invalid: fix the named key.
    #[error(transparent)]
    Invalid(#[from] super::SpecError),
    /// A plugin could not be used (missing file, wrong world, wrong kind).
    #[error("{0}")]
    Plugin(String),
    /// The subscription does not read that stream: ask about one of its streams.
    #[error("subscription `{subscription}` does not read stream `{stream}`")]
    NotSubscribed {
        /// The subscription.
        subscription: String,
        /// The stream it was asked about.
        stream: String,
    },
    /// The store failed; retry later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A subscription as the API shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct SubscriptionInfo {
    /// The name.
    pub name: String,
    /// `running` while its workers run; `quarantined` when its plugin kept faulting and its
    /// workers were stopped (see `quarantine_reason`; resume with
    /// `POST /api/v1/subscriptions/{name}/resume` or a new version of the plugin).
    pub status: &'static str,
    /// Why the subscription is quarantined (only then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    /// `handler` or `reducer`.
    pub kind: PluginKind,
    /// The plugin's hash (its version).
    pub plugin: String,
    /// Per stream: the checkpoint and the lag (events after it, counted up to 10,000).
    pub streams: Vec<StreamProgress>,
    /// Counters since this process started the subscription.
    pub stats: StatsSnapshot,
    /// Who processes it: this process's consumer, and for reducers the partition leases.
    pub consumers: Vec<String>,
    /// Reducers: the partition leases.
    pub leases: Vec<Lease>,
    /// The spec it runs.
    pub spec: SubscriptionSpec,
}

/// One stream's progress.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StreamProgress {
    /// The stream.
    pub stream: String,
    /// The last position handled (reducers: the smallest over partitions).
    pub checkpoint: Option<Position>,
    /// Events after the checkpoint (at most 10,000 are counted).
    pub lag: usize,
}

pub(super) struct Running {
    pub(super) spec: Arc<SubscriptionSpec>,
    pub(super) plugin: Plugin,
    pub(super) filter: Option<Plugin>,
    /// The registry slot of a plugin of the watched folder: its current version.
    slot: Option<Arc<PluginSlot>>,
    pub(super) stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    stop_tx: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Runs subscriptions against one store.
pub struct SubscriptionHost {
    pub(super) store: Arc<dyn EventStore>,
    engine: PluginEngine,
    plugins_dir: Option<PathBuf>,
    /// With a watched plugins folder: names in specs resolve here, and workers follow swaps.
    registry: Option<Arc<PluginRegistry>>,
    consumer: String,
    pub(super) running: Mutex<BTreeMap<String, Running>>,
    /// Subscriptions stopped because a plugin they use was deleted, by name: restarted when
    /// the plugin comes back.
    parked: Mutex<BTreeMap<String, SubscriptionSpec>>,
    /// Replay jobs started through the API.
    pub(super) replays: Arc<super::replay_job::ReplayJobs>,
}

/// How long stopping waits for in-flight batches before abandoning them (they stay pending).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl SubscriptionHost {
    /// A host for `store`; plugin names are looked up in `plugins_dir`.
    pub fn new(
        store: Arc<dyn EventStore>,
        engine: PluginEngine,
        plugins_dir: Option<PathBuf>,
    ) -> Self {
        let consumer = super::consumer_name::default_for(store.as_ref());
        Self {
            store,
            engine,
            plugins_dir,
            registry: None,
            consumer,
            running: Mutex::new(BTreeMap::new()),
            parked: Mutex::new(BTreeMap::new()),
            replays: Arc::default(),
        }
    }

    /// Names this process `consumer` in consumer groups and leases, instead of the default
    /// (`local` on a store only one process opens; on Redis `<host>-<pid>-<n>`, new for every
    /// process). A name kept across restarts lets a restarted process take back at once the
    /// entries it held when it died; otherwise they are claimed once idle for 30 s. Two
    /// processes running at the same time must never share a name.
    pub fn with_consumer(mut self, consumer: &str) -> Result<Self, crate::store::StoreError> {
        crate::store::check_name("consumer", consumer)?;
        self.consumer = consumer.to_string();
        Ok(self)
    }

    /// Resolves plugin names through `registry` (the watched plugins folder) instead of
    /// loading `<plugins dir>/<name>.wasm` once; subscriptions then follow new versions.
    pub fn with_registry(mut self, registry: Arc<PluginRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The plugin registry, when the plugins folder is watched.
    pub fn registry(&self) -> Option<&Arc<PluginRegistry>> {
        self.registry.as_ref()
    }

    /// The engine plugins are loaded with.
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// The plugins folder.
    pub fn plugins_dir(&self) -> Option<&Path> {
        self.plugins_dir.as_deref()
    }

    /// This process's consumer name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// The store the subscriptions run on.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Where a plugin named in a spec lives: a path as given, or `<plugins dir>/<name>.wasm`.
    pub fn plugin_path(&self, name: &str) -> PathBuf {
        let as_path = Path::new(name);
        if !is_bare_name(name) {
            return as_path.to_path_buf();
        }
        let dir = self
            .plugins_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("plugins"));
        dir.join(format!("{name}.wasm"))
    }

    /// A spec's plugin: from the registry for a name when the folder is watched (with the
    /// slot to follow), else loaded from its file.
    pub(super) async fn load(
        &self,
        name: &str,
    ) -> Result<(Plugin, Option<Arc<PluginSlot>>), SubscriptionError> {
        if let Some(registry) = &self.registry
            && is_bare_name(name)
        {
            let slot = registry.slot(name);
            return match slot.as_ref().and_then(|s| s.current()) {
                Some(version) => Ok((version.plugin.clone(), slot)),
                None => Err(SubscriptionError::Plugin(
                    match slot.and_then(|s| s.last_error()) {
                        Some(error) => format!("plugin `{name}` is not serving: {error}"),
                        None => format!(
                            "no plugin `{name}` in the plugins folder {}",
                            self.plugins_dir
                                .as_deref()
                                .map(|d| d.display().to_string())
                                .unwrap_or_default()
                        ),
                    },
                )),
            };
        }
        let path = self.plugin_path(name);
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.load_file(&path))
            .await
            .map_err(|e| SubscriptionError::Plugin(e.to_string()))?
            .map_err(|e: LoadError| SubscriptionError::Plugin(e.to_string()))
            .map(|plugin| (plugin, None))
    }

    /// Starts a subscription: loads its plugins and starts its workers.
    pub async fn start(&self, spec: SubscriptionSpec) -> Result<(), SubscriptionError> {
        spec.validate()?;
        if self.running.lock().await.contains_key(&spec.name) {
            return Err(SubscriptionError::AlreadyExists(spec.name));
        }
        let (plugin, slot) = self.load(&spec.plugin).await?;
        if !matches!(plugin.kind(), PluginKind::Handler | PluginKind::Reducer) {
            return Err(SubscriptionError::Plugin(format!(
                "plugin `{}` is a {}; a subscription runs a handler or a reducer (a filter goes in `filter`)",
                spec.plugin,
                plugin.kind()
            )));
        }
        let (filter, filter_slot) = match &spec.filter {
            Some(name) => {
                let (filter, filter_slot) = self.load(name).await?;
                if filter.kind() != PluginKind::Filter {
                    return Err(SubscriptionError::Plugin(format!(
                        "`filter` plugin `{name}` is a {}, not a filter",
                        filter.kind()
                    )));
                }
                (Some(filter), filter_slot)
            }
            None => (None, None),
        };
        let follow = Follow {
            plugin: slot.clone(),
            filter: filter_slot,
        };
        let mut now_positions = HashMap::new();
        if spec.start == super::Start::Now {
            for stream in &spec.streams {
                now_positions.insert(
                    stream.clone(),
                    self.store.stream(stream).await?.and_then(|s| s.last),
                );
            }
        }
        let spec = Arc::new(spec);
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let ctx = WorkerContext {
            store: self.store.clone(),
            spec: spec.clone(),
            consumer: self.consumer.clone(),
            stop: stop.clone(),
            stop_rx,
            stats: stats.clone(),
            now_positions: Arc::new(now_positions),
            members: Arc::default(),
        };
        let pipeline = || -> Result<Pipeline, SubscriptionError> {
            let instance = |p: &Plugin| {
                PluginInstance::new(p, spec.config.clone(), spec.limits)
                    .map_err(|e| SubscriptionError::Plugin(e.to_string()))
            };
            let filter = filter.as_ref().map(instance).transpose()?;
            let mut pipeline = Pipeline::new(
                instance(&plugin)?,
                filter,
                spec.clone(),
                stop.clone(),
                stats.clone(),
            );
            pipeline.follow = follow.clone();
            pipeline.stopper = Some(stop_tx.clone());
            Ok(pipeline)
        };
        let mut tasks = Vec::new();
        match plugin.kind() {
            PluginKind::Handler => {
                let mut streams = spec.streams.clone();
                streams.push(redrive_stream(&spec.name));
                for stream in streams {
                    tasks.push(tokio::spawn(handler_worker::run(
                        ctx.clone(),
                        stream,
                        pipeline()?,
                    )));
                }
            }
            _ => {
                tasks.push(tokio::spawn(super::membership::run(ctx.clone())));
                for partition in 0..spec.partitions {
                    tasks.push(tokio::spawn(reducer_worker::run(
                        ctx.clone(),
                        partition,
                        pipeline()?,
                    )));
                }
            }
        }
        tracing::info!(subscription = %spec.name, plugin = %plugin.hash(), kind = %plugin.kind(), "subscription started");
        let reducer = plugin.kind() == PluginKind::Reducer;
        self.running.lock().await.insert(
            spec.name.clone(),
            Running {
                spec: spec.clone(),
                plugin,
                filter,
                slot,
                stats,
                stop,
                stop_tx,
                tasks,
            },
        );
        if reducer {
            // A shadow started over the API goes on with its subscription (see shadow.rs).
            Box::pin(self.resume_shadow(&spec)).await;
        }
        Ok(())
    }

    /// Stops a subscription: no new reads; in-flight batches get [`STOP_TIMEOUT`] to finish;
    /// whatever is unfinished stays pending for the next start. Checkpoints and states stay.
    /// A shadow stopped this way is forgotten (it no longer starts with its subscription).
    pub async fn stop(&self, name: &str) -> Result<(), SubscriptionError> {
        let running = self
            .running
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
        stop_running(running).await;
        self.forget_if_shadow(name).await
    }

    /// Stops every subscription and replay job (on shutdown).
    pub async fn stop_all(&self) {
        self.replays.cancel_all();
        let all = std::mem::take(&mut *self.running.lock().await);
        let mut set = tokio::task::JoinSet::new();
        for running in all.into_values() {
            set.spawn(stop_running(running));
        }
        while set.join_next().await.is_some() {}
    }

    /// Subscriptions some of whose workers have ended although nobody stopped them (a
    /// worker ends early only on a failure it cannot recover from). Quarantined ones are not
    /// stalled: they were stopped on purpose and say why.
    pub async fn stalled(&self) -> Vec<String> {
        self.running
            .lock()
            .await
            .iter()
            .filter(|(_, r)| r.stats.quarantined().is_none())
            .filter(|(_, r)| r.tasks.iter().any(JoinHandle::is_finished))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every running subscription.
    pub async fn list(&self) -> Vec<SubscriptionInfo> {
        let names: Vec<String> = self.running.lock().await.keys().cloned().collect();
        let mut all = Vec::new();
        for name in names {
            if let Ok(info) = self.info(&name).await {
                all.push(info);
            }
        }
        all
    }

    /// One subscription, with its progress per stream.
    pub async fn info(&self, name: &str) -> Result<SubscriptionInfo, SubscriptionError> {
        let (spec, plugin, hash, stats, quarantine_reason) = {
            let running = self.running.lock().await;
            let r = running
                .get(name)
                .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
            let hash = r
                .slot
                .as_ref()
                .and_then(|s| s.current_hash())
                .unwrap_or_else(|| r.plugin.hash().to_string());
            (
                r.spec.clone(),
                r.plugin.clone(),
                hash,
                r.stats.snapshot(),
                r.stats.quarantined(),
            )
        };
        let mut streams = Vec::new();
        let leases = if plugin.kind() == PluginKind::Reducer {
            self.store.leases(&format!("{name}.p")).await?
        } else {
            Vec::new()
        };
        for stream in &spec.streams {
            let checkpoint = match plugin.kind() {
                PluginKind::Reducer => {
                    let mut lowest: Option<Option<Position>> = None;
                    for p in 0..spec.partitions {
                        let cp = self.store.checkpoint(stream, &lease_name(name, p)).await?;
                        lowest = Some(match lowest {
                            None => cp,
                            Some(low) => low.min(cp),
                        });
                    }
                    lowest.flatten()
                }
                _ => self.store.checkpoint(stream, spec.group()).await?,
            };
            let after = self
                .store
                .read(
                    stream,
                    Read {
                        from: checkpoint,
                        direction: Direction::Forward,
                        limit: MAX_READ.min(10_000),
                        subject: None,
                    },
                )
                .await?;
            streams.push(StreamProgress {
                stream: stream.clone(),
                checkpoint,
                lag: after.len(),
            });
        }
        let mut consumers = vec![self.consumer.clone()];
        for lease in &leases {
            if !consumers.contains(&lease.owner) {
                consumers.push(lease.owner.clone());
            }
        }
        Ok(SubscriptionInfo {
            name: name.to_string(),
            status: if quarantine_reason.is_some() {
                "quarantined"
            } else {
                "running"
            },
            quarantine_reason,
            kind: plugin.kind(),
            plugin: hash,
            streams,
            stats,
            consumers,
            leases,
            spec: (*spec).clone(),
        })
    }

    /// Resumes a quarantined subscription: starts it again with the same spec and the
    /// plugin's current version. It goes on from its checkpoints, so the batch that tripped
    /// the quarantine is processed again; if the plugin still faults, it is quarantined again.
    pub async fn resume(&self, name: &str) -> Result<(), SubscriptionError> {
        let quarantined = {
            let mut running = self.running.lock().await;
            let r = running
                .get(name)
                .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
            if r.stats.quarantined().is_none() {
                return Err(SubscriptionError::NotQuarantined(name.to_string()));
            }
            running.remove(name).expect("present")
        };
        let spec = (*quarantined.spec).clone();
        stop_running(quarantined).await;
        tracing::info!(subscription = %name, "resuming a quarantined subscription");
        self.start(spec).await
    }

    /// Resumes the quarantined subscriptions that use plugin `name` (a new version of it was
    /// installed: the fix users expect to be picked up). Returns those that could not start.
    pub async fn resume_quarantined_using(&self, name: &str) -> Vec<(String, SubscriptionError)> {
        let names: Vec<String> = self
            .running
            .lock()
            .await
            .values()
            .filter(|r| r.stats.quarantined().is_some() && uses_plugin(&r.spec, name))
            .map(|r| r.spec.name.clone())
            .collect();
        let mut failed = Vec::new();
        for subscription in names {
            if let Err(error) = self.resume(&subscription).await {
                failed.push((subscription, error));
            }
        }
        failed
    }

    pub(super) async fn require(&self, name: &str) -> Result<(), SubscriptionError> {
        if self.running.lock().await.contains_key(name) {
            Ok(())
        } else {
            Err(SubscriptionError::NotFound(name.to_string()))
        }
    }

    /// A reducer subscription's state of `subject`.
    pub async fn projection(
        &self,
        name: &str,
        subject: &str,
    ) -> Result<Option<SavedState>, SubscriptionError> {
        self.require(name).await?;
        Ok(self.store.load_state(name, subject).await?)
    }

    /// A page of a reducer subscription's subjects.
    pub async fn projection_subjects(
        &self,
        name: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, SubscriptionError> {
        self.require(name).await?;
        Ok(self.store.list_states(name, after, limit).await?)
    }

    /// The spec of a running subscription.
    pub async fn spec(&self, name: &str) -> Option<SubscriptionSpec> {
        let running = self.running.lock().await;
        running.get(name).map(|r| (*r.spec).clone())
    }

    /// Stops every subscription that uses plugin `name` (as its plugin or filter) because the
    /// plugin was deleted, and remembers them: [`SubscriptionHost::unpark`] restarts them
    /// when it comes back. Their checkpoints and states stay, so they resume.
    pub async fn park(&self, name: &str) {
        let stopped: Vec<Running> = {
            let mut running = self.running.lock().await;
            let names: Vec<String> = running
                .values()
                .filter(|r| uses_plugin(&r.spec, name))
                .map(|r| r.spec.name.clone())
                .collect();
            names.iter().filter_map(|n| running.remove(n)).collect()
        };
        for running in stopped {
            let spec = (*running.spec).clone();
            stop_running(running).await;
            tracing::info!(subscription = %spec.name, plugin = name, "subscription parked until its plugin returns");
            self.parked.lock().await.insert(spec.name.clone(), spec);
        }
    }

    /// Restarts the subscriptions parked for plugin `name` (see [`SubscriptionHost::park`]).
    /// Returns those that could not start, with why (they stay parked).
    pub async fn unpark(&self, name: &str) -> Vec<(String, SubscriptionError)> {
        let specs: Vec<SubscriptionSpec> = {
            let mut parked = self.parked.lock().await;
            let names: Vec<String> = parked
                .values()
                .filter(|s| uses_plugin(s, name))
                .map(|s| s.name.clone())
                .collect();
            names.iter().filter_map(|n| parked.remove(n)).collect()
        };
        let mut failed = Vec::new();
        for spec in specs {
            let subscription = spec.name.clone();
            if let Err(error) = self.start(spec.clone()).await {
                self.parked.lock().await.insert(subscription.clone(), spec);
                failed.push((subscription, error));
            }
        }
        failed
    }

    /// The kind of a running subscription.
    pub async fn kind(&self, name: &str) -> Result<PluginKind, SubscriptionError> {
        let running = self.running.lock().await;
        running
            .get(name)
            .map(|r| r.plugin.kind())
            .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))
    }
}

/// A plugin named by its name in the plugins folder, not by a path.
fn is_bare_name(name: &str) -> bool {
    !(name.ends_with(".wasm") || name.contains('/'))
}

/// Whether `spec` runs plugin `name` (by name) as its plugin or its filter.
fn uses_plugin(spec: &SubscriptionSpec, name: &str) -> bool {
    spec.plugin == name || spec.filter.as_deref() == Some(name)
}

async fn stop_running(running: Running) {
    running.stop.store(true, Ordering::Relaxed);
    let _ = running.stop_tx.send(true);
    let name = running.spec.name.clone();
    for task in running.tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
            tracing::warn!(subscription = %name, "a worker did not stop in time; abandoning its batch");
            abort.abort();
        }
    }
    tracing::info!(subscription = %name, "subscription stopped");
}
