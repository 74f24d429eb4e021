//! Commits (one `commit.lua` run) and reducer states in Redis.

use redis::ScriptInvocation;

use super::keys::{self, Keys, STREAMS};
use super::{RedisStore, redis_error};
use crate::event::Position;
use crate::store::error::parse_position;
use crate::store::{Appended, Commit, SavedState, StoreError};

/// A script invocation that counts its keys, so arguments can point at them (Lua indexes
/// KEYS from 1).
struct Invocation<'a> {
    inner: ScriptInvocation<'a>,
    keys: usize,
}

impl Invocation<'_> {
    fn key(&mut self, key: String) -> usize {
        self.inner.key(key);
        self.keys += 1;
        self.keys
    }

    fn arg(&mut self, arg: impl redis::ToRedisArgs) {
        self.inner.arg(arg);
    }
}

impl RedisStore {
    /// Applies a checked commit with `commit.lua`.
    pub(super) async fn run_commit(
        &self,
        commit: Commit,
    ) -> Result<Vec<Vec<Appended>>, StoreError> {
        let mut inv = Invocation {
            inner: self.scripts.commit.prepare_invoke(),
            keys: 0,
        };
        match &commit.fence {
            Some(fence) => {
                inv.arg(keys::lease_value(fence.token, &fence.owner));
                inv.key(keys::lease(&fence.lease));
            }
            None => inv.arg(""),
        }

        inv.arg(commit.appends.len());
        for (stream, events) in &commit.appends {
            let stream_keys = Keys::new(stream);
            let (subjects, subject_numbers) = super::distinct_subjects(events);
            inv.arg(stream);
            inv.arg(events.len());
            inv.arg(subjects.len());
            inv.arg(&subjects);
            inv.key(stream_keys.events());
            inv.key(stream_keys.ids());
            inv.key(stream_keys.subjects());
            for subject in &subjects {
                inv.key(stream_keys.subject(subject));
            }
            for event in events {
                super::push_event(&mut inv.inner, event, &subject_numbers);
            }
        }

        inv.arg(commit.acks.len());
        for ack in &commit.acks {
            inv.key(Keys::new(&ack.stream).events());
            inv.arg(&ack.group);
            inv.arg(ack.positions.len());
            for position in &ack.positions {
                inv.arg(position.to_string());
            }
        }

        inv.arg(commit.states.len());
        for write in &commit.states {
            inv.key(keys::projection_states(&write.projection));
            inv.key(keys::projection_subjects(&write.projection));
            inv.arg(&write.subject);
            inv.arg(write.state.encode());
        }

        inv.arg(commit.snapshots.len());
        for write in &commit.snapshots {
            let snapshot = &write.snapshot;
            let member = keys::snapshot_member(&snapshot.plugin, snapshot.position);
            inv.key(keys::snapshot_index(&write.projection, &write.subject));
            inv.key(keys::snapshot_bodies(&write.projection, &write.subject));
            inv.arg(&snapshot.plugin);
            inv.arg(member);
            inv.arg(snapshot.encode());
            inv.arg(write.keep);
        }

        inv.arg(commit.checkpoints.len());
        for (stream, name, position) in &commit.checkpoints {
            inv.key(Keys::new(stream).checkpoints());
            inv.arg(name);
            inv.arg(position.to_string());
        }
        inv.key(STREAMS.to_string());

        let reply: Vec<String> = inv
            .inner
            .invoke_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        match reply.first().map(String::as_str) {
            Some("ok") => {}
            Some("lease-lost") => {
                let lease = commit.fence.map(|f| f.lease).unwrap_or_default();
                return Err(StoreError::LeaseLost { lease });
            }
            Some("nogroup") => {
                let ack = reply
                    .get(1)
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| commit.acks.get(i.wrapping_sub(1)))
                    .ok_or_else(|| unexpected(&reply))?;
                return Err(StoreError::GroupNotFound {
                    stream: ack.stream.clone(),
                    group: ack.group.clone(),
                });
            }
            _ => return Err(unexpected(&reply)),
        }

        let mut pairs = reply[1..].chunks_exact(2);
        let mut results = Vec::with_capacity(commit.appends.len());
        for (_, events) in &commit.appends {
            let mut appended = Vec::with_capacity(events.len());
            for event in events {
                let pair = pairs.next().ok_or_else(|| unexpected(&reply))?;
                appended.push(Appended {
                    id: event.id.clone(),
                    position: parse_position(&pair[0])?,
                    duplicate: pair[1] == "1",
                });
            }
            results.push(appended);
        }
        Ok(results)
    }

    /// One subject's saved state.
    pub(super) async fn state(
        &self,
        projection: &str,
        subject: &str,
    ) -> Result<Option<SavedState>, StoreError> {
        let value: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(keys::projection_states(projection))
            .arg(subject)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        value.as_deref().map(SavedState::decode).transpose()
    }

    /// Up to `limit` subjects after `after`, in byte order.
    pub(super) async fn state_subjects(
        &self,
        projection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let from = after.map_or_else(|| "-".to_string(), |a| format!("({a}"));
        redis::cmd("ZRANGEBYLEX")
            .arg(keys::projection_subjects(projection))
            .arg(from)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)
    }

    /// The latest snapshot of a subject by one plugin hash at or before `at`.
    pub(super) async fn snapshot_at(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        at: Position,
    ) -> Result<Option<SavedState>, StoreError> {
        let index = keys::snapshot_index(projection, subject);
        let bodies = keys::snapshot_bodies(projection, subject);
        // Two steps, not atomic: a commit may prune the member found in between; then look
        // again (pruning only removes older snapshots, so the next look finds a newer one).
        for _ in 0..3 {
            let found: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
                .arg(&index)
                .arg(format!("[{}", keys::snapshot_member(plugin, at)))
                .arg(format!("[{plugin}:"))
                .arg("LIMIT")
                .arg(0)
                .arg(1)
                .query_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
            let Some(member) = found.into_iter().next() else {
                return Ok(None);
            };
            let body: Option<Vec<u8>> = redis::cmd("HGET")
                .arg(&bodies)
                .arg(&member)
                .query_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
            if let Some(body) = body {
                return SavedState::decode(&body).map(Some);
            }
        }
        Ok(None)
    }

    /// The latest snapshot of a subject by one plugin hash whose latest event time is at or
    /// before `time` (one with no time qualifies): reads that hash's snapshots, at most
    /// `snapshots_kept` of them, newest first.
    pub(super) async fn snapshot_by_time(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        time: i64,
    ) -> Result<Option<SavedState>, StoreError> {
        let index = keys::snapshot_index(projection, subject);
        let bodies = keys::snapshot_bodies(projection, subject);
        let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(&index)
            .arg(format!("[{}", keys::snapshot_member(plugin, Position::MAX)))
            .arg(format!("[{plugin}:"))
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        if members.is_empty() {
            return Ok(None);
        }
        // A member pruned between the two reads has no body: it is skipped (a newer one
        // replaced it, and the next query sees that).
        let found: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&bodies)
            .arg(&members)
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        for body in found.into_iter().flatten() {
            let snapshot = SavedState::decode(&body)?;
            if snapshot.latest_time.is_none_or(|t| t <= time) {
                return Ok(Some(snapshot));
            }
        }
        Ok(None)
    }

    /// Deletes a projection's keys, snapshots included; how many states it had.
    pub(super) async fn drop_projection(&self, projection: &str) -> Result<u64, StoreError> {
        // Snapshots are only written with a state, so the state subjects name every one.
        let mut after: Option<String> = None;
        loop {
            let page = self
                .state_subjects(projection, after.as_deref(), 500)
                .await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let mut unlink = redis::cmd("UNLINK");
            for subject in &page {
                unlink
                    .arg(keys::snapshot_index(projection, subject))
                    .arg(keys::snapshot_bodies(projection, subject));
            }
            let _: u64 = unlink
                .query_async(&mut self.conn())
                .await
                .map_err(redis_error)?;
            after = Some(last);
        }
        let states = keys::projection_states(projection);
        let (count, _): (u64, u64) = redis::pipe()
            .atomic()
            .cmd("HLEN")
            .arg(&states)
            .cmd("UNLINK")
            .arg(&states)
            .arg(keys::projection_subjects(projection))
            .query_async(&mut self.conn())
            .await
            .map_err(redis_error)?;
        Ok(count)
    }
}

fn unexpected(reply: &[String]) -> StoreError {
    StoreError::Corrupt(format!(
        "unexpected reply from the commit script: {:?}",
        reply.first()
    ))
}
