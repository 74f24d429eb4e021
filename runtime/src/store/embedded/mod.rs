//! The embedded store: every stream in one redb file, durable on local disk.
//!
//! redb gives ACID write transactions with a durable commit (fsync) before `commit` returns,
//! and crash recovery on open. Each append is one write transaction, so an append acknowledged
//! to the caller survives `kill -9` and power loss, and redb's single writer makes the
//! expected-version check linearizable. The file format is redb's; see [`schema`] for the
//! tables. Work runs synchronously on tokio's blocking pool.

mod commit;
mod groups;
mod leases;
mod schema;
mod streams;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redb::Database;
use tokio::sync::Notify;

use super::{
    Append, Appended, Commit, EventStore, GroupStart, Lease, PendingEntry, Read, SavedState,
    StoreError, StoredEvent, StreamInfo, Trim, Trimmed, WriteBlocked, check_claim_owner,
    check_name, now_ms,
};
use crate::event::Position;
use crate::store::commit::{check_owner, ttl_ms};

/// The embedded store. Cheap to share behind an `Arc`; only one process may open a directory
/// at a time.
pub struct EmbeddedStore {
    /// The open database, or `None` until it is opened again. After a failed disk access
    /// (a full disk, a read-only folder) redb refuses every call until the file is closed
    /// and reopened, so such a failure drops the instance and the next call reopens the file.
    db: Mutex<Option<Arc<Database>>>,
    /// The instance dropped last: it must be gone before the file is reopened, because redb
    /// locks the file per instance.
    retired: Mutex<Weak<Database>>,
    /// Held while (re)opening, so that one caller opens and the others wait for it.
    opening: tokio::sync::Mutex<()>,
    /// Woken after every committed append, so blocked group reads need not poll.
    appended: Arc<Notify>,
    path: PathBuf,
}

/// How long a reopen waits for the calls still using the dropped instance to end.
const RETIRE_WAIT: Duration = Duration::from_secs(5);

impl EmbeddedStore {
    /// The name of the database file inside the store's directory.
    pub const FILE_NAME: &'static str = "events.redb";

    /// Opens (creating if needed) the store in `dir`, recovering from a crash if the last
    /// process died mid-write.
    ///
    /// A full disk or a read-only folder does not fail the open: an operator fixes those
    /// outside Eddy, perhaps while it runs, so calls answer [`StoreError::Unwritable`] until
    /// the file can be opened.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self {
            db: Mutex::new(None),
            retired: Mutex::new(Weak::new()),
            opening: tokio::sync::Mutex::new(()),
            appended: Arc::new(Notify::new()),
            path: dir.into().join(Self::FILE_NAME),
        };
        match store.database().await {
            Ok(_) => Ok(store),
            Err(StoreError::Unwritable(cause)) => {
                tracing::error!(path = %store.path.display(), %cause, "the embedded store cannot write; it opens once that is fixed");
                Ok(store)
            }
            Err(error) => Err(error),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open database, opening the file first if needed.
    async fn database(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = lock(&self.db).clone() {
            return Ok(db);
        }
        let _opening = self.opening.lock().await;
        if let Some(db) = lock(&self.db).clone() {
            return Ok(db);
        }
        let deadline = tokio::time::Instant::now() + RETIRE_WAIT;
        while lock(&self.retired).strong_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let path = self.path.clone();
        let db = tokio::task::spawn_blocking(move || open_file(&path))
            .await
            .map_err(join_error)??;
        let db = Arc::new(db);
        *lock(&self.db) = Some(db.clone());
        Ok(db)
    }

    /// Runs synchronous database work on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.database().await?;
        let used = Arc::downgrade(&db);
        let result = tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(join_error)?;
        if let Err(error) = &result
            && error.is_transient()
        {
            // The failure may have been a disk access, after which this instance is of no
            // more use; drop it (unless another call did already) and open the file again at
            // the next call.
            let mut current = lock(&self.db);
            if current
                .as_ref()
                .is_some_and(|db| Weak::ptr_eq(&Arc::downgrade(db), &used))
            {
                *lock(&self.retired) = used;
                // Closing a database touches its file: not on an async worker thread.
                let dropped = current.take();
                tokio::task::spawn_blocking(move || drop(dropped));
            }
        }
        result
    }
}

/// Opens (creating if needed) the database file and its tables.
fn open_file(path: &Path) -> Result<Database, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| match WriteBlocked::of(&e) {
            Some(cause) => StoreError::Unwritable(cause),
            None => StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())),
        })?;
    }
    let db = Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
            "{} is already open in another process",
            path.display()
        )),
        other => StoreError::from(other),
    })?;
    schema::create_tables(&db)?;
    Ok(db)
}

/// Locks a mutex, ignoring poisoning: the values behind these locks are replaced whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A blocking task that panicked re-raises the panic (a bug, not a store condition); one that
/// was cancelled means the runtime is shutting down.
fn join_error(error: tokio::task::JoinError) -> StoreError {
    match error.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => StoreError::Unavailable("the runtime is shutting down".to_string()),
    }
}

#[async_trait::async_trait]
impl EventStore for EmbeddedStore {
    async fn append(&self, stream: &str, append: Append) -> Result<Vec<Appended>, StoreError> {
        check_name("stream", stream)?;
        let stream = stream.to_string();
        let results = self
            .run(move |db| streams::append(db, &stream, &append, now_ms))
            .await?;
        if results.iter().any(|r| !r.duplicate) {
            self.appended.notify_waiters();
        }
        Ok(results)
    }

    async fn read(&self, stream: &str, read: Read) -> Result<Vec<StoredEvent>, StoreError> {
        check_name("stream", stream)?;
        let stream = stream.to_string();
        self.run(move |db| streams::read(db, &stream, &read)).await
    }

    async fn get(
        &self,
        stream: &str,
        id: &str,
        source: Option<&str>,
    ) -> Result<Option<StoredEvent>, StoreError> {
        check_name("stream", stream)?;
        let (stream, id, source) = (
            stream.to_string(),
            id.to_string(),
            source.map(str::to_string),
        );
        self.run(move |db| streams::get(db, &stream, &id, source.as_deref()))
            .await
    }

    async fn subject_version(&self, stream: &str, subject: &str) -> Result<u64, StoreError> {
        check_name("stream", stream)?;
        let (stream, subject) = (stream.to_string(), subject.to_string());
        self.run(move |db| streams::subject_version(db, &stream, &subject))
            .await
    }

    async fn streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        self.run(streams::streams).await
    }

    async fn stream(&self, stream: &str) -> Result<Option<StreamInfo>, StoreError> {
        check_name("stream", stream)?;
        let stream = stream.to_string();
        self.run(move |db| streams::stream(db, &stream)).await
    }

    async fn delete_stream(&self, stream: &str) -> Result<bool, StoreError> {
        check_name("stream", stream)?;
        let stream = stream.to_string();
        self.run(move |db| streams::delete(db, &stream)).await
    }

    async fn trim(&self, stream: &str, trim: Trim) -> Result<Trimmed, StoreError> {
        check_name("stream", stream)?;
        let stream = stream.to_string();
        self.run(move |db| streams::trim(db, &stream, trim, now_ms()))
            .await
    }

    async fn create_group(
        &self,
        stream: &str,
        group: &str,
        start: GroupStart,
    ) -> Result<bool, StoreError> {
        check_name("stream", stream)?;
        check_name("group", group)?;
        let (stream, group) = (stream.to_string(), group.to_string());
        self.run(move |db| groups::create(db, &stream, &group, start))
            .await
    }

    async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_name("stream", stream)?;
        check_name("group", group)?;
        check_name("consumer", consumer)?;
        let deadline = block.map(|b| tokio::time::Instant::now() + b);
        loop {
            // Register for the wake-up before looking, so an append that lands between the
            // look and the wait is not missed.
            let appended = self.appended.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            let (s, g, c) = (stream.to_string(), group.to_string(), consumer.to_string());
            let delivered = self
                .run(move |db| groups::read_new(db, &s, &g, &c, limit, now_ms()))
                .await?;
            let Some(deadline) = deadline else {
                return Ok(delivered);
            };
            if !delivered.is_empty() || limit == 0 {
                return Ok(delivered);
            }
            tokio::select! {
                () = &mut appended => {}
                () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
            }
        }
    }

    async fn ack(
        &self,
        stream: &str,
        group: &str,
        positions: &[Position],
    ) -> Result<u64, StoreError> {
        check_name("stream", stream)?;
        check_name("group", group)?;
        let (stream, group, positions) =
            (stream.to_string(), group.to_string(), positions.to_vec());
        self.run(move |db| groups::ack(db, &stream, &group, &positions))
            .await
    }

    async fn pending(
        &self,
        stream: &str,
        group: &str,
        limit: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        check_name("stream", stream)?;
        check_name("group", group)?;
        let (stream, group) = (stream.to_string(), group.to_string());
        self.run(move |db| groups::pending(db, &stream, &group, limit, now_ms()))
            .await
    }

    async fn claim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_name("consumer", consumer)?;
        let (stream, group, consumer) =
            (stream.to_string(), group.to_string(), consumer.to_string());
        self.run(move |db| groups::claim(db, &stream, &group, &consumer, min_idle, limit, now_ms()))
            .await
    }

    async fn claim_from(
        &self,
        stream: &str,
        group: &str,
        owner: &str,
        consumer: &str,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_claim_owner(owner)?;
        check_name("consumer", consumer)?;
        let (stream, group, owner, consumer) = (
            stream.to_string(),
            group.to_string(),
            owner.to_string(),
            consumer.to_string(),
        );
        self.run(move |db| {
            groups::claim_from(db, &stream, &group, &owner, &consumer, limit, now_ms())
        })
        .await
    }

    async fn remove_consumer(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
    ) -> Result<u64, StoreError> {
        check_name("stream", stream)?;
        check_name("group", group)?;
        let (stream, group, consumer) =
            (stream.to_string(), group.to_string(), consumer.to_string());
        self.run(move |db| groups::remove_consumer(db, &stream, &group, &consumer))
            .await
    }

    async fn reap_consumers(
        &self,
        stream: &str,
        group: &str,
        _idle: Duration,
    ) -> Result<Vec<String>, StoreError> {
        check_name("stream", stream)?;
        check_name("group", group)?;
        // No consumer records here: a consumer without pending entries does not exist.
        Ok(Vec::new())
    }

    async fn save_checkpoint(
        &self,
        stream: &str,
        name: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        check_name("stream", stream)?;
        check_name("checkpoint", name)?;
        let (stream, name) = (stream.to_string(), name.to_string());
        self.run(move |db| groups::save_checkpoint(db, &stream, &name, position))
            .await
    }

    async fn checkpoint(&self, stream: &str, name: &str) -> Result<Option<Position>, StoreError> {
        check_name("stream", stream)?;
        let (stream, name) = (stream.to_string(), name.to_string());
        self.run(move |db| groups::checkpoint(db, &stream, &name))
            .await
    }

    async fn commit(&self, commit: Commit) -> Result<Vec<Vec<Appended>>, StoreError> {
        commit.check()?;
        let results = self
            .run(move |db| commit::commit(db, commit, now_ms))
            .await?;
        if results.iter().flatten().any(|r| !r.duplicate) {
            self.appended.notify_waiters();
        }
        Ok(results)
    }

    async fn load_state(
        &self,
        projection: &str,
        subject: &str,
    ) -> Result<Option<SavedState>, StoreError> {
        check_name("projection", projection)?;
        let (projection, subject) = (projection.to_string(), subject.to_string());
        self.run(move |db| commit::load_state(db, &projection, &subject))
            .await
    }

    async fn list_states(
        &self,
        projection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        check_name("projection", projection)?;
        let (projection, after) = (projection.to_string(), after.map(str::to_string));
        self.run(move |db| commit::list_states(db, &projection, after.as_deref(), limit))
            .await
    }

    async fn nearest_snapshot(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        at: Position,
    ) -> Result<Option<SavedState>, StoreError> {
        check_name("projection", projection)?;
        let (projection, subject, plugin) = (
            projection.to_string(),
            subject.to_string(),
            plugin.to_string(),
        );
        self.run(move |db| commit::nearest_snapshot(db, &projection, &subject, &plugin, at))
            .await
    }

    fn single_process(&self) -> bool {
        true
    }

    async fn clock_ms(&self) -> Result<u64, StoreError> {
        self.run(|db| streams::clock(db, now_ms)).await
    }

    async fn nearest_snapshot_by_time(
        &self,
        projection: &str,
        subject: &str,
        plugin: &str,
        time: i64,
    ) -> Result<Option<SavedState>, StoreError> {
        check_name("projection", projection)?;
        let (projection, subject, plugin) = (
            projection.to_string(),
            subject.to_string(),
            plugin.to_string(),
        );
        self.run(move |db| {
            commit::nearest_snapshot_by_time(db, &projection, &subject, &plugin, time)
        })
        .await
    }

    async fn delete_projection(&self, projection: &str) -> Result<u64, StoreError> {
        check_name("projection", projection)?;
        let projection = projection.to_string();
        self.run(move |db| commit::delete_projection(db, &projection))
            .await
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
        let (name, owner) = (name.to_string(), owner.to_string());
        self.run(move |db| leases::acquire(db, &name, &owner, ttl, now_ms()))
            .await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        check_name("lease", name)?;
        check_owner(owner)?;
        let (name, owner) = (name.to_string(), owner.to_string());
        self.run(move |db| leases::release(db, &name, &owner, now_ms()))
            .await
    }

    async fn leases(&self, prefix: &str) -> Result<Vec<Lease>, StoreError> {
        let prefix = prefix.to_string();
        self.run(move |db| leases::list(db, &prefix, now_ms()))
            .await
    }
}
