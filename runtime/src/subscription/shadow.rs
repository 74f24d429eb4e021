//! Shadow subscriptions: a candidate reducer run beside the live one on the same events, with
//! its own partitions, leases, checkpoints and states (projection `<name>.shadow`), and the
//! subject-by-subject comparison of the two projections.
//!
//! A shadow started over the API is recorded in the store (projection [`SHADOWS`], subject =
//! the live subscription, state = the candidate plugin), so it belongs to its subscription
//! rather than to one process: whenever the live subscription starts — a restart of `eddy
//! serve`, a sidecar file loaded, the subscription created again over the API — its shadow
//! starts beside it and resumes from its own checkpoints. Stopping the shadow forgets it.

use super::SubscriptionError;
use crate::plugin::PluginKind;
use serde_json::Value;

use super::dead_letter::redrive_stream;
use super::reducer_worker::lease_name;
use super::{Start, SubscriptionInfo, SubscriptionSpec};
use crate::event::Position;
use crate::replay::{Difference, diff, state_to_json};
use crate::store::{Commit, EventStore, SavedState, StateWrite, StoreError};

/// The projection where running shadows are recorded: subject = the live subscription, state
/// = [`ShadowRecord`] as JSON, or empty once the shadow was stopped (a state cannot be
/// deleted alone).
pub(crate) const SHADOWS: &str = "eddy.shadows";

/// What is recorded of a running shadow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct ShadowRecord {
    /// The candidate plugin, as given when the shadow was started (a name or a path).
    plugin: String,
}

/// Records (`Some`) or forgets (`None`) the shadow of `subscription`.
async fn record(
    store: &dyn EventStore,
    subscription: &str,
    shadow: Option<&ShadowRecord>,
) -> Result<(), StoreError> {
    let state = shadow
        .map(|r| serde_json::to_vec(r).expect("a record encodes as JSON"))
        .unwrap_or_default();
    let write = StateWrite {
        projection: SHADOWS.to_string(),
        subject: subscription.to_string(),
        state: SavedState {
            state,
            stream: SHADOWS.to_string(),
            position: Position::ZERO,
            plugin: String::new(),
            events: 0,
            latest_time: None,
        },
    };
    store
        .commit(Commit {
            states: vec![write],
            ..Commit::default()
        })
        .await
        .map(|_| ())
}

/// The recorded shadow of `subscription`, if one runs (an unreadable record counts as none).
async fn recorded(
    store: &dyn EventStore,
    subscription: &str,
) -> Result<Option<ShadowRecord>, StoreError> {
    let saved = store.load_state(SHADOWS, subscription).await?;
    Ok(saved.and_then(|s| serde_json::from_slice(&s.state).ok()))
}

/// What a shadow's name adds to its subscription's.
const SHADOW_SUFFIX: &str = ".shadow";

/// The name of `subscription`'s shadow (also its projection).
pub fn shadow_name(subscription: &str) -> String {
    format!("{subscription}{SHADOW_SUFFIX}")
}

/// The shadow's spec: the live spec with the candidate plugin, under the shadow's name.
pub(crate) fn shadow_spec(live: &SubscriptionSpec, plugin: &str) -> SubscriptionSpec {
    SubscriptionSpec {
        name: shadow_name(&live.name),
        plugin: plugin.to_string(),
        group: None,
        ..live.clone()
    }
}

/// Forgets what an earlier shadow left (states, snapshots, checkpoints), so a new one folds
/// the history again from the spec's start (`now`: from this moment).
pub(crate) async fn reset(
    store: &dyn EventStore,
    spec: &SubscriptionSpec,
) -> Result<(), StoreError> {
    store.delete_projection(&spec.name).await?;
    let mut streams: Vec<(String, Option<Position>)> = Vec::new();
    for stream in &spec.streams {
        let start = match spec.start {
            Start::Beginning => None,
            Start::After(position) => Some(position),
            Start::Now => store.stream(stream).await?.and_then(|s| s.last),
        };
        streams.push((stream.clone(), start));
    }
    let redrive = redrive_stream(&spec.name);
    let redrive_last = store.stream(&redrive).await?.and_then(|s| s.last);
    streams.push((redrive, redrive_last));
    for (stream, start) in streams {
        for partition in 0..spec.partitions {
            let name = lease_name(&spec.name, partition);
            if store.checkpoint(&stream, &name).await?.is_some() {
                // A checkpoint cannot be removed; the position before every event is `0-0`.
                let position = start.unwrap_or(Position::new(0, 0));
                store.save_checkpoint(&stream, &name, position).await?;
            }
        }
    }
    Ok(())
}

/// A page of the comparison of a subscription and its shadow.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ShadowReport {
    /// The live subscription.
    pub subscription: String,
    /// The shadow subscription (and projection).
    pub shadow: String,
    /// The live plugin's hash.
    pub live_plugin: String,
    /// The candidate plugin's hash.
    pub shadow_plugin: String,
    /// Whether the shadow has read every stream as far as the live subscription: until then
    /// a subject may differ only because the shadow has not reached its events yet.
    pub caught_up: bool,
    /// Subjects compared in this page.
    pub compared: usize,
    /// Of those, how many have the same state on both sides.
    pub matching: usize,
    /// The subjects whose states differ (or exist on one side only), with a diff.
    pub differing: Vec<ShadowSubject>,
    /// Pass as `after` for the next page; `null` at the end.
    pub next: Option<String>,
}

/// One subject whose states differ.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ShadowSubject {
    /// The subject.
    pub subject: String,
    /// The live state (`null` if it has none).
    pub live: Option<Value>,
    /// The shadow's state (`null` if it has none).
    pub shadow: Option<Value>,
    /// The position of the last event applied to the live state.
    pub live_position: Option<Position>,
    /// The position of the last event applied to the shadow's state.
    pub shadow_position: Option<Position>,
    /// What differs, path by path (left: live, right: shadow).
    pub diff: Vec<Difference>,
}

/// Compares the subjects of both projections after `after` (at most `limit` of them).
pub(crate) async fn report(
    store: &std::sync::Arc<dyn EventStore>,
    live: &SubscriptionInfo,
    shadow: &SubscriptionInfo,
    after: Option<&str>,
    limit: usize,
) -> Result<ShadowReport, StoreError> {
    let caught_up = live
        .streams
        .iter()
        .zip(&shadow.streams)
        .all(|(l, s)| s.checkpoint >= l.checkpoint);
    // The union of both sides' subjects, in order, one page of it.
    let mut subjects = store.list_states(&live.name, after, limit).await?;
    subjects.extend(store.list_states(&shadow.name, after, limit).await?);
    subjects.sort();
    subjects.dedup();
    subjects.truncate(limit);
    let next = (subjects.len() == limit)
        .then(|| subjects.last().cloned())
        .flatten();
    let mut matching = 0;
    let mut differing = Vec::new();
    for subject in &subjects {
        let left = store.load_state(&live.name, subject).await?;
        let right = store.load_state(&shadow.name, subject).await?;
        let state = |saved: &Option<SavedState>| saved.as_ref().map(|s| state_to_json(&s.state));
        let (l, r) = (state(&left), state(&right));
        if l == r {
            matching += 1;
            continue;
        }
        let differences = diff(
            l.as_ref().unwrap_or(&Value::Null),
            r.as_ref().unwrap_or(&Value::Null),
        );
        differing.push(ShadowSubject {
            subject: subject.clone(),
            live: l,
            shadow: r,
            live_position: left.map(|s| s.position),
            shadow_position: right.map(|s| s.position),
            diff: differences,
        });
    }
    Ok(ShadowReport {
        subscription: live.name.clone(),
        shadow: shadow.name.clone(),
        live_plugin: live.plugin.clone(),
        shadow_plugin: shadow.plugin.clone(),
        caught_up,
        compared: subjects.len(),
        matching,
        differing,
        next,
    })
}

impl super::SubscriptionHost {
    /// Starts the shadow of reducer subscription `name`: the same spec with `plugin`, under
    /// the name `<name>.shadow` (its own partitions, leases, checkpoints and states).
    pub async fn start_shadow(&self, name: &str, plugin: &str) -> Result<(), SubscriptionError> {
        let spec = {
            let running = self.running.lock().await;
            let r = running
                .get(name)
                .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
            if r.plugin.kind() != PluginKind::Reducer {
                return Err(SubscriptionError::Plugin(format!(
                    "subscription `{name}` runs a {}; only reducers have shadows",
                    r.plugin.kind()
                )));
            }
            shadow_spec(&r.spec, plugin)
        };
        let (shadow, _) = self.load(plugin).await?;
        if shadow.kind() != PluginKind::Reducer {
            return Err(SubscriptionError::Plugin(format!(
                "plugin `{plugin}` is a {}; a shadow runs a reducer",
                shadow.kind()
            )));
        }
        if self.running.lock().await.contains_key(&spec.name) {
            return Err(SubscriptionError::AlreadyExists(spec.name));
        }
        reset(self.store.as_ref(), &spec).await?;
        self.start(spec).await?;
        let shadow = ShadowRecord {
            plugin: plugin.to_string(),
        };
        record(self.store.as_ref(), name, Some(&shadow)).await?;
        Ok(())
    }

    /// Stops the shadow of `name` and forgets it, so it does not start again with `name`.
    pub async fn stop_shadow(&self, name: &str) -> Result<(), SubscriptionError> {
        self.stop(&shadow_name(name)).await
    }

    /// After subscription `name` was stopped on request: if it was a shadow, forget it.
    pub(super) async fn forget_if_shadow(&self, name: &str) -> Result<(), SubscriptionError> {
        if let Some(live) = name.strip_suffix(SHADOW_SUFFIX)
            && recorded(self.store.as_ref(), live).await?.is_some()
        {
            record(self.store.as_ref(), live, None).await?;
        }
        Ok(())
    }

    /// Starts the recorded shadow of subscription `spec` (just started), resuming where it
    /// stopped. A shadow that cannot start is logged and stays recorded for the next start.
    pub(super) async fn resume_shadow(&self, spec: &SubscriptionSpec) {
        let shadow = match recorded(self.store.as_ref(), &spec.name).await {
            Ok(Some(shadow)) => shadow,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(subscription = %spec.name, "cannot read its shadow's record: {error}");
                return;
            }
        };
        let spec = shadow_spec(spec, &shadow.plugin);
        let name = spec.name.clone();
        match self.start(spec).await {
            Ok(()) => tracing::info!(shadow = %name, plugin = %shadow.plugin, "shadow resumed"),
            Err(SubscriptionError::AlreadyExists(_)) => {}
            Err(error) => tracing::warn!(shadow = %name, "cannot resume the shadow: {error}"),
        }
    }

    /// Compares a page of subjects of `name` and its shadow (subjects after `after`, at most
    /// `limit`).
    pub async fn shadow_report(
        &self,
        name: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ShadowReport, SubscriptionError> {
        let live = self.info(name).await?;
        let shadow_name = shadow_name(name);
        let shadow = self.info(&shadow_name).await?;
        report(&self.store, &live, &shadow, after, limit)
            .await
            .map_err(SubscriptionError::from)
    }
}
