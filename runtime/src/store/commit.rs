//! What one processing step writes — events, acknowledgements, reducer states, snapshots,
//! checkpoints — applied as one atomic [`Commit`], optionally fenced by a [`Lease`].

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::error::parse_position;
use super::{MAX_BATCH, MAX_NAME_LEN, StoreError, check_name};
use crate::event::{CloudEvent, Position};

/// Everything one processing step writes, applied atomically: all of it or none of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Events to append, per stream, in order. Deduplicated on `source` + `id` exactly like
    /// `EventStore::append` (so a retried commit stores nothing twice); no expected version.
    pub appends: Vec<(String, Vec<CloudEvent>)>,
    /// Consumer-group entries to acknowledge.
    pub acks: Vec<GroupAck>,
    /// Reducer states to save.
    pub states: Vec<StateWrite>,
    /// Reducer snapshots to keep (for time travel), each pruning older ones.
    pub snapshots: Vec<SnapshotWrite>,
    /// Checkpoints to save: (stream, name, position) — same namespace as `save_checkpoint`.
    pub checkpoints: Vec<(String, String, Position)>,
    /// When set, the commit applies only while this lease is held by this owner with this
    /// token; otherwise nothing is written and it fails with `StoreError::LeaseLost`.
    pub fence: Option<Fence>,
}

/// Consumer-group entries to acknowledge as part of a [`Commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAck {
    /// The stream the group reads.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// The entries to acknowledge; ones that are not pending are ignored.
    pub positions: Vec<Position>,
}

/// A reducer state to save as part of a [`Commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The projection (one reducer binding) the state belongs to.
    pub projection: String,
    /// The subject the state is about.
    pub subject: String,
    /// The state, replacing any saved before.
    pub state: SavedState,
}

/// A snapshot of a reducer state to keep as part of a [`Commit`]: it is stored under
/// (projection, subject, `snapshot.plugin`, `snapshot.position`), and afterwards only the
/// `keep` most recent snapshots of that subject and plugin hash are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotWrite {
    /// The projection (one reducer binding) the snapshot belongs to.
    pub projection: String,
    /// The subject the state is about.
    pub subject: String,
    /// The state, with the position it reflects and the hash of the reducer that made it.
    pub snapshot: SavedState,
    /// How many snapshots of this subject and plugin hash to keep, this one included (0 counts
    /// as 1).
    pub keep: u32,
}

/// A reducer's state for one subject, with what it reflects. Also the shape of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SavedState {
    /// The state bytes (JSON for Rust SDK reducers).
    pub state: Vec<u8>,
    /// The stream and position of the last event applied.
    pub stream: String,
    /// The position of the last event applied.
    pub position: Position,
    /// The hash of the reducer that computed it.
    pub plugin: String,
    /// How many events have been applied to it.
    pub events: u64,
    /// The latest `time` (nanoseconds since the Unix epoch) among the subject's events read
    /// up to this state — all of them up to `position`, applied or skipped — or `None` if none
    /// had a time. A time-travel query by time starts from a snapshot only if this is not
    /// later than the time asked for, so it must never be too early (later is only slower).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_time: Option<i64>,
}

/// The lease a [`Commit`] is conditional on: it applies only while `owner` holds `lease` with
/// this `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// Who must hold it.
    pub owner: String,
    /// The token [`super::EventStore::acquire_lease`] returned when it was taken.
    pub token: u64,
}

/// A lease held by an owner until it expires, with its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Lease {
    /// The lease's name.
    pub name: String,
    /// Who holds it.
    pub owner: String,
    /// Its fencing token: greater than every token the lease had before this acquisition.
    pub token: u64,
    /// How long until it expires unless renewed.
    pub expires_in_ms: u64,
}

impl Commit {
    /// Checks the request. Both backends call this first, so they refuse the same commits with
    /// the same messages.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let mut events = 0;
        for (stream, batch) in &self.appends {
            check_name("stream", stream)?;
            events += batch.len();
            for (index, event) in batch.iter().enumerate() {
                event.validate().map_err(|e| {
                    StoreError::invalid(format!("stream `{stream}`, event {index}: {e}"))
                })?;
            }
        }
        if events > MAX_BATCH {
            return Err(StoreError::invalid(format!(
                "a commit may append at most {MAX_BATCH} events, not {events}"
            )));
        }
        for ack in &self.acks {
            check_name("stream", &ack.stream)?;
            check_name("group", &ack.group)?;
        }
        for write in &self.states {
            check_name("projection", &write.projection)?;
            check_name("stream", &write.state.stream)?;
        }
        for write in &self.snapshots {
            check_name("projection", &write.projection)?;
            check_name("stream", &write.snapshot.stream)?;
            check_plugin_hash(&write.snapshot.plugin)?;
        }
        for (stream, name, _) in &self.checkpoints {
            check_name("stream", stream)?;
            check_name("checkpoint", name)?;
        }
        if let Some(fence) = &self.fence {
            check_name("lease", &fence.lease)?;
            check_owner(&fence.owner)?;
        }
        Ok(())
    }
}

/// Checks a lease owner: any text of 1 to [`MAX_NAME_LEN`] bytes (a host name and process id,
/// say), since it is only ever compared, never part of a key.
pub(crate) fn check_owner(owner: &str) -> Result<(), StoreError> {
    if owner.is_empty() || owner.len() > MAX_NAME_LEN {
        return Err(StoreError::invalid(format!(
            "a lease owner must be 1 to {MAX_NAME_LEN} bytes long"
        )));
    }
    Ok(())
}

/// Checks the plugin hash a snapshot is keyed by: 1 to [`MAX_NAME_LEN`] bytes without `:`
/// after its algorithm prefix or control characters, so it is safe inside keys.
pub(crate) fn check_plugin_hash(hash: &str) -> Result<(), StoreError> {
    let body = hash.strip_prefix("sha256:").unwrap_or(hash);
    if hash.is_empty()
        || hash.len() > MAX_NAME_LEN
        || body.contains(':')
        || body.chars().any(|c| c.is_control() || c == ';')
    {
        return Err(StoreError::invalid(format!(
            "`{hash}` is not a plugin hash for a snapshot"
        )));
    }
    Ok(())
}

/// Checks a lease's time to live: at least a millisecond, which is what backends count in.
pub(crate) fn ttl_ms(ttl: Duration) -> Result<u64, StoreError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Err(StoreError::invalid("a lease needs a ttl of at least 1 ms"));
    }
    Ok(ms)
}

/// A [`SavedState`] as one self-contained JSON text, for backends that keep it as a string
/// (Redis; see `docs/STORAGE.md`). The state bytes are base64 (standard alphabet, padded).
#[derive(serde::Serialize, serde::Deserialize)]
struct EncodedState {
    stream: String,
    position: String,
    plugin: String,
    events: u64,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latest_time: Option<i64>,
}

impl SavedState {
    /// The JSON text a backend stores.
    pub(crate) fn encode(&self) -> String {
        let encoded = EncodedState {
            stream: self.stream.clone(),
            position: self.position.to_string(),
            plugin: self.plugin.clone(),
            events: self.events,
            state: BASE64.encode(&self.state),
            latest_time: self.latest_time,
        };
        serde_json::to_string(&encoded).expect("a state encodes as JSON")
    }

    /// The state back from [`Self::encode`]'s text; `Corrupt` if it is not one.
    pub(crate) fn decode(text: &[u8]) -> Result<Self, StoreError> {
        let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("saved state: {e}"));
        let encoded: EncodedState = serde_json::from_slice(text).map_err(|e| bad(&e))?;
        Ok(Self {
            state: BASE64.decode(&encoded.state).map_err(|e| bad(&e))?,
            stream: encoded.stream,
            position: parse_position(&encoded.position)?,
            plugin: encoded.plugin,
            events: encoded.events,
            latest_time: encoded.latest_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_encode_as_json_that_decodes_to_the_same_bytes() {
        let state = SavedState {
            state: vec![0, 159, 146, 150, b'{'],
            stream: "orders".into(),
            position: Position::new(1_700_000_000_000, 3),
            plugin: "sha256:ab".into(),
            events: 42,
            latest_time: Some(-5),
        };
        let text = state.encode();
        assert!(text.contains(r#""position":"1700000000000-3""#), "{text}");
        assert_eq!(SavedState::decode(text.as_bytes()).unwrap(), state);
        assert!(matches!(
            SavedState::decode(b"{}"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
