//! The Redis Streams backend.
//!
//! Each Eddy stream is one Redis stream plus a few hashes and sorted sets (see [`keys`] and
//! `docs/STORAGE.md`), so any Redis client can read the events. Everything that must be atomic
//! across keys — dedupe, the version check, XADD and index updates of a batch; trimming with
//! index clean-up; deleting; removing a consumer; a commit; taking a lease — is one Lua script.
//! Requests share one multiplexed connection that reconnects on its own; blocking group reads
//! use connections of their own, because a blocked XREADGROUP would stall every request queued
//! behind it on a shared connection. Needs Redis 7.0 or newer (script shebangs, XAUTOCLAIM's deleted ids).

mod batch;
mod commit;
mod entry;
mod groups;
mod keys;
mod leases;
mod scripts;

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::StreamRangeReply;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError};

use self::batch::{distinct_subjects, push_event};
use self::entry::RangeReply;
use self::keys::{Keys, STREAMS};
use super::error::parse_position;
use super::{
    Append, Appended, Commit, Direction, EventStore, GroupStart, Lease, PendingEntry, Read,
    SavedState, StoreError, StoredEvent, StreamInfo, Trim, Trimmed, check_name,
};
use crate::event::Position;
use crate::store::commit::{check_owner, ttl_ms};

/// How long one ordinary request may take before the connection is considered broken. Long,
/// because an append of a large batch runs as one script.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many idle blocking-read connections to keep.
const BLOCKING_POOL: usize = 16;
/// How many entries one trim script removes, so a big trim does not block Redis for long.
const TRIM_STEP: u64 = 1_000;
/// The oldest Redis this backend supports.
const MIN_REDIS_MAJOR: u32 = 7;

/// The Redis stream key holding the events of `stream` (`eddy:{S}:events`), for clients that
/// read the entries directly (see `docs/STORAGE.md`; `eddy bench` reads it for its baseline).
pub fn events_key(stream: &str) -> String {
    Keys::new(stream).events()
}

/// The Redis Streams event store.
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    /// Idle connections reserved for blocking reads.
    blocking: Mutex<Vec<MultiplexedConnection>>,
    scripts: scripts::Scripts,
}

impl RedisStore {
    /// Connects to the Redis at `url` and checks that it is 7.0 or newer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::BadUrl {
            url: super::StoreUrl::Redis(url.to_string()).to_string(),
            problem: e.to_string(),
        })?;
        let shown = super::StoreUrl::Redis(url.to_string()).to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot reach Redis at {shown}: {e}")))?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot use Redis at {shown}: {e}")))?;
        check_version(&info)?;
        let scripts = scripts::Scripts::new();
        let layout: String = scripts
            .layout
            .key(keys::LAYOUT)
            .key(STREAMS)
            .arg(keys::LAYOUT_VERSION)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot use Redis at {shown}: {e}")))?;
        check_layout(&layout)?;
        Ok(Self {
            client,
            conn,
            blocking: Mutex::new(Vec::new()),
            scripts,
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A connection of its own for one blocking read.
    async fn blocking_conn(&self) -> Result<MultiplexedConnection, StoreError> {
        let idle = self
            .blocking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        if let Some(conn) = idle {
            return Ok(conn);
        }
        // No response timeout: the read's own BLOCK bounds it, and an outer timeout guards it.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_error)
    }

    fn return_blocking_conn(&self, conn: MultiplexedConnection) {
        let mut pool = self.blocking.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < BLOCKING_POOL {
            pool.push(conn);
        }
    }

    async fn read_entries(&self, cmd: &redis::Cmd) -> Result<Vec<StoredEvent>, StoreError> {
        let reply: RangeReply = cmd
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        entry::decode_all(&reply)
    }

    async fn read_subject(
        &self,
        keys: &Keys,
        subject: &str,
        read: &Read,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = read.capped_limit();
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The subject's index stream: its entry ids are the positions of its events.
        let from = read.from.map(|p| format!("({p}"));
        let mut cmd = match read.direction {
            Direction::Forward => {
                let mut cmd = redis::cmd("XRANGE");
                cmd.arg(keys.subject(subject))
                    .arg(from.as_deref().unwrap_or("-"))
                    .arg("+");
                cmd
            }
            Direction::Backward => {
                let mut cmd = redis::cmd("XREVRANGE");
                cmd.arg(keys.subject(subject))
                    .arg(from.as_deref().unwrap_or("+"))
                    .arg("-");
                cmd
            }
        };
        cmd.arg("COUNT").arg(limit);
        let RangeReply(index) = cmd
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if index.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for entry in &index {
            pipe.cmd("XRANGE")
                .arg(keys.events())
                .arg(&entry.id)
                .arg(&entry.id);
        }
        let replies: Vec<RangeReply> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        let mut out = Vec::with_capacity(replies.len());
        // An entry can vanish between the two round trips only if a trim removed it (and its
        // index entry) meanwhile; the read then reflects the stream after the trim.
        for reply in &replies {
            out.extend(entry::decode_all(reply)?);
        }
        Ok(out)
    }

    async fn entry_at(
        &self,
        keys: &Keys,
        position: &str,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(keys.events()).arg(position).arg(position);
        Ok(self.read_entries(&cmd).await?.into_iter().next())
    }
}

/// Refuses a Redis older than [`MIN_REDIS_MAJOR`].
fn check_version(info: &str) -> Result<(), StoreError> {
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map(str::trim)
        .ok_or_else(|| StoreError::Corrupt("INFO server did not report redis_version".into()))?;
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("unexpected redis_version `{version}`")))?;
    if major < MIN_REDIS_MAJOR {
        return Err(StoreError::Corrupt(format!(
            "Redis {version} is too old: Eddy needs Redis {MIN_REDIS_MAJOR}.0 or newer"
        )));
    }
    Ok(())
}

/// Refuses data written in another key layout than [`keys::LAYOUT_VERSION`]: its keys would
/// be misread, or break a script half-way.
fn check_layout(layout: &str) -> Result<(), StoreError> {
    if layout == keys::LAYOUT_VERSION {
        return Ok(());
    }
    Err(StoreError::Corrupt(format!(
        "this Redis holds Eddy data in key layout {layout}, and this Eddy reads layout {}: \
         see \"The Redis layout\" in docs/STORAGE.md (use another database or delete the \
         eddy:* keys)",
        keys::LAYOUT_VERSION
    )))
}

/// Maps a client error: connection trouble and busy or loading servers are transient;
/// replies Eddy cannot make sense of are not.
fn redis_error(error: RedisError) -> StoreError {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        return StoreError::Unavailable(format!("Redis: {error}"));
    }
    let transient_codes = [
        "OOM",
        "BUSY",
        "LOADING",
        "TRYAGAIN",
        "MASTERDOWN",
        "READONLY",
    ];
    if error
        .code()
        .is_some_and(|code| transient_codes.contains(&code))
    {
        return StoreError::Unavailable(format!("Redis: {error}"));
    }
    match error.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType | ErrorKind::Server(_) => {
            StoreError::Corrupt(format!("Redis: {error}"))
        }
        _ => StoreError::Unavailable(format!("Redis: {error}")),
    }
}

/// Maps an error of a command on a consumer group, recognising a missing group. Inside a
/// script, Redis 7 keeps the NOGROUP code but wraps the message, hence the text search.
fn group_error(error: RedisError, stream: &str, group: &str) -> StoreError {
    if error.code() == Some("NOGROUP") || error.to_string().contains("NOGROUP") {
        return StoreError::GroupNotFound {
            stream: stream.to_string(),
            group: group.to_string(),
        };
    }
    redis_error(error)
}

fn check_group(stream: &str, group: &str) -> Result<Keys, StoreError> {
    check_name("stream", stream)?;
    check_name("group", group)?;
    Ok(Keys::new(stream))
}

#[async_trait::async_trait]
impl EventStore for RedisStore {
    async fn append(&self, stream: &str, append: Append) -> Result<Vec<Appended>, StoreError> {
        check_name("stream", stream)?;
        let expectation = append.check()?;
        let keys = Keys::new(stream);
        let (subjects, subject_index) = distinct_subjects(&append.events);
        let mut invocation = self.scripts.append.prepare_invoke();
        invocation
            .key(keys.events())
            .key(keys.ids())
            .key(keys.subjects())
            .key(STREAMS);
        for subject in &subjects {
            invocation.key(keys.subject(subject));
        }
        let (expected_subject, expected) = match expectation {
            Some((subject, version)) => (subject, version.to_string()),
            None => ("", String::new()),
        };
        invocation
            .arg(stream)
            .arg(expected)
            .arg(append.events.len())
            .arg(subjects.len())
            .arg(&subjects);
        for event in &append.events {
            push_event(&mut invocation, event, &subject_index);
        }
        let reply: Vec<String> = invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        match reply.first().map(String::as_str) {
            Some("conflict") => {
                let current = reply
                    .get(1)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("bad conflict reply {reply:?}")))?;
                Err(StoreError::VersionConflict {
                    subject: expected_subject.to_string(),
                    expected: append.expected_version.unwrap_or_default(),
                    current,
                })
            }
            Some("ok") if reply.len() == 1 + 2 * append.events.len() => append
                .events
                .iter()
                .zip(reply[1..].chunks(2))
                .map(|(event, pair)| {
                    Ok(Appended {
                        id: event.id.clone(),
                        position: parse_position(&pair[0])?,
                        duplicate: pair[1] == "1",
                    })
                })
                .collect(),
            _ => Err(StoreError::Corrupt(format!(
                "unexpected reply from the append script: {reply:?}"
            ))),
        }
    }

    async fn read(&self, stream: &str, read: Read) -> Result<Vec<StoredEvent>, StoreError> {
        check_name("stream", stream)?;
        let keys = Keys::new(stream);
        if let Some(subject) = &read.subject {
            return self.read_subject(&keys, subject, &read).await;
        }
        let from = read.from.map(|p| format!("({p}"));
        let mut cmd = match read.direction {
            Direction::Forward => {
                let mut cmd = redis::cmd("XRANGE");
                cmd.arg(keys.events())
                    .arg(from.as_deref().unwrap_or("-"))
                    .arg("+");
                cmd
            }
            Direction::Backward => {
                let mut cmd = redis::cmd("XREVRANGE");
                cmd.arg(keys.events())
                    .arg(from.as_deref().unwrap_or("+"))
                    .arg("-");
                cmd
            }
        };
        let limit = read.capped_limit();
        if limit == 0 {
            return Ok(Vec::new());
        }
        cmd.arg("COUNT").arg(limit);
        self.read_entries(&cmd).await
    }

    async fn get(
        &self,
        stream: &str,
        id: &str,
        source: Option<&str>,
    ) -> Result<Option<StoredEvent>, StoreError> {
        check_name("stream", stream)?;
        let keys = Keys::new(stream);
        let positions: Option<String> = redis::cmd("HGET")
            .arg(keys.ids())
            .arg(id)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        // Oldest first; more than one only if several sources used this id.
        for position in positions.as_deref().unwrap_or("").split_ascii_whitespace() {
            let Some(event) = self.entry_at(&keys, position).await? else {
                continue;
            };
            if source.is_none_or(|source| event.event.source == source) {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    async fn subject_version(&self, stream: &str, subject: &str) -> Result<u64, StoreError> {
        check_name("stream", stream)?;
        let version: u64 = self
            .scripts
            .version
            .key(Keys::new(stream).subject(subject))
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(version)
    }

    async fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(STREAMS)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // A name not fit for Eddy was not put there by Eddy: skip rather than fail the list.
            if check_name("stream", &name).is_err() {
                tracing::warn!(stream = %name, "ignoring a malformed name in {STREAMS}");
                continue;
            }
            if let Some(info) = self.stream(&name).await? {
                out.push(info);
            }
        }
        Ok(out)
    }

    async fn stream(&self, stream: &str) -> Result<Option<StreamInfo>, StoreError> {
        check_name("stream", stream)?;
        let keys = Keys::new(stream);
        let (registered, length, first, last): (bool, u64, StreamRangeReply, StreamRangeReply) =
            redis::pipe()
                .atomic()
                .cmd("SISMEMBER")
                .arg(STREAMS)
                .arg(stream)
                .cmd("XLEN")
                .arg(keys.events())
                .cmd("XRANGE")
                .arg(keys.events())
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .cmd("XREVRANGE")
                .arg(keys.events())
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
        if !registered {
            return Ok(None);
        }
        let end =
            |reply: &StreamRangeReply| reply.ids.first().map(|e| parse_position(&e.id)).transpose();
        Ok(Some(StreamInfo {
            name: stream.to_string(),
            length,
            first: end(&first)?,
            last: end(&last)?,
        }))
    }

    async fn delete_stream(&self, stream: &str) -> Result<bool, StoreError> {
        check_name("stream", stream)?;
        let keys = Keys::new(stream);
        let existed: u64 = self
            .scripts
            .delete
            .key(keys.events())
            .key(keys.ids())
            .key(keys.subjects())
            .key(keys.checkpoints())
            .key(STREAMS)
            .arg(stream)
            .arg(keys.subject_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(existed == 1)
    }

    async fn trim(&self, stream: &str, trim: Trim) -> Result<Trimmed, StoreError> {
        check_name("stream", stream)?;
        let keys = Keys::new(stream);
        let (mode, value) = match trim {
            Trim::MaxLen(keep) => ("maxlen", keep),
            Trim::MaxAge(age) => ("maxage", age.as_millis() as u64),
        };
        let mut total = Trimmed::default();
        // Step by step: each step is atomic and safe on its own, and Redis serves other
        // clients between steps.
        loop {
            let (removed, held): (u64, u64) = self
                .scripts
                .trim
                .key(keys.events())
                .key(keys.ids())
                .arg(mode)
                .arg(value)
                .arg(TRIM_STEP)
                .arg(keys.subject_prefix())
                .invoke_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
            total.removed += removed;
            total.held_by_groups |= held == 1;
            if held == 1 || removed < TRIM_STEP {
                return Ok(total);
            }
        }
    }

    async fn create_group(
        &self,
        stream: &str,
        group: &str,
        start: GroupStart,
    ) -> Result<bool, StoreError> {
        groups::create(self, stream, group, start).await
    }

    async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        groups::read(self, stream, group, consumer, limit, block).await
    }

    async fn ack(
        &self,
        stream: &str,
        group: &str,
        positions: &[Position],
    ) -> Result<u64, StoreError> {
        groups::ack(self, stream, group, positions).await
    }

    async fn pending(
        &self,
        stream: &str,
        group: &str,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        groups::pending(self, stream, group, limit).await
    }

    async fn claim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        groups::claim(self, stream, group, consumer, min_idle, limit).await
    }

    async fn claim_from(
        &self,
        stream: &str,
        group: &str,
        owner: &str,
        consumer: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        groups::claim_from(self, stream, group, owner, consumer, limit).await
    }

    async fn remove_consumer(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
    ) -> Result<u64, StoreError> {
        groups::remove_consumer(self, stream, group, consumer).await
    }

    async fn reap_consumers(
        &self,
        stream: &str,
        group: &str,
        idle: Duration,
    ) -> Result<Vec<String>, StoreError> {
        groups::reap_consumers(self, stream, group, idle).await
    }

    async fn save_checkpoint(
        &self,
        stream: &str,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        check_name("stream", stream)?;
        check_name("checkpoint", name)?;
        redis::cmd("HSET")
            .arg(Keys::new(stream).checkpoints())
            .arg(name)
            .arg(position.to_string())
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(redis_error)
    }

    async fn checkpoint(&self, stream: &str, name: &str) -> Result<Option<Position>, StoreError> {
        check_name("stream", stream)?;
        let position: Option<String> = redis::cmd("HGET")
            .arg(Keys::new(stream).checkpoints())
            .arg(name)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        position.as_deref().map(parse_position).transpose()
    }

    async fn commit(&self, commit: Commit) -> Result<Vec<Vec<Appended>>, StoreError> {
        commit.check()?;
        self.run_commit(commit).await
    }

    async fn load_state(
        &self,
        projection: &str,
        subject: &str,
    ) -> Result<Option<SavedState>, StoreError> {
        check_name("projection", projection)?;
        self.state(projection, subject).await
    }

    async fn list_states(
        &self,
        projection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        check_name("projection", projection)?;
        self.state_subjects(projection, after, limit).await
    }

    async fn nearest_snapshot(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        at: Position,
    ) -> Result<Option<SavedState>, StoreError> {
        check_name("projection", projection)?;
        crate::store::commit::check_plugin_hash(plugin)?;
        self.snapshot_at(projection, subject, plugin, at).await
    }

    async fn clock_ms(&self) -> Result<u64, StoreError> {
        // Redis runs one command at a time, and XADD `*` takes its ids from this clock.
        let (seconds, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(seconds * 1000 + micros / 1000)
    }

    async fn nearest_snapshot_by_time(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        time: i64,
    ) -> Result<Option<SavedState>, StoreError> {
        check_name("projection", projection)?;
        crate::store::commit::check_plugin_hash(plugin)?;
        self.snapshot_by_time(projection, subject, plugin, time)
            .await
    }

    async fn delete_projection(&self, projection: &str) -> Result<u64, StoreError> {
        check_name("projection", projection)?;
        self.drop_projection(projection).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        check_name("lease", name)?;
        check_owner(owner)?;
        let ttl = ttl_ms(ttl)?;
        self.take_lease(name, owner, ttl).await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        check_name("lease", name)?;
        check_owner(owner)?;
        self.give_up_lease(name, owner).await
    }

    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        self.live_leases(prefix).await
    }
}

#[cfg(test)]
mod tests {
    use super::{check_layout, check_version};

    #[test]
    fn data_in_another_layout_is_refused() {
        assert!(check_layout("2").is_ok());
        let refused = check_layout("1").unwrap_err().to_string();
        assert!(refused.contains("layout 1"), "{refused}");
    }

    #[test]
    fn redis_older_than_7_is_refused() {
        assert!(check_version("# Server\r\nredis_version:7.0.15\r\n").is_ok());
        assert!(check_version("redis_version:8.2.1\r\n").is_ok());
        assert!(check_version("redis_version:6.2.14\r\n").is_err());
    }
}
