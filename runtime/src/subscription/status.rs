//! The processing status of one event in one subscription, and waiting for it to settle.
//!
//! How a status is derived is documented on [`ProcessingStatus`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::dead_letter::{DeadLetter, dlq_stream, resolved_projection};
use super::reducer_worker::{lease_name, partition_of};
use super::{SubscriptionError, SubscriptionHost};
use crate::event::Position;
use crate::plugin::PluginKind;
use crate::store::{StoreError, StoredEvent};

/// How many pending entries of a handler group are looked through for the event.
const PENDING_SCAN: usize = 10_000;

/// Where one event is in one subscription's processing.
///
/// Nothing is written per event to answer this: the status is derived from what the store
/// and this process already keep, in this order (the first that applies wins).
///
/// 1. **dead-lettered** — the subscription's dead-letter stream (`<name>.dlq`) holds the
///    event (looked up by its `source` + `id`, checked against the stream and position it was
///    read from) and no redrive of it has succeeded. A dead letter whose redrive succeeded
///    counts as **completed**.
/// 2. **failed** — a worker of this process is retrying the event after a failure (the
///    attempts so far and the last error are kept in memory until it succeeds or is
///    dead-lettered).
/// 3. **processing** — a worker of this process has the event in the batch it is running,
///    or (handlers) the event is pending in the consumer group: delivered to a consumer and
///    not yet acknowledged (`deliveries` says how often it was delivered).
/// 4. **completed** — the event is at or before the subscription's checkpoint on the stream
///    (handlers: the consumer group's; reducers: the checkpoint of the partition its subject
///    belongs to). Events the subscription skips (other types, dropped by its filter) count as
///    completed once passed.
/// 5. **pending** — none of the above: not reached yet.
///
/// Limits of the derivation: `failed` and in-flight `processing` are known only to the process
/// running the worker (another process's retries show as `processing` for handlers and
/// `pending` for reducers); when several processes share a handler group, the checkpoint is
/// the last one committed, so an event acknowledged by one process may show as `pending`
/// until a later commit passes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum ProcessingStatus {
    /// Not reached yet.
    Pending,
    /// Being processed: in a batch in flight, or delivered to a consumer and not yet
    /// acknowledged.
    Processing {
        /// How many times the consumer group delivered it (handlers; absent when unknown).
        #[serde(skip_serializing_if = "Option::is_none")]
        deliveries: Option<u64>,
    },
    /// Processed (or deliberately skipped by type or filter), and the result committed.
    Completed,
    /// Failed and being retried.
    Failed {
        /// The last error.
        error: String,
        /// Attempts so far.
        attempts: u32,
    },
    /// Given up on: it is in the dead-letter stream.
    DeadLettered {
        /// The error of the last attempt.
        error: String,
        /// Attempts made.
        attempts: i64,
        /// Its position in the dead-letter stream (what a redrive names).
        dlq_position: Position,
    },
}

impl ProcessingStatus {
    /// Whether processing is over: completed or dead-lettered. Nothing changes after that
    /// unless a dead letter is redriven.
    pub fn is_settled(&self) -> bool {
        matches!(self, Self::Completed | Self::DeadLettered { .. })
    }
}

/// The statuses of one event in the subscriptions asked about, by subscription name.
pub type EventStatuses = BTreeMap<String, ProcessingStatus>;

impl SubscriptionHost {
    /// Running subscriptions that read `stream`, by name.
    pub async fn subscriptions_of(&self, stream: &str) -> Vec<String> {
        self.running
            .lock()
            .await
            .values()
            .filter(|r| r.spec.streams.iter().any(|s| s == stream))
            .map(|r| r.spec.name.clone())
            .collect()
    }

    /// Checks that every name is a running subscription reading `stream`.
    pub async fn check_subscribed(
        &self,
        stream: &str,
        names: &[String],
    ) -> Result<(), SubscriptionError> {
        let running = self.running.lock().await;
        for name in names {
            let r = running
                .get(name)
                .ok_or_else(|| SubscriptionError::NotFound(name.clone()))?;
            if !r.spec.streams.iter().any(|s| s == stream) {
                return Err(SubscriptionError::NotSubscribed {
                    subscription: name.clone(),
                    stream: stream.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The status of the event `stored` of `stream` in subscription `name` (see
    /// [`ProcessingStatus`] for how it is derived).
    pub async fn event_status(
        &self,
        name: &str,
        stream: &str,
        stored: &StoredEvent,
    ) -> Result<ProcessingStatus, SubscriptionError> {
        self.check_subscribed(stream, &[name.to_string()]).await?;
        let (spec, kind, stats) = {
            let running = self.running.lock().await;
            let r = running
                .get(name)
                .ok_or_else(|| SubscriptionError::NotFound(name.to_string()))?;
            (r.spec.clone(), r.plugin.kind(), r.stats.clone())
        };
        let position = stored.position;
        let event = &stored.event;
        if let Some(letter) = self
            .store
            .get(&dlq_stream(name), &event.id, Some(&event.source))
            .await?
        {
            let letter = DeadLetter::from_stored(letter);
            if letter.stream == stream && letter.original_position == Some(position) {
                let resolved = self
                    .store
                    .load_state(&resolved_projection(name), &letter.position.to_string())
                    .await?
                    .is_some();
                return Ok(if resolved {
                    ProcessingStatus::Completed
                } else {
                    ProcessingStatus::DeadLettered {
                        error: letter.error,
                        attempts: letter.attempts,
                        dlq_position: letter.position,
                    }
                });
            }
        }
        let progress = &stats.in_progress;
        if let Some(failing) = progress.failing(stream, position) {
            return Ok(ProcessingStatus::Failed {
                error: failing.error,
                attempts: failing.attempts,
            });
        }
        let partition = (kind == PluginKind::Reducer)
            .then(|| partition_of(event.subject.as_deref().unwrap_or(""), spec.partitions));
        if progress.in_flight(stream, position, partition) {
            return Ok(ProcessingStatus::Processing { deliveries: None });
        }
        let checkpoint = match partition {
            Some(partition) => {
                self.store
                    .checkpoint(stream, &lease_name(name, partition))
                    .await?
            }
            None => {
                let pending = match self.store.pending(stream, spec.group(), PENDING_SCAN).await {
                    Ok(pending) => pending,
                    // The worker has not made its group yet: nothing was delivered.
                    Err(StoreError::GroupNotFound { .. }) => Vec::new(),
                    Err(error) => return Err(error.into()),
                };
                if let Some(entry) = pending.iter().find(|e| e.position == position) {
                    return Ok(ProcessingStatus::Processing {
                        deliveries: Some(entry.deliveries),
                    });
                }
                self.store.checkpoint(stream, spec.group()).await?
            }
        };
        Ok(if checkpoint.is_some_and(|cp| position <= cp) {
            ProcessingStatus::Completed
        } else {
            ProcessingStatus::Pending
        })
    }

    /// The status of `stored` in each of `names` (all subscriptions reading `stream` when
    /// `None`).
    pub async fn event_statuses(
        &self,
        stream: &str,
        stored: &StoredEvent,
        names: Option<&[String]>,
    ) -> Result<EventStatuses, SubscriptionError> {
        let names = match names {
            Some(names) => names.to_vec(),
            None => self.subscriptions_of(stream).await,
        };
        let mut statuses = EventStatuses::new();
        for name in names {
            let status = self.event_status(&name, stream, stored).await?;
            statuses.insert(name, status);
        }
        Ok(statuses)
    }

    /// Waits until every event of `events` (appended to `stream`) is settled — completed or
    /// dead-lettered — in each subscription of `names`, or until `timeout`. Returns each
    /// event's statuses (as they were last seen) and whether the time ran out first.
    pub async fn wait_for(
        &self,
        stream: &str,
        events: &[StoredEvent],
        names: &[String],
        timeout: Duration,
    ) -> Result<(Vec<EventStatuses>, bool), SubscriptionError> {
        self.check_subscribed(stream, names).await?;
        let deadline = Instant::now() + timeout;
        let mut statuses: Vec<EventStatuses> = vec![EventStatuses::new(); events.len()];
        // Polls the store: cheap next to processing, and nothing is added to the hot path.
        let mut pause = Duration::from_millis(5);
        loop {
            let mut settled = true;
            for (stored, seen) in events.iter().zip(statuses.iter_mut()) {
                for name in names {
                    if seen.get(name).is_some_and(ProcessingStatus::is_settled) {
                        continue;
                    }
                    let status = self.event_status(name, stream, stored).await?;
                    settled &= status.is_settled();
                    seen.insert(name.clone(), status);
                }
            }
            if settled {
                return Ok((statuses, false));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok((statuses, true));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}
