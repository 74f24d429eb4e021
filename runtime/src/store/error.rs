//! What can go wrong talking to an event store, and what the caller should do about it.

use crate::event::Position;

/// Why a store operation failed. Each variant says how a caller should react.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The append carried an expected version and the subject has another one; nothing was
    /// appended. Re-read the subject, decide again, and retry with `current` as the expected
    /// version (HTTP 409).
    #[error("subject `{subject}` is at version {current}, not the expected {expected}")]
    VersionConflict {
        /// The subject whose version was checked.
        subject: String,
        /// The version the caller expected.
        expected: u64,
        /// The subject's version now: the number of events it has.
        current: u64,
    },
    /// The request itself is wrong (a bad stream name, an empty batch, an expected version on
    /// events without one common subject). Fix the request; retrying it unchanged cannot succeed
    /// (HTTP 400).
    #[error("{0}")]
    InvalidRequest(String),
    /// The consumer group does not exist on this stream. Create it first
    /// ([`super::EventStore::create_group`]); retrying unchanged cannot succeed.
    #[error("consumer group `{group}` does not exist on stream `{stream}`")]
    GroupNotFound {
        /// The stream.
        stream: String,
        /// The group that was asked for.
        group: String,
    },
    /// Another process took the lease this commit was fenced by (or it expired); nothing was
    /// written. Stop writing, drop in-memory state, re-acquire the lease and reload.
    #[error("lease `{lease}` is no longer held by this owner with this token")]
    LeaseLost {
        /// The lease named by the commit's fence.
        lease: String,
    },
    /// The store URL is malformed or names an unsupported scheme. Fix the URL.
    #[error("bad store URL `{url}`: {problem}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it, in words a user can act on.
        problem: String,
    },
    /// The backend could not be reached or failed transiently (connection refused or lost,
    /// timeout, I/O error). Retry with backoff. An append that failed this way may or may not
    /// have been stored: retrying it with the same events is safe, because appends are
    /// idempotent on `source` + `id`.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The store cannot write: its disk is full or its data folder is read-only (the cause
    /// says which). Nothing of the failed call was written, and reads may fail too until it
    /// is fixed. An operator must free space or make the folder writable; retry with backoff
    /// meanwhile: appends are idempotent on `source` + `id` (HTTP 507).
    #[error("event store cannot write: {0}")]
    Unwritable(WriteBlocked),
    /// Stored data could not be decoded, or the backend answered something this version of Eddy
    /// does not understand (for example a Redis older than 7.0). Retrying will not help: an
    /// operator must look at the store.
    #[error("event store data is damaged or unexpected: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// An invalid request with a message for whoever sent it.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// Whether a retry of the same call could succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unwritable(_))
    }
}

/// Why a store cannot write, in words an operator can act on (never a path or an OS
/// message, so it may be shown to API clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteBlocked {
    /// The disk (or the user's quota) is full: free space or grow the volume.
    #[error("no space left on its disk")]
    DiskFull,
    /// The data folder is on a read-only file system: remount it read-write.
    #[error("its data folder is read-only")]
    ReadOnly,
}

impl WriteBlocked {
    /// The cause of a failed write, if it is one an operator fixes outside Eddy.
    pub fn of(error: &std::io::Error) -> Option<Self> {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Some(Self::DiskFull),
            ErrorKind::ReadOnlyFilesystem => Some(Self::ReadOnly),
            _ => None,
        }
    }
}

/// A position that a stored record claims to have but cannot be decoded.
pub(crate) fn bad_position(text: &str) -> StoreError {
    StoreError::Corrupt(format!("`{text}` is not a position"))
}

/// Parses a position read back from a backend.
pub(crate) fn parse_position(text: &str) -> Result<Position, StoreError> {
    text.parse().map_err(|_| bad_position(text))
}
