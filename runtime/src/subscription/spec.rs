//! What a subscription is: one plugin bound to streams, with its filter, configuration,
//! consumer group, start, batch size, retry policy and limits.
//!
//! The same fields, with the same names, are used in the config file (`[[subscription]]`),
//! in a plugin's sidecar file (`<name>.toml`) and in the API's JSON.

use serde::{Deserialize, Serialize};

use super::retry::RetryPolicy;
use crate::event::{Position, TypePattern};
use crate::plugin::{Limits, PluginConfig};

/// The most events one batch call may carry.
pub const MAX_BATCH: u32 = 10_000;

/// A subscription as written by a user. Only `name`, `plugin` and `streams` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// Unique name; also the default consumer group.
    pub name: String,
    /// A component in the plugins folder (`order-totals` → `order-totals.wasm`), or a path.
    pub plugin: String,
    /// The streams to consume.
    pub streams: Vec<String>,
    /// Glob patterns on the event type (`order.*`, `*.created`); empty: every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// A filter plugin run before the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// String key/values handed to the plugin.
    #[serde(default, skip_serializing_if = "PluginConfig::is_empty")]
    pub config: PluginConfig,
    /// The consumer group (default: the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Where a new subscription starts: `beginning`, `now`, or a position.
    #[serde(default)]
    pub start: Start,
    /// Events per batch call.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// How failures are retried before an event is dead-lettered.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Fuel and memory limits of the plugin.
    #[serde(default)]
    pub limits: Limits,
    /// Quarantine the subscription — stop its workers and show `quarantined` with the reason
    /// in the API — once this many events in a row were dead-lettered because the plugin
    /// faulted (trapped, ran out of fuel or memory, returned an unusable result); 0: never.
    /// The events of the batch that tripped it are not committed, so nothing is skipped.
    /// Resume with `POST /api/v1/subscriptions/{name}/resume`, by installing a new version of
    /// the plugin in the watched folder, or by restarting Eddy.
    #[serde(default = "default_quarantine_after")]
    pub quarantine_after: u32,
    /// Reducers: how many partitions the subjects are spread over. Each partition is
    /// processed by one `eddy` process at a time, so more partitions let more processes share
    /// the work; a subject always stays in its partition, so its events stay in order.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Reducers: keep a snapshot of a subject's state every this many of its events (0: never),
    /// so that a time-travel query replays at most this many events.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u32,
    /// Reducers: how many snapshots to keep per subject (the newest; at least 1).
    #[serde(default = "default_snapshots_kept")]
    pub snapshots_kept: u32,
    /// Reducers: when the plugin's code changes (a new hash), keep the states and checkpoints
    /// computed by the old code and go on from there. Only for compatible changes: by default
    /// (`false`) the subscription rebuilds its states by replay from the start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_state: bool,
}

fn default_quarantine_after() -> u32 {
    5
}

fn default_partitions() -> u32 {
    4
}

fn default_snapshot_every() -> u32 {
    1000
}

fn default_snapshots_kept() -> u32 {
    5
}

fn default_batch() -> u32 {
    256
}

/// Where a subscription starts reading when its consumer group is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// From the first event of each stream.
    #[default]
    Beginning,
    /// From events appended after the subscription is created.
    Now,
    /// From the events after this position.
    After(Position),
}

impl Serialize for Start {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Start::Beginning => serializer.serialize_str("beginning"),
            Start::Now => serializer.serialize_str("now"),
            Start::After(position) => serializer.collect_str(position),
        }
    }
}

impl schemars::JsonSchema for Start {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Start".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let position = generator.subschema_for::<Position>();
        schemars::json_schema!({
            "description": "Where a new consumer group starts: `beginning`, `now`, or after a position.",
            "anyOf": [{"enum": ["beginning", "now"]}, position],
        })
    }
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "beginning" => Ok(Start::Beginning),
            "now" => Ok(Start::Now),
            other => other.parse().map(Start::After).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{other}` is not a start: use `beginning`, `now` or a position such as \
                     `1732450000000-0`"
                ))
            }),
        }
    }
}

/// A subscription spec that breaks a rule serde cannot check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subscription `{name}`: `{key}` {problem}")]
pub struct SpecError {
    /// The subscription's name (as written).
    pub name: String,
    /// The key at fault.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl SubscriptionSpec {
    /// The consumer group: `group`, or the name.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(&self.name)
    }

    /// The type patterns, compiled.
    pub fn type_patterns(&self) -> Vec<TypePattern> {
        self.types.iter().map(TypePattern::new).collect()
    }

    /// Whether an event of type `ty` is for this subscription (no patterns: every type).
    pub fn wants_type(&self, ty: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|p| crate::event::glob_matches(p, ty))
    }

    /// Checks what serde cannot: names, ranges and consistency.
    pub fn validate(&self) -> Result<(), SpecError> {
        let fail = |key, problem: &str| SpecError {
            name: self.name.clone(),
            key,
            problem: problem.to_string(),
        };
        check_identifier(&self.name).map_err(|p| fail("name", &p))?;
        if self.plugin.trim().is_empty() {
            return Err(fail("plugin", "must name a plugin"));
        }
        if self.streams.is_empty() {
            return Err(fail("streams", "must list at least one stream"));
        }
        for stream in &self.streams {
            check_identifier(stream).map_err(|p| fail("streams", &format!("`{stream}`: {p}")))?;
        }
        if let Some(group) = &self.group {
            check_identifier(group).map_err(|p| fail("group", &p))?;
        }
        if self.filter.as_deref().is_some_and(|f| f.trim().is_empty()) {
            return Err(fail("filter", "must name a filter plugin when present"));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(fail("batch", &format!("must be between 1 and {MAX_BATCH}")));
        }
        self.retry
            .validate()
            .map_err(|(key, problem)| fail(key, &problem))?;
        if !(1..=256).contains(&self.partitions) {
            return Err(fail("partitions", "must be between 1 and 256"));
        }
        if self.snapshot_every > 1_000_000 {
            return Err(fail(
                "snapshot_every",
                "must be between 0 (no snapshots) and 1000000",
            ));
        }
        if !(1..=1000).contains(&self.snapshots_kept) {
            return Err(fail("snapshots_kept", "must be between 1 and 1000"));
        }
        if self.limits.fuel == 0 {
            return Err(fail("limits.fuel", "must be at least 1"));
        }
        if !(1..=4096).contains(&self.limits.memory_mb) {
            return Err(fail("limits.memory_mb", "must be between 1 and 4096"));
        }
        Ok(())
    }
}

/// Names of subscriptions, groups and streams follow the store's rules (letters, digits,
/// `.`, `_`, `-`), so they are safe in Redis keys, file names and URLs.
fn check_identifier(name: &str) -> Result<(), String> {
    crate::store::check_name("name", name).map_err(|e| match e {
        crate::store::StoreError::InvalidRequest(message) => message,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> SubscriptionSpec {
        serde_json::from_str(r#"{"name":"totals","plugin":"order-totals","streams":["orders"]}"#)
            .unwrap()
    }

    #[test]
    fn only_name_plugin_and_streams_are_required() {
        let spec = minimal();
        assert_eq!(spec.group(), "totals");
        assert_eq!(spec.start, Start::Beginning);
        assert_eq!(spec.batch, 256);
        assert_eq!(spec.retry, RetryPolicy::default());
        assert_eq!(spec.limits, Limits::default());
        assert_eq!((spec.snapshot_every, spec.snapshots_kept), (1000, 5));
        assert!(!spec.keep_state);
        assert!(spec.wants_type("anything"));
        spec.validate().unwrap();
    }

    #[test]
    fn type_patterns_select_events() {
        let spec = SubscriptionSpec {
            types: vec!["order.*".into(), "*.created".into()],
            ..minimal()
        };
        assert!(spec.wants_type("order.paid"));
        assert!(spec.wants_type("user.created"));
        assert!(!spec.wants_type("user.deleted"));
    }

    #[test]
    fn start_accepts_beginning_now_or_a_position() {
        let parse = |s: &str| serde_json::from_value::<Start>(serde_json::json!(s));
        assert_eq!(parse("now").unwrap(), Start::Now);
        assert_eq!(parse("5-1").unwrap(), Start::After(Position::new(5, 1)));
        let error = parse("yesterday").unwrap_err().to_string();
        assert!(error.contains("`yesterday` is not a start"), "{error}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        type Breaker = fn(&mut SubscriptionSpec);
        let cases: [(Breaker, &str); 7] = [
            (|s| s.name = "has space".into(), "name"),
            (|s| s.streams.clear(), "streams"),
            (|s| s.streams = vec!["a/b".into()], "streams"),
            (|s| s.batch = 0, "batch"),
            (|s| s.retry.max_attempts = 0, "retry.max_attempts"),
            (|s| s.limits.memory_mb = 0, "limits.memory_mb"),
            (|s| s.snapshots_kept = 0, "snapshots_kept"),
        ];
        for (break_it, key) in cases {
            let mut spec = minimal();
            break_it(&mut spec);
            assert_eq!(spec.validate().unwrap_err().key, key);
        }
    }
}
