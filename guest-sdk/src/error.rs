//! The error a plugin returns for one event: retry later, or give up on it.

use std::fmt;

/// Why a plugin could not process an event; the variant tells the host whether to try again.
///
/// Build one with [`Error::retry`] or [`Error::reject`]. A [`DataError`](crate::DataError)
/// converts into a `Reject` with `?`, because bad data stays bad on every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A transient failure: the host retries the event later, with backoff.
    Retry(String),
    /// A permanent failure: the event goes to the dead-letter stream with this message.
    Reject(String),
}

impl Error {
    /// A transient failure (e.g. a dependency is down): the host will retry the event later.
    pub fn retry(message: impl Into<String>) -> Self {
        Self::Retry(message.into())
    }

    /// A permanent failure (e.g. malformed data): the event is dead-lettered, not retried.
    pub fn reject(message: impl Into<String>) -> Self {
        Self::Reject(message.into())
    }

    /// The human-readable message, whichever the variant.
    pub fn message(&self) -> &str {
        match self {
            Self::Retry(message) | Self::Reject(message) => message,
        }
    }

    /// Whether the host will retry the event (`true` for [`Error::Retry`]).
    pub fn is_retry(&self) -> bool {
        matches!(self, Self::Retry(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry(message) => write!(f, "retry: {message}"),
            Self::Reject(message) => write!(f, "reject: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::DataError> for Error {
    fn from(err: crate::DataError) -> Self {
        Self::Reject(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_pick_the_variant_and_keep_the_message() {
        assert_eq!(Error::retry("later"), Error::Retry("later".into()));
        assert_eq!(
            Error::reject(String::from("no")),
            Error::Reject("no".into())
        );
        assert!(Error::retry("x").is_retry());
        assert!(!Error::reject("x").is_retry());
        assert_eq!(Error::reject("bad sku").message(), "bad sku");
    }

    #[test]
    fn display_says_whether_it_will_be_retried() {
        assert_eq!(Error::retry("db down").to_string(), "retry: db down");
        assert_eq!(Error::reject("bad").to_string(), "reject: bad");
    }

    #[test]
    fn data_errors_become_rejects() {
        let err: Error = crate::DataError::Missing.into();
        assert_eq!(err, Error::reject("event data is missing"));
    }
}
