//! Eddy as a library: the event store, subscriptions and processing status from Rust code,
//! without HTTP.
//!
//! [`Eddy`] is a cheap-to-clone handle on one store, opened by URL — the embedded store
//! needs nothing set up, Redis Streams is one URL away. It offers what services sharing an
//! event store need: publish (one event or a batch, optionally with the subject's expected
//! version, optionally waiting until named plugin subscriptions have processed it), subscribe
//! ([`Subscribe`]: streams, type patterns, consumer group and name, start position, block
//! time) as an async [`Stream`](futures_util::Stream) of [`Delivery`]s with an error channel,
//! read history from a position, consumer groups, checkpoints, plugin subscriptions and
//! each event's [processing status](crate::subscription::ProcessingStatus).
//!
//! ```
//! use eddy::client::{Eddy, Subscribe};
//! use eddy::event::CloudEvent;
//! use futures_util::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("embedded:{}", dir.path().display());
//! let eddy = Eddy::open(&url).await?; // e.g. "embedded:./eddy-data" or "redis://127.0.0.1:6379/0"
//!
//! let created = CloudEvent::new("e-1", "/shop", "order.created").with_subject("o-1");
//! let appended = eddy.publish("orders", created).await?;
//! assert!(!appended.duplicate);
//!
//! let mut orders = eddy.subscribe(Subscribe::to("orders").group("billing").types(["order.*"]));
//! let delivery = orders.next().await.expect("one event");
//! assert_eq!(delivery.event.event.id, "e-1");
//! delivery.ack().await?;
//!
//! eddy.close().await;
//! # Ok(())
//! # }
//! ```

mod error;
mod history;
mod subscribe;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::watch;

pub use error::ClientError;
pub use subscribe::{Delivery, Subscribe, Subscription};

use crate::api::ApiConfig;
use crate::event::{CloudEvent, Position};
use crate::plugin::{EngineOptions, PluginEngine};
use crate::store::{Append, Appended, EventStore, GroupStart, Read, StoredEvent};
use crate::subscription::{EventStatuses, SubscriptionHost, SubscriptionSpec};

/// A handle on an event store and the plugin subscriptions running on it. Clones share
/// everything; [`Eddy::close`] closes them all.
#[derive(Clone)]
pub struct Eddy {
    store: Arc<dyn EventStore>,
    host: Arc<SubscriptionHost>,
    closing: Arc<watch::Sender<bool>>,
}

/// A synchronous publish: the plugin subscriptions to wait for, and for how long.
#[derive(Debug, Clone)]
pub struct WaitFor {
    /// Names of running plugin subscriptions that read the stream.
    pub subscriptions: Vec<String>,
    /// How long to wait at most; the outcome then says which events are not settled.
    pub timeout: Duration,
}

impl WaitFor {
    /// Waits for these subscriptions, for at most `timeout`.
    pub fn new<I, S>(subscriptions: I, timeout: Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            subscriptions: subscriptions.into_iter().map(Into::into).collect(),
            timeout,
        }
    }
}

/// What a synchronous publish answers: each event's append result and its status in each
/// subscription waited for.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Per event, in batch order: where it was stored, and its status per subscription.
    pub events: Vec<(Appended, EventStatuses)>,
    /// Whether the wait ended before every event settled (completed or dead-lettered).
    pub timed_out: bool,
}

impl Eddy {
    /// Opens the store a URL names — `embedded:<directory>` (created if missing) or
    /// `redis://host:port/db` — with no plugin subscriptions running yet.
    pub async fn open(url: &str) -> Result<Self, ClientError> {
        let store = crate::store::open(url).await?;
        Ok(Self::with_store(store))
    }

    /// Like [`Eddy::open`], naming this process `consumer` in the consumer groups and leases
    /// of the plugin subscriptions it starts: a process restarted under the same name takes
    /// back at once the events it was handling when it died. No two processes running at the
    /// same time may share a name (see [`SubscriptionHost::with_consumer`]).
    pub async fn open_as(url: &str, consumer: &str) -> Result<Self, ClientError> {
        let store = crate::store::open(url).await?;
        let engine =
            PluginEngine::new(&EngineOptions::default()).expect("the default engine starts");
        let host = SubscriptionHost::new(store, engine, None).with_consumer(consumer)?;
        Ok(Self::with_host(Arc::new(host)))
    }

    /// A handle on a store opened already.
    pub fn with_store(store: Arc<dyn EventStore>) -> Self {
        // The default engine has no disk cache and nothing that can fail to set up.
        let engine =
            PluginEngine::new(&EngineOptions::default()).expect("the default engine starts");
        Self::with_host(Arc::new(SubscriptionHost::new(store, engine, None)))
    }

    /// A handle on the store of a subscription host set up already (with a plugins folder,
    /// a registry, a compiled-plugin cache).
    pub fn with_host(host: Arc<SubscriptionHost>) -> Self {
        let (closing, _) = watch::channel(false);
        Self {
            store: host.store().clone(),
            host,
            closing: Arc::new(closing),
        }
    }

    /// The store, for what this handle does not wrap.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The plugin subscriptions running on this store in this process.
    pub fn subscriptions(&self) -> &Arc<SubscriptionHost> {
        &self.host
    }

    fn check_open(&self) -> Result<(), ClientError> {
        if *self.closing.borrow() {
            Err(ClientError::Closed)
        } else {
            Ok(())
        }
    }

    /// Publishes one event. Publishing is idempotent on `source` + `id`: a second publish of
    /// the same event answers `duplicate` with the original position.
    pub async fn publish(&self, stream: &str, event: CloudEvent) -> Result<Appended, ClientError> {
        let mut appended = self.append(stream, Append::one(event)).await?;
        Ok(appended.remove(0))
    }

    /// Publishes a batch atomically: all of it or none of it.
    pub async fn publish_batch(
        &self,
        stream: &str,
        events: Vec<CloudEvent>,
    ) -> Result<Vec<Appended>, ClientError> {
        self.append(stream, Append::new(events)).await
    }

    /// Publishes as `append` says — with `Append::new(events).expecting(version)` only if
    /// their subject has had exactly `version` events; otherwise nothing is stored and it
    /// fails with [`crate::store::StoreError::VersionConflict`] carrying the current version.
    ///
    /// ```
    /// # use eddy::client::{ClientError, Eddy};
    /// # use eddy::event::CloudEvent;
    /// # use eddy::store::{Append, StoreError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let eddy = Eddy::open(&format!("embedded:{}", dir.path().display())).await?;
    /// let opened = CloudEvent::new("a-1", "/bank", "account.opened").with_subject("acc-1");
    /// eddy.append("accounts", Append::one(opened).expecting(0)).await?;
    ///
    /// let late = CloudEvent::new("a-2", "/bank", "account.opened").with_subject("acc-1");
    /// let refused = eddy.append("accounts", Append::one(late).expecting(0)).await;
    /// assert!(matches!(
    ///     refused,
    ///     Err(ClientError::Store(StoreError::VersionConflict { current: 1, .. }))
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn append(&self, stream: &str, append: Append) -> Result<Vec<Appended>, ClientError> {
        self.check_open()?;
        Ok(self.store.append(stream, append).await?)
    }

    /// Publishes, then waits until each subscription of `wait` has processed every event
    /// (completed or dead-lettered) or the timeout passes. The subscriptions are checked
    /// first: an unknown one fails the call before anything is stored.
    pub async fn publish_and_wait(
        &self,
        stream: &str,
        append: Append,
        wait: &WaitFor,
    ) -> Result<Processed, ClientError> {
        self.check_open()?;
        self.host
            .check_subscribed(stream, &wait.subscriptions)
            .await?;
        let events = append.events.clone();
        let appended = self.store.append(stream, append).await?;
        let stored: Vec<StoredEvent> = events
            .into_iter()
            .zip(&appended)
            .map(|(event, a)| StoredEvent {
                position: a.position,
                event,
            })
            .collect();
        let (statuses, timed_out) = self
            .host
            .wait_for(stream, &stored, &wait.subscriptions, wait.timeout)
            .await?;
        Ok(Processed {
            events: appended.into_iter().zip(statuses).collect(),
            timed_out,
        })
    }

    /// Subscribes as `options` says. The subscription reads in background tasks until it is
    /// dropped or closed, or this handle is closed.
    pub fn subscribe(&self, options: Subscribe) -> Subscription {
        Subscription::start(self.store.clone(), options, self.closing.subscribe())
    }

    /// Reads one page of a stream (see [`Read`]: from a position, either direction, one
    /// subject).
    pub async fn read(&self, stream: &str, read: Read) -> Result<Vec<StoredEvent>, ClientError> {
        self.check_open()?;
        Ok(self.store.read(stream, read).await?)
    }

    /// Every event of `stream` after `from` (from the start with `None`), oldest first, up
    /// to the end of the stream, read page by page.
    ///
    /// ```
    /// # use eddy::client::Eddy;
    /// # use eddy::event::CloudEvent;
    /// use futures_util::TryStreamExt;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let eddy = Eddy::open(&format!("embedded:{}", dir.path().display())).await?;
    /// let first = eddy.publish("log", CloudEvent::new("1", "/app", "line")).await?;
    /// eddy.publish("log", CloudEvent::new("2", "/app", "line")).await?;
    ///
    /// let after_first: Vec<_> = eddy.history("log", Some(first.position)).try_collect().await?;
    /// assert_eq!(after_first.len(), 1);
    /// assert_eq!(after_first[0].event.id, "2");
    /// # Ok(())
    /// # }
    /// ```
    pub fn history(
        &self,
        stream: &str,
        from: Option<Position>,
    ) -> impl Stream<Item = Result<StoredEvent, ClientError>> + Send + 'static {
        history::history(self.store.clone(), stream.to_string(), from, None)
    }

    /// Like [`Eddy::history`], one subject's events only.
    pub fn subject_history(
        &self,
        stream: &str,
        subject: &str,
        from: Option<Position>,
    ) -> impl Stream<Item = Result<StoredEvent, ClientError>> + Send + 'static {
        history::history(
            self.store.clone(),
            stream.to_string(),
            from,
            Some(subject.to_string()),
        )
    }

    /// Creates a consumer group on `stream` starting at `start`; false (changing nothing)
    /// if it exists.
    pub async fn create_group(
        &self,
        stream: &str,
        group: &str,
        start: GroupStart,
    ) -> Result<bool, ClientError> {
        self.check_open()?;
        Ok(self.store.create_group(stream, group, start).await?)
    }

    /// Saves a checkpoint: the last position `name` has handled on `stream`.
    ///
    /// ```
    /// # use eddy::client::Eddy;
    /// # use eddy::event::CloudEvent;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let eddy = Eddy::open(&format!("embedded:{}", dir.path().display())).await?;
    /// let at = eddy.publish("jobs", CloudEvent::new("j-1", "/cron", "job.due")).await?.position;
    /// assert_eq!(eddy.checkpoint("jobs", "runner").await?, None);
    /// eddy.save_checkpoint("jobs", "runner", at).await?;
    /// assert_eq!(eddy.checkpoint("jobs", "runner").await?, Some(at));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn save_checkpoint(
        &self,
        stream: &str,
        name: &str,
        position: Position,
    ) -> Result<(), ClientError> {
        self.check_open()?;
        Ok(self.store.save_checkpoint(stream, name, position).await?)
    }

    /// The last checkpoint `name` saved on `stream`, if any.
    pub async fn checkpoint(
        &self,
        stream: &str,
        name: &str,
    ) -> Result<Option<Position>, ClientError> {
        self.check_open()?;
        Ok(self.store.checkpoint(stream, name).await?)
    }

    /// Starts a plugin subscription (a handler or reducer bound to streams) in this process.
    pub async fn start_subscription(&self, spec: SubscriptionSpec) -> Result<(), ClientError> {
        self.check_open()?;
        Ok(self.host.start(spec).await?)
    }

    /// The processing status of the event `id` of `stream` in every plugin subscription
    /// reading the stream, or `None` if there is no such event.
    pub async fn status(
        &self,
        stream: &str,
        id: &str,
    ) -> Result<Option<EventStatuses>, ClientError> {
        self.check_open()?;
        let Some(stored) = self.store.get(stream, id, None).await? else {
            return Ok(None);
        };
        Ok(Some(self.host.event_statuses(stream, &stored, None).await?))
    }

    /// Eddy's HTTP API over this handle's store and subscriptions, to serve beside a
    /// service's own routes.
    pub fn router(&self, config: ApiConfig) -> axum::Router {
        crate::api::router_with(self.host.clone(), config)
    }

    /// Closes the handle and its clones: subscriptions stop reading (unacknowledged events
    /// stay pending), plugin subscriptions stop within [`crate::subscription::STOP_TIMEOUT`],
    /// and later calls fail with [`ClientError::Closed`]. The store itself is closed when the
    /// last handle on it is dropped.
    pub async fn close(&self) {
        self.closing.send_replace(true);
        self.host.stop_all().await;
    }
}

/// A consumer name no other subscription of any process uses.
pub(crate) fn unique_consumer_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "lib-{}-{}-{}",
        std::process::id(),
        crate::store::now_ms() % 1_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
