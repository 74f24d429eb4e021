//! Replays on demand (`POST /api/v1/replays`): a range of a stored stream run through a
//! subscription's or a plugin's code again, as a background job whose progress and counts the
//! API shows.
//!
//! - **A handler subscription** as the target: the events go through the subscription's
//!   current filter and handler with its retry policy; emitted events and dead letters are
//!   stored as the live subscription would store them. The subscription's checkpoints and
//!   consumer group are not touched. Each replayed event carries the extension
//!   `eddyreplay: <job id>` (plugins can tell a replay from the first delivery), and so does
//!   each event it emits, whose id is derived from the job as well as the input, so that a
//!   replay emits anew and a retried commit of the same job is deduplicated.
//! - **A plugin** as the target (a handler or a reducer of the plugins folder): a dry run —
//!   every event is run and counted, nothing is stored. It answers "would this code cope with
//!   that history?" without touching anything.
//! - **A reducer subscription** is refused: its state is exactly-once, and applying events to it a
//!   second time would count them twice. Time travel, shadows and `eddy replay` are the
//!   reducer's replay tools.
//!
//! The range is `from` (exclusive) to `to` (inclusive), each a position or an RFC 3339 time —
//! a time selects by when events were appended (a position's first part is its append time
//! in milliseconds). A job reads no further than the stream's last position when it started,
//! so it ends while the stream goes on growing. Jobs live in the process that runs them: a
//! restart forgets them (what they stored stays stored).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;

mod run;

use super::SubscriptionSpec;
use super::host::{SubscriptionError, SubscriptionHost};
use super::pipeline::Pipeline;
use super::stats::Stats;
use crate::event::{Position, TypePattern};
use crate::plugin::{Plugin, PluginInstance, PluginKind};
use crate::store::StoreError;

/// The extension that marks an event replayed by a job: its value is the job's id.
pub const EXT_REPLAY: &str = "eddyreplay";
/// Events read and run per step.
const PAGE: usize = 256;
/// Finished jobs remembered (the oldest are forgotten first).
const KEEP_FINISHED: usize = 100;
/// Failures listed in a job's report (all are counted).
const KEEP_FAILURES: usize = 10;

/// What to replay, as `POST /api/v1/replays` takes it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The stream to read.
    pub stream: String,
    /// Only events whose type matches this pattern (such as `order.*`).
    #[serde(rename = "type", default)]
    pub ty: Option<String>,
    /// Start after this position, or with the events appended at or after this RFC 3339 time.
    #[serde(default)]
    pub from: Option<String>,
    /// End with this position, or with the last event appended at or before this time.
    #[serde(default)]
    pub to: Option<String>,
    /// Replay into this handler subscription.
    #[serde(default)]
    pub subscription: Option<String>,
    /// Or: dry-run this plugin (a handler or reducer of the plugins folder).
    #[serde(default)]
    pub plugin: Option<String>,
}

/// Where a job's events go.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplayTarget {
    /// A handler subscription: results are stored.
    Subscription(String),
    /// A plugin: a dry run.
    Plugin(String),
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplayStatus {
    /// Reading and running events.
    Running,
    /// Every event of the range was replayed.
    Completed,
    /// Stopped by a request (or the server stopping) before the end of the range.
    Cancelled,
    /// Stopped by an error it could not get past (see `error`).
    Failed,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReplayInfo {
    /// The job's id (also the value of the `eddyreplay` extension).
    pub id: String,
    /// Where it is.
    pub status: ReplayStatus,
    /// The stream read.
    pub stream: String,
    /// The type pattern, if any.
    #[serde(rename = "type")]
    pub ty: Option<String>,
    /// Where the job went.
    pub target: ReplayTarget,
    /// `true` for a plugin target: nothing is stored.
    pub dry_run: bool,
    /// The hash of the code that ran.
    pub plugin_hash: String,
    /// The range: after `from` …
    pub from: Option<Position>,
    /// … up to and including `to` (the stream's last position when the job started, if earlier).
    pub to: Option<Position>,
    /// The last position replayed so far.
    pub position: Option<Position>,
    /// Of the range, by append time: 0 at the start, 1 when done.
    pub progress: f64,
    /// Events run through the target (after the type pattern).
    pub replayed: u64,
    /// Of those, events that succeeded (a filter dropping an event counts as success).
    pub succeeded: u64,
    /// Of those, events that failed for good (dead-lettered for a subscription target).
    pub failed: u64,
    /// Events the handler emitted (stored for a subscription target, counted for a dry run).
    pub emitted: u64,
    /// The first failures: position and error.
    pub failures: Vec<ReplayFailure>,
    /// Why the job failed, for `failed`.
    pub error: Option<String>,
    /// When it started and (if it did) finished, RFC 3339.
    pub started_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// One event a job could not replay.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReplayFailure {
    /// Its position.
    pub position: Position,
    /// Its id.
    pub id: String,
    /// What went wrong.
    pub error: String,
}

/// Why a replay request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The request is malformed: fix the named field.
    #[error("{0}")]
    Invalid(String),
    /// The target cannot be replayed into (a reducer subscription).
    #[error("{0}")]
    Conflict(String),
    /// No job by that id.
    #[error("no replay `{0}`")]
    NotFound(String),
    /// The target subscription or plugin could not be used.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Job {
    info: Mutex<ReplayInfo>,
    cancel: AtomicBool,
}

impl Job {
    fn update(&self, change: impl FnOnce(&mut ReplayInfo)) {
        change(&mut self.info.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn info(&self) -> ReplayInfo {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The replay jobs of one process.
#[derive(Default)]
pub struct ReplayJobs {
    jobs: Mutex<BTreeMap<String, Arc<Job>>>,
    finished: Mutex<VecDeque<String>>,
    next: AtomicU64,
}

impl ReplayJobs {
    fn add(&self, job: Arc<Job>, id: String) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, job);
    }

    fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Remembers that `id` finished, forgetting the oldest finished jobs beyond the limit.
    fn finished(&self, id: &str) {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        finished.push_back(id.to_string());
        while finished.len() > KEEP_FINISHED {
            if let Some(old) = finished.pop_front() {
                self.jobs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&old);
            }
        }
    }

    fn new_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        format!("replay-{}-{n}", crate::store::now_ms())
    }

    /// Asks every running job to stop (on shutdown).
    pub fn cancel_all(&self) {
        for job in self.jobs.lock().unwrap_or_else(|e| e.into_inner()).values() {
            job.cancel.store(true, Ordering::Relaxed);
        }
    }
}

/// What a job runs: the code and, for a subscription target, where results go.
struct Plan {
    /// Lent to the blocking thread for each step.
    pipeline: Option<Pipeline>,
    kind: PluginKind,
    /// `Some(subscription)` when results are stored.
    store_for: Option<String>,
}

impl SubscriptionHost {
    /// Starts a replay job; returns it as it starts.
    pub async fn start_replay(&self, request: ReplayRequest) -> Result<ReplayInfo, ReplayError> {
        crate::store::check_name("stream", &request.stream)
            .map_err(|e| ReplayError::Invalid(e.to_string()))?;
        let from = request
            .from
            .as_deref()
            .map(|text| parse_bound(text, "from", Bound::Start))
            .transpose()?;
        let to = request
            .to
            .as_deref()
            .map(|text| parse_bound(text, "to", Bound::End))
            .transpose()?;
        let last = self
            .store
            .stream(&request.stream)
            .await?
            .and_then(|info| info.last);
        let to = match (to, last) {
            (Some(to), Some(last)) => Some(to.min(last)),
            (_, last) => last,
        };
        let id = self.replays.new_id();
        let (target, plan) = match (&request.subscription, &request.plugin) {
            (Some(name), None) => (
                ReplayTarget::Subscription(name.clone()),
                self.subscription_plan(name, &request).await?,
            ),
            (None, Some(name)) => (
                ReplayTarget::Plugin(name.clone()),
                self.plugin_plan(name, &id, &request).await?,
            ),
            _ => {
                return Err(ReplayError::Invalid(
                    "name exactly one target: `subscription` (a handler subscription) or `plugin` (a dry run)".into(),
                ));
            }
        };
        let info = ReplayInfo {
            id: id.clone(),
            status: ReplayStatus::Running,
            stream: request.stream.clone(),
            ty: request.ty.clone(),
            dry_run: plan.store_for.is_none(),
            target,
            plugin_hash: plan
                .pipeline
                .as_ref()
                .map(Pipeline::plugin_hash)
                .unwrap_or_default(),
            from,
            to,
            position: None,
            progress: 0.0,
            replayed: 0,
            succeeded: 0,
            failed: 0,
            emitted: 0,
            failures: Vec::new(),
            error: None,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            finished_at: None,
        };
        let job = Arc::new(Job {
            info: Mutex::new(info.clone()),
            cancel: AtomicBool::new(false),
        });
        self.replays.add(job.clone(), id.clone());
        let pattern = request.ty.map(TypePattern::new);
        let run = run::Run {
            id: id.clone(),
            store: self.store.clone(),
            stream: request.stream,
            pattern,
            from,
            to,
            job,
        };
        let replays = self.replays.clone();
        tokio::spawn(async move {
            run.run(plan).await;
            replays.finished(&id);
        });
        Ok(info)
    }

    /// A job as it is now.
    pub fn replay(&self, id: &str) -> Result<ReplayInfo, ReplayError> {
        self.replays
            .get(id)
            .map(|job| job.info())
            .ok_or_else(|| ReplayError::NotFound(id.to_string()))
    }

    /// Every job this process remembers, oldest first.
    pub fn replays(&self) -> Vec<ReplayInfo> {
        let jobs: Vec<Arc<Job>> = self
            .replays
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut infos: Vec<ReplayInfo> = jobs.iter().map(|job| job.info()).collect();
        infos.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        infos
    }

    /// Asks a running job to stop after its current step.
    pub fn cancel_replay(&self, id: &str) -> Result<ReplayInfo, ReplayError> {
        let job = self
            .replays
            .get(id)
            .ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
        job.cancel.store(true, Ordering::Relaxed);
        Ok(job.info())
    }

    async fn subscription_plan(
        &self,
        name: &str,
        request: &ReplayRequest,
    ) -> Result<Plan, ReplayError> {
        let spec = self
            .spec(name)
            .await
            .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
        if !spec.streams.contains(&request.stream) {
            return Err(ReplayError::Invalid(format!(
                "subscription `{name}` reads {:?}, not `{}`: replay one of its streams",
                spec.streams, request.stream
            )));
        }
        let (plugin, _) = self.load(&spec.plugin).await?;
        if plugin.kind() != PluginKind::Handler {
            return Err(ReplayError::Conflict(format!(
                "subscription `{name}` runs a {}: its state is exactly-once, and replaying events into it would apply them twice; use time travel, a shadow, or a dry run with `plugin`",
                plugin.kind()
            )));
        }
        let filter = match &spec.filter {
            Some(filter) => Some(self.load(filter).await?.0),
            None => None,
        };
        let pipeline = pipeline(&plugin, filter.as_ref(), Arc::new(spec))?;
        Ok(Plan {
            pipeline: Some(pipeline),
            kind: PluginKind::Handler,
            store_for: Some(name.to_string()),
        })
    }

    async fn plugin_plan(
        &self,
        name: &str,
        id: &str,
        request: &ReplayRequest,
    ) -> Result<Plan, ReplayError> {
        let (plugin, _) = self.load(name).await?;
        let kind = plugin.kind();
        if !matches!(kind, PluginKind::Handler | PluginKind::Reducer) {
            return Err(ReplayError::Invalid(format!(
                "plugin `{name}` is a {kind}; a replay runs a handler or a reducer (a filter is replayed with its subscription)"
            )));
        }
        // A spec only to carry the defaults (retry policy, limits) and the job's name.
        let spec: SubscriptionSpec = serde_json::from_value(json!({
            "name": id,
            "plugin": name,
            "streams": [request.stream],
        }))
        .map_err(|e| ReplayError::Invalid(e.to_string()))?;
        Ok(Plan {
            pipeline: Some(pipeline(&plugin, None, Arc::new(spec))?),
            kind,
            store_for: None,
        })
    }
}

fn pipeline(
    plugin: &Plugin,
    filter: Option<&Plugin>,
    spec: Arc<SubscriptionSpec>,
) -> Result<Pipeline, ReplayError> {
    let instance = |p: &Plugin| {
        PluginInstance::new(p, spec.config.clone(), spec.limits)
            .map_err(|e| SubscriptionError::Plugin(e.to_string()))
    };
    let filter = filter.map(instance).transpose()?;
    Ok(Pipeline::new(
        instance(plugin)?,
        filter,
        spec.clone(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Stats::default()),
    ))
}

#[derive(Clone, Copy)]
enum Bound {
    Start,
    End,
}

/// A range bound: a position, or an RFC 3339 time turned into the position bound that selects
/// events appended at or after (start) or at or before (end) it.
fn parse_bound(text: &str, field: &str, bound: Bound) -> Result<Position, ReplayError> {
    if let Ok(position) = text.parse::<Position>() {
        return Ok(position);
    }
    let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| {
        ReplayError::Invalid(format!(
            "`{field}` must be a position such as 1732450000000-0 or an RFC 3339 time such as 2026-11-24T10:00:00Z, not `{text}`"
        ))
    })?;
    let ms = u64::try_from(time.timestamp_millis()).unwrap_or(0);
    Ok(match bound {
        // Exclusive start: just before the time's first position.
        Bound::Start => Position { ms, seq: 0 }.prev().unwrap_or(Position::ZERO),
        Bound::End => Position { ms, seq: u64::MAX },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_bound_selects_by_append_time_and_a_position_is_taken_as_is() {
        let start = parse_bound("2026-11-24T10:00:00Z", "from", Bound::Start).unwrap();
        let end = parse_bound("2026-11-24T10:00:00Z", "to", Bound::End).unwrap();
        let ms = 1_795_514_400_000;
        // `from` is exclusive: the last position before the time's first one.
        assert_eq!(start.next(), Some(Position { ms, seq: 0 }));
        assert_eq!(end, Position { ms, seq: u64::MAX });
        assert_eq!(
            parse_bound("17-3", "from", Bound::Start).unwrap(),
            Position { ms: 17, seq: 3 }
        );
        let error = parse_bound("soon", "to", Bound::End).unwrap_err();
        assert!(error.to_string().contains("`to`"), "{error}");
    }
}
