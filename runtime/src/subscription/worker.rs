//! What every worker of a subscription shares, and the commit step with its retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::dead_letter::resolved_projection;
use super::stats::Stats;
use super::{Start, SubscriptionSpec};
use crate::event::Position;
use crate::store::{Commit, EventStore, GroupStart, SavedState, StateWrite, StoreError};

/// The context of one worker task.
#[derive(Clone)]
pub(crate) struct WorkerContext {
    pub store: Arc<dyn EventStore>,
    pub spec: Arc<SubscriptionSpec>,
    /// This process's consumer name (also the lease owner).
    pub consumer: String,
    /// Set when the subscription stops; read by blocking plugin work.
    pub stop: Arc<AtomicBool>,
    /// The same signal for async waits.
    pub stop_rx: watch::Receiver<bool>,
    pub stats: Arc<Stats>,
    /// For `start = "now"`: each stream's last position when the subscription started.
    pub now_positions: Arc<HashMap<String, Option<Position>>>,
    /// Reducers: the live processes running this subscription, sorted (see `membership`).
    pub members: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WorkerContext {
    /// Whether this process should hold `partition`: partitions are dealt out round-robin over
    /// the live members, so that every process gets its share; until membership is known, any
    /// process may take any free partition.
    pub(crate) fn should_own(&self, partition: u32) -> bool {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        if members.is_empty() || !members.contains(&self.consumer) {
            return true;
        }
        members[partition as usize % members.len()] == self.consumer
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits `duration` or until the subscription stops; true if it stopped.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        let mut stop = self.stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.stopping(),
            _ = stop.wait_for(|stopped| *stopped) => true,
        }
    }

    /// Runs `future` unless the subscription stops first (then `None`).
    pub(crate) async fn until_stopped<T>(
        &self,
        future: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let mut stop = self.stop_rx.clone();
        tokio::select! {
            value = future => Some(value),
            _ = stop.wait_for(|stopped| *stopped) => None,
        }
    }
}

/// The group start for a subscription's start setting.
pub(crate) fn group_start(start: Start) -> GroupStart {
    match start {
        Start::Beginning => GroupStart::Beginning,
        Start::Now => GroupStart::Now,
        Start::After(position) => GroupStart::After(position),
    }
}

/// Marks a redriven dead letter as resolved (in the same commit as its processing).
pub(crate) fn resolved_marker(subscription: &str, dlq_position: Position) -> StateWrite {
    StateWrite {
        projection: resolved_projection(subscription),
        subject: dlq_position.to_string(),
        state: SavedState {
            state: b"redriven".to_vec(),
            stream: super::dead_letter::dlq_stream(subscription),
            position: dlq_position,
            plugin: String::new(),
            events: 1,
            latest_time: None,
        },
    }
}

/// Commits, retrying while the store is unavailable (a retried commit is safe: appends are
/// deduplicated and acks are idempotent). Returns false if the subscription stopped first,
/// in which case nothing of the batch may have been written and it will be processed again.
pub(crate) async fn commit_with_retry(ctx: &WorkerContext, commit: Commit) -> bool {
    matches!(commit_with_retry_fenced(ctx, commit).await, Ok(true))
}

/// Like [`commit_with_retry`], but reports a lost lease (and other permanent errors).
pub(crate) async fn commit_with_retry_fenced(
    ctx: &WorkerContext,
    commit: Commit,
) -> Result<bool, StoreError> {
    let mut wait = Duration::from_millis(50);
    loop {
        match ctx.store.commit(commit.clone()).await {
            Ok(_) => return Ok(true),
            Err(error) if error.is_transient() => {
                ctx.stats.set_error(&format!("retrying: {error}"));
            }
            Err(error) => {
                ctx.stats.set_error(&error.to_string());
                tracing::error!(subscription = %ctx.spec.name, "commit failed: {error}");
                return Err(error);
            }
        }
        if ctx.pause(wait).await {
            return Ok(false);
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
