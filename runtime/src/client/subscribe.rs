//! Subscribing from Rust code: events of some streams (optionally of some types) delivered
//! as an async [`Stream`] of [`Delivery`]s, each with its acknowledgement, plus a channel of
//! the errors met on the way.
//!
//! With a consumer group, delivery is at-least-once and shared: each event goes to one
//! consumer of the group and stays pending until [`Delivery::ack`]; an event left
//! unacknowledged for `claim_idle` (its consumer crashed, or forgot) is delivered again, to
//! whichever consumer of the group claims it first. Without a group, the subscription simply
//! follows the streams from its start position, and acknowledging does nothing.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::ClientError;
use crate::event::{Position, TypePattern};
use crate::store::{Direction, EventStore, GroupStart, Read, StoreError, StoredEvent};

/// What to subscribe to, and how. Start with [`Subscribe::to`] and chain the options.
#[derive(Debug, Clone)]
pub struct Subscribe {
    pub(super) streams: Vec<String>,
    types: Vec<TypePattern>,
    group: Option<String>,
    consumer: Option<String>,
    start: GroupStart,
    block: Duration,
    batch: usize,
    claim_idle: Duration,
}

impl Subscribe {
    /// The events of `stream`, every type, no group, from the beginning.
    pub fn to(stream: impl Into<String>) -> Self {
        Self {
            streams: vec![stream.into()],
            types: Vec::new(),
            group: None,
            consumer: None,
            start: GroupStart::Beginning,
            block: Duration::from_secs(1),
            batch: 100,
            claim_idle: Duration::from_secs(30),
        }
    }

    /// Also the events of `stream` (each stream keeps its order; streams interleave).
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.streams.push(stream.into());
        self
    }

    /// Only events whose type matches one of these glob patterns (`order.*`, `*.*.delete`).
    /// In a group, events of other types are acknowledged without being delivered.
    pub fn types<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types = patterns
            .into_iter()
            .map(|p| TypePattern::new(p.into()))
            .collect();
        self
    }

    /// Consume through this consumer group (created if it does not exist, at `start`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// This consumer's name in the group (default: unique per subscription). A stable name
    /// lets a restarted process be the same consumer.
    pub fn consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = Some(consumer.into());
        self
    }

    /// Where to start: for a group, where a *new* group starts (an existing group goes on
    /// from where it is); without a group, where this subscription starts.
    pub fn start(mut self, start: GroupStart) -> Self {
        self.start = start;
        self
    }

    /// How long one read waits for new events before reading again (default 1 s).
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// The most events one read fetches (default 100).
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.clamp(1, crate::store::MAX_READ);
        self
    }

    /// How long a delivered event may stay unacknowledged before it is delivered again
    /// (groups only; default 30 s).
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
        self
    }

    fn wants(&self, ty: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|p| p.matches(ty))
    }
}

/// One delivered event, with the stream it came from and its acknowledgement.
#[derive(Debug)]
pub struct Delivery {
    /// The stream the event was read from.
    pub stream: String,
    /// The event and its position.
    pub event: StoredEvent,
    ack: Option<Ack>,
}

/// What acknowledging a delivery needs.
#[derive(Clone)]
struct Ack {
    store: Arc<dyn EventStore>,
    group: String,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack").field("group", &self.group).finish()
    }
}

impl Delivery {
    /// The event's position in its stream.
    pub fn position(&self) -> Position {
        self.event.position
    }

    /// Acknowledges the event: its group will not deliver it again. Without a group this
    /// does nothing. Acknowledging twice is harmless.
    pub async fn ack(&self) -> Result<(), ClientError> {
        if let Some(ack) = &self.ack {
            ack.store
                .ack(&self.stream, &ack.group, &[self.event.position])
                .await?;
        }
        Ok(())
    }
}

/// A running subscription: a [`Stream`] of [`Delivery`]s. Dropping it (or
/// [`Subscription::close`]) stops its reads; unacknowledged deliveries stay pending in the
/// group.
pub struct Subscription {
    deliveries: mpsc::Receiver<Delivery>,
    errors: Option<mpsc::UnboundedReceiver<ClientError>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    consumer: String,
}

impl Subscription {
    /// Starts the reader tasks. `closing` is the owning handle's close signal.
    pub(super) fn start(
        store: Arc<dyn EventStore>,
        options: Subscribe,
        closing: watch::Receiver<bool>,
    ) -> Self {
        let consumer = options
            .consumer
            .clone()
            .unwrap_or_else(super::unique_consumer_name);
        let (deliveries_tx, deliveries) = mpsc::channel(options.batch);
        let (errors_tx, errors) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let options = Arc::new(options);
        let tasks = options
            .streams
            .iter()
            .map(|stream| {
                let reader = Reader {
                    store: store.clone(),
                    options: options.clone(),
                    stream: stream.clone(),
                    consumer: consumer.clone(),
                    deliveries: deliveries_tx.clone(),
                    errors: errors_tx.clone(),
                    stop: stop_rx.clone(),
                    closing: closing.clone(),
                };
                tokio::spawn(reader.run())
            })
            .collect();
        Self {
            deliveries,
            errors: Some(errors),
            stop,
            tasks,
            consumer,
        }
    }

    /// The errors the subscription meets (a store that cannot be reached, a failed
    /// acknowledgement of skipped events). It keeps going after each, retrying; take this
    /// once and watch it to know. `None` if already taken.
    pub fn errors(&mut self) -> Option<mpsc::UnboundedReceiver<ClientError>> {
        self.errors.take()
    }

    /// This subscription's consumer name in its group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Stops reading and waits (at most [`crate::subscription::STOP_TIMEOUT`]) for the
    /// reader tasks to end. Deliveries not acknowledged stay pending in the group.
    pub async fn close(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(crate::subscription::STOP_TIMEOUT, task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Stream for Subscription {
    type Item = Delivery;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.deliveries.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The task reading one stream for a subscription.
struct Reader {
    store: Arc<dyn EventStore>,
    options: Arc<Subscribe>,
    stream: String,
    consumer: String,
    deliveries: mpsc::Sender<Delivery>,
    errors: mpsc::UnboundedSender<ClientError>,
    stop: watch::Receiver<bool>,
    closing: watch::Receiver<bool>,
}

/// Why a reader ends.
struct Stopped;

impl Reader {
    async fn run(mut self) {
        let _ = match self.options.group.clone() {
            Some(group) => self.consume_group(&group).await,
            None => self.follow().await,
        };
    }

    /// Runs `future` unless the subscription stops (or its handle closes) first.
    async fn unless_stopped<T>(
        &mut self,
        future: impl std::future::Future<Output = T>,
    ) -> Result<T, Stopped> {
        let mut stop = self.stop.clone();
        let mut closing = self.closing.clone();
        tokio::select! {
            value = future => Ok(value),
            _ = stop.wait_for(|s| *s) => Err(Stopped),
            _ = closing.wait_for(|c| *c) => Err(Stopped),
        }
    }

    /// Reports an error and waits a moment before the caller tries again.
    async fn setback(&mut self, error: StoreError) -> Result<(), Stopped> {
        let _ = self.errors.send(error.into());
        self.unless_stopped(tokio::time::sleep(Duration::from_secs(1)))
            .await
    }

    async fn deliver(&mut self, stored: StoredEvent, ack: Option<Ack>) -> Result<(), Stopped> {
        let delivery = Delivery {
            stream: self.stream.clone(),
            event: stored,
            ack,
        };
        let sender = self.deliveries.clone();
        match self.unless_stopped(sender.send(delivery)).await? {
            Ok(()) => Ok(()),
            // The subscription was dropped.
            Err(_) => Err(Stopped),
        }
    }

    async fn consume_group(&mut self, group: &str) -> Result<(), Stopped> {
        let store = self.store.clone();
        let options = self.options.clone();
        let stream = self.stream.clone();
        let consumer = self.consumer.clone();
        while let Err(error) = self
            .unless_stopped(store.create_group(&stream, group, options.start))
            .await?
        {
            self.setback(error).await?;
        }
        let ack = Ack {
            store: store.clone(),
            group: group.to_string(),
        };
        let mut last_claim: Option<tokio::time::Instant> = None;
        loop {
            let mut entries = Vec::new();
            // Entries left unacknowledged too long (this consumer's too) are taken over.
            let claim_every = (options.claim_idle / 2).max(Duration::from_millis(100));
            if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
                last_claim = Some(tokio::time::Instant::now());
                let claim =
                    store.claim(&stream, group, &consumer, options.claim_idle, options.batch);
                match self.unless_stopped(claim).await? {
                    Ok(claimed) => entries = claimed,
                    Err(error) => self.setback(error).await?,
                }
            }
            if entries.is_empty() {
                let read = store.read_group(
                    &stream,
                    group,
                    &consumer,
                    options.batch,
                    Some(options.block),
                );
                entries = match self.unless_stopped(read).await? {
                    Ok(entries) => entries,
                    Err(StoreError::GroupNotFound { .. }) => {
                        // The stream was deleted and made again: so is the group.
                        let create = store.create_group(&stream, group, options.start);
                        let _ = self.unless_stopped(create).await?;
                        continue;
                    }
                    Err(error) => {
                        self.setback(error).await?;
                        continue;
                    }
                };
            }
            let mut skipped: Vec<Position> = Vec::new();
            for stored in entries {
                if options.wants(&stored.event.ty) {
                    self.deliver(stored, Some(ack.clone())).await?;
                } else {
                    skipped.push(stored.position);
                }
            }
            if !skipped.is_empty()
                && let Err(error) = store.ack(&stream, group, &skipped).await
            {
                // They stay pending and come back through a claim: nothing is lost.
                let _ = self.errors.send(error.into());
            }
        }
    }

    async fn follow(&mut self) -> Result<(), Stopped> {
        let store = self.store.clone();
        let options = self.options.clone();
        let stream = self.stream.clone();
        let mut cursor = match options.start {
            GroupStart::Beginning => None,
            GroupStart::After(position) => Some(position),
            GroupStart::Now => loop {
                match self.unless_stopped(store.stream(&stream)).await? {
                    Ok(info) => break info.and_then(|i| i.last),
                    Err(error) => self.setback(error).await?,
                }
            },
        };
        // Without a group there is no blocking read: poll, backing off up to `block`.
        let mut idle = Duration::from_millis(5);
        loop {
            let read = Read {
                from: cursor,
                direction: Direction::Forward,
                limit: options.batch,
                subject: None,
            };
            let page = match self.unless_stopped(store.read(&stream, read)).await? {
                Ok(page) => page,
                Err(error) => {
                    self.setback(error).await?;
                    continue;
                }
            };
            if page.is_empty() {
                self.unless_stopped(tokio::time::sleep(idle)).await?;
                idle = (idle * 2).min(options.block);
                continue;
            }
            idle = Duration::from_millis(5);
            for stored in page {
                cursor = Some(stored.position);
                if options.wants(&stored.event.ty) {
                    self.deliver(stored, None).await?;
                }
            }
        }
    }
}
